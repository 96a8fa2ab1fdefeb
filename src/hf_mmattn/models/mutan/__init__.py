from .configuration_mutan import MutanConfig
from .modeling_mutan import MutanForVisualQuestionAnswering, MutanModel, MutanPreTrainedModel

__all__ = ["MutanConfig", "MutanModel", "MutanForVisualQuestionAnswering", "MutanPreTrainedModel"]
