"""Tiny image classifiers and images shared by the bilinear CNN tests and the contract zoo."""

from __future__ import annotations

import torch
from conftest import IMAGE_FEATURE_SIZE, TINY_RESNET

# A VGG-shaped toy: the layout of configuration D with 4-8 channels (relu5_3 at 1/16 of the image).
TINY_VGG = {"model_type": "mmattn_vgg", "layers": [4, "M", 8, "M", 8, 8, "M", 8, 8, 8, "M", 8, 8, 8, "M"], "out_features": ["relu5_3"]}
LABELS = {"id2label": {0: "albatross", 1: "boeing", 2: "coupe"}, "label2id": {"albatross": 0, "boeing": 1, "coupe": 2}}


def tiny_image_classification_config(config_class, image_encoder: str = "features", **overrides):
    """``config_class`` at its "tiny" preset's sizes with 3 classes, reading 6-d feature maps,
    32x32 pixels through a [4, 16] scratch CNN (an 8x8 grid) or a tiny ResNet (a 1x1 grid)."""
    settings = dict(config_class.presets["tiny"], image_encoder=image_encoder, num_labels=3, **LABELS)
    if image_encoder == "features":
        settings["image_feature_size"] = IMAGE_FEATURE_SIZE
    elif image_encoder == "scratch_cnn":
        settings["scratch_cnn_channels"] = [4, 16]  # over 2 KB of weights: the sharded save test makes two shards
    else:
        settings["backbone_config"] = dict(TINY_RESNET)
    return config_class(**{**settings, **overrides})


def random_classification_images(config, batch: int = 3, seed: int = 0, dtype=torch.float32) -> dict:
    """Pixels (batch, 3, 32, 32), or feature maps of 7 locations with the last image's last two
    padded out by ``image_attention_mask``."""
    generator = torch.Generator().manual_seed(seed + 200)
    if config.image_encoder == "features":
        features = torch.randn(batch, 7, config.image_feature_size, generator=generator).to(dtype)
        mask = torch.ones(batch, 7, dtype=torch.long)
        mask[-1, 5:] = 0
        return {"image_features": features, "image_attention_mask": mask}
    return {"pixel_values": torch.randn(batch, 3, 32, 32, generator=generator).to(dtype)}
