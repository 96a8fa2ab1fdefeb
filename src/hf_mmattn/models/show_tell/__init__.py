from .configuration_show_tell import ShowTellConfig
from .modeling_show_tell import ShowTellForConditionalGeneration

__all__ = ["ShowTellConfig", "ShowTellForConditionalGeneration"]
