from .. import ModelDeclaration
from .configuration_dan import DAN_PRESETS, DanConfig
from .modeling_dan import DanForVisualQuestionAnswering, DanModel, DanPreTrainedModel

MODEL = ModelDeclaration(family="vqa", config=DanConfig, base=DanModel, heads=(DanForVisualQuestionAnswering,))

__all__ = ["MODEL", "DAN_PRESETS", "DanConfig", "DanModel", "DanForVisualQuestionAnswering", "DanPreTrainedModel"]
