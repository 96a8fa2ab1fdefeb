"""Training of the example scripts (``examples/vqa/run_vqa.py``,
``examples/captioning/run_captioning.py``, ``examples/matching/run_matching.py``): one loop for every family, with pluggable steps.

A script keeps what belongs to its task (data, model and processor, evaluation, figures, the
model card) and hands the rest to :class:`TrainingLoop` with a step: :class:`SupervisedStep` for
a model that returns its loss, or its own :class:`TrainingStep` subclass (:class:`GANStep` for a
generator and a discriminator with an optimizer each). One concept a module:

* :mod:`.arguments`: the command-line options of training (:func:`add_training_arguments`,
  :func:`check_training_arguments`, :func:`select_splits`), ``--config_overrides`` (:func:`parse_config_overrides`),
  ``--backbone_config`` (:func:`backbone_settings`);
* :mod:`.caption_datasets`: the caption datasets of the scripts that train on (image, caption)
  pairs: their options (:func:`add_caption_dataset_arguments`), splits
  (:func:`load_caption_splits`) and pairs (:class:`CaptionPairs`);
* :mod:`.accelerator`: the :class:`~accelerate.Accelerator` set-up (:func:`setup_accelerator`)
  and the trackers (:func:`init_trackers`);
* :mod:`.schedule`: the length of training and the learning-rate schedule
  (:func:`set_training_length`, :func:`make_scheduler`);
* :mod:`.steps`: what one batch does (the step interface; :func:`train_on_batch`);
* :mod:`.loop`: the loop (:class:`TrainingLoop`, :func:`epoch_batches`);
* :mod:`.run_record`: what a run trains on (:func:`describe_run`, :func:`fingerprint_dataset`),
  compared on resume (:class:`CheckpointMismatchError`);
* :mod:`.checkpoints`: checkpoints saved whole or not at all, with checksums
  (:func:`save_checkpoint`, :func:`maybe_save_checkpoint`, :func:`checkpoint_folders`), and
  resuming exactly where one left off, passing over a damaged one (:func:`resume_from_checkpoint`,
  :class:`CheckpointLoadError`);
* :mod:`.reporting`: what a finished run reports (:func:`run_stats`, :func:`model_card_summary`),
  saves (:func:`save_with_card`) and pushes (:func:`push_output_to_hub`).

Every name is importable from ``hf_mmattn.training``. Functions that take ``args`` read the
options :func:`add_training_arguments` defines.
"""

from .accelerator import init_trackers, setup_accelerator
# DEFAULT_BACKBONE_CONFIG, SECRET_ARGUMENTS, DONE_MARKER and RUN_RECORD: not in __all__, importable as before.
from .arguments import (  # noqa: F401
    DEFAULT_BACKBONE_CONFIG,
    SECRET_ARGUMENTS,
    TRAINING_ARGUMENTS_FREE_ON_RESUME,
    add_training_arguments,
    backbone_settings,
    check_training_arguments,
    parse_config_overrides,
    select_splits,
)
from .caption_datasets import (
    CAPTION_DATASETS,
    CaptionPairs,
    add_caption_dataset_arguments,
    caption_pair_dataloader,
    check_caption_dataset_arguments,
    load_caption_splits,
)
from .checkpoints import (  # noqa: F401
    DONE_MARKER,
    RUN_RECORD,
    CheckpointLoadError,
    checkpoint_folders,
    maybe_save_checkpoint,
    resume_from_checkpoint,
    save_checkpoint,
)
from .loop import TrainingLoop, count_examples, epoch_batches
from .reporting import model_card_summary, push_output_to_hub, run_stats, save_with_card
from .run_record import CheckpointMismatchError, describe_run, fingerprint_dataset
from .schedule import make_scheduler, set_training_length
from .steps import GANStep, SupervisedStep, TrainingStep, train_on_batch

__all__ = [
    "CAPTION_DATASETS",
    "CaptionPairs",
    "add_caption_dataset_arguments",
    "caption_pair_dataloader",
    "check_caption_dataset_arguments",
    "load_caption_splits",
    "CheckpointLoadError",
    "CheckpointMismatchError",
    "GANStep",
    "SupervisedStep",
    "TRAINING_ARGUMENTS_FREE_ON_RESUME",
    "TrainingLoop",
    "TrainingStep",
    "add_training_arguments",
    "backbone_settings",
    "check_training_arguments",
    "checkpoint_folders",
    "count_examples",
    "describe_run",
    "epoch_batches",
    "fingerprint_dataset",
    "init_trackers",
    "make_scheduler",
    "maybe_save_checkpoint",
    "model_card_summary",
    "parse_config_overrides",
    "select_splits",
    "push_output_to_hub",
    "resume_from_checkpoint",
    "run_stats",
    "save_checkpoint",
    "save_with_card",
    "set_training_length",
    "setup_accelerator",
    "train_on_batch",
]
