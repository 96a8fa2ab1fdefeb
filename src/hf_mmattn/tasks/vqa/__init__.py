"""Visual question answering: a question about an image, answered from a fixed answer
vocabulary (``config.id2label``). ``AutoModelForVisualQuestionAnswering``, the
``visual-question-answering`` pipeline (which transformers 5 removed and this family restores),
the VQA accuracy."""

from __future__ import annotations

import transformers.pipelines as transformers_pipelines
from transformers import AutoModelForVisualQuestionAnswering

from ...processing.image_processor import VQAImageProcessor
from .. import TaskFamily
from . import card
from .configuration import MMAttnVQAConfig
from .modeling import (
    MMAttnForVisualQuestionAnswering,
    MMAttnVQAPreTrainedModel,
    VQAModelOutput,
    VQAOutput,
    check_vqa_inputs,
    vqa_loss,
)
from .pipeline import VisualQuestionAnsweringPipeline
from .processing import VQAProcessor, build_question_tokenizer

PIPELINE_TASK = "visual-question-answering"
PIPELINE_ALIASES = ("vqa",)


def register_pipelines() -> None:
    """Restores ``visual-question-answering`` (and ``vqa``): transformers 5 lists them as removed
    tasks and checks that list before its registry, so the names are taken out of
    ``transformers.pipelines.REMOVED_TASKS`` and the pipeline is registered."""
    registry = transformers_pipelines.PIPELINE_REGISTRY
    transformers_pipelines.REMOVED_TASKS.pop(PIPELINE_TASK, None)
    if registry.supported_tasks.get(PIPELINE_TASK, {}).get("impl") is not VisualQuestionAnsweringPipeline:
        registry.register_pipeline(
            PIPELINE_TASK, pipeline_class=VisualQuestionAnsweringPipeline, pt_model=AutoModelForVisualQuestionAnswering, type="multimodal"
        )
    for alias in PIPELINE_ALIASES:
        transformers_pipelines.REMOVED_TASKS.pop(alias, None)
        registry.task_aliases[alias] = PIPELINE_TASK


FAMILY = TaskFamily(
    name="vqa",
    auto_class=AutoModelForVisualQuestionAnswering,
    processor_class=VQAProcessor,
    image_processor_class=VQAImageProcessor,
    register_pipelines=register_pipelines,
    card=card,
)

__all__ = [
    "FAMILY",
    "MMAttnForVisualQuestionAnswering",
    "MMAttnVQAConfig",
    "MMAttnVQAPreTrainedModel",
    "VQAModelOutput",
    "VQAOutput",
    "VisualQuestionAnsweringPipeline",
    "VQAProcessor",
    "build_question_tokenizer",
    "check_vqa_inputs",
    "vqa_loss",
]
