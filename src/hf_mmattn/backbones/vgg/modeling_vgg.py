"""VGG as a transformers backbone (``AutoBackbone``).

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR
2015 (https://arxiv.org/abs/1409.1556), configurations D (VGG-16) and E (VGG-19) of Table 1 and
any other layer list of [`VggConfig`]. Every layer is a stage with the paper's name (``conv5_3``,
``relu5_3``, ``pool5``, ``fc7``...) whose output the backbone can return; it runs only as far as
the deepest stage asked for. The layers are those of torchvision's ``VGG`` (``features``: conv,
optional BatchNorm, ReLU, max-pool; ``avgpool`` to 7x7; ``classifier`` up to fc7), so its
checkpoints convert tensor for tensor (``convert_vgg.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.backbone_utils import BackboneMixin
from transformers.modeling_outputs import BackboneOutput

from .configuration_vgg import POOLING, TOP_INPUT_GRID, VggConfig


class VggFullyConnected(nn.Linear):
    """fc6 or fc7 on a feature map: optional adaptive average pooling of the map to
    ``input_grid`` x ``input_grid`` (torchvision's ``avgpool``, before fc6), flatten, dropout on
    the flattened input (before fc7), the linear layer; the output is a ``(batch, out_features, 1,
    1)`` map so that every stage of the backbone returns 4-D feature maps."""

    def __init__(self, in_features: int, out_features: int, input_grid: int | None = None, dropout: float = 0.0):
        super().__init__(in_features, out_features)
        self.input_grid = input_grid
        self.input_dropout = nn.Dropout(dropout)

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        if self.input_grid is not None:
            feature_map = F.adaptive_avg_pool2d(feature_map, self.input_grid)
        return super().forward(self.input_dropout(feature_map.flatten(1)))[:, :, None, None]


def build_stages(config: VggConfig) -> tuple[dict[str, nn.Module], list[int]]:
    """The modules of ``config.stage_names`` in order, and each stage's output channels."""
    modules, channels = [], []
    in_channels = config.num_channels
    for entry in config.layers:
        if entry == POOLING:
            modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
            channels.append(in_channels)
            continue
        modules.append(nn.Conv2d(in_channels, entry, kernel_size=3, padding=1))
        if config.batch_norm:
            modules.append(nn.BatchNorm2d(entry))
        modules.append(nn.ReLU())
        in_channels = entry
        channels += [entry] * (3 if config.batch_norm else 2)
    if config.include_top:
        width = config.fully_connected_size
        modules += [
            VggFullyConnected(in_channels * TOP_INPUT_GRID * TOP_INPUT_GRID, width, input_grid=TOP_INPUT_GRID),
            nn.ReLU(),
            VggFullyConnected(width, width, dropout=config.dropout),
            nn.ReLU(),
        ]
        channels += [width] * 4
    return dict(zip(config.stage_names, modules, strict=True)), channels


class VggPreTrainedModel(PreTrainedModel):
    """Base class of the VGG models: torchvision's initialisation of VGG (``_init_weights``)."""

    config_class = VggConfig
    base_model_prefix = "vgg"
    main_input_name = "pixel_values"
    input_modalities = ("image",)

    @torch.no_grad()
    def _init_weights(self, module):
        """As torchvision's ``VGG.__init__`` draws them: convolutions from Kaiming's normal
        (fan_out, ReLU gain), BatchNorm weight 1 and bias 0 (and its running statistics reset),
        linear layers from N(0, 0.01); every bias 0. Written with ``transformers.initialization``
        so that loading never re-draws a tensor that comes from a checkpoint."""
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=0.01)
            init.zeros_(module.bias)


class VggBackbone(BackboneMixin, VggPreTrainedModel):
    """VGG's layers as stages (``config.stage_names``), returning the maps of ``config.out_features``.

    ``forward(pixel_values)`` runs the stages in order up to the deepest one of ``out_features``
    and returns a [`~transformers.modeling_outputs.BackboneOutput`]: ``feature_maps``, one
    ``(batch, channels, height, width)`` map per requested stage (fc6/fc7 stages: ``(batch, 4096,
    1, 1)``), and with ``output_hidden_states`` the output of every stage that ran, in
    ``stage_names`` order (``hidden_states[i]`` is stage i's). ``channels`` gives the channels of
    the requested stages, ``out_feature_channels`` those of every stage. An image smaller than the
    requested stages can read (each pooling halves it: ``pool5`` needs 32x32) raises a ``ValueError``
    naming the smallest size.
    """

    has_attentions = False

    def __init__(self, config: VggConfig):
        super().__init__(config)
        stages, self.num_features = build_stages(config)
        self.stages = nn.ModuleDict(stages)
        self.post_init()

    @property
    def deepest_requested_stage(self) -> int:
        """The index in ``stage_names`` of the deepest stage of ``out_features``: where forward stops."""
        return max(self.stage_names.index(name) for name in self.out_features)

    def min_image_size(self, last_stage: int | None = None) -> int:
        """The smallest height and width that reach stage ``last_stage`` (an index of
        ``stage_names``; by default the deepest requested one): ``2 ** poolings`` up to it."""
        last_stage = self.deepest_requested_stage if last_stage is None else last_stage
        return 2 ** sum(name.startswith("pool") for name in self.stage_names[: last_stage + 1])

    def _check_pixel_values(self, pixel_values: torch.Tensor, last_stage: int) -> None:
        if not isinstance(pixel_values, torch.Tensor) or pixel_values.ndim != 4:
            shape = tuple(pixel_values.shape) if isinstance(pixel_values, torch.Tensor) else type(pixel_values).__name__
            raise ValueError(f"pixel_values must be a (batch, channels, height, width) tensor; got {shape}")
        if pixel_values.shape[1] != self.config.num_channels:
            raise ValueError(f"pixel_values have {pixel_values.shape[1]} channels; this VGG reads {self.config.num_channels}")
        min_size = self.min_image_size(last_stage)
        height, width = pixel_values.shape[-2:]
        if min(height, width) < min_size:
            raise ValueError(
                f"pixel_values of {height}x{width} pixels are too small for VGG up to {self.stage_names[last_stage]}: "
                f"its {min_size.bit_length() - 1} 2x2 poolings need at least {min_size}x{min_size}"
            )

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BackboneOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch, num_channels, height, width)`):
            Normalised images (ImageNet mean/std for torchvision's weights).
        output_hidden_states (`bool`, *optional*):
            Also return the output of every stage that ran (up to the deepest of `out_features`).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        output_hidden_states = output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        last_stage = self.deepest_requested_stage
        self._check_pixel_values(pixel_values, last_stage)

        requested = set(self.out_features)
        hidden = pixel_values
        feature_maps, hidden_states = (), ()
        for name, stage in list(self.stages.items())[: last_stage + 1]:
            hidden = stage(hidden)
            if name in requested:
                feature_maps += (hidden,)
            if output_hidden_states:
                hidden_states += (hidden,)

        if not return_dict:
            return (feature_maps, hidden_states) if output_hidden_states else (feature_maps,)
        return BackboneOutput(feature_maps=feature_maps, hidden_states=hidden_states if output_hidden_states else None)


__all__ = ["VggBackbone", "VggFullyConnected", "VggPreTrainedModel"]
