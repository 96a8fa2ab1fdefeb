"""The image and text encoders under the module name they had before each got its own file:
``layers/image_encoders.py`` and ``layers/text_encoders.py`` (and the packed RNN helpers,
``layers/masking.py``). Kept so that existing imports keep working; new code imports from those."""

from __future__ import annotations

from .image_encoders import IMAGE_ENCODERS, ImageEncoder, ScratchCNN
from .masking import is_right_padded, run_packed_rnn
from .text_encoders import (
    CNN_WINDOWS,
    CNNQuestionEncoder,
    CNNTextEncoder,
    LSTMQuestionEncoder,
    QuestionEncoding,
    RNNTextEncoder,
    TextEncoding,
)

__all__ = [
    "CNN_WINDOWS",
    "CNNQuestionEncoder",
    "CNNTextEncoder",
    "IMAGE_ENCODERS",
    "ImageEncoder",
    "LSTMQuestionEncoder",
    "QuestionEncoding",
    "RNNTextEncoder",
    "ScratchCNN",
    "TextEncoding",
    "is_right_padded",
    "run_packed_rnn",
]
