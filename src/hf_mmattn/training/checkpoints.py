"""Checkpoints: saved whole or not at all, with checksums of their files and the run record
(:func:`save_checkpoint`, :func:`maybe_save_checkpoint`, :func:`checkpoint_folders`), and
resuming from one exactly where it left off (:func:`resume_from_checkpoint`): passing over a
checkpoint damaged on disk for the one before it, refusing one saved by a run on other data.

What a checkpoint holds is accelerate's ``save_state``: every prepared model, optimizer,
scheduler and dataloader, the objects registered with ``register_for_checkpointing``, and the
random states of every process."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import broadcast_object_list, gather_object

from .run_record import _check_same_run

logger = get_logger(__name__)

# A checkpoint's files besides accelerate's state: the marker written last (the step, the epoch,
# the checksums of the other files) and the record of what the run trains on.
DONE_MARKER = "done"
RUN_RECORD = "run.json"


class CheckpointLoadError(RuntimeError):
    """No checkpoint could be resumed from (the message gives each one's reason)."""


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
