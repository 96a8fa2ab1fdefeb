from .configuration_san import SAN_PRESETS, SanConfig
from .modeling_san import SanForVisualQuestionAnswering, SanModel, SanPreTrainedModel

__all__ = ["SAN_PRESETS", "SanConfig", "SanModel", "SanForVisualQuestionAnswering", "SanPreTrainedModel"]
