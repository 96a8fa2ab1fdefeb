"""The training loop of every example script (:class:`TrainingLoop`): a script brings its data,
its models in a step (:mod:`.steps`), its evaluation and its saving; the loop does the rest.

Building the loop sets the run up: the training length (:func:`~.schedule.set_training_length`),
one learning-rate schedule per optimizer of the step, one ``accelerator.prepare`` of the step's
models, optimizers and schedules with the dataloaders, the step's other checkpointed objects
registered, the trackers started. :meth:`TrainingLoop.run` then trains:

* from scratch, or from a checkpoint under ``--resume_from_checkpoint``
  (:func:`~.checkpoints.resume_from_checkpoint`: the run record compared, a damaged checkpoint
  passed over), the epoch it resumes in skipping the batches it trained on (:func:`epoch_batches`);
* for ``--num_train_epochs`` or ``--max_train_steps``, a step counted when a gradient
  accumulation ends (``--gradient_accumulation_steps``), each shown in the progress bar and
  logged to the trackers (``--with_tracking``) with the step's losses and learning rates;
* saving checkpoints every N steps or every epoch (``--checkpointing_steps``), evaluating after
  every epoch (``--eval_every_epoch``);

and ends the run: the final evaluation with the run's statistics (:func:`~.reporting.run_stats`)
into ``eval_results.json``, the script's saving, and the push to the Hub (``--push_to_hub``).

A run resumes exactly (the weights of an uninterrupted run, bit for bit) when the order of its
training batches depends only on the seed and the epoch (a sampler with ``set_epoch``, such as
:class:`~hf_mmattn.data.batching.GroupByImageBatchSampler`; a DataLoader with its own generator,
so that iterating it does not draw from the global one) and the step draws its random numbers
from the global generators, whose states the checkpoints hold.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from tqdm.auto import tqdm

from .accelerator import init_trackers
from .checkpoints import maybe_save_checkpoint, resume_from_checkpoint
from .reporting import push_output_to_hub, run_stats
from .schedule import make_scheduler, set_training_length
from .steps import TrainingStep

logger = get_logger(__name__)


def epoch_batches(accelerator: Accelerator, dataloader, epoch: int, skip_steps: int = 0, gradient_accumulation_steps: int = 1):
    """The prepared ``dataloader``'s batches of ``epoch``, without those of the first ``skip_steps``
    optimisation steps (the ones a resumed run has trained on already)."""
    # accelerate's prepared loader pushes its own epoch counter (0 in a resumed run) into the
    # sampler on every iteration: give it the real epoch (skip_first_batches copies it).
    dataloader.set_epoch(epoch)
    if skip_steps:
        return accelerator.skip_first_batches(dataloader, skip_steps * gradient_accumulation_steps)
    return dataloader


def count_examples(batch) -> int:
    """The examples of a batch: its length if it is a tensor, else that of its first entry (a
    dict's first value, a tuple's first item). Scripts whose first entry is not one row per
    example (images shared by several questions) pass their own count to :class:`TrainingLoop`."""
    if isinstance(batch, torch.Tensor):
        return len(batch)
    first = next(iter(batch.values())) if isinstance(batch, Mapping) else batch[0]
    return len(first)


class TrainingLoop:
    """The loop that trains ``step`` (:mod:`.steps`) on ``train_dataloader`` as the options of
    :func:`~.arguments.add_training_arguments` in ``args`` say (see the module's docstring).

    Building it sets ``args.max_train_steps`` and ``args.num_train_epochs``, makes the schedules,
    prepares the step's objects and the dataloaders and starts the trackers (``project_name``).
    Afterwards, read the prepared objects from the step (``step.models`` ...) and
    ``loop.train_dataloader`` / ``loop.eval_dataloader``; ``loop.steps_per_epoch`` is what
    :func:`~.run_record.describe_run` records.

    ``examples``: what the examples are called in the run's statistics (``train_<examples>_per_s``);
    ``count_examples(batch)``: how many a training batch holds (default: :func:`count_examples`)."""

    def __init__(self, accelerator: Accelerator, args: argparse.Namespace, step: TrainingStep, train_dataloader, *,
                 eval_dataloader=None, project_name: str, examples: str = "examples",
                 count_examples: Callable[[object], int] = count_examples):
        if not step.models or not step.optimizers:
            raise ValueError(f"{type(step).__name__} has no models or no optimizers: a step trains at least one model "
                             "with one optimizer (step.models, step.optimizers)")
        self.accelerator, self.args, self.step = accelerator, args, step
        self.examples, self.count_examples = examples, count_examples
        self.steps_per_epoch = set_training_length(args, accelerator, len(train_dataloader))  # sets max_train_steps, num_train_epochs
        step.schedulers = {name: make_scheduler(args, optimizer, accelerator) for name, optimizer in step.optimizers.items()}
        models, optimizers, schedulers = list(step.models), list(step.optimizers), list(step.schedulers)
        loaders = [train_dataloader] + ([eval_dataloader] if eval_dataloader is not None else [])
        prepared = accelerator.prepare(
            *(step.models[name] for name in models), *(step.optimizers[name] for name in optimizers), *loaders,
            *(step.schedulers[name] for name in schedulers),
        )
        prepared = list(prepared)
        step.models = {name: prepared.pop(0) for name in models}
        step.optimizers = {name: prepared.pop(0) for name in optimizers}
        self.train_dataloader = prepared.pop(0)
        self.eval_dataloader = prepared.pop(0) if eval_dataloader is not None else None
        step.schedulers = {name: prepared.pop(0) for name in schedulers}
        if step.checkpointed:
            accelerator.register_for_checkpointing(*step.checkpointed)
        init_trackers(accelerator, args, project_name)
        self.completed_steps = 0

    def run(self, run: dict | None = None, *, evaluate: Callable[[int | None], dict] | None = None,
            tracked_metrics: tuple[str, ...] = (), save: Callable[[dict], None] | None = None) -> dict:
        """Train (resuming under ``--resume_from_checkpoint``), evaluate, save; returns
        ``eval_results``: the final evaluation's results and the run's statistics.

        * ``run``: :func:`~.run_record.describe_run` of this run, saved with every checkpoint and
          compared with the checkpoint's on resume (None: nothing recorded or compared).
        * ``evaluate(epoch)``: the script's evaluation, called with the epoch's index after each
          epoch under ``--eval_every_epoch`` (its ``tracked_metrics`` go to the trackers), and
          with None after training; it returns a dict of results (the final one becomes
          ``eval_results.json``, with the run's statistics added) and logs what it wants to.
        * ``save(eval_results)``: the script's saving into ``--output_dir`` (model, processor,
          card, figures), on the main process, after ``eval_results.json`` and before the push."""
        accelerator, args, step = self.accelerator, self.args, self.step
        completed_steps, starting_epoch, resume_step = resume_from_checkpoint(accelerator, args, self.steps_per_epoch, run)
        progress = tqdm(range(args.max_train_steps), initial=completed_steps, disable=not accelerator.is_local_main_process,
                        desc="training")
        for model in step.models.values():
            model.train()
        train_start = time.perf_counter()
        examples_seen = 0
        for epoch in range(starting_epoch, args.num_train_epochs):
            if completed_steps >= args.max_train_steps:
                break
            # The epoch a run resumes in skips the batches of the steps it trained on before.
            skip_steps = resume_step if epoch == starting_epoch else 0
            for batch in epoch_batches(accelerator, self.train_dataloader, epoch, skip_steps, args.gradient_accumulation_steps):
                losses = step(accelerator, batch)
                examples_seen += self.count_examples(batch)
                if not accelerator.sync_gradients:
                    continue
                completed_steps += 1
                self._report(progress, losses, completed_steps)
                maybe_save_checkpoint(accelerator, args, completed_steps, epoch, run=run)  # every --checkpointing_steps N
                if completed_steps >= args.max_train_steps:
                    break
            maybe_save_checkpoint(accelerator, args, completed_steps, epoch, end_of_epoch=True, run=run)  # --checkpointing_steps epoch
            if args.eval_every_epoch and evaluate is not None:
                results = evaluate(epoch)
                if args.with_tracking and tracked_metrics:
                    accelerator.log({name: results[name] for name in tracked_metrics}, step=completed_steps)
            if completed_steps >= args.max_train_steps:
                break
        train_time = time.perf_counter() - train_start
        progress.close()
        self.completed_steps = completed_steps

        eval_results = dict(evaluate(None)) if evaluate is not None else {}
        eval_results.update(run_stats(accelerator, train_time, examples_seen, completed_steps, examples=self.examples))
        if args.with_tracking:
            accelerator.end_training()
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            (Path(args.output_dir) / "eval_results.json").write_text(json.dumps(eval_results, indent=2))
            if save is not None:
                save(eval_results)
            push_output_to_hub(args)  # under --push_to_hub
        accelerator.wait_for_everyone()
        return eval_results

    def _report(self, progress, losses: dict, completed_steps: int) -> None:
        """One optimisation step done: the progress bar, and the trackers under ``--with_tracking``."""
        values = {name: value.item() if isinstance(value, torch.Tensor) else float(value) for name, value in losses.items()}
        progress.update(1)
        progress.set_postfix(**{name.removeprefix("train_"): f"{value:.4f}" for name, value in values.items()})
        if self.args.with_tracking:
            self.accelerator.log({**values, **self.learning_rates()}, step=completed_steps)

    def learning_rates(self) -> dict[str, float]:
        """``{"lr": ...}`` of a step with one schedule, else ``{"lr_<optimizer name>": ...}``."""
        schedulers = self.step.schedulers
        if len(schedulers) == 1:
            return {"lr": next(iter(schedulers.values())).get_last_lr()[0]}
        return {f"lr_{name}": scheduler.get_last_lr()[0] for name, scheduler in schedulers.items()}
