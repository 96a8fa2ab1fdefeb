from .. import ModelDeclaration
from .configuration_mcan import MCAN_PRESETS, McanConfig
from .modeling_mcan import McanForVisualQuestionAnswering, McanModel, McanPreTrainedModel

MODEL = ModelDeclaration(family="vqa", config=McanConfig, base=McanModel, heads=(McanForVisualQuestionAnswering,))

__all__ = ["MODEL", "MCAN_PRESETS", "McanConfig", "McanModel", "McanForVisualQuestionAnswering", "McanPreTrainedModel"]
