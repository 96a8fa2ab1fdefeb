from .configuration_hiecoatt import HIECOATT_PRESETS, HieCoAttConfig
from .modeling_hiecoatt import HieCoAttForVisualQuestionAnswering, HieCoAttModel, HieCoAttPreTrainedModel

__all__ = ["HIECOATT_PRESETS", "HieCoAttConfig", "HieCoAttModel", "HieCoAttForVisualQuestionAnswering", "HieCoAttPreTrainedModel"]
