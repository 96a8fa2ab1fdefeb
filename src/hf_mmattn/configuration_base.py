"""What every config of the package shares, whatever its task: named presets
(:class:`MMAttnConfig`) and, for the models that read images, the image input
(:class:`MMAttnImageInputConfig`, read by layers/encoders.py's ``ImageEncoder``). A task family's
own fields are in ``tasks/<family>/configuration.py``."""

from __future__ import annotations

from typing import ClassVar

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec


# ResNet-152 up to res5c ("stage4", 2048 channels at 1/32 of the image): the grid features of
# HieCoAtt, MCB, MLB, MUTAN and DAN (SAN and Show, Attend and Tell used VGG's last conv block).
DEFAULT_BACKBONE_CONFIG = {
    "model_type": "resnet",
    "layer_type": "bottleneck",
    "embedding_size": 64,
    "hidden_sizes": [256, 512, 1024, 2048],
    "depths": [3, 8, 36, 3],
    "out_features": ["stage4"],
}


class MMAttnConfig(PreTrainedConfig):
    """Base of every config of the package: :meth:`from_preset` builds a config from one of the
    class's ``presets`` (name → field values: a released model's settings, a training recipe, the
    tiny sizes of the tests), with overrides on top."""

    # Set by each config class (not dataclass fields): its named settings and how errors name it.
    presets: ClassVar[dict[str, dict]] = {}
    display_name: ClassVar[str] = "hf-mmattn"

    @classmethod
    def from_preset(cls, name: str, **overrides):
        """A config of preset ``name`` with ``overrides`` (``vocab_size``, ``id2label``...) applied on top."""
        if name not in cls.presets:
            raise ValueError(f"unknown {cls.display_name} preset {name!r}; choose one of {sorted(cls.presets)}")
        return cls(**{**cls.presets[name], **overrides})


class MMAttnImageInputConfig(MMAttnConfig):
    r"""
    The image input of [`~hf_mmattn.layers.encoders.ImageEncoder`].

    Args:
        image_encoder: ``"scratch_cnn"``, ``"backbone"`` or ``"features"`` (see layers/encoders.py).
        num_channels: image channels for pixel inputs.
        scratch_cnn_channels: channels of the scratch CNN blocks (each halves the resolution).
        backbone_config: config of a transformers backbone (dict or config, e.g. a ResNetConfig with
            ``out_features=["stage4"]``) when ``image_encoder="backbone"``. Left out, it is the
            config class's ``default_backbone_config``: :data:`DEFAULT_BACKBONE_CONFIG`, ResNet-152's
            res5c (the image features most of these papers used), unless the class names its
            paper's own (the bilinear CNN: VGG-16's relu5_3), randomly initialised: load ImageNet weights with
            ``model.load_pretrained_backbone("microsoft/resnet-152")`` (or a local copy).
        freeze_backbone: keep the backbone fixed, as the papers' ImageNet CNN features are.
        image_feature_size: dimension D of precomputed ``image_features`` (B, N, D).
        image_grid_pool_size: ``[height, width]`` to which a pixel input's feature map is
            average-pooled (adaptively) before it becomes the grid of regions, e.g. ``[14, 14]`` as
            the Show, Attend and Tell PyTorch tutorial does with ResNet-101; ``None`` keeps the
            CNN's own grid.
    """

    sub_configs_defaults = {"backbone_config": SubConfigSpec(AutoConfig, model_type="resnet", optional=True)}
    default_backbone_config: ClassVar[dict] = DEFAULT_BACKBONE_CONFIG

    image_encoder: str = "backbone"
    num_channels: int = 3
    scratch_cnn_channels: list[int] | tuple[int, ...] = (32, 64, 128)
    backbone_config: dict | PreTrainedConfig | None = None
    freeze_backbone: bool = True
    image_feature_size: int = 2048
    image_grid_pool_size: list[int] | tuple[int, int] | None = None

    def __post_init__(self, **kwargs):
        if self.image_encoder == "backbone" and self.backbone_config is None:
            self.backbone_config = dict(self.default_backbone_config)
        super().__post_init__(**kwargs)
