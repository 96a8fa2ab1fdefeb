from .. import ModelDeclaration
from .configuration_show_tell import ShowTellConfig
from .modeling_show_tell import ShowTellForConditionalGeneration

MODEL = ModelDeclaration(family="captioning", config=ShowTellConfig, heads=(ShowTellForConditionalGeneration,))

__all__ = ["MODEL", "ShowTellConfig", "ShowTellForConditionalGeneration"]
