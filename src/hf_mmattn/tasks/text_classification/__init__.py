"""Document classification: a document read as sentences of words, classified into
``config.id2label``. ``AutoModelForSequenceClassification`` and transformers' own
``text-classification`` pipeline, unchanged: the tokenizer's flat ids go straight to the model,
which splits them into sentences."""

from __future__ import annotations

from transformers import AutoModelForSequenceClassification

from .. import TaskFamily
from . import card
from .configuration import MMAttnTextClassificationConfig
from .modeling import (
    DocumentModelOutput,
    MMAttnForSequenceClassification,
    MMAttnTextClassificationPreTrainedModel,
    Sentences,
    check_document_inputs,
    classification_loss,
    split_into_sentences,
)
from .processing import LINE_BREAK, build_document_tokenizer, document_normalizer, sentence_end_token_ids

FAMILY = TaskFamily(name="text_classification", auto_class=AutoModelForSequenceClassification, processor_class=None, card=card)

__all__ = [
    "FAMILY",
    "LINE_BREAK",
    "DocumentModelOutput",
    "MMAttnForSequenceClassification",
    "MMAttnTextClassificationConfig",
    "MMAttnTextClassificationPreTrainedModel",
    "Sentences",
    "build_document_tokenizer",
    "check_document_inputs",
    "classification_loss",
    "document_normalizer",
    "sentence_end_token_ids",
    "split_into_sentences",
]
