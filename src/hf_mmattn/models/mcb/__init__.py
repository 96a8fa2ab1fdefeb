from .configuration_mcb import McbConfig
from .modeling_mcb import McbForVisualQuestionAnswering, McbModel, McbPreTrainedModel

__all__ = ["McbConfig", "McbModel", "McbForVisualQuestionAnswering", "McbPreTrainedModel"]
