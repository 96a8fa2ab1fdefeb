"""What one batch does to the model: forward and backward under gradient accumulation, clipping,
the optimizer and scheduler step (:func:`train_on_batch`)."""

from __future__ import annotations

from accelerate import Accelerator


def train_on_batch(accelerator: Accelerator, model, optimizer, scheduler, batch: dict, max_grad_norm: float | None):
    """Forward and backward on ``batch`` under gradient accumulation; on the batches that end an
    accumulation (``accelerator.sync_gradients``) the gradients are clipped to ``max_grad_norm``
    (unless 0/None) and the optimizer and scheduler step. Returns the model's outputs."""
    with accelerator.accumulate(model):
        outputs = model(**batch)
        accelerator.backward(outputs.loss)
        if accelerator.sync_gradients and max_grad_norm:
            accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return outputs

