"""Tests of the generated co-occurrence textures (``hf_mmattn.data.textures``): deterministic from
a seed, balanced splits, 12 classes binding six colours to six patterns with every (colour,
pattern) pair in exactly two classes, first-order statistics equal across classes, and the
co-occurrence matrix of colour and pattern, recovered from noise-free images, the class's
permutation matrix."""

import functools

import numpy as np
import pytest

from hf_mmattn.data.textures import (
    TEXTURE_COLORS,
    TEXTURE_PATTERNS,
    draw_texture,
    generate_cooccurrence_textures,
    pattern_mask,
    texture_bindings,
    texture_class_names,
)

PALETTE = np.array(list(TEXTURE_COLORS.values()), dtype=np.float64)
BACKGROUND = 20
CELL = 8


def split_arrays(split) -> tuple[list[np.ndarray], list[int]]:
    rows = [split[index] for index in range(len(split))]
    return [np.asarray(row["image"]) for row in rows], [row["label"] for row in rows]


def nearest_colour(pixels: np.ndarray) -> np.ndarray:
    """The index of the palette colour nearest to each RGB pixel."""
    return np.argmin(((pixels[..., None, :].astype(np.float64) - PALETTE) ** 2).sum(-1), axis=-1)


@functools.cache
def cell_masks(cell_size: int) -> dict[tuple[int, int], np.ndarray]:
    """Every pattern's mask at each of the 8 phases the generator draws."""
    return {(p, phase): pattern_mask(p, cell_size, phase) for p in range(len(TEXTURE_PATTERNS)) for phase in range(8)}


def recover_cells(image: np.ndarray, cell_size: int = CELL) -> list[tuple[int, int]]:
    """(colour, pattern) of every cell of a noise-free image, row by row: the cell's lit pixels (not
    the background's 20) are the pattern's mask at some phase, and their mean is nearest to one
    palette colour. Each cell must match exactly one pattern."""
    cells = []
    for top in range(0, image.shape[0], cell_size):
        for left in range(0, image.shape[1], cell_size):
            patch = image[top : top + cell_size, left : left + cell_size]
            lit = (patch != BACKGROUND).any(-1)
            colour = int(nearest_colour(patch[lit].mean(0)))
            patterns = {p for (p, _), mask in cell_masks(cell_size).items() if np.array_equal(mask, lit)}
            assert len(patterns) == 1, patterns
            cells.append((colour, patterns.pop()))
    return cells


# --- determinism and splits ------------------------------------------------------------------------

def test_the_same_seed_gives_the_same_images_and_labels_and_another_seed_others():
    first = generate_cooccurrence_textures(24, 6, 6, seed=0)
    again = generate_cooccurrence_textures(24, 6, 6, seed=0)
    other = generate_cooccurrence_textures(24, 6, 6, seed=1)
    for split in ("train", "validation", "test"):
        images, labels = split_arrays(first[split])
        images_again, labels_again = split_arrays(again[split])
        images_other, labels_other = split_arrays(other[split])
        assert labels == labels_again
        assert all(np.array_equal(a, b) for a, b in zip(images, images_again, strict=True))
        assert not any(np.array_equal(a, b) for a, b in zip(images, images_other, strict=True))
    assert split_arrays(first["train"])[1] != split_arrays(other["train"])[1]


def test_split_sizes_balanced_labels_and_image_format():
    """Each split has the asked size, each class occurs equally often (± 1), the images are 48x48 RGB
    and the label feature names the 12 classes."""
    dataset = generate_cooccurrence_textures(30, 13, 0, seed=3)
    assert {name: len(split) for name, split in dataset.items()} == {"train": 30, "validation": 13, "test": 0}
    for name, size in (("train", 30), ("validation", 13)):
        images, labels = split_arrays(dataset[name])
        counts = np.bincount(labels, minlength=12)
        assert len(counts) == 12 and counts.sum() == size and counts.max() - counts.min() <= 1, counts
        assert all(image.shape == (48, 48, 3) and image.dtype == np.uint8 for image in images)
    assert dataset["train"].features["label"].names == texture_class_names()
    assert dataset["train"].features["label"].num_classes == 12


# --- the classes -------------------------------------------------------------------------------------

def test_class_names_name_every_colour_once_with_six_distinct_patterns():
    names = texture_class_names()
    assert len(names) == 12 and len(set(names)) == 12
    for name, binding in zip(names, texture_bindings(), strict=True):
        pairs = [part.split("=") for part in name.split(",")]
        assert [colour for colour, _ in pairs] == list(TEXTURE_COLORS)
        assert sorted(pattern for _, pattern in pairs) == sorted(TEXTURE_PATTERNS)
        assert [TEXTURE_PATTERNS.index(pattern) for _, pattern in pairs] == list(binding)


def test_every_colour_pattern_pair_occurs_in_exactly_two_of_twelve_distinct_bindings():
    bindings = texture_bindings()
    assert len(bindings) == 12 and len(set(bindings)) == 12
    assert all(sorted(binding) == list(range(6)) for binding in bindings)  # permutations
    counts = np.zeros((6, 6), dtype=int)
    for binding in bindings:
        for colour, pattern in enumerate(binding):
            counts[colour, pattern] += 1
    assert (counts == 2).all(), counts


# --- first- and second-order statistics -----------------------------------------------------------------

