"""Training steps: what one batch does to the models, the part of training that differs between
families. :class:`~.loop.TrainingLoop` owns everything else (epochs, resuming, checkpoints,
evaluation, logging, saving); a script whose family :class:`SupervisedStep` does not fit writes
its own step, not its own loop.

The interface (:class:`TrainingStep`) is small. A step holds, each a dict by name:

* ``models``: the modules it trains, in train mode while the loop trains;
* ``optimizers``: the optimizers that update them (at least one);
* ``schedulers``: left empty by the step: once it knows how long the run trains, the loop makes
  one ``--lr_scheduler_type`` schedule per optimizer (:func:`~.schedule.make_scheduler`), under
  the optimizer's name;
* ``checkpointed``: a list of other objects with ``state_dict``/``load_state_dict`` that a
  resumed run needs (a running statistic kept outside the models), empty by default.

The loop prepares the models, optimizers and schedulers in one ``accelerator.prepare`` call with
the dataloaders, puts the prepared objects back into the dicts (a step reads them from there,
never from the objects it was built with) and registers ``checkpointed`` with
``accelerator.register_for_checkpointing``: every checkpoint (``accelerator.save_state``) holds
all of them and the random states of every process, and resuming loads them all.

``step(accelerator, batch)`` is called once per training batch (the prepared dataloader's,
on the accelerator's device). It runs forward and backward under ``accelerator.accumulate``,
entered once per batch (that is what counts the batches of a gradient accumulation); on the batch
that ends an accumulation (``accelerator.sync_gradients``), it clips the gradients to
``--max_grad_norm`` and steps its optimizers and schedulers (prepared, they do nothing on the
other batches). It returns the batch's losses: a dict of scalar tensors by the name they are
logged under (``{"train_loss": ...}``), which the loop shows in the progress bar and sends to the
trackers, with each schedule's learning rate, at each optimisation step (calling ``.item()``
only then, so that accumulation batches do not wait for the device).

Two steps are here: :class:`SupervisedStep` (one model whose outputs carry its ``loss``: VQA,
captioning) and :class:`GANStep` (a discriminator's update then a generator's on every batch,
each with its own optimizer and schedule), whose subclasses write only their losses.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
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


class TrainingStep:
    """The base of a training step (see the module's docstring): ``models``, ``optimizers``,
    ``schedulers`` and ``checkpointed``, and ``__call__(accelerator, batch)`` returning the
    batch's losses by name."""

    models: dict[str, torch.nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, object]
    checkpointed: list

    def __init__(self, models: Mapping[str, torch.nn.Module], optimizers: Mapping[str, torch.optim.Optimizer],
                 checkpointed: list | None = None):
        self.models, self.optimizers = dict(models), dict(optimizers)
        self.schedulers = {}
        self.checkpointed = list(checkpointed or [])

    def __call__(self, accelerator: Accelerator, batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must define __call__(accelerator, batch) -> losses by name")


class SupervisedStep(TrainingStep):
    """One model trained on the ``loss`` its outputs carry (``model(**batch).loss``), with one
    optimizer: :func:`train_on_batch`.

    ``ignore_keys``: batch entries that are not model inputs (``question_indices``, kept for
    evaluation). ``log_outputs``: other scalar outputs to log besides ``train_loss`` (under their
    own name, e.g. ``caption_loss``)."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, max_grad_norm: float | None = None, *,
                 ignore_keys: tuple[str, ...] = (), log_outputs: tuple[str, ...] = ()):
        super().__init__({"model": model}, {"model": optimizer})
        self.max_grad_norm = max_grad_norm
        self.ignore_keys, self.log_outputs = tuple(ignore_keys), tuple(log_outputs)

    @property
    def model(self) -> torch.nn.Module:
        return self.models["model"]

    @property
    def optimizer(self):
        return self.optimizers["model"]

    @property
    def scheduler(self):
        return self.schedulers["model"]

    def __call__(self, accelerator: Accelerator, batch: dict) -> dict[str, torch.Tensor]:
        if self.ignore_keys:
            batch = {key: value for key, value in batch.items() if key not in self.ignore_keys}
        outputs = train_on_batch(accelerator, self.model, self.optimizer, self.scheduler, batch, self.max_grad_norm)
        losses = {"train_loss": outputs.loss.detach()}
        losses.update((name, getattr(outputs, name).detach()) for name in self.log_outputs)
        return losses


class GANStep(TrainingStep):
    """A GAN's step on a batch: the discriminator's update, then the generator's, each with its own
    optimizer and schedule (``"discriminator"`` and ``"generator"`` in ``models``,
    ``optimizers`` and ``schedulers``). A subclass writes three methods:

    * ``generate(generator, batch)``: the batch's fakes (its noise drawn from torch's global
      generator, whose state the checkpoints hold, so that a resumed run draws the same noise);
    * ``discriminator_loss(discriminator, batch, fakes)``: the discriminator's loss, ``fakes``
      detached from the generator;
    * ``generator_loss(discriminator, batch, fakes)``: the generator's loss, through the
      discriminator just updated.

    On each batch, under one ``accelerator.accumulate`` (with ``--gradient_accumulation_steps k``
    both networks step every k batches): the fakes are generated once; the discriminator's loss is
    backpropagated and, at the end of an accumulation, the discriminator's gradients clipped and
    its optimizer and schedule stepped; then the generator's loss is backpropagated into the
    generator's parameters only (the discriminator's gradients are left to the discriminator's
    loss) and the generator's optimizer and schedule step. The losses are logged as
    ``discriminator_loss`` and ``generator_loss``.

    Under DDP, ``generator_loss`` receives the discriminator unwrapped (its parameters get no
    gradient there, so no reduction is due), and each loss should call a wrapped model once
    (concatenate real and fake examples): DDP expects one forward per backward. Mixed precision
    fp16 is refused (bf16 is fine): accelerate's one GradScaler would serve both optimizers, and
    its clipping unscales every optimizer's gradients."""

    def __init__(self, generator: torch.nn.Module, discriminator: torch.nn.Module, generator_optimizer: torch.optim.Optimizer,
                 discriminator_optimizer: torch.optim.Optimizer, max_grad_norm: float | None = None,
                 checkpointed: list | None = None):
        super().__init__({"discriminator": discriminator, "generator": generator},
                         {"discriminator": discriminator_optimizer, "generator": generator_optimizer}, checkpointed)
        self.max_grad_norm = max_grad_norm

    @property
    def generator(self) -> torch.nn.Module:
        return self.models["generator"]

    @property
    def discriminator(self) -> torch.nn.Module:
        return self.models["discriminator"]

    def generate(self, generator: torch.nn.Module, batch):
        raise NotImplementedError(f"{type(self).__name__} must define generate(generator, batch) -> fakes")

    def discriminator_loss(self, discriminator: torch.nn.Module, batch, fakes: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define discriminator_loss(discriminator, batch, fakes)")

    def generator_loss(self, discriminator: torch.nn.Module, batch, fakes: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define generator_loss(discriminator, batch, fakes)")

    def _update(self, accelerator: Accelerator, name: str) -> None:
        if accelerator.sync_gradients and self.max_grad_norm:
            accelerator.clip_grad_norm_(self.models[name].parameters(), self.max_grad_norm)
        self.optimizers[name].step()
        self.schedulers[name].step()
        self.optimizers[name].zero_grad()

    def __call__(self, accelerator: Accelerator, batch) -> dict[str, torch.Tensor]:
        if accelerator.mixed_precision == "fp16":
            raise ValueError(
                f"{type(self).__name__} cannot train under --mixed_precision fp16: accelerate's one GradScaler would serve "
                "both optimizers (and clipping one network's gradients unscales the other's). Use --mixed_precision bf16, "
                "or no mixed precision."
            )
        generator, discriminator = self.generator, self.discriminator
        with accelerator.accumulate(discriminator, generator):
            fakes = self.generate(generator, batch)
            discriminator_loss = self.discriminator_loss(discriminator, batch, fakes.detach())
            accelerator.backward(discriminator_loss)
            self._update(accelerator, "discriminator")
            generator_loss = self.generator_loss(accelerator.unwrap_model(discriminator), batch, fakes)
            accelerator.backward(generator_loss, inputs=[p for p in generator.parameters() if p.requires_grad])
            self._update(accelerator, "generator")
        return {"discriminator_loss": discriminator_loss.detach(), "generator_loss": generator_loss.detach()}
