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
* checkpoints, saved whole or not at all, with checksums of their files and a record of what the
  run trains on (:func:`save_checkpoint`, :func:`maybe_save_checkpoint`, :func:`checkpoint_folders`,
  :func:`describe_run`), and resuming from one exactly where it left off, refusing a run whose
  data or steps differ and passing over a checkpoint damaged on disk
  (:func:`resume_from_checkpoint`, :func:`epoch_batches`);
* what a finished run reports (:func:`run_stats`, :func:`model_card_summary`) and pushes
  (:func:`push_output_to_hub`).

Functions that take ``args`` read the options :func:`add_training_arguments` defines.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
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
from accelerate.utils import broadcast_object_list, gather_object, set_seed
from transformers import get_scheduler

from .hub import push_folder_to_hub

__all__ = [
    "CheckpointLoadError",
    "CheckpointMismatchError",
    "TRAINING_ARGUMENTS_FREE_ON_RESUME",
    "add_training_arguments",
    "backbone_settings",
    "check_training_arguments",
    "checkpoint_folders",
    "describe_run",
    "epoch_batches",
    "fingerprint_dataset",
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
# Why some compared options matter, for the error that names them.
_WHY_COMPARED = {
    "learning_rate": "the checkpoint's optimizer and schedule keep its learning rate: the new one would have no effect",
    "weight_decay": "the checkpoint's optimizer keeps its weight decay: the new one would have no effect",
    "seed": "each epoch's shuffle follows the seed: the resumed epoch would skip the first batches of another order",
    "per_device_train_batch_size": "a step would be other batches, and the checkpoint's step another place in the data",
    "gradient_accumulation_steps": "a step would be other batches, and the checkpoint's step another place in the data",
}
# A checkpoint's files besides accelerate's state: the marker written last (the step, the epoch,
# the checksums of the other files) and the record of what the run trains on.
DONE_MARKER = "done"
RUN_RECORD = "run.json"


# --- command line -----------------------------------------------------------------------------

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


SECRET_ARGUMENTS = ("hub_token",)


def init_trackers(accelerator: Accelerator, args: argparse.Namespace, project_name: str) -> None:
    """Start the trackers under ``--with_tracking``, with the run's scalar options as its config
    (never the Hub token: a tracker's config is stored and shown in its dashboard)."""
    if args.with_tracking:
        config = {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool)) and k not in SECRET_ARGUMENTS}
        accelerator.init_trackers(project_name, config)


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


# --- what a run trains on ---------------------------------------------------------------------

class CheckpointMismatchError(ValueError):
    """Resuming from the checkpoint of a run that trained on other data, another model or other
    steps than the run being started (the message lists the differences)."""


class CheckpointLoadError(RuntimeError):
    """No checkpoint could be resumed from (the message gives each one's reason)."""


def fingerprint_dataset(dataset, batch_size: int = 10_000) -> dict:
    """``{"examples": N, "columns": {name: sha256}}``: the content of a ``datasets.Dataset``, row by
    row in its order, one digest per column, so that a difference is named by its column.

    Values are hashed as canonical JSON (the digests do not depend on ``batch_size``). Images are
    not decoded: an ``Image()`` value is the sha256 of its bytes where the dataset holds them
    (generated scenes), else its file's name (easy-VQA, COCO, Flickr), as is the value of a
    ``*_path`` column (region features). The name and not the path, so that the same data read
    from another folder or another installation keeps its fingerprint (the scripts compare their
    folder options as arguments instead); not the pixels of image files, which would take minutes
    to read on COCO. datasets' own ``Dataset._fingerprint`` is not used: it hashes the pickled
    table with its absolute paths, and cache files by their modification time, so it changes
    for the same data moved or re-downloaded."""
    table_view = dataset.with_format("arrow")
    names = sorted(dataset.column_names)
    hashers = {name: hashlib.sha256() for name in names}
    separator = b""
    for table in table_view.iter(batch_size=batch_size):
        for name in names:
            values = table.column(name).to_pylist()
            if isinstance(dataset.features[name], datasets.Image):
                values = [_image_identity(value) for value in values]
            elif name.endswith("_path"):
                values = [os.path.basename(value) if isinstance(value, str) else value for value in values]
            # "[a,b]" without its brackets, batches joined by ",": the JSON of the whole column.
            text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=_json_default)[1:-1]
            hashers[name].update(separator + text.encode())
        separator = b","
    return {"examples": len(dataset), "columns": {name: hasher.hexdigest() for name, hasher in hashers.items()}}


