from .. import ModelDeclaration
from .configuration_show_tell import SHOW_TELL_PRESETS, ShowTellConfig
from .modeling_show_tell import ShowTellForConditionalGeneration

MODEL = ModelDeclaration(family="captioning", config=ShowTellConfig, heads=(ShowTellForConditionalGeneration,))

__all__ = ["MODEL", "SHOW_TELL_PRESETS", "ShowTellConfig", "ShowTellForConditionalGeneration"]
