"""Image captioning: a caption generated word by word from an image with ``generate()``.
``AutoModelForImageTextToText``, transformers' ``image-text-to-text`` pipeline (and its
``image-to-text`` name) served by a subclass that adds attention maps for these captioners, the
COCO caption metrics."""

from __future__ import annotations

import logging

import transformers.pipelines as transformers_pipelines
from transformers import AutoModelForImageTextToText

from ...processing.image_processor import VQAImageProcessor
from .. import TaskFamily
from . import card
from .configuration import MMAttnCaptioningConfig
from .modeling import CaptioningOutput, MMAttnCaptioningPreTrainedModel
from .pipeline import ImageCaptioningPipeline
from .processing import CaptioningProcessor, build_caption_tokenizer


class _FixTaskRedirectWarning(logging.Filter):
    """transformers (5.20-5.25) logs its ``image-to-text`` → ``image-text-to-text`` redirect with
    ``UserWarning`` passed as a %-format argument, so logging prints a traceback instead of the
    message (and pytest's log capture raises). This drops the stray argument; the message stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args == (UserWarning,):
            record.args = ()
        return True


def register_pipelines() -> None:
    """Serves ``image-text-to-text`` with [`ImageCaptioningPipeline`], a subclass of transformers'
    own pipeline that behaves the same for every other model, and repairs the redirect warning."""
    pipelines_logger = logging.getLogger(transformers_pipelines.__name__)
    if not any(isinstance(f, _FixTaskRedirectWarning) for f in pipelines_logger.filters):
        pipelines_logger.addFilter(_FixTaskRedirectWarning())
    captioning_task = transformers_pipelines.PIPELINE_REGISTRY.supported_tasks["image-text-to-text"]
    if captioning_task.get("impl") is not ImageCaptioningPipeline:
        captioning_task["impl"] = ImageCaptioningPipeline


FAMILY = TaskFamily(
    name="captioning",
    auto_class=AutoModelForImageTextToText,
    processor_class=CaptioningProcessor,
    image_processor_class=VQAImageProcessor,
    register_pipelines=register_pipelines,
    card=card,
)

__all__ = [
    "FAMILY",
    "CaptioningOutput",
    "CaptioningProcessor",
    "ImageCaptioningPipeline",
    "MMAttnCaptioningConfig",
    "MMAttnCaptioningPreTrainedModel",
    "build_caption_tokenizer",
]
