from .. import ModelDeclaration
from .configuration_luong import LUONG_ATTENTIONS, LUONG_PRESETS, LuongConfig
from .modeling_luong import LuongDecoder, LuongForConditionalGeneration

MODEL = ModelDeclaration(family="translation", config=LuongConfig, heads=(LuongForConditionalGeneration,))

__all__ = ["LUONG_ATTENTIONS", "LUONG_PRESETS", "MODEL", "LuongConfig", "LuongDecoder", "LuongForConditionalGeneration"]
