"""Processor pieces every family shares: turning any image into RGB (``images.py``), the image
processor (``image_processor.py``) and word-level tokenizers (``words.py``). The families'
processors are in ``tasks/<family>/processing.py``; their names here resolve lazily."""

from .image_processor import VQAImageProcessor, square_image_processor
from .images import load_image

_MOVED = {
    "CaptioningProcessor": "hf_mmattn.tasks.captioning.processing",
    "build_caption_tokenizer": "hf_mmattn.tasks.captioning.processing",
    "VQAProcessor": "hf_mmattn.tasks.vqa.processing",
    "build_question_tokenizer": "hf_mmattn.tasks.vqa.processing",
}


def __getattr__(name):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["VQAImageProcessor", "load_image", "square_image_processor", *_MOVED]
