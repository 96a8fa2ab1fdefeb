"""The example scripts' loop over the training batches: the batches of an epoch, without those a
resumed run trained on already (:func:`epoch_batches`)."""

from __future__ import annotations

from accelerate import Accelerator


def epoch_batches(accelerator: Accelerator, dataloader, epoch: int, skip_steps: int = 0, gradient_accumulation_steps: int = 1):
    """The prepared ``dataloader``'s batches of ``epoch``, without those of the first ``skip_steps``
    optimisation steps (the ones a resumed run has trained on already)."""
    # accelerate's prepared loader pushes its own epoch counter (0 in a resumed run) into the
    # sampler on every iteration: give it the real epoch (skip_first_batches copies it).
    dataloader.set_epoch(epoch)
    if skip_steps:
        return accelerator.skip_first_batches(dataloader, skip_steps * gradient_accumulation_steps)
    return dataloader
