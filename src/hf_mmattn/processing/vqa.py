"""Kept for imports written before the task families moved: the VQA processor is in
``hf_mmattn.tasks.vqa.processing``, the image processor in ``hf_mmattn.processing.image_processor``."""

from ..tasks.vqa.processing import PAD_TOKEN, UNK_TOKEN, VQAProcessor, build_question_tokenizer
from .image_processor import VQAImageProcessor, square_image_processor

__all__ = ["PAD_TOKEN", "UNK_TOKEN", "VQAImageProcessor", "VQAProcessor", "build_question_tokenizer", "square_image_processor"]
