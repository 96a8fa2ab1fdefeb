"""Turning whatever a user passes as an image into an RGB PIL image, or a clear error.

Handled on purpose (docs/design.md, "Bad input"):
* paths (str / Path), PIL images, numpy arrays ``(H, W)``, ``(H, W, 1|3|4)``;
* grayscale, palette, CMYK → RGB; RGBA / LA / transparent palette images are composited on white
  (a transparent background reads as white, not black);
* 16-bit and 32-bit integer images are scaled to 8 bits by their bit depth, float images in
  [0, 1] by 255 (they are not clipped silently: values outside [0, 1] raise);
* truncated or corrupt files raise ``ValueError`` naming the file;
* images over ``max_pixels`` (default: Pillow's decompression-bomb limit, 178 million pixels)
  raise ``ValueError`` rather than exhausting memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else 178_956_970


def _describe(source) -> str:
    return f"image file {str(source)!r}" if isinstance(source, (str, os.PathLike)) else "image"


def _open(path: str | os.PathLike, max_pixels: int) -> Image.Image:
    if not Path(path).is_file():
        raise FileNotFoundError(f"image file {str(path)!r} does not exist")
    try:
        image = Image.open(path)
        if image.width * image.height > max_pixels:
            raise ValueError(
                f"image file {str(path)!r} is {image.width}x{image.height} pixels, over the limit of {max_pixels}: "
                "downscale it first (or pass a larger max_pixels if you have the memory)"
            )
        image.load()
    except Image.DecompressionBombError as error:
        raise ValueError(f"image file {str(path)!r} is too large to decode safely: {error}") from None
    except UnidentifiedImageError:
        raise ValueError(f"image file {str(path)!r} is not an image Pillow can read") from None
    except OSError as error:
        raise ValueError(f"image file {str(path)!r} is truncated or corrupt ({error})") from None
    return image


def _from_array(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # channels-first (C, H, W) → (H, W, C)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"an image array must be (H, W), (H, W, 1|3|4) or (C, H, W); got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"the image array is empty (shape {array.shape})")
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("the image array contains NaN or infinite values")
        if array.min() < 0 or array.max() > 1:
            raise ValueError(
                f"a float image array must hold values in [0, 1]; got [{array.min():.3g}, {array.max():.3g}] "
                "(pass uint8 for 0-255 images)"
            )
        array = np.round(array * 255)
    elif array.dtype == np.uint16:
        array = np.round(array / 257.0)
    elif array.dtype in (np.uint32, np.int32, np.int64) and array.max() > 255:
        array = array / (np.iinfo(array.dtype).max / 255.0)
    elif array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"unsupported image array dtype {array.dtype}")
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB version of any PIL image: high bit depths scaled down, transparency on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return _from_array(np.asarray(image, dtype=np.uint16)).convert("RGB")
    if image.mode == "I":
        array = np.asarray(image, dtype=np.int64)
        return _from_array(array.astype(np.uint16) if array.max() <= 65535 else array.astype(np.int32)).convert("RGB")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float32)
        scale = 65535.0 if array.max() > 255 else 255.0 if array.max() > 1 else 1.0
        return _from_array(np.clip(array / scale, 0, 1)).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def load_image(image, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Any supported image input → RGB ``PIL.Image``; see the module docstring for the rules."""
    if isinstance(image, (str, os.PathLike)):
        image = _open(image, max_pixels)
    elif isinstance(image, np.ndarray):
        image = _from_array(image)
    elif hasattr(image, "detach") and hasattr(image, "cpu"):  # a torch tensor
        image = _from_array(image.detach().cpu().numpy())
    elif not isinstance(image, Image.Image):
        raise TypeError(
            f"an image must be a PIL image, a numpy array, a torch tensor or a file path; got {type(image).__name__}"
        )
    if image.width == 0 or image.height == 0:
        raise ValueError(f"the {_describe(image)} has no pixels ({image.width}x{image.height})")
    if image.width * image.height > max_pixels:
        raise ValueError(f"the image is {image.width}x{image.height} pixels, over the limit of {max_pixels}")
    return to_rgb(image)
