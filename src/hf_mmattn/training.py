"""Training plumbing shared by the example scripts (``examples/vqa/run_vqa.py``,
``examples/captioning/run_captioning.py``).

The scripts keep what belongs to their task (data, model and processor, evaluation, figures) and
their main loop, in the style of transformers' ``no_trainer`` examples; this module holds the
parts of that loop that do not depend on the task:

* the command-line options of training (:func:`add_training_arguments`, :func:`check_training_arguments`)
  and ``--config_overrides`` (:func:`parse_config_overrides`), ``--backbone_config`` (:func:`backbone_settings`);
* the :class:`~accelerate.Accelerator` set-up (:func:`setup_accelerator`, :func:`init_trackers`);
* the length of training and the learning-rate schedule (:func:`set_training_length`, :func:`make_scheduler`);
* forward and backward on a batch, with gradient accumulation, clipping and the optimizer step
  (:func:`train_on_batch`);
* checkpoints, saved whole or not at all (:func:`save_checkpoint`, :func:`maybe_save_checkpoint`,
  :func:`checkpoint_folders`), and resuming from one exactly where it left off
  (:func:`resume_from_checkpoint`, :func:`epoch_batches`);
* what a finished run reports (:func:`run_stats`, :func:`model_card_summary`) and pushes
  (:func:`push_output_to_hub`).

Functions that take ``args`` read the options :func:`add_training_arguments` defines.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import resource
import shutil
import sys
from pathlib import Path

import datasets
import torch
import transformers
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import set_seed
from transformers import get_scheduler

from .hub import push_folder_to_hub

__all__ = [
    "add_training_arguments",
    "backbone_settings",
    "check_training_arguments",
    "checkpoint_folders",
    "epoch_batches",
    "init_trackers",
    "make_scheduler",
    "maybe_save_checkpoint",
    "model_card_summary",
    "parse_config_overrides",
    "push_output_to_hub",
    "resume_from_checkpoint",
    "run_stats",
    "save_checkpoint",
    "set_training_length",
    "setup_accelerator",
    "train_on_batch",
]

logger = get_logger(__name__)

# The backbone of --image_encoder backbone without --backbone_config: a ResNet's last stage.
DEFAULT_BACKBONE_CONFIG = {"model_type": "resnet", "out_features": ["stage4"]}
# Python's spellings of the JSON literals, which --config_overrides accepts too.
_PYTHON_LITERALS = {"True": True, "False": False, "None": None}


# --- command line -----------------------------------------------------------------------------

def add_training_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The options every example script trains with, as a ``training`` group of ``parser``:
    output folder, length, optimiser and schedule, seed, checkpoints and resuming, tracking,
    pushing to the Hub. Check them with :func:`check_training_arguments` after parsing."""
    group = parser.add_argument_group("training")
    group.add_argument("--output_dir", required=True)
    group.add_argument("--num_train_epochs", type=int, default=10)
    group.add_argument("--max_train_steps", type=int, default=None, help="overrides --num_train_epochs")
    group.add_argument("--per_device_train_batch_size", type=int, default=32)
    group.add_argument("--learning_rate", type=float, default=1e-3)
    group.add_argument("--weight_decay", type=float, default=0.0, help="the optimizer's weight_decay")
    group.add_argument("--lr_scheduler_type", default="linear")
    group.add_argument("--num_warmup_steps", type=int, default=0)
    group.add_argument("--max_grad_norm", type=float, default=5.0, help="clip the gradients' norm to this (0: no clipping)")
    group.add_argument("--gradient_accumulation_steps", type=int, default=1)
    group.add_argument("--seed", type=int, default=42)
    group.add_argument("--checkpointing_steps", default=None, help="save state every N steps, or 'epoch'")
    group.add_argument("--resume_from_checkpoint", default=None, help="a checkpoint folder, or 'latest' for the newest one in --output_dir")
    group.add_argument("--eval_every_epoch", action="store_true")
    group.add_argument("--with_tracking", action="store_true")
    group.add_argument("--report_to", default="all")
    group.add_argument("--push_to_hub", action="store_true")
    group.add_argument("--hub_model_id", default=None)
    group.add_argument("--hub_token", default=None)
    group.add_argument("--hub_private", action="store_true")
    return group


