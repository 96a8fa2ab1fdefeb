from .. import ModelDeclaration
from .configuration_mdan import MDAN_PRESETS, MDanConfig
from .modeling_mdan import MDanModel, MDanPreTrainedModel

MODEL = ModelDeclaration(family="matching", config=MDanConfig, heads=(MDanModel,))

__all__ = ["MODEL", "MDAN_PRESETS", "MDanConfig", "MDanModel", "MDanPreTrainedModel"]