def _image_identity(value: dict | None) -> str | None:
    """An undecoded ``Image()`` value as :func:`fingerprint_dataset` hashes it."""
    if value is None:
        return None
    if value.get("bytes") is not None:
        return hashlib.sha256(value["bytes"]).hexdigest()
    return os.path.basename(value.get("path") or "")


def _json_default(value):
    if isinstance(value, (bytes, bytearray)):
        return hashlib.sha256(value).hexdigest()
    return str(value)


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default).encode()).hexdigest()


# Config keys that say where a model came from or how it is saved, not what it is.
_NOT_THE_MODEL = frozenset({"transformers_version", "architectures", "auto_map", "custom_pipelines", "id2label", "label2id"})


def _settings(values: dict) -> dict:
    """A config's or image processor's settings to compare: without the keys of ``_NOT_THE_MODEL``
    and private ones (``_name_or_path``), at every depth (a backbone config has its own)."""
    return {
        key: _settings(value) if isinstance(value, dict) else value
        for key, value in values.items() if key not in _NOT_THE_MODEL and not key.startswith("_")
    }


def describe_run(args: argparse.Namespace, accelerator: Accelerator, steps_per_epoch: int, *, train_data, processor, model,
                 free_arguments: tuple[str, ...] = ()) -> dict:
    """What a run trains on: the record that :func:`save_checkpoint` writes into each checkpoint
    (``run.json``) and that :func:`resume_from_checkpoint` compares with the checkpoint's, to
    refuse resuming a run on something else than what its checkpoint was trained on.

    * ``arguments``: every option in ``args`` except those that may change on resume,
      :data:`TRAINING_ARGUMENTS_FREE_ON_RESUME` and the script's ``free_arguments`` (its
      evaluation, figure and output options, and the files whose content ``train_data`` holds).
      Options are compared unless declared free, so that an option a script gains is compared
      until someone decides it may change; a free one is never recorded (``--hub_token``).
    * ``num_processes`` and ``steps_per_epoch``: what a step is made of, and where a step falls in
      the data (``divmod(completed_steps, steps_per_epoch)``).
    * ``train_data``: :func:`fingerprint_dataset` of ``train_data``, the training examples in
      their order (a changed file, split, subset or ``--max_train_samples``).
    * ``vocabulary`` (a digest of the processor tokenizer's words and ids) and
      ``image_processor`` (its settings): how the examples become inputs.
    * ``labels`` (a digest of the config's ``id2label``: a VQA model's answers) and
      ``model_config`` (the rest of ``model``'s config): the model, whichever options, preset or
      ``--model_name_or_path`` made it.

    Call it after :func:`set_training_length` (``steps_per_epoch``) and with the model as it trains."""
    free = set(TRAINING_ARGUMENTS_FREE_ON_RESUME) | set(free_arguments)
    config = accelerator.unwrap_model(model).config
    vocabulary = sorted(processor.tokenizer.get_vocab().items(), key=lambda item: (item[1], item[0]))
    labels = [config.id2label[key] for key in sorted(config.id2label)]
    record = {
        "record_format": 1,
        "arguments": {name: value for name, value in sorted(vars(args).items()) if name not in free},
        "num_processes": accelerator.num_processes,
        "steps_per_epoch": steps_per_epoch,
        "train_data": fingerprint_dataset(train_data),
        "vocabulary": {"size": len(vocabulary), "sha256": _digest(vocabulary)},
        "image_processor": _settings(json.loads(processor.image_processor.to_json_string())),
        "labels": {"size": len(labels), "sha256": _digest(labels)},
        "model_config": _settings(config.to_dict()),
    }
    return json.loads(json.dumps(record, default=_json_default))  # as run.json reads back: lists, string keys


