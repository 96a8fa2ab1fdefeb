from .. import ModelDeclaration
from .configuration_mlb import MlbConfig
from .modeling_mlb import MlbForVisualQuestionAnswering, MlbModel, MlbPreTrainedModel

MODEL = ModelDeclaration(family="vqa", config=MlbConfig, base=MlbModel, heads=(MlbForVisualQuestionAnswering,))

__all__ = ["MODEL", "MlbConfig", "MlbModel", "MlbForVisualQuestionAnswering", "MlbPreTrainedModel"]
