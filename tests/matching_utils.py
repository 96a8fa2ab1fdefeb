"""Tiny m-DAN models, processors and inputs shared by the matching tests and the contract zoo."""

from __future__ import annotations

import torch
from conftest import IMAGE_FEATURE_SIZE, TINY_RESNET
from PIL import Image

from hf_mmattn import MatchingProcessor

SENTENCES = (
    "a red circle", "a blue square", "a green triangle", "a red circle above a blue square",
    "a blue square to the left of a green triangle", "there is a yellow diamond",
)


def tiny_matching_config(config_class, image_encoder: str = "features", vocab_size: int = 12, **overrides):
    """``config_class`` at its "tiny" preset's sizes reading 6-d region features, 32x32 pixels
    through a [4, 8] scratch CNN (an 8x8 grid) or a tiny ResNet."""
    settings = dict(config_class.presets["tiny"], vocab_size=vocab_size, pad_token_id=0, image_encoder=image_encoder)
    if image_encoder == "features":
        settings["image_feature_size"] = IMAGE_FEATURE_SIZE
    elif image_encoder == "scratch_cnn":
        settings["scratch_cnn_channels"] = [4, 8]
    else:
        settings["backbone_config"] = dict(TINY_RESNET)
    return config_class(**{**settings, **overrides})


def random_sentences(config, batch: int = 3, length: int = 5, seed: int = 0) -> dict:
    """Right-padded random sentences of lengths length, length - 1, ... (at least 1)."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(2, config.vocab_size, (batch, length), generator=generator)
    attention_mask = torch.ones(batch, length, dtype=torch.long)
    for row in range(batch):
        real = max(length - row, 1)
        input_ids[row, real:] = 0
        attention_mask[row, real:] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def random_matching_images(config, batch: int = 3, seed: int = 0, dtype=torch.float32) -> dict:
    generator = torch.Generator().manual_seed(seed + 100)
    if config.image_encoder == "features":
        return {"image_features": torch.randn(batch, 7, config.image_feature_size, generator=generator).to(dtype)}
    return {"pixel_values": torch.randn(batch, 3, 32, 32, generator=generator).to(dtype)}


def matching_processor(image_size: int = 32) -> MatchingProcessor:
    return MatchingProcessor.from_sentences(SENTENCES, image_size=image_size, image_mean=[0.5] * 3, image_std=[0.5] * 3)


def color_image(color: str, size: int = 32) -> Image.Image:
    return Image.new("RGB", (size, size), color)
