from .configuration_mcan import MCAN_PRESETS, McanConfig
from .modeling_mcan import McanForVisualQuestionAnswering, McanModel, McanPreTrainedModel

__all__ = ["MCAN_PRESETS", "McanConfig", "McanModel", "McanForVisualQuestionAnswering", "McanPreTrainedModel"]