_ABSENT = object()  # a key that one side lacks, in _setting_differences


def _show(value) -> str:
    text = "not given" if value is None else repr(value) if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _flatten(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _setting_differences(saved: dict, current: dict) -> str:
    saved, current = _flatten(saved), _flatten(current)
    keys = sorted(key for key in saved.keys() | current.keys() if saved.get(key, _ABSENT) != current.get(key, _ABSENT))
    shown = [f"{key} {_show(saved.get(key))} in the checkpoint, {_show(current.get(key))} now" for key in keys[:8]]
    return "; ".join(shown) + (f"; and {len(keys) - 8} more" if len(keys) > 8 else "")



def _run_differences(saved: dict, current: dict) -> list[str]:
    """What differs between the run record of a checkpoint and this run's (:func:`describe_run`),
    one line each; sections that one of them lacks (an older record format) are not compared."""
    differences = []
    if "arguments" in saved:
        saved_arguments, arguments = saved["arguments"], current["arguments"]
        for name in sorted(saved_arguments.keys() | arguments.keys()):
            if name not in saved_arguments:
                line = f"--{name}: not recorded in the checkpoint, {_show(arguments[name])} now"
            elif name not in arguments:
                line = f"--{name}: {_show(saved_arguments[name])} in the checkpoint, not an option of this run"
            elif saved_arguments[name] != arguments[name]:
                line = f"--{name}: {_show(saved_arguments[name])} in the checkpoint, {_show(arguments[name])} now"
            else:
                continue
            differences.append(line + (f" ({_WHY_COMPARED[name]})" if name in _WHY_COMPARED else ""))
    for key, what in (("num_processes", "processes"), ("steps_per_epoch", "optimisation steps per epoch")):
        if key in saved and saved[key] != current[key]:
            differences.append(f"{what}: {saved[key]} in the checkpoint, {current[key]} now")
    if "train_data" in saved and saved["train_data"] != current["train_data"]:
        before, now = saved["train_data"], current["train_data"]
        columns_before, columns_now = before["columns"], now["columns"]
        if before["examples"] != now["examples"]:
            line = f"the training data: {before['examples']} examples in the checkpoint, {now['examples']} now"
        elif columns_before.keys() != columns_now.keys():
            line = f"the training data: columns {sorted(columns_before)} in the checkpoint, {sorted(columns_now)} now"
        else:
            changed = sorted(name for name in columns_now if columns_before[name] != columns_now[name])
            line = f"the training data: {now['examples']} examples in both, other values in {', '.join(changed)}"
        differences.append(line)
    for key, what, unit in (("vocabulary", "the processor's vocabulary", "words"), ("labels", "the model's labels (id2label)", "labels")):
        if key in saved and saved[key] != current[key]:
            size_before, size_now = saved[key]["size"], current[key]["size"]
            sizes = (f"{size_before} {unit} in the checkpoint, {size_now} now" if size_before != size_now
                     else f"{size_now} {unit} in both, other {unit} or ids")
            differences.append(f"{what}: {sizes}")
    for key, what in (("image_processor", "the image processor"), ("model_config", "the model config")):
        if key in saved and saved[key] != current[key]:
            differences.append(f"{what}: {_setting_differences(saved[key], current[key])}")
    return differences


def _check_same_run(checkpoint: Path, saved: dict | None, current: dict | None, ignore: bool) -> None:
    """Raise :class:`CheckpointMismatchError` where the checkpoint's run record differs from this
    run's, unless ``ignore`` (``--ignore_checkpoint_mismatch``), which logs the differences."""
    if current is None:
        return
    if saved is None:
        logger.warning("checkpoint %s has no record of what its run trained on (saved without one, by an older hf-mmattn): "
                       "its data and options cannot be compared with this run's", checkpoint)
        return
    differences = _run_differences(saved, current)
    if not differences:
        return
    listed = "\n".join(f"  - {line}" for line in differences)
    if ignore:
        logger.warning("resuming from %s although this run differs from the one that saved it "
                       "(--ignore_checkpoint_mismatch):\n%s", checkpoint, listed)
        return
    raise CheckpointMismatchError(
        f"{checkpoint} was saved by a run that differs from this one:\n{listed}\n"
        "Resuming would go on with that run's weights, optimizer state and place in its data as if nothing had changed. "
        "To train this way from the start, give a new --output_dir (or leave out --resume_from_checkpoint); to go on "
        "from the checkpoint deliberately, run again with --ignore_checkpoint_mismatch (the differences are then logged "
        "as a warning). The --help of --resume_from_checkpoint lists the options that may change on resume."
    )


# --- checkpoints ------------------------------------------------------------------------------

class _Damaged(Exception):
    """A checkpoint that cannot be resumed from; the message says why."""


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _checksums(folder: Path) -> dict:
    """``{relative path: {"size", "sha256"}}`` of every file under ``folder`` but its done marker."""
    files = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and name != DONE_MARKER:
            files[name] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    return files


def _read_marker(folder: Path) -> dict:
    """The done marker of ``folder``, ``completed_steps`` an int; :class:`_Damaged` if it is
    missing or unreadable."""
    marker_path = folder / DONE_MARKER
    if not folder.is_dir():
        raise _Damaged("no such folder")
    if not marker_path.exists():
        raise _Damaged(f"it has no '{DONE_MARKER}' marker: not a complete checkpoint (a save that was interrupted?)")
    try:
        marker = json.loads(marker_path.read_text())
        marker["completed_steps"] = int(marker["completed_steps"])
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise _Damaged(f"its '{DONE_MARKER}' marker is unreadable ({type(error).__name__}: {error})") from None
    return marker


def _complete_checkpoints(output_dir: str | Path) -> tuple[list[tuple[Path, int]], list[tuple[Path, str]]]:
    """``([(folder, completed_steps)], [(folder, reason)])``: the checkpoints of ``output_dir``
    with a readable done marker, oldest first, and those whose marker cannot be read."""
    readable, unreadable = [], []
    for folder in Path(output_dir).glob("checkpoints/*_*"):
        if (folder / DONE_MARKER).exists():
            try:
                readable.append((folder, _read_marker(folder)["completed_steps"]))
            except _Damaged as error:
                unreadable.append((folder, str(error)))
    return sorted(readable, key=lambda item: (item[1], item[0].name)), sorted(unreadable)


def checkpoint_folders(output_dir: str | Path) -> list[Path]:
    """Completed checkpoints (``step_N`` / ``epoch_N`` with a ``done`` marker), oldest first (by
    the step in the marker). A folder whose marker cannot be read is left out; whether the files
    of the others are intact is checked on resuming (:func:`resume_from_checkpoint`)."""
    return [folder for folder, _ in _complete_checkpoints(output_dir)[0]]


def save_checkpoint(accelerator: Accelerator, output_dir: str | Path, completed_steps: int, epoch: int, name: str,
                    run: dict | None = None) -> Path:
    """``accelerator.save_state`` into ``<output_dir>/checkpoints/<name>.partial``, with ``run``
    (:func:`describe_run`) as ``run.json``, renamed to ``<name>`` once complete, so a run killed
    while saving never leaves a half-written checkpoint that resuming would pick. The ``done``
    marker, written last, holds the step, the epoch and the size and sha256 of every other file.

    Why checksums, when resuming loads the checkpoint anyway: a folder that looks complete can
    still be damaged on disk (bits flipped, a write cut short by a full disk on a filesystem that
    renamed it all the same, a file lost or replaced when folders are copied), and loading does
    not see all of it: accelerate's ``load_state`` skips a random-states file it cannot read with
    an info message, so the run would go on with other random numbers, and a tensor with flipped
    bits loads as well as a sound one. The checksums are computed once here, on files still in
    the page cache (about a second per GB), and checked only for the checkpoint being resumed
    from; loading is still tried and its failure handled the same way."""
    final = Path(output_dir) / "checkpoints" / name
    partial = final.with_name(name + ".partial")
    if accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)  # left by a save that was killed: none of its files, nor its marker, may stay
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if run is not None:
            (partial / RUN_RECORD).write_text(json.dumps(run, indent=1, sort_keys=True))
        marker = {"completed_steps": completed_steps, "epoch": epoch, "files": _checksums(partial)}
        (partial / DONE_MARKER).write_text(json.dumps(marker, indent=1))
        if final.exists():
            shutil.rmtree(final)
        partial.rename(final)
    accelerator.wait_for_everyone()
    return final


