from .. import ModelDeclaration
from .configuration_mcb import MCB_PRESETS, McbConfig
from .modeling_mcb import McbForVisualQuestionAnswering, McbModel, McbPreTrainedModel

MODEL = ModelDeclaration(family="vqa", config=McbConfig, base=McbModel, heads=(McbForVisualQuestionAnswering,))

__all__ = ["MODEL", "MCB_PRESETS", "McbConfig", "McbModel", "McbForVisualQuestionAnswering", "McbPreTrainedModel"]