def test_the_mean_colour_is_the_same_for_every_class():
    """240 noisy 48x48 images per class: every class's mean RGB lies within 1.0 (of 255) of every
    other's and of the analytic value, half background (20) and half the palette's mean (measured:
    classes spread over 0.31 at most). A pattern covering more or less than half its cell would
    move its colour's class means apart."""
    rng = np.random.default_rng(0)
    means = np.array([np.mean([draw_texture(binding, rng).reshape(-1, 3).mean(0) for _ in range(240)], axis=0)
                      for binding in texture_bindings()])
    assert means.shape == (12, 3)
    assert (means.max(0) - means.min(0) < 1.0).all(), means
    expected = 0.5 * BACKGROUND + 0.5 * PALETTE.mean(0)
    assert (np.abs(means - expected) < 1.0).all(), (means, expected)


def test_each_colour_covers_one_twelfth_of_every_noise_free_image():
    """Drawn without pixel noise, every image of every class has exactly 1/12 of its pixels of each
    colour (6 cells of 36, half of each lit) and half its pixels background."""
    rng = np.random.default_rng(1)
    for binding in texture_bindings():
        for _ in range(5):
            image = draw_texture(binding, rng, noise=0)
            lit = (image != BACKGROUND).any(-1)
            assert lit.sum() == 48 * 48 // 2
            shares = np.bincount(nearest_colour(image[lit]), minlength=6)
            assert shares.tolist() == [48 * 48 // 12] * 6


def test_the_colour_pattern_cooccurrence_is_the_class_permutation_matrix():
    """From noise-free images: each cell's colour and pattern recovered, the co-occurrence matrix
    (1/L) Σ_l colour(l) pattern(l)ᵀ equals the class's permutation matrix / 6 (the second-order
    statistic that names the class), while the colour and pattern histograms are uniform."""
    rng = np.random.default_rng(2)
    matrices = []
    for binding in texture_bindings():
        permutation = np.zeros((6, 6))
        permutation[np.arange(6), binding] = 1
        for _ in range(3):
            cells = recover_cells(draw_texture(binding, rng, noise=0))
            assert len(cells) == 36
            cooccurrence = np.zeros((6, 6))
            for colour, pattern in cells:
                cooccurrence[colour, pattern] += 1 / len(cells)
            np.testing.assert_allclose(cooccurrence, permutation / 6)
            np.testing.assert_allclose(cooccurrence.sum(1), np.full(6, 1 / 6))
            np.testing.assert_allclose(cooccurrence.sum(0), np.full(6, 1 / 6))
        matrices.append(cooccurrence)
    assert len({matrix.tobytes() for matrix in matrices}) == 12  # every class its own matrix


# --- the patterns --------------------------------------------------------------------------------------

def test_each_pattern_covers_half_of_a_cell_at_every_phase_and_no_two_patterns_coincide():
    masks = {}
    for pattern in range(len(TEXTURE_PATTERNS)):
        for phase in range(8):
            mask = pattern_mask(pattern, CELL, phase)
            assert mask.shape == (CELL, CELL) and mask.dtype == bool
            assert mask.sum() == CELL * CELL // 2, (TEXTURE_PATTERNS[pattern], phase)
            masks[pattern, phase] = mask
    for (p, phase), mask in masks.items():
        for (q, other_phase), other in masks.items():
            if p != q:
                assert not np.array_equal(mask, other), (TEXTURE_PATTERNS[p], phase, TEXTURE_PATTERNS[q], other_phase)


def test_pattern_masks_by_hand():
    """Rows 0-1 of every 4 lit for horizontal stripes, columns for vertical, 2x2 squares for the
    checkerboard, rows 0-3 of every 8 for wide stripes; a phase shifts the pattern."""
    assert pattern_mask(0, 8, 0)[:, 0].tolist() == [True, True, False, False] * 2
    assert pattern_mask(1, 8, 0)[0].tolist() == [True, True, False, False] * 2
    assert pattern_mask(2, 8, 0)[0].tolist() == [True, True, False, False] * 2 and pattern_mask(2, 8, 0)[1, 0]
    assert pattern_mask(3, 8, 0)[1].tolist() == [False, True, True, False] * 2
    assert pattern_mask(4, 8, 0)[:2, :4].tolist() == [[True, True, False, False]] * 2
    assert pattern_mask(4, 8, 0)[2, :4].tolist() == [False, False, True, True]
    assert pattern_mask(5, 8, 0)[:, 0].tolist() == [True] * 4 + [False] * 4
    assert pattern_mask(5, 8, 1)[:, 0].tolist() == [True] * 3 + [False] * 4 + [True]


# --- bad arguments -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (dict(image_size=50, cell_size=8), r"image_size \(50\) must be a multiple of cell_size \(8\)"),
        (dict(image_size=12, cell_size=2), "cell_size a multiple of 8"),
        # Cells of 4 or 6 pixels would let a pattern cover more or less than half of a cell.
        (dict(image_size=24, cell_size=4), "cell_size a multiple of 8"),
        (dict(image_size=36, cell_size=6), "cell_size a multiple of 8"),
        (dict(image_size=40, cell_size=8), "25 cells cannot hold the 6 colours equally often"),
        (dict(num_train=-1), "num_train must be a non-negative integer, got -1"),
        (dict(num_validation=-3), "num_validation must be a non-negative integer, got -3"),
        (dict(num_test=2.5), "num_test must be a non-negative integer, got 2.5"),
    ],
    ids=["not_a_multiple", "cell_too_small", "cell_of_4", "cell_of_6", "cells_not_divisible_by_6", "negative_train", "negative_validation",
         "fractional_test"],
)
def test_bad_arguments_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        generate_cooccurrence_textures(**{"num_train": 1, "num_validation": 1, "num_test": 1, **arguments})
