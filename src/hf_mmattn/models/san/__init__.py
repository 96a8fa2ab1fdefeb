from .. import ModelDeclaration
from .configuration_san import SAN_PRESETS, SanConfig
from .modeling_san import SanForVisualQuestionAnswering, SanModel, SanPreTrainedModel

MODEL = ModelDeclaration(family="vqa", config=SanConfig, base=SanModel, heads=(SanForVisualQuestionAnswering,))

__all__ = ["MODEL", "SAN_PRESETS", "SanConfig", "SanModel", "SanForVisualQuestionAnswering", "SanPreTrainedModel"]
