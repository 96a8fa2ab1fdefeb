"""Image encoders: pixels or precomputed features to a set of image regions.

The attention models read an image as regions ``(batch, num_regions, dim)``: the cells of a
CNN's last feature map, as the papers take them (SAN, Yang et al. 2016, section 3.1, eq. 1: the
14 × 14 × 512 VGG pool5 grid, one 512-d vector ``f_i`` per cell; Show, Attend and Tell, Xu et
al. 2015, section 3.1.1: the annotation vectors ``a = {a_1, ..., a_L}, a_i ∈ R^D`` of a lower
convolutional layer), or the object regions of a detector (bottom-up attention, Anderson et al.
2018, which BAN and MCAN read). ``config.image_encoder`` chooses how they are made:

* ``"scratch_cnn"``: a small convolutional network trained from scratch (right for 64x64
  synthetic images such as easy-VQA), its last feature map used as a grid of regions;
* ``"backbone"``: any transformers vision backbone built from ``config.backbone_config``
  (ResNet, ConvNeXt, ...; ``AutoBackbone``), its last feature map used as the grid, frozen by
  default as in the papers, which use fixed ImageNet CNN features (VGG pool5 / ResNet res5c);
* ``"features"``: precomputed region or grid features ``(batch, num_regions, dim)`` with an
  optional ``image_attention_mask`` (bottom-up Faster R-CNN features, cached CNN grids).

The image's size is checked here; the other checks of the image inputs (shapes, dtypes, values,
boxes) are ``check_image_inputs`` in ``modeling_base.py``, with the package's other input checks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

IMAGE_ENCODERS = ("scratch_cnn", "backbone", "features")


class ScratchCNN(nn.Module):
    """Stacked conv3x3 → BatchNorm → ReLU → 2x2 max-pool blocks; a 64x64 image gives an 8x8 grid
    with three blocks. The ReLU matters: the easy-VQA author's Keras model, whose convolutions
    have no non-linearity, never leaves the 67% plateau (docs/equations.md, easy-VQA)."""

    def __init__(self, channels: list[int] | tuple[int, ...], in_channels: int = 3):
        super().__init__()
        blocks = []
        for out_channels in channels:
            blocks += [
                nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            in_channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = in_channels

    @property
    def min_image_size(self) -> int:
        """The smallest height and width that leave a 1x1 map: each block's 2x2 pooling halves them."""
        return 2 ** sum(isinstance(layer, nn.MaxPool2d) for layer in self.blocks)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.blocks(pixel_values)


