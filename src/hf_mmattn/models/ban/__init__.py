from .configuration_ban import BAN_PRESETS, BanConfig
from .modeling_ban import BanForVisualQuestionAnswering, BanModel, BanModelOutput, BanPreTrainedModel

__all__ = ["BAN_PRESETS", "BanConfig", "BanModel", "BanForVisualQuestionAnswering", "BanModelOutput", "BanPreTrainedModel"]
