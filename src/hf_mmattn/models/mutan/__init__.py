from .. import ModelDeclaration
from .configuration_mutan import MutanConfig
from .modeling_mutan import MutanForVisualQuestionAnswering, MutanModel, MutanPreTrainedModel

MODEL = ModelDeclaration(family="vqa", config=MutanConfig, base=MutanModel, heads=(MutanForVisualQuestionAnswering,))

__all__ = ["MODEL", "MutanConfig", "MutanModel", "MutanForVisualQuestionAnswering", "MutanPreTrainedModel"]
