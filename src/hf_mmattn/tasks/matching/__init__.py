"""Image–text matching: images and sentences embedded independently into one space (dual
encoders), scored by a dot product. ``AutoModel`` / ``AutoModelForZeroShotImageClassification``,
transformers' own ``zero-shot-image-classification`` pipeline (no pipeline of ours: the built-in
one serves these models unchanged), retrieval of a gallery encoded once
([`ImageTextRetrieval`]), recall@K and median rank as a local ``evaluate`` module."""

from __future__ import annotations

from transformers import AutoModelForZeroShotImageClassification

from ...processing.image_processor import VQAImageProcessor
from .. import TaskFamily
from . import card
from .configuration import MMAttnMatchingConfig
from .modeling import Encoding, MatchingEmbeddingOutput, MatchingOutput, MMAttnMatchingPreTrainedModel, ranking_loss
from .processing import MatchingProcessor, build_sentence_tokenizer
from .retrieval import ImageTextRetrieval

FAMILY = TaskFamily(
    name="matching",
    auto_class=AutoModelForZeroShotImageClassification,
    processor_class=MatchingProcessor,
    image_processor_class=VQAImageProcessor,
    card=card,
)

__all__ = [
    "FAMILY",
    "Encoding",
    "ImageTextRetrieval",
    "MMAttnMatchingConfig",
    "MMAttnMatchingPreTrainedModel",
    "MatchingEmbeddingOutput",
    "MatchingOutput",
    "MatchingProcessor",
    "build_sentence_tokenizer",
    "ranking_loss",
]
