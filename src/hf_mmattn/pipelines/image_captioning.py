"""Kept for imports written before the task families moved: the pipeline is in
``hf_mmattn.tasks.captioning.pipeline``."""

from ..tasks.captioning.pipeline import ImageCaptioningPipeline

__all__ = ["ImageCaptioningPipeline"]
