"""Configuration of the bilinear CNN (Lin, RoyChowdhury, Maji, ICCV 2015) and its compact
bilinear pooling (Gao, Beijbom, Zhang, Darrell, CVPR 2016)."""

from __future__ import annotations

from typing import ClassVar

from ...layers.image_pooling import POOLINGS
from ...tasks.image_classification.configuration import MMAttnImageClassificationConfig

# VGG-16 up to relu5_3 (512 channels at 1/16 of the image: 28 x 28 at 448 x 448), the features of
# the B-CNN [D, D] and of Gao et al.'s compact pooling.
VGG16_RELU5_3 = {"model_type": "mmattn_vgg", "out_features": ["relu5_3"]}

BILINEAR_CNN_PRESETS = {
    # The tests' sizes (the contract tests set the image input themselves).
    "tiny": dict(scratch_cnn_channels=[4, 8], image_encoder="scratch_cnn", pooling="bilinear", pooled_size=32),
    # The generated co-occurrence textures (hf_mmattn.data.generate_cooccurrence_textures), 48 x 48:
    # two conv blocks to a 12 x 12 grid of 16 channels, full bilinear pooling (256 dimensions).
    "generated": dict(image_encoder="scratch_cnn", scratch_cnn_channels=[16, 16], pooling="bilinear", pooled_size=64),
    # The paper's symmetric B-CNN [D, D]: VGG-16 relu5_3 at 448 x 448, fine-tuned end to end.
    "vgg16": dict(image_encoder="backbone", backbone_config=VGG16_RELU5_3, freeze_backbone=False, pooling="bilinear"),
    # Gao et al.'s compact bilinear pooling on the same features, d = 8192.
    "vgg16-tensor-sketch": dict(image_encoder="backbone", backbone_config=VGG16_RELU5_3, freeze_backbone=False,
                                pooling="tensor_sketch", pooled_size=8192),
    "vgg16-random-maclaurin": dict(image_encoder="backbone", backbone_config=VGG16_RELU5_3, freeze_backbone=False,
                                   pooling="random_maclaurin", pooled_size=8192),
}


class BilinearCnnConfig(MMAttnImageClassificationConfig):
    r"""
    [`BilinearCnnForImageClassification`]: two feature streams (or one, the symmetric B-CNN),
    pooled over locations into second-order statistics, a linear classifier.

    Args:
        pooling: ``"bilinear"`` (the full outer product, Lin et al.), ``"tensor_sketch"`` or
            ``"random_maclaurin"`` (compact bilinear pooling, Gao et al.), or ``"average"`` (the
            first-order baseline: stream A's features averaged over locations).
        pooled_size: the dimension d of the compact poolings (the paper: 8192); the full bilinear
            vector has C_A · C_B dimensions, the average C_A.
        projection_seed: the seed of the compact poolings' fixed random projections (saved with the
            weights; drawn again from it when a checkpoint lacks them).
        signed_sqrt / l2_normalize: y = sign(x)√|x|, then z = y / ‖y‖₂ on the pooled vector
            (section 3.1 of Lin et al.; on for every pooling, the average included, so that the
            comparison is of the pooling alone).
        symmetric: one feature stream, f_A = f_B (B-CNN [D, D]); ``False`` builds a second
            extractor f_B (B-CNN [D, M]) from ``second_backbone_config`` (``image_encoder="backbone"``)
            or ``second_scratch_cnn_channels`` (``"scratch_cnn"``), each defaulting to the first
            stream's; its feature map must have the first's grid. Precomputed ``image_features``
            are one stream: ``symmetric=False`` needs pixels.
        dropout: on the pooled vector, before the classifier.
        image_encoder, backbone_config, freeze_backbone, ...: the image input
            ([`~hf_mmattn.configuration_base.MMAttnImageInputConfig`]); the default backbone is
            VGG-16 up to relu5_3 (:data:`VGG16_RELU5_3`, random until ``load_pretrained_backbone``
            copies converted ImageNet weights in), fine-tuned (``freeze_backbone=False``) as in the
            paper.
    """

    model_type = "mmattn_bilinear_cnn"
    display_name: ClassVar[str] = "bilinear CNN"
    presets: ClassVar[dict[str, dict]] = BILINEAR_CNN_PRESETS
    default_backbone_config: ClassVar[dict] = VGG16_RELU5_3

    pooling: str = "bilinear"
    pooled_size: int = 8192
    projection_seed: int = 0
    signed_sqrt: bool = True
    l2_normalize: bool = True
    symmetric: bool = True
    second_backbone_config: dict | None = None
    second_scratch_cnn_channels: list[int] | tuple[int, ...] | None = None
    freeze_backbone: bool = False

    def __post_init__(self, **kwargs):
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if not isinstance(self.pooled_size, int) or self.pooled_size < 1:
            raise ValueError(f"pooled_size must be a positive integer, got {self.pooled_size!r}")
        if not self.symmetric and self.image_encoder == "features":
            raise ValueError("symmetric=False builds a second feature extractor from pixels; precomputed image_features are one stream")
        if hasattr(self.second_backbone_config, "to_dict"):
            self.second_backbone_config = self.second_backbone_config.to_dict()
        for name, encoder in (("second_backbone_config", "backbone"), ("second_scratch_cnn_channels", "scratch_cnn")):
            if getattr(self, name) is not None and (self.symmetric or self.image_encoder != encoder):
                raise ValueError(f"{name} sets stream B of a two-stream model with image_encoder={encoder!r}; this config has "
                                 f"symmetric={self.symmetric} and image_encoder={self.image_encoder!r}")
        if self.second_backbone_config is not None and "model_type" not in self.second_backbone_config:
            raise ValueError("second_backbone_config needs a model_type (e.g. {'model_type': 'resnet', 'out_features': ['stage4']})")
        super().__post_init__(**kwargs)


__all__ = ["BILINEAR_CNN_PRESETS", "VGG16_RELU5_3", "BilinearCnnConfig"]