def check_training_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``parser.error`` (exit status 2) on training options that do not go together, and on a
    ``--config_overrides`` (where the script has the option) that :func:`parse_config_overrides` rejects."""
    try:
        parse_config_overrides(getattr(args, "config_overrides", None))
    except ValueError as error:
        parser.error(f"--config_overrides: {error}")
    if args.push_to_hub and not args.hub_model_id:
        parser.error("--push_to_hub needs --hub_model_id")
    if args.checkpointing_steps not in (None, "epoch") and not args.checkpointing_steps.isdigit():
        parser.error("--checkpointing_steps must be an integer or 'epoch'")


def parse_config_overrides(text: str | None) -> dict:
    """``"a=1,b=[8,16],c=relu,d=false"`` -> ``{"a": 1, "b": [8, 16], "c": "relu", "d": False}``.

    Values are JSON where they parse as JSON (commas inside brackets or braces belong to the value;
    Python's ``True``/``False``/``None`` are read as JSON's ``true``/``false``/``null``), else
    strings. Raises ``ValueError`` on an item that is not ``key=value`` and on unbalanced brackets."""
    overrides = {}
    for item in _split_top_level(text or ""):
        key, equals, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not key:
            raise ValueError(f"config overrides are comma-separated key=value items, got {item!r} in {text!r}")
        if value in _PYTHON_LITERALS:
            overrides[key] = _PYTHON_LITERALS[value]
            continue
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def _split_top_level(text: str) -> list[str]:
    """The non-blank comma-separated items of ``text``, not splitting inside ``[...]`` or ``{...}``."""
    items, depth, start = [], 0, 0
    for position, char in enumerate(text):
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:position])
            start = position + 1
        if depth < 0:
            break
    if depth != 0:
        raise ValueError(f"config overrides with unbalanced brackets: {text!r}")
    items.append(text[start:])
    return [item for item in items if item.strip()]


def backbone_settings(backbone_config: str | None, image_encoder: str) -> dict:
    """The ``backbone_config`` config setting of ``--backbone_config`` (a JSON file or inline
    JSON), else a ResNet's for ``--image_encoder backbone``; ``{}`` for the other encoders."""
    if backbone_config:
        text = Path(backbone_config).read_text() if os.path.isfile(backbone_config) else backbone_config
        return {"backbone_config": json.loads(text)}
    if image_encoder == "backbone":
        return {"backbone_config": copy.deepcopy(DEFAULT_BACKBONE_CONFIG)}
    return {}


# --- set-up -----------------------------------------------------------------------------------

def setup_accelerator(args: argparse.Namespace) -> Accelerator:
    """The run's :class:`~accelerate.Accelerator` (with trackers under ``--with_tracking``), logging
    (quiet on all but the local main processes), the seed, and ``--output_dir``, made by the main
    process before any process goes on."""
    accelerator_kwargs = {"gradient_accumulation_steps": args.gradient_accumulation_steps}
    if args.with_tracking:
        accelerator_kwargs.update(log_with=args.report_to, project_dir=args.output_dir)
    # On a machine without an accelerator, Accelerator() would let every DDP rank train on all
    # the data; cpu=True makes the CPU ranks a real process group (docs/transformers.md, "Two-process DDP on a CPU machine").
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), **accelerator_kwargs)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    logger.info(accelerator.state, main_process_only=False)
    if not accelerator.is_local_main_process:
        datasets.utils.logging.set_verbosity_error()
        transformers.utils.logging.set_verbosity_error()
    set_seed(args.seed)
    if accelerator.is_main_process:
        Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    return accelerator


def set_training_length(args: argparse.Namespace, accelerator: Accelerator, num_batches: int) -> int:
    """Optimisation steps per epoch for ``num_batches`` training batches (all processes together);
    sets ``args.max_train_steps`` (from ``--num_train_epochs`` unless given) and
    ``args.num_train_epochs`` (the epochs those steps take)."""
    steps_per_epoch = math.ceil(math.ceil(num_batches / accelerator.num_processes) / args.gradient_accumulation_steps)
    if args.max_train_steps is None:
        args.max_train_steps = args.num_train_epochs * steps_per_epoch
    args.num_train_epochs = math.ceil(args.max_train_steps / steps_per_epoch)
    return steps_per_epoch


def make_scheduler(args: argparse.Namespace, optimizer: torch.optim.Optimizer, accelerator: Accelerator):
    """``--lr_scheduler_type`` over ``args.max_train_steps`` (after :func:`set_training_length`).
    The prepared scheduler steps once per process at each step, hence the step counts x processes."""
    return get_scheduler(
        args.lr_scheduler_type, optimizer,
        num_warmup_steps=args.num_warmup_steps * accelerator.num_processes,
        num_training_steps=args.max_train_steps * accelerator.num_processes,
    )


def init_trackers(accelerator: Accelerator, args: argparse.Namespace, project_name: str) -> None:
    """Start the trackers under ``--with_tracking``, with the run's scalar options as its config."""
    if args.with_tracking:
        accelerator.init_trackers(project_name, {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))})


# --- the loop ---------------------------------------------------------------------------------

def epoch_batches(accelerator: Accelerator, dataloader, epoch: int, skip_steps: int = 0, gradient_accumulation_steps: int = 1):
    """The prepared ``dataloader``'s batches of ``epoch``, without those of the first ``skip_steps``
    optimisation steps (the ones a resumed run has trained on already)."""
    # accelerate's prepared loader pushes its own epoch counter (0 in a resumed run) into the
    # sampler on every iteration: give it the real epoch (skip_first_batches copies it).
    dataloader.set_epoch(epoch)
    if skip_steps:
        return accelerator.skip_first_batches(dataloader, skip_steps * gradient_accumulation_steps)
    return dataloader


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


# --- checkpoints ------------------------------------------------------------------------------

