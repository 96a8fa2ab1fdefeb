"""The image processor of every model that reads pictures (VQA and captioning): any input turned
into RGB by ``load_image``, then resized, rescaled and normalised by transformers' PIL backend.
Its class name, ``VQAImageProcessor``, is what saved processors record; it serves every family."""

from __future__ import annotations

from transformers.image_processing_backends import PilBackend
from transformers.image_utils import IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD, PILImageResampling

from .images import DEFAULT_MAX_PIXELS, load_image


class VQAImageProcessor(PilBackend):
    """Resize → rescale to [0, 1] → normalise, after turning any input into RGB (``load_image``:
    grayscale, RGBA, 16-bit, arrays, paths; truncated or huge files raise a clear error).

    Defaults suit a transformers ImageNet backbone (224, ImageNet mean/std); the scratch CNN on
    easy-VQA uses 64x64 with mean = std = 0.5.
    """

    model_input_names = ["pixel_values"]
    resample = PILImageResampling.BILINEAR
    image_mean = IMAGENET_STANDARD_MEAN
    image_std = IMAGENET_STANDARD_STD
    size = {"height": 224, "width": 224}
    do_resize = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = True

    def preprocess(self, images, *args, max_pixels: int = DEFAULT_MAX_PIXELS, **kwargs):
        if images is None:
            raise ValueError("no image given")
        batch = images if isinstance(images, (list, tuple)) else [images]
        if len(batch) == 0:
            raise ValueError("an empty list of images was given")
        return super().preprocess([load_image(image, max_pixels) for image in batch], *args, **kwargs)


def square_image_processor(image_size: int, image_mean, image_std) -> VQAImageProcessor:
    """A ``VQAImageProcessor`` resizing to ``image_size`` x ``image_size`` with this normalisation."""
    return VQAImageProcessor(size={"height": image_size, "width": image_size}, image_mean=list(image_mean), image_std=list(image_std))


__all__ = ["VQAImageProcessor", "square_image_processor"]
