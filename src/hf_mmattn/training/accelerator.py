"""The run's :class:`~accelerate.Accelerator` (:func:`setup_accelerator`) and its trackers
(:func:`init_trackers`). Everything distributed or precision-related goes through accelerate:
the scripts and the loop never touch ``torch.distributed`` or autocast themselves.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import datasets
import torch
import transformers
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import set_seed

from .arguments import SECRET_ARGUMENTS

logger = get_logger(__name__)


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


def init_trackers(accelerator: Accelerator, args: argparse.Namespace, project_name: str) -> None:
    """Start the trackers under ``--with_tracking``, with the run's scalar options as its config
    (never the Hub token: a tracker's config is stored and shown in its dashboard)."""
    if args.with_tracking:
        config = {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool)) and k not in SECRET_ARGUMENTS}
        accelerator.init_trackers(project_name, config)
