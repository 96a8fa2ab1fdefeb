"""Configuration of VGG as a transformers backbone.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR
2015 (https://arxiv.org/abs/1409.1556): stacks of 3x3 convolutions (stride 1, padding 1), each
followed by a ReLU, in five blocks closed by a 2x2 max-pooling of stride 2, then the fully
connected layers fc6 and fc7 of 4096 units and the 1000-way fc8. Configurations D (VGG-16) and E
(VGG-19) of the paper's Table 1 are the ones whose features SAN, HieCoAtt, DAN, Show, Attend and
Tell and the bilinear CNN read. The layer list is written as torchvision's ``cfg`` lists are
(channel counts and ``"M"`` for a pooling), so torchvision's checkpoints convert one to one
(``convert_vgg.py``).
"""

from __future__ import annotations

from typing import ClassVar

from transformers.backbone_utils import BackboneConfigMixin

from ...configuration_base import MMAttnConfig

POOLING = "M"

# Table 1 of the paper, written as torchvision's cfg lists: a number is a 3x3 convolution with that
# many output channels (then its ReLU), "M" a 2x2 max-pooling of stride 2.
CONFIGURATION_D = (64, 64, POOLING, 128, 128, POOLING, 256, 256, 256, POOLING, 512, 512, 512, POOLING, 512, 512, 512, POOLING)
CONFIGURATION_E = (
    64, 64, POOLING, 128, 128, POOLING, 256, 256, 256, 256, POOLING, 512, 512, 512, 512, POOLING, 512, 512, 512, 512, POOLING,
)

# torchvision's four models of these two configurations: the plain ones and the "_bn" ones with a
# BatchNorm between each convolution and its ReLU (a later addition, not in the paper).
VGG_PRESETS: dict[str, dict] = {
    "vgg16": {"layers": list(CONFIGURATION_D), "batch_norm": False},
    "vgg19": {"layers": list(CONFIGURATION_E), "batch_norm": False},
    "vgg16_bn": {"layers": list(CONFIGURATION_D), "batch_norm": True},
    "vgg19_bn": {"layers": list(CONFIGURATION_E), "batch_norm": True},
}

# The fully connected layers after torchvision's AdaptiveAvgPool2d((7, 7)): fc6 reads the 7x7 grid
# of the last block (512 * 7 * 7 inputs for VGG-16/19, a 224x224 image's pool5).
TOP_INPUT_GRID = 7
TOP_STAGES = ("fc6", "relu6", "fc7", "relu7")


def convolution_stage_names(layers, batch_norm: bool) -> list[str]:
    """The stage names of a layer list, in the paper's naming: ``conv{block}_{index}``, then
    ``bn{block}_{index}`` with ``batch_norm``, then ``relu{block}_{index}`` for each convolution,
    ``pool{block}`` for each pooling (which closes the block)."""
    names, block, index = [], 1, 0
    for entry in layers:
        if entry == POOLING:
            names.append(f"pool{block}")
            block, index = block + 1, 0
        else:
            index += 1
            names += [f"conv{block}_{index}"] + ([f"bn{block}_{index}"] if batch_norm else []) + [f"relu{block}_{index}"]
    return names


class VggConfig(BackboneConfigMixin, MMAttnConfig):
    r"""
    Configuration of [`VggBackbone`], VGG (Simonyan & Zisserman, ICLR 2015). The defaults build
    VGG-16 (configuration D of Table 1) up to its last convolutional layer's ReLU, ``relu5_3``;
    ``VggConfig.from_preset(name, **overrides)`` gives torchvision's ``"vgg16"``, ``"vgg19"``,
    ``"vgg16_bn"`` and ``"vgg19_bn"`` (``VGG_PRESETS``).

    Args:
        layers: the network as torchvision's ``cfg`` list: an integer is a 3x3 convolution (padding
            1) with that many output channels, followed by its ReLU; ``"M"`` is a 2x2 max-pooling of
            stride 2 that closes a block. Everything else (stage names, channels, the smallest
            image) is derived from it.
        batch_norm: a BatchNorm between each convolution and its ReLU, as torchvision's ``vgg16_bn``.
        include_top: build fc6 and fc7 after the last block: torchvision's adaptive average pooling
            to 7x7, flatten, ``Linear(channels * 7 * 7, fully_connected_size)``, ReLU, dropout,
            ``Linear(fully_connected_size, fully_connected_size)``, ReLU. The ImageNet classifier
            fc8 is never built.
        fully_connected_size: units of fc6 and fc7 (4096 in the paper).
        dropout: dropout on fc7's input (torchvision's ``classifier[2]``), in training only;
            ``relu7`` is read before torchvision's second dropout (``classifier[5]``), which feeds
            the fc8 this backbone does not build.
        num_channels: channels of the input image.
        out_features / out_indices: the stages to return (see ``stage_names``); by default the last
            convolutional layer's ReLU (``relu5_3`` for VGG-16, ``relu5_4`` for VGG-19).

    Stage names, in the paper's naming: ``conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ...,
    relu5_3, pool5`` (VGG-19: up to ``conv5_4, relu5_4``); with ``batch_norm`` each ``conv{b}_{i}``
    is followed by ``bn{b}_{i}`` (the BatchNorm's output, before the ReLU); with ``include_top``
    ``fc6, relu6, fc7, relu7`` follow ``pool5``, as ``(batch, fully_connected_size, 1, 1)`` maps.
    The papers built on VGG read different stages: SAN ``pool5``, Show, Attend and Tell
    ``conv5_4`` (of VGG-19), the bilinear CNN ``relu5_3``, "deeper LSTM Q + norm I" ``relu7`` (fc7).
    """

    model_type = "mmattn_vgg"
    presets: ClassVar[dict[str, dict]] = VGG_PRESETS
    display_name: ClassVar[str] = "VGG"

    layers: list[int | str] | tuple[int | str, ...] = CONFIGURATION_D
    batch_norm: bool = False
    include_top: bool = False
    fully_connected_size: int = 4096
    dropout: float = 0.5
    num_channels: int = 3

    def __post_init__(self, **kwargs):
        self.layers = list(self.layers)
        self._validate_layers()
        kwargs.pop("stage_names", None)  # saved with the config, always derived from the layers
        self.stage_names = convolution_stage_names(self.layers, self.batch_norm) + (list(TOP_STAGES) if self.include_top else [])
        out_features, out_indices = kwargs.pop("out_features", None), kwargs.pop("out_indices", None)
        if out_features is None and out_indices is None:
            out_features = [self.last_convolution_stage]
        self.set_output_features_output_indices(out_indices=out_indices, out_features=out_features)
        super().__post_init__(**kwargs)

    def _validate_layers(self) -> None:
        for entry in self.layers:
            if entry != POOLING and not (isinstance(entry, int) and not isinstance(entry, bool) and entry > 0):
                raise ValueError(f"layers holds channel counts (positive integers) and {POOLING!r} for a pooling; got {entry!r}")
        if not any(entry != POOLING for entry in self.layers):
            raise ValueError(f"layers must hold at least one convolution; got {self.layers}")

    @property
    def last_convolution_stage(self) -> str:
        """The ReLU of the last convolutional layer (``relu5_3`` for VGG-16), the default output."""
        return [name for name in convolution_stage_names(self.layers, self.batch_norm) if name.startswith("relu")][-1]


__all__ = ["CONFIGURATION_D", "CONFIGURATION_E", "VGG_PRESETS", "VggConfig", "convolution_stage_names"]
