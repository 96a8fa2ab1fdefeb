"""hf-mmattn: the classic attention models of multimodal learning as transformers models.

``import hf_mmattn`` registers every architecture with the transformers Auto classes and
restores the ``visual-question-answering`` pipeline.
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
from .pipelines import VisualQuestionAnsweringPipeline
from .processing import VQAImageProcessor, VQAProcessor, build_question_tokenizer

__version__ = "0.1.0"

__all__ = [
    "BAN_PRESETS",
    "BanConfig",
    "BanForVisualQuestionAnswering",
    "BanModel",
    "DanConfig",
    "DanForVisualQuestionAnswering",
    "DanModel",
    "HieCoAttConfig",
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
    "VQAImageProcessor",
    "VQAProcessor",
    "VisualQuestionAnsweringPipeline",
    "build_question_tokenizer",
]
