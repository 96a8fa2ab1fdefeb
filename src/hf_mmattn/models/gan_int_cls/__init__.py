from .. import ModelDeclaration
from .configuration_gan_int_cls import GAN_INT_CLS_PRESETS, GanIntClsConfig
from .modeling_gan_int_cls import GanIntClsDiscriminator, GanIntClsGenerator, GanIntClsModel, GanIntClsPreTrainedModel

MODEL = ModelDeclaration(family="text_to_image", config=GanIntClsConfig, heads=(GanIntClsModel,))

__all__ = [
    "GAN_INT_CLS_PRESETS",
    "MODEL",
    "GanIntClsConfig",
    "GanIntClsDiscriminator",
    "GanIntClsGenerator",
    "GanIntClsModel",
    "GanIntClsPreTrainedModel",
]
