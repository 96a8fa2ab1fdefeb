from .configuration_mcb import MCB_PRESETS, McbConfig
from .modeling_mcb import McbForVisualQuestionAnswering, McbModel, McbPreTrainedModel

__all__ = ["MCB_PRESETS", "McbConfig", "McbModel", "McbForVisualQuestionAnswering", "McbPreTrainedModel"]
