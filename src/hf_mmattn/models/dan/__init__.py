from .. import ModelDeclaration
from .configuration_dan import DanConfig
from .modeling_dan import DanForVisualQuestionAnswering, DanModel, DanPreTrainedModel

MODEL = ModelDeclaration(family="vqa", config=DanConfig, base=DanModel, heads=(DanForVisualQuestionAnswering,))

__all__ = ["MODEL", "DanConfig", "DanModel", "DanForVisualQuestionAnswering", "DanPreTrainedModel"]
