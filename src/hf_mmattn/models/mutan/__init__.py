from .. import ModelDeclaration
from .configuration_mutan import MUTAN_PRESETS, MutanConfig
from .modeling_mutan import MutanForVisualQuestionAnswering, MutanModel, MutanPreTrainedModel

MODEL = ModelDeclaration(family="vqa", config=MutanConfig, base=MutanModel, heads=(MutanForVisualQuestionAnswering,))

__all__ = ["MODEL", "MUTAN_PRESETS", "MutanConfig", "MutanModel", "MutanForVisualQuestionAnswering", "MutanPreTrainedModel"]