def maybe_save_checkpoint(accelerator: Accelerator, args: argparse.Namespace, completed_steps: int, epoch: int,
                          end_of_epoch: bool = False, run: dict | None = None) -> None:
    """The checkpoint ``--checkpointing_steps`` asks for here, if any: after an optimisation step,
    ``step_<completed_steps>`` every N steps; at the end of ``epoch`` (``end_of_epoch``),
    ``epoch_<epoch + 1>`` under ``--checkpointing_steps epoch``. ``run``: :func:`describe_run`."""
    every = args.checkpointing_steps
    if end_of_epoch:
        if every == "epoch":
            save_checkpoint(accelerator, args.output_dir, completed_steps, epoch + 1, f"epoch_{epoch + 1}", run)
    elif every and every.isdigit() and completed_steps % int(every) == 0:
        save_checkpoint(accelerator, args.output_dir, completed_steps, epoch, f"step_{completed_steps}", run)


def _verify(folder: Path) -> tuple[int, dict | None, list[str]]:
    """``(completed_steps, run record or None, notes)`` of a checkpoint whose files match the
    checksums of its marker; :class:`_Damaged` otherwise. ``notes``: what could not be checked."""
    marker = _read_marker(folder)
    files, notes = marker.get("files"), []
    if files is None:
        notes.append("it has no checksums (saved by an older hf-mmattn): only loading it checks it")
    else:
        for name, expected in sorted(files.items()):
            path = folder / name
            if not path.is_file():
                raise _Damaged(f"{name} is missing")
            size = path.stat().st_size
            if size != expected["size"]:
                raise _Damaged(f"{name} has {size} bytes, {expected['size']} when it was saved (cut short or overwritten)")
            if _sha256(path) != expected["sha256"]:
                raise _Damaged(f"{name} does not match the sha256 it was saved with (changed on disk since)")
    record = None
    if (folder / RUN_RECORD).exists():
        try:
            record = json.loads((folder / RUN_RECORD).read_text())
        except (OSError, ValueError) as error:
            raise _Damaged(f"{RUN_RECORD} is unreadable ({type(error).__name__}: {error})") from None
        if not isinstance(record, dict):
            raise _Damaged(f"{RUN_RECORD} is not a run record (a JSON object)")
    return marker["completed_steps"], record, notes


