from .configuration_dan import DanConfig
from .modeling_dan import DanForVisualQuestionAnswering, DanModel, DanPreTrainedModel

__all__ = ["DanConfig", "DanModel", "DanForVisualQuestionAnswering", "DanPreTrainedModel"]
