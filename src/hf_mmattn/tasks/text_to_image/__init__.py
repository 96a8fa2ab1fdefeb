"""Text-to-image: a caption embedded by a matching model's text encoder conditions a GAN's
generator. One ``PreTrainedModel`` holds the text encoder, the generator and the discriminator
(``AutoModel``); the ``text-to-image`` pipeline (transformers has none) returns PIL images; the
evaluation (caption consistency judged by a scene classifier trained on real scenes, R-precision,
diversity) is in ``metrics.py``; the training step of the GAN objectives in ``training.py``."""

from __future__ import annotations

import transformers.pipelines as transformers_pipelines
from transformers import AutoModel

from ...processing.image_processor import VQAImageProcessor
from .. import TaskFamily
from . import card
from .configuration import LOSS_TYPES, MMAttnTextToImageConfig
from .modeling import (
    MMAttnTextToImagePreTrainedModel,
    TextToImageOutput,
    discriminator_loss,
    generator_loss,
    interpolate_text_embeds,
)
from .pipeline import TextToImagePipeline
from .processing import TextToImageProcessor, to_pil_images

PIPELINE_TASK = "text-to-image"


def register_pipelines() -> None:
    """Adds ``text-to-image`` to transformers' pipeline registry (transformers has no such task)."""
    registry = transformers_pipelines.PIPELINE_REGISTRY
    if registry.supported_tasks.get(PIPELINE_TASK, {}).get("impl") is not TextToImagePipeline:
        registry.register_pipeline(PIPELINE_TASK, pipeline_class=TextToImagePipeline, pt_model=AutoModel, type="text")


FAMILY = TaskFamily(
    name="text_to_image",
    auto_class=AutoModel,
    processor_class=TextToImageProcessor,
    image_processor_class=VQAImageProcessor,
    register_pipelines=register_pipelines,
    card=card,
)

__all__ = [
    "FAMILY",
    "LOSS_TYPES",
    "MMAttnTextToImageConfig",
    "MMAttnTextToImagePreTrainedModel",
    "TextToImageOutput",
    "TextToImagePipeline",
    "TextToImageProcessor",
    "discriminator_loss",
    "generator_loss",
    "interpolate_text_embeds",
    "to_pil_images",
]
