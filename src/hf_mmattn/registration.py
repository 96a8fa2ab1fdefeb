"""Registers every architecture of the package with transformers (run by ``import hf_mmattn``).

* each config with ``AutoConfig``, its base model with ``AutoModel``, its head with the Auto
  class of its task, its processor with ``AutoProcessor`` and its image processor with
  ``AutoImageProcessor`` (a processor cannot be loaded unless its image processor is registered);
* the ``visual-question-answering`` pipeline (and its ``vqa`` alias), which transformers 5
  removed: the removed-task check runs before the registry is consulted, so the package takes
  its own task names out of ``transformers.pipelines.REMOVED_TASKS`` and registers its pipeline;
* the captioners with ``AutoModelForImageTextToText`` (and ``AutoModel``), and the
  ``image-text-to-text`` task (``image-to-text`` is transformers' redirect to it) served by
  [`ImageCaptioningPipeline`], a subclass of transformers' pipeline that behaves the same for
  every other model and adds attention maps and optional text for the package's captioners.
"""

from __future__ import annotations

import logging

import transformers.pipelines as transformers_pipelines
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageTextToText,
    AutoModelForVisualQuestionAnswering,
    AutoProcessor,
)

from .models.ban import BanConfig, BanForVisualQuestionAnswering, BanModel
from .models.dan import DanConfig, DanForVisualQuestionAnswering, DanModel
from .models.hiecoatt import HieCoAttConfig, HieCoAttForVisualQuestionAnswering, HieCoAttModel
from .models.lstm_q_norm_i import LstmQNormIConfig, LstmQNormIForVisualQuestionAnswering, LstmQNormIModel
from .models.mcan import McanConfig, McanForVisualQuestionAnswering, McanModel
from .models.mcb import McbConfig, McbForVisualQuestionAnswering, McbModel
from .models.mlb import MlbConfig, MlbForVisualQuestionAnswering, MlbModel
from .models.mutan import MutanConfig, MutanForVisualQuestionAnswering, MutanModel
from .models.san import SanConfig, SanForVisualQuestionAnswering, SanModel
from .models.show_attend_tell import ShowAttendTellConfig, ShowAttendTellForConditionalGeneration
from .models.show_tell import ShowTellConfig, ShowTellForConditionalGeneration
from .pipelines.image_captioning import ImageCaptioningPipeline
from .pipelines.visual_question_answering import VisualQuestionAnsweringPipeline
from .processing.captioning import CaptioningProcessor
from .processing.vqa import VQAImageProcessor, VQAProcessor

VQA_MODELS = (
    (SanConfig, SanModel, SanForVisualQuestionAnswering),
    (LstmQNormIConfig, LstmQNormIModel, LstmQNormIForVisualQuestionAnswering),
    (HieCoAttConfig, HieCoAttModel, HieCoAttForVisualQuestionAnswering),
    (McbConfig, McbModel, McbForVisualQuestionAnswering),
    (MlbConfig, MlbModel, MlbForVisualQuestionAnswering),
    (MutanConfig, MutanModel, MutanForVisualQuestionAnswering),
    (DanConfig, DanModel, DanForVisualQuestionAnswering),
    (McanConfig, McanModel, McanForVisualQuestionAnswering),
    (BanConfig, BanModel, BanForVisualQuestionAnswering),
)

CAPTIONING_MODELS = (
    (ShowTellConfig, ShowTellForConditionalGeneration),
    (ShowAttendTellConfig, ShowAttendTellForConditionalGeneration),
)

RESTORED_PIPELINES = {
    "visual-question-answering": (VisualQuestionAnsweringPipeline, AutoModelForVisualQuestionAnswering, "multimodal"),
}
PIPELINE_ALIASES = {"vqa": "visual-question-answering"}


def register_models() -> None:
    for config_class, base_class, vqa_class in VQA_MODELS:
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModel.register(config_class, base_class, exist_ok=True)
        AutoModelForVisualQuestionAnswering.register(config_class, vqa_class, exist_ok=True)
        AutoImageProcessor.register(config_class, image_processor_classes={"pil": VQAImageProcessor}, exist_ok=True)
        AutoProcessor.register(config_class, VQAProcessor, exist_ok=True)
    for config_class, model_class in CAPTIONING_MODELS:
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModel.register(config_class, model_class, exist_ok=True)
        AutoModelForImageTextToText.register(config_class, model_class, exist_ok=True)
        AutoImageProcessor.register(config_class, image_processor_classes={"pil": VQAImageProcessor}, exist_ok=True)
        AutoProcessor.register(config_class, CaptioningProcessor, exist_ok=True)


class _FixTaskRedirectWarning(logging.Filter):
    """transformers 5.23 logs its ``image-to-text`` → ``image-text-to-text`` redirect with
    ``UserWarning`` passed as a %-format argument, so logging prints a traceback instead of the
    message (and pytest's log capture raises). This drops the stray argument; the message stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args == (UserWarning,):
            record.args = ()
        return True


def restore_pipelines() -> None:
    registry = transformers_pipelines.PIPELINE_REGISTRY
    for task, (pipeline_class, model_class, task_type) in RESTORED_PIPELINES.items():
        transformers_pipelines.REMOVED_TASKS.pop(task, None)
        if registry.supported_tasks.get(task, {}).get("impl") is not pipeline_class:
            registry.register_pipeline(task, pipeline_class=pipeline_class, pt_model=model_class, type=task_type)
    for alias, task in PIPELINE_ALIASES.items():
        transformers_pipelines.REMOVED_TASKS.pop(alias, None)
        registry.task_aliases[alias] = task
    pipelines_logger = logging.getLogger(transformers_pipelines.__name__)
    if not any(isinstance(f, _FixTaskRedirectWarning) for f in pipelines_logger.filters):
        pipelines_logger.addFilter(_FixTaskRedirectWarning())
    # A subclass of transformers' own image-text-to-text pipeline, identical for other models.
    captioning_task = registry.supported_tasks["image-text-to-text"]
    if captioning_task.get("impl") is not ImageCaptioningPipeline:
        captioning_task["impl"] = ImageCaptioningPipeline


register_models()
restore_pipelines()
