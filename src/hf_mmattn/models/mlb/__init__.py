from .configuration_mlb import MlbConfig
from .modeling_mlb import MlbForVisualQuestionAnswering, MlbModel, MlbPreTrainedModel

__all__ = ["MlbConfig", "MlbModel", "MlbForVisualQuestionAnswering", "MlbPreTrainedModel"]
