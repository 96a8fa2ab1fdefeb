from .configuration_show_attend_tell import SHOW_ATTEND_TELL_PRESETS, ShowAttendTellConfig
from .modeling_show_attend_tell import ShowAttendTellForConditionalGeneration

__all__ = ["SHOW_ATTEND_TELL_PRESETS", "ShowAttendTellConfig", "ShowAttendTellForConditionalGeneration"]
