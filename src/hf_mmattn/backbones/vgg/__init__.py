"""VGG (Simonyan & Zisserman, ICLR 2015) as a transformers backbone, and the converter of
torchvision's VGG checkpoints (``convert_vgg.py``, not imported here)."""

from .configuration_vgg import CONFIGURATION_D, CONFIGURATION_E, VGG_PRESETS, VggConfig
from .modeling_vgg import VggBackbone, VggPreTrainedModel

__all__ = ["CONFIGURATION_D", "CONFIGURATION_E", "VGG_PRESETS", "VggBackbone", "VggConfig", "VggPreTrainedModel"]
