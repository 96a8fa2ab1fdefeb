from .. import ModelDeclaration
from .configuration_han import DOCUMENT_ENCODERS, HAN_PRESETS, HanConfig
from .modeling_han import HanForSequenceClassification, HanModel, HanPreTrainedModel

MODEL = ModelDeclaration(family="text_classification", config=HanConfig, base=HanModel, heads=(HanForSequenceClassification,))

__all__ = ["MODEL", "DOCUMENT_ENCODERS", "HAN_PRESETS", "HanConfig", "HanForSequenceClassification", "HanModel", "HanPreTrainedModel"]
