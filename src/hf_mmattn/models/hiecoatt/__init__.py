from .. import ModelDeclaration
from .configuration_hiecoatt import HIECOATT_PRESETS, HieCoAttConfig
from .modeling_hiecoatt import HieCoAttForVisualQuestionAnswering, HieCoAttModel, HieCoAttPreTrainedModel

MODEL = ModelDeclaration(family="vqa", config=HieCoAttConfig, base=HieCoAttModel, heads=(HieCoAttForVisualQuestionAnswering,))

__all__ = ["MODEL", "HIECOATT_PRESETS", "HieCoAttConfig", "HieCoAttModel", "HieCoAttForVisualQuestionAnswering", "HieCoAttPreTrainedModel"]
