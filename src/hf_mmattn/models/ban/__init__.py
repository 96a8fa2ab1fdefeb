from .. import ModelDeclaration
from .configuration_ban import BAN_PRESETS, BanConfig
from .modeling_ban import BanForVisualQuestionAnswering, BanModel, BanModelOutput, BanPreTrainedModel

MODEL = ModelDeclaration(family="vqa", config=BanConfig, base=BanModel, heads=(BanForVisualQuestionAnswering,))

__all__ = ["MODEL", "BAN_PRESETS", "BanConfig", "BanModel", "BanForVisualQuestionAnswering", "BanModelOutput", "BanPreTrainedModel"]
