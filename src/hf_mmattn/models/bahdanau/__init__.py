from .. import ModelDeclaration
from .configuration_bahdanau import BAHDANAU_ATTENTIONS, BAHDANAU_PRESETS, BahdanauConfig
from .modeling_bahdanau import BahdanauDecoder, BahdanauForConditionalGeneration

MODEL = ModelDeclaration(family="translation", config=BahdanauConfig, heads=(BahdanauForConditionalGeneration,))

__all__ = ["BAHDANAU_ATTENTIONS", "BAHDANAU_PRESETS", "MODEL", "BahdanauConfig", "BahdanauDecoder", "BahdanauForConditionalGeneration"]
