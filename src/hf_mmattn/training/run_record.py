"""What a run trains on (:func:`describe_run`): the record saved with every checkpoint
(``run.json``) and compared on resume, so that a run is never resumed on other data, another
model or other steps than its checkpoint was trained on without saying so
(:class:`CheckpointMismatchError`, unless ``--ignore_checkpoint_mismatch``).

The training data is compared by content (:func:`fingerprint_dataset`), not by path."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import datasets
from accelerate import Accelerator
from accelerate.logging import get_logger

from .arguments import TRAINING_ARGUMENTS_FREE_ON_RESUME

logger = get_logger(__name__)

# Why some compared options matter, for the error that names them.
_WHY_COMPARED = {
    "learning_rate": "the checkpoint's optimizer and schedule keep its learning rate: the new one would have no effect",
    "weight_decay": "the checkpoint's optimizer keeps its weight decay: the new one would have no effect",
    "seed": "each epoch's shuffle follows the seed: the resumed epoch would skip the first batches of another order",
    "per_device_train_batch_size": "a step would be other batches, and the checkpoint's step another place in the data",
    "gradient_accumulation_steps": "a step would be other batches, and the checkpoint's step another place in the data",
}


class CheckpointMismatchError(ValueError):
    """Resuming from the checkpoint of a run that trained on other data, another model or other
    steps than the run being started (the message lists the differences)."""


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
    * ``vocabulary`` (a digest of the processor tokenizer's words and ids; ``processor`` may be
      the tokenizer itself, for text models; ``None`` for image models, whose ``processor`` is the
      image processor) and ``image_processor`` (its settings; ``None`` without one): how the
      examples become inputs.
    * ``labels`` (a digest of the config's ``id2label``: a VQA model's answers) and
      ``model_config`` (the rest of ``model``'s config): the model, whichever options, preset or
      ``--model_name_or_path`` made it.

    Call it after :func:`set_training_length` (``steps_per_epoch``) and with the model as it trains."""
    free = set(TRAINING_ARGUMENTS_FREE_ON_RESUME) | set(free_arguments)
    config = accelerator.unwrap_model(model).config
    # A processor, a text model's tokenizer, or an image model's image processor.
    tokenizer = getattr(processor, "tokenizer", processor if hasattr(processor, "get_vocab") else None)
    image_processor = getattr(processor, "image_processor", None if tokenizer is processor else processor)
    vocabulary = sorted(tokenizer.get_vocab().items(), key=lambda item: (item[1], item[0])) if tokenizer is not None else None
    labels = [config.id2label[key] for key in sorted(config.id2label)]
    record = {
        "record_format": 1,
        "arguments": {name: value for name, value in sorted(vars(args).items()) if name not in free},
        "num_processes": accelerator.num_processes,
        "steps_per_epoch": steps_per_epoch,
        "train_data": fingerprint_dataset(train_data),
        "vocabulary": {"size": len(vocabulary), "sha256": _digest(vocabulary)} if vocabulary is not None else None,
        "image_processor": _settings(json.loads(image_processor.to_json_string())) if image_processor is not None else None,
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
