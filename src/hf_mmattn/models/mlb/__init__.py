from .. import ModelDeclaration
from .configuration_mlb import MLB_PRESETS, MlbConfig
from .modeling_mlb import MlbForVisualQuestionAnswering, MlbModel, MlbPreTrainedModel

MODEL = ModelDeclaration(family="vqa", config=MlbConfig, base=MlbModel, heads=(MlbForVisualQuestionAnswering,))

__all__ = ["MODEL", "MLB_PRESETS", "MlbConfig", "MlbModel", "MlbForVisualQuestionAnswering", "MlbPreTrainedModel"]
