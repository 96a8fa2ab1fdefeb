"""transformers backbones the package adds (registered with AutoConfig and AutoBackbone by registration.py).

transformers has no VGG, yet SAN, HieCoAtt, DAN, Show, Attend and Tell and the bilinear CNN all
read VGG features: ``vgg/`` builds it as an ``AutoBackbone`` that a model's ``backbone_config``
can name (``{"model_type": "mmattn_vgg", ...}``) and converts torchvision's checkpoints into it.
"""

from __future__ import annotations

from .vgg import VggBackbone, VggConfig

# (config, backbone) of each backbone: registration.py registers them before the models, whose
# configs may name one as their backbone_config.
BACKBONES = ((VggConfig, VggBackbone),)

# Backbone name → converter module (``python -m hf_mmattn.convert vgg ...``), beside the models'.
CONVERTERS = {"vgg": "hf_mmattn.backbones.vgg.convert_vgg"}


def converters() -> dict[str, str]:
    """Backbone name → converter module, as ``hf_mmattn.convert.converters`` lists the models'."""
    return dict(CONVERTERS)


__all__ = ["BACKBONES", "CONVERTERS", "VggBackbone", "VggConfig", "converters"]
