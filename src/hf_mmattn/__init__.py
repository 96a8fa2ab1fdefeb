"""hf-mmattn: the classic attention models of multimodal learning as transformers models.

``import hf_mmattn`` registers every architecture with the transformers Auto classes,
restores the ``visual-question-answering`` pipeline and serves the captioners through
``image-text-to-text`` (and ``image-to-text``).
"""

from . import registration  # noqa: F401  (registers models, processors and pipelines)
from .models.ban import BAN_PRESETS, BanConfig, BanForVisualQuestionAnswering, BanModel
from .models.dan import DanConfig, DanForVisualQuestionAnswering, DanModel
from .models.hiecoatt import HieCoAttConfig, HieCoAttForVisualQuestionAnswering, HieCoAttModel
from .models.lstm_q_norm_i import LstmQNormIConfig, LstmQNormIForVisualQuestionAnswering, LstmQNormIModel
from .models.mcan import MCAN_PRESETS, McanConfig, McanForVisualQuestionAnswering, McanModel
from .models.mcb import McbConfig, McbForVisualQuestionAnswering, McbModel
from .models.mlb import MlbConfig, MlbForVisualQuestionAnswering, MlbModel
from .models.mutan import MutanConfig, MutanForVisualQuestionAnswering, MutanModel
from .models.san import SanConfig, SanForVisualQuestionAnswering, SanModel
from .models.show_attend_tell import (
    SHOW_ATTEND_TELL_PRESETS,
    ShowAttendTellConfig,
    ShowAttendTellForConditionalGeneration,
)
from .models.show_tell import ShowTellConfig, ShowTellForConditionalGeneration
from .pipelines import ImageCaptioningPipeline, VisualQuestionAnsweringPipeline
from .processing import (
    CaptioningProcessor,
    VQAImageProcessor,
    VQAProcessor,
    build_caption_tokenizer,
    build_question_tokenizer,
)

__version__ = "0.1.0"

__all__ = [
    "BAN_PRESETS",
    "BanConfig",
    "BanForVisualQuestionAnswering",
    "BanModel",
    "CaptioningProcessor",
    "DanConfig",
    "DanForVisualQuestionAnswering",
    "DanModel",
    "HieCoAttConfig",
    "ImageCaptioningPipeline",
    "HieCoAttForVisualQuestionAnswering",
    "HieCoAttModel",
    "LstmQNormIConfig",
    "LstmQNormIForVisualQuestionAnswering",
    "LstmQNormIModel",
    "McbConfig",
    "McbForVisualQuestionAnswering",
    "McbModel",
    "MCAN_PRESETS",
    "McanConfig",
    "McanForVisualQuestionAnswering",
    "McanModel",
    "MlbConfig",
    "MlbForVisualQuestionAnswering",
    "MlbModel",
    "MutanConfig",
    "MutanForVisualQuestionAnswering",
    "MutanModel",
    "SanConfig",
    "SanForVisualQuestionAnswering",
    "SanModel",
    "SHOW_ATTEND_TELL_PRESETS",
    "ShowAttendTellConfig",
    "ShowAttendTellForConditionalGeneration",
    "ShowTellConfig",
    "ShowTellForConditionalGeneration",
    "VQAImageProcessor",
    "VQAProcessor",
    "VisualQuestionAnsweringPipeline",
    "build_caption_tokenizer",
    "build_question_tokenizer",
]
