"""Generated textures whose classes differ only in their co-occurrence statistics: a task where
first-order (average) pooling of local features cannot tell the classes apart and second-order
(bilinear) pooling can, the property of fine-grained categories that bilinear CNNs are built for
(Lin et al., ICCV 2015, section 1: "part" and "appearance" features combined at each location).

An image is a grid of cells, each a patterned patch: one of six colours (red, green, blue, yellow,
magenta, cyan) and one of six patterns (stripes in four orientations, a checkerboard, wide
stripes). A class is a binding of the colours to the patterns, a permutation π: every cell of
colour c has pattern π(c). Every image holds each colour in the same number of cells and every
pattern covers half of its cell, so each colour, and each pattern, covers the same share of every
image of every class: the mean colour and the mean of any feature of colour alone or pattern alone
are the same for all classes. What differs is which colour occurs with which pattern at the same
place: the co-occurrence matrix (1/L) Σ_l colour(l) pattern(l)ᵀ is the permutation matrix of π,
which bilinear pooling of a colour feature and a pattern feature computes exactly. A network with
average pooling has to learn colour-and-pattern conjunction detectors in its convolutions instead,
one per pair (36) for a last layer of a few dozen channels.

The 12 classes are the permutations c ↦ (c + k) mod 6 and c ↦ (k − c) mod 6, k = 0..5: every
(colour, pattern) pair occurs in exactly two classes, so no single conjunction names a class.
Everything is drawn from one seed: the same call gives the same images.
"""

from __future__ import annotations

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image

TEXTURE_COLORS = {
    "red": (220, 40, 40), "green": (40, 200, 60), "blue": (50, 80, 230),
    "yellow": (225, 210, 40), "magenta": (210, 50, 210), "cyan": (40, 210, 210),
}
# Each pattern covers half of a cell whatever its phase, so a colour's share of the image does not
# depend on the pattern it is bound to.
TEXTURE_PATTERNS = ("horizontal", "vertical", "diagonal", "antidiagonal", "checkerboard", "wide_horizontal")
STRIPE_PERIOD = 4


def texture_bindings() -> list[tuple[int, ...]]:
    """The classes: for each, the pattern index of each colour index (π(c) for c = 0..5)."""
    count = len(TEXTURE_COLORS)
    shifts = [tuple((c + k) % count for c in range(count)) for k in range(count)]
    reflections = [tuple((k - c) % count for c in range(count)) for k in range(count)]
    return shifts + reflections


def texture_class_names() -> list[str]:
    """A name per class saying its binding, e.g. "red=horizontal,green=vertical,...,cyan=wide_horizontal"."""
    colors = list(TEXTURE_COLORS)
    return [",".join(f"{colors[c]}={TEXTURE_PATTERNS[o]}" for c, o in enumerate(binding)) for binding in texture_bindings()]


def pattern_mask(pattern: int, size: int, phase: int) -> np.ndarray:
    """A ``size`` x ``size`` boolean mask of :data:`TEXTURE_PATTERNS` ``[pattern]`` shifted by
    ``phase``: stripes of period 4 (two pixels on, two off) in four orientations, a checkerboard
    of 2-pixel squares, horizontal stripes of period 8. Each is on for half of the pixels."""
    y, x = np.mgrid[0:size, 0:size] + phase
    period = STRIPE_PERIOD
    if pattern == 4:
        return (x // 2 + y // 2) % 2 == 0
    if pattern == 5:
        return y % (2 * period) < period
    coordinate = (y, x, x + y, x - y)[pattern]
    return coordinate % period < period // 2


def draw_texture(binding: tuple[int, ...], rng: np.random.Generator, image_size: int = 48, cell_size: int = 8,
                 noise: float = 12.0) -> np.ndarray:
    """One ``image_size`` x ``image_size`` RGB image (uint8) of class ``binding``: the cells' colours
    a shuffled list holding each colour equally often, each cell patterned with its colour's
    pattern at a random phase on a dark background, colours jittered, Gaussian pixel noise."""
    cells_per_side = image_size // cell_size
    num_cells = cells_per_side**2
    palette = np.array(list(TEXTURE_COLORS.values()), dtype=np.float64)
    colors = rng.permutation(np.arange(num_cells) % len(palette))
    phases = rng.integers(2 * STRIPE_PERIOD, size=num_cells)
    masks = np.stack([pattern_mask(binding[color], cell_size, int(phase)) for color, phase in zip(colors, phases)])
    jittered = np.clip(palette[colors] + rng.normal(0, 15, (num_cells, 3)), 0, 255)
    cells = np.where(masks[..., None], jittered[:, None, None, :], 20.0)  # (cells, cell_size, cell_size, 3)
    image = cells.reshape(cells_per_side, cells_per_side, cell_size, cell_size, 3).transpose(0, 2, 1, 3, 4)
    image = image.reshape(image_size, image_size, 3) + rng.normal(0, noise, (image_size, image_size, 3))
    return np.clip(image, 0, 255).round().astype(np.uint8)


def generate_cooccurrence_textures(
    num_train: int = 4000, num_validation: int = 500, num_test: int = 1000, *, image_size: int = 48, cell_size: int = 8, seed: int = 0,
) -> DatasetDict:
    """The co-occurrence texture task (module docstring): "train", "validation" and "test" splits of
    ``image`` (PIL) and ``label`` (12 classes, balanced by cycling through them in a random order).
    ``image_size`` must be a multiple of ``cell_size``, itself a multiple of 8 (so that every
    pattern covers half of its cell), with a number of cells divisible by 6 (so that every colour
    covers the same share)."""
    if image_size % cell_size or cell_size % (2 * STRIPE_PERIOD):
        # Only a whole number of the widest period (8) lets every pattern cover half of a cell at every phase.
        raise ValueError(f"image_size ({image_size}) must be a multiple of cell_size ({cell_size}), and cell_size a multiple of "
                         f"{2 * STRIPE_PERIOD}")
    if ((image_size // cell_size) ** 2) % len(TEXTURE_COLORS):
        raise ValueError(f"{(image_size // cell_size) ** 2} cells cannot hold the {len(TEXTURE_COLORS)} colours equally often")
    for name, count in (("num_train", num_train), ("num_validation", num_validation), ("num_test", num_test)):
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {count!r}")
    bindings = texture_bindings()
    features = Features({"image": Image(), "label": ClassLabel(names=texture_class_names())})
    rng = np.random.default_rng(seed)
    splits = {}
    for split, count in (("train", num_train), ("validation", num_validation), ("test", num_test)):
        labels = rng.permutation(np.arange(count) % len(bindings)).tolist()
        images = [draw_texture(bindings[label], rng, image_size, cell_size) for label in labels]
        splits[split] = Dataset.from_dict({"image": images, "label": labels}, features=features)
    return DatasetDict(splits)


__all__ = [
    "TEXTURE_COLORS",
    "TEXTURE_PATTERNS",
    "draw_texture",
    "generate_cooccurrence_textures",
    "texture_bindings",
    "texture_class_names",
]
