"""Kept for imports written before the task families moved: the pipeline is in
``hf_mmattn.tasks.vqa.pipeline``."""

from ..tasks.vqa.pipeline import VisualQuestionAnsweringPipeline

__all__ = ["VisualQuestionAnsweringPipeline"]
