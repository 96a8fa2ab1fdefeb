"""Kept for imports written before the task families moved: the captioning processor is in
``hf_mmattn.tasks.captioning.processing``."""

from ..tasks.captioning.processing import (
    CAPTION_SPECIAL_TOKENS,
    CaptioningProcessor,
    build_caption_tokenizer,
    wrap_caption_tokenizer,
)

__all__ = ["CAPTION_SPECIAL_TOKENS", "CaptioningProcessor", "build_caption_tokenizer", "wrap_caption_tokenizer"]
