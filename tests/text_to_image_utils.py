"""Tiny text-to-image GANs and captions shared by the text-to-image tests and the contract zoo."""

from __future__ import annotations

import torch


def tiny_text_to_image_config(config_class, image_encoder: str = "features", **overrides):
    """``config_class`` at its "tiny" preset (``image_encoder`` is ignored: the contract tests pass
    one to every family; the text encoder never reads images): 16×16 images, a tiny m-DAN text
    encoder with a vocabulary of 20 words."""
    return config_class(**{**config_class.presets["tiny"], **overrides})


def random_captions(config, batch: int = 3, seed: int = 0) -> dict:
    """Right-padded captions of 4, 2, 3, ... words (ids 2 and up; 0 is padding)."""
    generator = torch.Generator().manual_seed(seed)
    lengths = [[4, 2, 3][row % 3] for row in range(batch)]
    ids = torch.zeros(batch, max(lengths), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(2, config.text_encoder.vocab_size, (length,), generator=generator)
        mask[row, :length] = 1
    return {"input_ids": ids, "attention_mask": mask}


def random_text_to_image_inputs(config, batch: int = 3, seed: int = 0) -> dict:
    """Captions and the noise z of each image (fixed, so that outputs are reproducible)."""
    generator = torch.Generator().manual_seed(seed + 1)
    return {**random_captions(config, batch, seed), "z": torch.randn(batch, config.noise_size, generator=generator)}
