from .configuration_hiecoatt import HieCoAttConfig
from .modeling_hiecoatt import HieCoAttForVisualQuestionAnswering, HieCoAttModel, HieCoAttPreTrainedModel

__all__ = ["HieCoAttConfig", "HieCoAttModel", "HieCoAttForVisualQuestionAnswering", "HieCoAttPreTrainedModel"]
