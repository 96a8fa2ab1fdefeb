"""Image classification (fine-grained recognition: birds, aircraft, cars): an image in, a class
of ``config.id2label`` out. ``AutoModelForImageClassification`` and transformers' own
``image-classification`` pipeline, unchanged: the pipeline loads the saved image processor
(``AutoImageProcessor``) and reads ``outputs.logits``."""

from __future__ import annotations

from transformers import AutoModelForImageClassification

from ...processing.image_processor import VQAImageProcessor
from .. import TaskFamily
from . import card
from .configuration import MMAttnImageClassificationConfig
from .modeling import MMAttnForImageClassification, MMAttnImageClassificationPreTrainedModel, check_image_classification_inputs

FAMILY = TaskFamily(
    name="image_classification", auto_class=AutoModelForImageClassification, processor_class=None,
    image_processor_class=VQAImageProcessor, card=card,
)

__all__ = [
    "FAMILY",
    "MMAttnForImageClassification",
    "MMAttnImageClassificationConfig",
    "MMAttnImageClassificationPreTrainedModel",
    "check_image_classification_inputs",
]