class ImageEncoder(nn.Module):
    """Turns pixels or precomputed features into regions ``(num_images, num_regions, dim)``.

    Returns ``(regions, region_mask, grid_size)``; ``grid_size`` is ``(height, width)`` of the
    feature map for pixel inputs (after the optional ``config.image_grid_pool_size`` pooling) (so attention maps can be laid over the image) and ``None`` for
    precomputed features, whose layout the model cannot know. Pixels smaller than the encoder can
    read raise a ``ValueError`` naming the smallest size: ``2 ** blocks`` for the scratch CNN, found
    by probing for a backbone.
    """

    def __init__(self, config):
        super().__init__()
        self.kind = config.image_encoder
        if self.kind not in IMAGE_ENCODERS:
            raise ValueError(f"image_encoder must be one of {IMAGE_ENCODERS}, got {self.kind!r}")
        self.freeze_backbone = config.freeze_backbone
        self.grid_pool_size = tuple(config.image_grid_pool_size) if config.image_grid_pool_size is not None else None
        if self.kind == "scratch_cnn":
            self.cnn = ScratchCNN(config.scratch_cnn_channels, config.num_channels)
            self.output_size = self.cnn.out_channels
        elif self.kind == "backbone":
            from transformers.backbone_utils import load_backbone

            if config.backbone_config is None:
                raise ValueError("image_encoder='backbone' needs a backbone_config (e.g. a ResNetConfig)")
            self.backbone = load_backbone(config)
            self.output_size = self.backbone.channels[-1]
            if self.freeze_backbone:
                self.backbone.requires_grad_(False)
        else:
            self.output_size = config.image_feature_size

    def train(self, mode: bool = True):
        super().train(mode)
        if self.kind == "backbone" and self.freeze_backbone:
            # A frozen backbone keeps its BatchNorm statistics: it is a fixed feature extractor.
            self.backbone.eval()
        return self

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        image_features: torch.Tensor | None = None,
        image_attention_mask: torch.Tensor | None = None,
        image_index: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, int] | None]:
        """Returns (regions, region mask or None, grid size or None). With ``image_index``, each
        image is encoded once and row i of the result is image ``image_index[i]``'s."""
        if self.kind == "features":
            regions, region_mask, grid_size = image_features, image_attention_mask, None
        else:
            if self.kind == "scratch_cnn":
                feature_map = self._run_scratch_cnn(pixel_values)
            else:
                feature_map = self._run_backbone(pixel_values)
            if self.grid_pool_size is not None and self.grid_pool_size != tuple(feature_map.shape[-2:]):
                feature_map = F.adaptive_avg_pool2d(feature_map, self.grid_pool_size)
            regions, region_mask, grid_size = feature_map.flatten(2).transpose(1, 2), None, tuple(feature_map.shape[-2:])
        if image_index is not None:
            regions = regions[image_index]
            region_mask = region_mask[image_index] if region_mask is not None else None
        return regions, region_mask, grid_size

    @staticmethod
    def _too_small(pixel_values: torch.Tensor, min_size: int, reason: str) -> str:
        height, width = pixel_values.shape[-2:]
        return (
            f"pixel_values of {height}x{width} pixels are too small for this model's image encoder ({reason}): "
            f"it needs at least {min_size}x{min_size}. The model's processor resizes images to the size it was "
            "trained on"
        )

    def _run_scratch_cnn(self, pixel_values: torch.Tensor) -> torch.Tensor:
        min_size = self.cnn.min_image_size
        if min(pixel_values.shape[-2:]) < min_size:
            raise ValueError(self._too_small(pixel_values, min_size, f"{min_size.bit_length() - 1} 2x2 poolings"))
        return self.cnn(pixel_values)

    def _run_backbone(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The backbone's last feature map. A backbone declares no minimum input size, so an image
        too small for it (a kernel or pooling window larger than what is left of the image) fails
        inside torch: that failure becomes an error naming the smallest square size that passes
        (:meth:`backbone_min_image_size`); any other failure is raised as it is."""
        try:
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_backbone):
                return self.backbone(pixel_values).feature_maps[-1]
        except RuntimeError as error:
            min_size = self.backbone_min_image_size(pixel_values)
            if min_size is None or min(pixel_values.shape[-2:]) >= min_size:
                raise
            raise ValueError(self._too_small(pixel_values, min_size, type(self.backbone).__name__)) from error

    @torch.no_grad()
    def backbone_min_image_size(self, like: torch.Tensor, largest: int = 1024) -> int | None:
        """The smallest ``s`` such that an ``s x s`` image passes through the backbone, or ``None``
        if none up to ``largest`` does: sizes doubled from ``like``'s smaller side until one passes,
        then a binary search, on single zero images typed like ``like``, in eval mode so that no
        BatchNorm statistic moves (only run after a failure)."""
        was_training = self.backbone.training
        self.backbone.eval()

        def passes(size: int) -> bool:
            try:
                self.backbone(like.new_zeros(1, like.shape[1], size, size))
            except RuntimeError:
                return False
            return True

        try:
            low, high = 0, max(1, min(like.shape[-2:]))  # low fails (or is 0)
            while not passes(high):
                if high >= largest:
                    return None
                low, high = high, min(2 * high, largest)
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (low, middle) if passes(middle) else (middle, high)
            return high
        finally:
            self.backbone.train(was_training)


__all__ = ["IMAGE_ENCODERS", "ImageEncoder", "ScratchCNN"]
