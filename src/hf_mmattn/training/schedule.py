"""How long a run trains (:func:`set_training_length`: optimisation steps per epoch, total steps
and epochs) and its learning-rate schedule (:func:`make_scheduler`, one per optimizer)."""

from __future__ import annotations

import argparse
import math

import torch
from accelerate import Accelerator
from transformers import get_scheduler


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
