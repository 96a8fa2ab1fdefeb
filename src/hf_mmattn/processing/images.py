"""Turning whatever a user passes as an image into an RGB PIL image, or a clear error.

Handled on purpose (docs/design.md, "Bad input"):
* paths (str / Path), PIL images, numpy arrays and torch tensors ``(H, W)``, ``(H, W, 1|3|4)`` or
  ``(1|3|4, H, W)``; when a small image's shape fits both layouts (e.g. ``(3, 4, 4)``) a numpy
  array is read channels-last (numpy / PIL's layout) and a torch tensor channels-first
  (torchvision's);
* grayscale, palette, CMYK → RGB; RGBA / LA / transparent palette images are composited on white
  (a transparent background reads as white, not black);
* integer pixels: ``uint8`` as they are, ``uint16`` (and PIL's ``I;16`` modes) as 16-bit, scaled
  by 255 / 65535. Other integer types (``int8`` ... ``int64``, ``uint32``, PIL mode ``I``) say
  nothing about the bit depth, so it is read from the values: at most 255 is 8-bit, at most 65535
  is 16-bit; larger values raise (no scale is known), and so do negative values (no pixel format
  has them). A mode ``I`` image read from a PNG file is 16-bit (PNG holds no 32-bit integers;
  Pillow 10.0 opens 16-bit PNGs in mode ``I``);
* float arrays and tensors must hold values in [0, 1] (scaled by 255); values outside raise
  rather than being clipped, NaN and infinities raise; ``bfloat16`` / ``float16`` tensors are
  read as float32. PIL mode ``F`` images (TIFF, scientific formats) are read like integers, from
  their values: at most 1 is [0, 1], at most 255 is 8-bit, at most 65535 is 16-bit; negative or
  larger values raise;
* an EXIF orientation (phone photos) is applied, so the image is upright, as transformers'
  ``load_image`` does;
* truncated or corrupt files (also lazily opened PIL images) raise ``ValueError`` naming the
  file; a missing file or a folder raises ``FileNotFoundError``; a URL raises ``ValueError``
  (the pipelines download URLs, ``load_image`` reads local files only);
* images over ``max_pixels`` (default: Pillow's decompression-bomb limit, 178 million pixels)
  raise ``ValueError`` rather than exhausting memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import ExifTags, Image, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else 178_956_970


URL_PREFIXES = ("http://", "https://", "data:image/")
# Integer pixel values up to these maxima are read as 8-bit and 16-bit images.
MAX_8_BIT, MAX_16_BIT = 255, 65535


def _open(path: str | os.PathLike, max_pixels: int) -> Image.Image:
    name = os.fsdecode(path)
    if name.startswith(URL_PREFIXES):
        raise ValueError(
            f"{name[:80]!r} is a URL: load_image reads local files only. Download it first, or pass it to a pipeline "
            "(the pipelines fetch URLs)"
        )
    if not name:
        raise FileNotFoundError("the image path is an empty string")
    if Path(path).is_dir():
        raise FileNotFoundError(f"{name!r} is a folder, not an image file: pass the path of one image")
    if not Path(path).is_file():
        raise FileNotFoundError(f"image file {name!r} does not exist")
    try:
        image = Image.open(path)
        if image.width * image.height > max_pixels:
            raise ValueError(
                f"image file {name!r} is {image.width}x{image.height} pixels, over the limit of {max_pixels}: "
                "downscale it first (or pass a larger max_pixels if you have the memory)"
            )
        image.load()
    except Image.DecompressionBombError as error:
        raise ValueError(f"image file {name!r} is too large to decode safely: {error}") from None
    except UnidentifiedImageError:
        raise ValueError(f"image file {name!r} is not an image Pillow can read") from None
    except OSError as error:
        raise ValueError(f"image file {name!r} is truncated or corrupt ({error})") from None
    return image


def _integer_values_to_8_bit(array: np.ndarray, bit_depth: int | None = None) -> np.ndarray:
    """Integer pixels scaled to 0-255: ``bit_depth`` 8 or 16 when the type says it (uint8,
    uint16, 16-bit PNGs), else read from the values (see the module docstring)."""
    if array.dtype == np.uint8 or bit_depth == 8:
        return array
    if array.dtype == np.uint16 or bit_depth == 16:
        return np.round(array / 257.0)
    low, high = array.min(), array.max()
    if low < 0:
        raise ValueError(
            f"the image has negative pixel values (down to {low}): integer pixels are 0-255 (8-bit) or 0-65535 (16-bit)"
        )
    if high <= MAX_8_BIT:
        return array
    if high <= MAX_16_BIT:
        return np.round(array / 257.0)
    raise ValueError(
        f"the image has {array.dtype} pixel values up to {high}, beyond 16 bits (65535): no scale to 8 bits is known. "
        "Pass uint8 (0-255), uint16 (0-65535) or floats in [0, 1]"
    )


def _channels_last(array: np.ndarray, channels_first: bool) -> np.ndarray:
    """``(H, W, C)`` of a 3-D array; a shape that fits both layouts follows ``channels_first``."""
    first, last = array.shape[0] in (1, 3, 4), array.shape[-1] in (1, 3, 4)
    if first and (not last or channels_first):
        return np.moveaxis(array, 0, -1)
    return array


def _from_array(array: np.ndarray, channels_first: bool = False, bit_depth: int | None = None) -> Image.Image:
    if array.ndim == 3:
        array = _channels_last(array, channels_first)
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
    elif array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"unsupported image array dtype {array.dtype}: pass uint8 (0-255), uint16 (0-65535) or floats in [0, 1]"
        )
    else:
        array = _integer_values_to_8_bit(array, bit_depth)
    return Image.fromarray(np.asarray(array).astype(np.uint8))


def _float_mode_to_8_bit(image: Image.Image) -> Image.Image:
    """A mode ``F`` image, its scale read from its values (see the module docstring)."""
    array = np.asarray(image, dtype=np.float32)
    if not np.isfinite(array).all():
        raise ValueError("the image (mode F) contains NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > MAX_16_BIT:
        raise ValueError(
            f"the image (mode F) holds values in [{low:.3g}, {high:.3g}]: read as [0, 1], 0-255 or 0-65535 "
            "pixels, it cannot be negative or over 65535"
        )
    scale = 1.0 if high <= 1 else float(MAX_8_BIT) if high <= MAX_8_BIT else float(MAX_16_BIT)
    return _from_array(array / scale)


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB version of any PIL image: high bit depths scaled down (see the module docstring),
    transparency on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return _from_array(np.asarray(image, dtype=np.uint16)).convert("RGB")
    if image.mode == "I":
        return _from_array(np.asarray(image, dtype=np.int64), bit_depth=16 if image.format == "PNG" else None).convert("RGB")
    if image.mode == "F":
        return _float_mode_to_8_bit(image).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _tensor_to_array(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach().cpu()
    if tensor.dtype in (torch.bfloat16, torch.float16):  # numpy has no bfloat16
        tensor = tensor.float()
    return tensor.numpy()


# EXIF orientation → the transposition that shows the image upright (ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _load_pixels(image: Image.Image) -> None:
    """Decodes a lazily opened PIL image (``Image.open`` reads pixels on first use), so that a
    truncated file fails here with its name rather than inside a later conversion."""
    try:
        image.load()
    except OSError as error:
        name = getattr(image, "filename", "") or ""
        raise ValueError(f"the image{f' {name!r}' if name else ''} is truncated or corrupt ({error})") from None


def load_image(image, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Any supported image input → RGB ``PIL.Image``; see the module docstring for the rules.
    Files and PIL images carrying an EXIF orientation (phone photos) are turned upright, as
    transformers' own ``load_image`` does."""
    if isinstance(image, (str, os.PathLike)):
        image = _open(image, max_pixels)
    elif isinstance(image, np.ndarray):
        image = _from_array(image)
    elif isinstance(image, torch.Tensor):
        image = _from_array(_tensor_to_array(image), channels_first=True)
    elif not isinstance(image, Image.Image):
        raise TypeError(
            f"an image must be a PIL image, a numpy array, a torch tensor or a file path; got {type(image).__name__}"
        )
    if image.width == 0 or image.height == 0:
        raise ValueError(f"the image has no pixels ({image.width}x{image.height})")
    if image.width * image.height > max_pixels:
        raise ValueError(f"the image is {image.width}x{image.height} pixels, over the limit of {max_pixels}")
    _load_pixels(image)
    upright = _UPRIGHT.get(image.getexif().get(ExifTags.Base.Orientation, 1))
    rgb = to_rgb(image)
    return rgb.transpose(upright) if upright is not None else rgb
