from .. import ModelDeclaration
from .configuration_show_attend_tell import SHOW_ATTEND_TELL_PRESETS, ShowAttendTellConfig
from .modeling_show_attend_tell import ShowAttendTellForConditionalGeneration

MODEL = ModelDeclaration(family="captioning", config=ShowAttendTellConfig, heads=(ShowAttendTellForConditionalGeneration,))

__all__ = ["MODEL", "SHOW_ATTEND_TELL_PRESETS", "ShowAttendTellConfig", "ShowAttendTellForConditionalGeneration"]
