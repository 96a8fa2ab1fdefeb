from .images import load_image
from .vqa import VQAImageProcessor, VQAProcessor, build_question_tokenizer

__all__ = ["VQAImageProcessor", "VQAProcessor", "build_question_tokenizer", "load_image"]
