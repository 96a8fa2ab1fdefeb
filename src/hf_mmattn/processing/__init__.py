from .captioning import CaptioningProcessor, build_caption_tokenizer
from .images import load_image
from .vqa import VQAImageProcessor, VQAProcessor, build_question_tokenizer

__all__ = [
    "CaptioningProcessor",
    "VQAImageProcessor",
    "VQAProcessor",
    "build_caption_tokenizer",
    "build_question_tokenizer",
    "load_image",
]
