"""Translation: a sentence of one language translated into another by an RNN encoder-decoder
with ``generate()`` (greedy, beam search, sampling). ``AutoModelForSeq2SeqLM``, the
``translation`` pipeline (and its ``translation_xx_to_yy`` names) that transformers 5 removed and
this family restores, sacreBLEU's BLEU and chrF."""

from __future__ import annotations

import transformers.pipelines as transformers_pipelines
from transformers import AutoModelForSeq2SeqLM

from .. import TaskFamily
from . import card
from .configuration import MMAttnTranslationConfig
from .modeling import (
    DecodedTarget,
    MMAttnTranslationPreTrainedModel,
    TranslationEncoder,
    TranslationEncoderOutput,
    TranslationOutput,
    check_source_inputs,
    check_target_inputs,
    shift_tokens_right,
)
from .pipeline import TranslationPipeline, task_languages
from .processing import TranslationProcessor, build_translation_tokenizer, wrap_translation_tokenizer

PIPELINE_TASK = "translation"


def _check_task_with_languages(check_task):
    """transformers 4's registry read ``translation_xx_to_yy`` as the translation task with
    languages xx and yy; transformers 5's knows no such names. This wraps the registry's
    ``check_task`` to do it again (the pipeline reads the languages from its task name)."""

    def check_task_with_languages(task: str):
        languages = task_languages(task)
        if languages is not None:
            normalized_task, targeted_task, _ = check_task(PIPELINE_TASK)
            return normalized_task, targeted_task, languages
        return check_task(task)

    check_task_with_languages.reads_translation_languages = True
    return check_task_with_languages


def register_pipelines() -> None:
    """Restores ``translation`` and ``translation_xx_to_yy``: transformers 5 lists them as
    removed tasks and checks that list before its registry, so the name is taken out of
    ``transformers.pipelines.REMOVED_TASKS``, the pipeline registered, and the registry taught the
    names with languages."""
    registry = transformers_pipelines.PIPELINE_REGISTRY
    transformers_pipelines.REMOVED_TASKS.pop(PIPELINE_TASK, None)
    if registry.supported_tasks.get(PIPELINE_TASK, {}).get("impl") is not TranslationPipeline:
        registry.register_pipeline(PIPELINE_TASK, pipeline_class=TranslationPipeline, pt_model=AutoModelForSeq2SeqLM, type="text")
    if not getattr(registry.check_task, "reads_translation_languages", False):
        registry.check_task = _check_task_with_languages(registry.check_task)


FAMILY = TaskFamily(
    name="translation",
    auto_class=AutoModelForSeq2SeqLM,
    processor_class=TranslationProcessor,
    register_pipelines=register_pipelines,
    card=card,
)

__all__ = [
    "FAMILY",
    "DecodedTarget",
    "MMAttnTranslationConfig",
    "MMAttnTranslationPreTrainedModel",
    "TranslationEncoder",
    "TranslationEncoderOutput",
    "TranslationOutput",
    "TranslationPipeline",
    "TranslationProcessor",
    "build_translation_tokenizer",
    "check_source_inputs",
    "check_target_inputs",
    "shift_tokens_right",
    "task_languages",
    "wrap_translation_tokenizer",
]