def checkpoint_folders(output_dir: str | Path) -> list[Path]:
    """Completed checkpoints (``step_N`` / ``epoch_N`` with a ``done`` marker), oldest first."""
    folders = [p for p in Path(output_dir).glob("checkpoints/*_*") if (p / "done").exists()]
    return sorted(folders, key=lambda p: int(json.loads((p / "done").read_text())["completed_steps"]))


def save_checkpoint(accelerator: Accelerator, output_dir: str | Path, completed_steps: int, epoch: int, name: str) -> Path:
    """``accelerator.save_state`` into ``<output_dir>/checkpoints/<name>.partial``, renamed to
    ``<name>`` once complete (with a ``done`` marker holding the step and epoch), so a run killed
    while saving never leaves a half-written checkpoint that resuming would pick."""
    final = Path(output_dir) / "checkpoints" / name
    partial = final.with_name(name + ".partial")
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (partial / "done").write_text(json.dumps({"completed_steps": completed_steps, "epoch": epoch}))
        if final.exists():
            shutil.rmtree(final)
        partial.rename(final)
    accelerator.wait_for_everyone()
    return final


def maybe_save_checkpoint(accelerator: Accelerator, args: argparse.Namespace, completed_steps: int, epoch: int,
                          end_of_epoch: bool = False) -> None:
    """The checkpoint ``--checkpointing_steps`` asks for here, if any: after an optimisation step,
    ``step_<completed_steps>`` every N steps; at the end of ``epoch`` (``end_of_epoch``),
    ``epoch_<epoch + 1>`` under ``--checkpointing_steps epoch``."""
    every = args.checkpointing_steps
    if end_of_epoch:
        if every == "epoch":
            save_checkpoint(accelerator, args.output_dir, completed_steps, epoch + 1, f"epoch_{epoch + 1}")
    elif every and every.isdigit() and completed_steps % int(every) == 0:
        save_checkpoint(accelerator, args.output_dir, completed_steps, epoch, f"step_{completed_steps}")


def resume_from_checkpoint(accelerator: Accelerator, args: argparse.Namespace, steps_per_epoch: int) -> tuple[int, int, int]:
    """``(completed_steps, starting_epoch, resume_step)``: where training starts. Under
    ``--resume_from_checkpoint`` (a folder, or ``latest``: the newest complete checkpoint of
    ``--output_dir``, if any) the prepared objects' states are loaded and training goes on after
    the checkpoint's step: at batch ``resume_step`` of epoch ``starting_epoch``. Else ``(0, 0, 0)``."""
    if not args.resume_from_checkpoint:
        return 0, 0, 0
    if args.resume_from_checkpoint == "latest":
        found = checkpoint_folders(args.output_dir)
        checkpoint = found[-1] if found else None
    else:
        checkpoint = Path(args.resume_from_checkpoint)
    if checkpoint is None:
        logger.info("no checkpoint in %s: starting from scratch", args.output_dir)
        return 0, 0, 0
    accelerator.load_state(str(checkpoint))
    completed_steps = json.loads((checkpoint / "done").read_text())["completed_steps"]
    starting_epoch, resume_step = divmod(completed_steps, steps_per_epoch)
    logger.info("resumed from %s at step %d (epoch %d, batch %d)", checkpoint, completed_steps, starting_epoch, resume_step)
    return completed_steps, starting_epoch, resume_step


# --- the end of a run -------------------------------------------------------------------------

def run_stats(accelerator: Accelerator, train_time: float, examples_seen: int, completed_steps: int,
                   examples: str = "examples") -> dict:
    """What ``eval_results.json`` says about training: time, ``train_<examples>_per_s`` (the
    examples of all processes; a collective, so every process calls it), steps, processes,
    mixed precision, this process's peak memory."""
    examples_seen = accelerator.reduce(torch.tensor(examples_seen, device=accelerator.device), reduction="sum").item()
    return {
        "train_time_s": round(train_time, 1),
        f"train_{examples}_per_s": round(examples_seen / train_time, 1) if train_time > 0 else None,
        "completed_steps": completed_steps,
        "num_processes": accelerator.num_processes,
        "mixed_precision": accelerator.mixed_precision,
        "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def model_card_summary(args: argparse.Namespace, accelerator: Accelerator, eval_results: dict, script: str,
                     argv: list[str] | None = None, examples: str = "examples") -> dict:
    """The model card's training facts: epochs, time and speed (from :func:`run_stats` in
    ``eval_results``), hardware, and the command that trained it (``script`` with ``argv``, by
    default this process's arguments)."""
    speed = f"train_{examples}_per_s"
    return {
        "epochs": args.num_train_epochs, "train_time_s": eval_results["train_time_s"], speed: eval_results[speed],
        "hardware": f"{accelerator.num_processes} x {accelerator.device.type}",
        "command": f"accelerate launch {script} " + " ".join(sys.argv[1:] if argv is None else argv),
    }


def push_output_to_hub(args: argparse.Namespace) -> None:
    """Under ``--push_to_hub``, upload ``--output_dir`` as it is on disk to ``--hub_model_id``."""
    if args.push_to_hub:
        push_folder_to_hub(args.output_dir, args.hub_model_id, token=args.hub_token, private=args.hub_private)
