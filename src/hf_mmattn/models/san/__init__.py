from .configuration_san import SanConfig
from .modeling_san import SanForVisualQuestionAnswering, SanModel, SanPreTrainedModel

__all__ = ["SanConfig", "SanModel", "SanForVisualQuestionAnswering", "SanPreTrainedModel"]