def _verified_by_main_process(accelerator: Accelerator, folder: Path) -> tuple[int, dict | None, list[str]]:
    """:func:`_verify` on the main process (one process reads and hashes the files), its outcome
    on every process, so that all of them take or pass over the same checkpoint."""
    outcome = [None]
    if accelerator.is_main_process:
        try:
            outcome = [("sound", _verify(folder))]
        except _Damaged as error:
            outcome = [("damaged", str(error))]
        except Exception as error:  # an unexpected failure must reach the other processes too
            outcome = [("damaged", f"checking it failed ({type(error).__name__}: {error})")]
    if accelerator.num_processes > 1:
        broadcast_object_list(outcome, from_process=0)
    verdict, value = outcome[0]
    if verdict == "damaged":
        raise _Damaged(value)
    return value


def _load_state(accelerator: Accelerator, folder: Path) -> str | None:
    """``accelerator.load_state(folder)``; None where every process loaded it, else the first
    failure. A failed load may have changed some states: loading another checkpoint replaces them all."""
    try:
        accelerator.load_state(str(folder))
        error = None
    except Exception as exception:
        message = str(exception)
        error = f"loading it failed ({type(exception).__name__}: {message[:300] + '...' if len(message) > 300 else message})"
    return next((e for e in gather_object([error]) if e), None)


