"""The text-to-image family's processor: the caption tokenizer of the text encoder (a matching
model's word-level tokenizer) and an image processor that maps training images to the generator's
range [-1, 1]; ``postprocess`` turns generated images back into PIL images."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ...processing.image_processor import square_image_processor
from ...processing.image_text import ImageTextProcessor

# mean = std = 0.5 maps [0, 1] pixels to [-1, 1], the range of the generator's tanh.
GAN_IMAGE_MEAN = GAN_IMAGE_STD = (0.5, 0.5, 0.5)


def to_pil_images(images: torch.Tensor) -> list[Image.Image]:
    """Images ``(batch, 3, height, width)`` in [0, 1] (``generate()``'s output) as RGB PIL images,
    rounded to the nearest 8-bit value."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be a (batch, 3 or 1, height, width) tensor in [0, 1]; got {getattr(images, 'shape', type(images))}")
    pixels = (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(np.repeat(array, 3, axis=-1) if array.shape[-1] == 1 else array, mode="RGB") for array in pixels]


class TextToImageProcessor(ImageTextProcessor):
    """Prepares captions (``input_ids`` / ``attention_mask`` for the text encoder) and training
    images (``pixel_values`` in [-1, 1]); ``postprocess`` makes PIL images of ``generate()``'s.
    Captions must be non-empty strings; unknown words become ``[UNK]``."""

    text_unit = "caption"
    text_example = "a red circle above a blue square"

    @classmethod
    def from_tokenizer(cls, tokenizer, image_size: int = 64) -> TextToImageProcessor:
        """A processor with the text encoder's ``tokenizer`` and images of ``image_size``."""
        return cls(square_image_processor(image_size, GAN_IMAGE_MEAN, GAN_IMAGE_STD), tokenizer)

    @staticmethod
    def postprocess(images: torch.Tensor) -> list[Image.Image]:
        return to_pil_images(images)


__all__ = ["GAN_IMAGE_MEAN", "GAN_IMAGE_STD", "TextToImageProcessor", "to_pil_images"]
