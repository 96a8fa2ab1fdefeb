"""hf-mmattn: the classic attention models of multimodal learning as transformers models.

``import hf_mmattn`` registers every model folder under ``models/`` with the transformers Auto
classes, restores the ``visual-question-answering`` pipeline and serves the captioners through
``image-text-to-text`` (and ``image-to-text``), restores ``translation`` (and
``translation_xx_to_yy``) for the translators, adds ``text-to-image`` (which transformers does not
have) for the text-to-image GANs; the matching models serve transformers' own
``zero-shot-image-classification``. The backbones the package adds (``VggConfig``,
``VggBackbone``) are registered with ``AutoConfig`` and ``AutoBackbone``. Every name a model
folder exports (its config, models, presets) is importable from here.
"""

from . import registration  # noqa: F401  (registers models, processors and pipelines)
from .backbones import VggBackbone, VggConfig
from .models import ModelDeclaration, discover
from .processing import VQAImageProcessor, load_image
from .tasks.captioning import CaptioningProcessor, ImageCaptioningPipeline, build_caption_tokenizer
from .tasks.matching import ImageTextRetrieval, MatchingProcessor, build_sentence_tokenizer
from .tasks.text_to_image import TextToImagePipeline, TextToImageProcessor
from .tasks.translation import TranslationPipeline, TranslationProcessor, build_translation_tokenizer
from .tasks.vqa import VisualQuestionAnsweringPipeline, VQAProcessor, build_question_tokenizer

__version__ = "0.1.0"

__all__ = [
    "CaptioningProcessor",
    "ImageCaptioningPipeline",
    "ImageTextRetrieval",
    "MatchingProcessor",
    "ModelDeclaration",
    "TextToImagePipeline",
    "TextToImageProcessor",
    "TranslationPipeline",
    "TranslationProcessor",
    "VQAImageProcessor",
    "VQAProcessor",
    "VggBackbone",
    "VggConfig",
    "VisualQuestionAnsweringPipeline",
    "build_caption_tokenizer",
    "build_question_tokenizer",
    "build_sentence_tokenizer",
    "build_translation_tokenizer",
    "discover",
    "load_image",
]


def _export_model_names() -> None:
    """Each model folder's public names (``__all__`` of ``models/<name>/__init__.py``) here."""
    import importlib

    for model in discover():
        package = importlib.import_module(f"{__name__}.models.{model.name}")
        for name in package.__all__:
            if name != "MODEL":
                globals()[name] = getattr(package, name)
                __all__.append(name)


_export_model_names()
