"""What a finished run reports: its statistics in ``eval_results.json`` (:func:`run_stats`), the
training facts of its model card (:func:`model_card_summary`), the model saved with that card and
its processor (:func:`save_with_card`), and the upload of its output folder
(:func:`push_output_to_hub`)."""

from __future__ import annotations

import argparse
import resource
import sys

import torch
from accelerate import Accelerator

from ..hub import push_folder_to_hub


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


def save_with_card(model, processor, args: argparse.Namespace, accelerator: Accelerator, eval_results: dict, *, script: str,
                   argv: list[str] | None, examples: str, dataset_id: str | None, dataset_name: str | None) -> None:
    """Saves ``model`` into ``--output_dir`` with its model card (the evaluation, the dataset, the
    Hub id, :func:`model_card_summary` of the run by ``script``) and ``processor`` (a processor,
    tokenizer or image processor) beside it."""
    model.save_pretrained(args.output_dir, model_card_kwargs=dict(
        eval_results=eval_results, dataset_id=dataset_id, dataset_name=dataset_name, model_id=args.hub_model_id,
        training_summary=model_card_summary(args, accelerator, eval_results, script, argv, examples=examples),
    ))
    processor.save_pretrained(args.output_dir)


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