def resume_from_checkpoint(accelerator: Accelerator, args: argparse.Namespace, steps_per_epoch: int,
                           run: dict | None = None) -> tuple[int, int, int]:
    """``(completed_steps, starting_epoch, resume_step)``: where training starts. Under
    ``--resume_from_checkpoint`` (a folder, or ``latest``: the newest checkpoint of
    ``--output_dir`` that loads) the prepared objects' states are loaded and training goes on
    after the checkpoint's step: at batch ``resume_step`` of epoch ``starting_epoch``. Else, or
    under ``latest`` when ``--output_dir`` has no complete checkpoint yet, ``(0, 0, 0)``.

    A checkpoint is used when its files match the checksums of its ``done`` marker (see
    :func:`save_checkpoint`) and ``load_state`` loads it. Under ``latest``, one that fails is
    passed over with a warning that names it and why, for the one before it, and so on: the run
    goes on from the older step, exactly as it went the first time. If none can be used,
    :class:`CheckpointLoadError` lists each with its reason (never a silent start from scratch);
    a folder named explicitly is used or refused, never replaced by another.

    ``run`` (:func:`describe_run`, this run) is compared with the record the checkpoint was saved
    with: the options that define the data and the steps (all but
    :data:`TRAINING_ARGUMENTS_FREE_ON_RESUME` and the script's free options: those that make a run
    longer, change its schedule, or change where and how often it saves, evaluates, logs and
    pushes), the number of processes and steps per epoch, the fingerprints of the training data
    and of the processor's vocabulary, the image processor, the labels and the model config. A
    difference raises :class:`CheckpointMismatchError`, which names each one, unless
    ``--ignore_checkpoint_mismatch``, with which the run goes on and the differences are logged
    as a warning. Checkpoints saved without a record are resumed with a warning that nothing
    could be compared."""
    if not args.resume_from_checkpoint:
        return 0, 0, 0
    failures: list[tuple[Path, str]] = []
    if args.resume_from_checkpoint == "latest":
        readable, unreadable = _complete_checkpoints(args.output_dir)
        if not readable and not unreadable:
            logger.info("no checkpoint in %s: starting from scratch", args.output_dir)
            return 0, 0, 0
        for folder, reason in unreadable:
            logger.warning("checkpoint %s cannot be resumed from: %s", folder, reason)
        failures.extend(unreadable)
        candidates = [folder for folder, _ in reversed(readable)]
    else:
        candidates = [Path(args.resume_from_checkpoint)]
    for position, checkpoint in enumerate(candidates):
        then = "; trying the one before it" if position + 1 < len(candidates) else ""
        try:
            completed_steps, saved_run, notes = _verified_by_main_process(accelerator, checkpoint)
        except _Damaged as error:
            failures.append((checkpoint, str(error)))
            logger.warning("checkpoint %s cannot be resumed from: %s%s", checkpoint, error, then)
            continue
        for note in notes:
            logger.warning("checkpoint %s: %s", checkpoint, note)
        _check_same_run(checkpoint, saved_run, run, getattr(args, "ignore_checkpoint_mismatch", False))
        error = _load_state(accelerator, checkpoint)
        if error is not None:
            failures.append((checkpoint, error))
            logger.warning("checkpoint %s cannot be resumed from: %s%s", checkpoint, error, then)
            continue
        starting_epoch, resume_step = divmod(completed_steps, steps_per_epoch)
        if failures:
            logger.warning("resuming from %s, the newest checkpoint that loads (passed over: %s)",
                           checkpoint, ", ".join(folder.name for folder, _ in failures))
        logger.info("resumed from %s at step %d (epoch %d, batch %d)", checkpoint, completed_steps, starting_epoch, resume_step)
        return completed_steps, starting_epoch, resume_step
    listed = "\n".join(f"  - {folder}: {reason}" for folder, reason in failures)
    if args.resume_from_checkpoint != "latest":
        raise CheckpointLoadError(
            f"cannot resume from {args.resume_from_checkpoint}:\n{listed}\nName another checkpoint folder, or pass "
            "--resume_from_checkpoint latest for the newest checkpoint of --output_dir that loads."
        )
    raise CheckpointLoadError(
        f"none of the checkpoints of {Path(args.output_dir) / 'checkpoints'} can be resumed from:\n{listed}\n"
        "Training from scratch here would overwrite them as it saves: give a new --output_dir to start again, or "
        "restore a checkpoint from a copy."
    )


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
