"""The command-line options every example script trains with, and the parsing of the options
that configure a model: ``--config_overrides`` (:func:`parse_config_overrides`) and
``--backbone_config`` (:func:`backbone_settings`).

Which options may change when a run is resumed (:data:`TRAINING_ARGUMENTS_FREE_ON_RESUME`) is
decided here, next to the options; the run record (:mod:`.run_record`) compares all the others.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
from pathlib import Path

# The backbone of --image_encoder backbone without --backbone_config: a ResNet's last stage.
DEFAULT_BACKBONE_CONFIG = {"model_type": "resnet", "out_features": ["stage4"]}
# Python's spellings of the JSON literals, which --config_overrides accepts too.
_PYTHON_LITERALS = {"True": True, "False": False, "None": None}

# The options of add_training_arguments that may differ between a run and its resumption: how
# long to train (a finished run goes on for more epochs), the learning-rate schedule and
# clipping (they act from the resumed step on), where and how often to save, evaluate, log and
# push. Every other option (the batch size and gradient accumulation, which make a step; the
# seed, which makes each epoch's order; the learning rate and weight decay, which the
# checkpoint's optimizer state keeps whatever they say now) is compared on resume, with the
# scripts' own options that are not in their FREE_ON_RESUME (describe_run).
TRAINING_ARGUMENTS_FREE_ON_RESUME = (
    "output_dir", "num_train_epochs", "max_train_steps", "lr_scheduler_type", "num_warmup_steps", "max_grad_norm",
    "checkpointing_steps", "resume_from_checkpoint", "ignore_checkpoint_mismatch", "eval_every_epoch",
    "with_tracking", "report_to", "push_to_hub", "hub_model_id", "hub_token", "hub_private",
)

# Options never passed to a tracker (a tracker's config is stored and shown in its dashboard).
SECRET_ARGUMENTS = ("hub_token",)


def add_training_arguments(parser: argparse.ArgumentParser, free_on_resume: tuple[str, ...] = ()) -> argparse._ArgumentGroup:
    """The options every example script trains with, as a ``training`` group of ``parser``:
    output folder, length, optimiser and schedule, seed, checkpoints and resuming, tracking,
    pushing to the Hub. Check them with :func:`check_training_arguments` after parsing.

    ``free_on_resume``: the script's own options that may change when a run is resumed (the ones
    it passes to :func:`describe_run`), for the help of ``--resume_from_checkpoint``."""
    free = ", ".join(f"--{name}" for name in (*TRAINING_ARGUMENTS_FREE_ON_RESUME, *free_on_resume)
                     if name not in ("resume_from_checkpoint", "ignore_checkpoint_mismatch"))
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
    group.add_argument(
        "--resume_from_checkpoint", default=None,
        help="a checkpoint folder, or 'latest': the newest checkpoint of --output_dir that loads (one damaged on disk is "
             "passed over with a warning, for the one before it). Resuming refuses a run that differs from the "
             "checkpoint's in its training data, processor vocabulary, model config, number of processes, steps per "
             "epoch or any option but these, which may change: " + free,
    )
    group.add_argument(
        "--ignore_checkpoint_mismatch", action="store_true",
        help="resume with --resume_from_checkpoint although the data or options differ from the checkpoint's (the "
             "differences are logged as a warning); without it such a resume stops with an error that lists them",
    )
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


def select_splits(splits, args: argparse.Namespace, unit: str = "examples"):
    """The training split and the ``--eval_split`` split of ``splits`` (a ``DatasetDict``), cut to
    their first ``--max_train_samples`` / ``--max_eval_samples`` rows; ``unit`` names the rows in
    the errors (a missing split, an empty one)."""
    if args.eval_split not in splits:
        raise ValueError(f"the dataset has no {args.eval_split} split (it has {sorted(splits)}): choose another --eval_split")
    train, evaluation = splits["train"], splits[args.eval_split]
    if args.max_train_samples is not None:
        train = train.select(range(min(args.max_train_samples, len(train))))
    if args.max_eval_samples is not None:
        evaluation = evaluation.select(range(min(args.max_eval_samples, len(evaluation))))
    if len(train) == 0 or len(evaluation) == 0:
        raise ValueError(f"empty split: {len(train)} training and {len(evaluation)} {args.eval_split} {unit}")
    return train, evaluation

