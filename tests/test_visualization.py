"""Tests of hf_mmattn.visualization: grids, overlays and figures of attention maps."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from hf_mmattn.visualization import (
    attention_to_grid,
    overlay_attention,
    plot_caption_attention,
    plot_image_attention,
    plot_vqa_attention,
    plot_word_attention,
)


def peaked_attention(grid_size, row, col, sharpness=8.0):
    """A softmax map over a row-major grid, concentrated on cell (row, col)."""
    height, width = grid_size
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    distance = ((rows - row) ** 2 + (cols - col) ** 2).float()
    return torch.softmax(-sharpness * distance.flatten() / 4, dim=0)


def shape_image(size=64):
    """An easy-VQA-like picture: a red circle in the top-left quarter on a white background."""
    image = Image.new("RGB", (size, size), "white")
    ImageDraw.Draw(image).ellipse((4, 4, 28, 28), fill="red")
    return image


def test_attention_to_grid_is_row_major():
    height, width = 3, 5
    for row in range(height):
        for col in range(width):
            one_hot = torch.zeros(height * width)
            one_hot[row * width + col] = 1.0
            grid = attention_to_grid(one_hot, (height, width))
            assert grid.shape == (height, width)
            assert np.unravel_index(grid.argmax(), grid.shape) == (row, col)


def test_attention_to_grid_infers_square_grid_and_accepts_numpy():
    assert attention_to_grid(np.arange(64.0)).shape == (8, 8)
    assert attention_to_grid(torch.rand(196)).shape == (14, 14)


def test_attention_to_grid_accepts_a_map_already_laid_out_as_its_grid():
    grid = np.arange(12.0).reshape(3, 4)  # as the pipeline returns maps with return_attention=True
    np.testing.assert_array_equal(attention_to_grid(grid, grid_size=(3, 4)), grid)
    with pytest.raises(ValueError, match="1-D"):  # without grid_size a 2-D input is a batch
        attention_to_grid(grid)
    with pytest.raises(ValueError, match="1-D"):
        attention_to_grid(grid, grid_size=(4, 3))


def test_attention_to_grid_rejects_bad_maps():
    with pytest.raises(ValueError, match="grid_size"):
        attention_to_grid(torch.rand(60))
    with pytest.raises(ValueError, match="NaN"):
        attention_to_grid(torch.tensor([0.5, float("nan"), 0.25, 0.25]))
    with pytest.raises(ValueError, match="1-D"):
        attention_to_grid(torch.rand(2, 64))
    with pytest.raises(ValueError, match="holds 12 regions"):
        attention_to_grid(torch.rand(16), grid_size=(3, 4))


def test_overlay_darkens_where_attention_is_low():
    image = Image.new("RGB", (64, 64), (200, 200, 200))
    overlay = overlay_attention(image, peaked_attention((8, 8), 1, 1))
    assert overlay.size == (64, 64) and overlay.mode == "RGB"
    pixels = np.asarray(overlay).astype(int)
    peak, corner = pixels[12, 12].sum(), pixels[60, 60].sum()
    assert peak > corner + 200
    assert pixels[12, 12, 0] >= 190  # the attended region keeps (almost) its brightness


def test_overlay_with_colormap_is_hotter_where_attention_is_high():
    overlay = np.asarray(overlay_attention(shape_image(), peaked_attention((8, 8), 6, 5), cmap="jet")).astype(int)
    hot, cold = overlay[6 * 8 + 4, 5 * 8 + 4], overlay[4, 60]
    assert hot[0] > cold[0] + 50  # red where attention is high
    assert cold[2] > hot[2] + 50  # blue where it is low


def test_overlay_of_uniform_attention_keeps_the_image():
    image = shape_image()
    overlay = overlay_attention(image, torch.full((64,), 1 / 64))
    np.testing.assert_array_equal(np.asarray(overlay), np.asarray(image))


def test_overlay_follows_a_non_square_grid():
    image = Image.new("RGB", (128, 64), "white")  # 64 high, 128 wide: a 4 x 8 grid of 16-pixel cells
    overlay = np.asarray(overlay_attention(image, peaked_attention((4, 8), 2, 6), grid_size=(4, 8))).sum(-1)
    row, col = np.unravel_index(overlay.argmax(), overlay.shape)
    assert row // 16 == 2 and col // 16 == 6


def test_overlay_accepts_arrays_paths_and_other_modes(tmp_path):
    attention = peaked_attention((8, 8), 2, 2)
    rgb = np.asarray(shape_image())
    path = tmp_path / "shape.png"
    shape_image().save(path)
    inputs = [
        rgb,
        rgb.astype(np.float32) / 255.0,
        rgb[..., 0],
        np.asarray(shape_image().convert("RGBA")),
        shape_image().convert("L"),
        str(path),
        path,
    ]
    for image in inputs:
        overlay = overlay_attention(image, attention)
        assert overlay.mode == "RGB" and overlay.size == (64, 64)
    from_path, from_array = overlay_attention(path, attention), overlay_attention(rgb, attention)
    np.testing.assert_array_equal(np.asarray(from_path), np.asarray(from_array))


def test_overlay_rejects_bad_inputs():
    with pytest.raises(ValueError, match="non-negative"):
        overlay_attention(shape_image(), torch.randn(64) - 5)
    with pytest.raises(ValueError, match="alpha"):
        overlay_attention(shape_image(), torch.rand(64), alpha=1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        overlay_attention(np.full((8, 8, 3), 7.0), torch.rand(4))
    with pytest.raises(TypeError, match="PIL image"):
        overlay_attention(12, torch.rand(4))


def test_plot_vqa_attention_writes_a_png(tmp_path):
    path = tmp_path / "attention.png"
    attentions = torch.stack([peaked_attention((8, 8), 1, 1, sharpness=1.0), peaked_attention((8, 8), 1, 1)])
    fig = plot_vqa_attention(shape_image(), "what color is the circle?", attentions, answer="red", path=path)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["image", "hop 1", "hop 2"]
    assert "what color is the circle?" in fig.get_suptitle() and "red" in fig.get_suptitle()
    with Image.open(path) as png:
        assert png.format == "PNG" and png.width > png.height > 100


def test_plot_vqa_attention_checks_titles():
    with pytest.raises(ValueError, match="titles"):
        plot_vqa_attention(shape_image(), "q?", [torch.rand(64)], titles=["a", "b"])
    with pytest.raises(ValueError, match="empty"):
        plot_vqa_attention(shape_image(), "q?", [])


def test_plot_word_attention_writes_a_png(tmp_path):
    path = tmp_path / "words.png"
    words = "what color is the circle ?".split()
    fig = plot_word_attention(words, torch.softmax(torch.arange(6.0), 0), path=path)
    assert [text.get_text().split("\n")[0] for text in fig.axes[0].texts] == words
    with Image.open(path) as png:
        assert png.format == "PNG"
    with pytest.raises(ValueError, match="one value per word"):
        plot_word_attention(words, torch.rand(4))


def test_plot_word_attention_draws_one_strip_per_step(tmp_path):
    words = "a red circle".split()
    steps = [torch.tensor([0.1, 0.2, 0.7]), torch.tensor([0.6, 0.3, 0.1])]
    fig = plot_word_attention(words, steps, path=tmp_path / "steps.png", row_titles=["step 1", "step 2"])
    texts = [text.get_text() for text in fig.axes[0].texts]
    assert texts == ["a\n0.10", "red\n0.20", "circle\n0.70", "a\n0.60", "red\n0.30", "circle\n0.10"]
    assert [label.get_text() for label in fig.axes[0].get_yticklabels()] == ["step 1", "step 2"]
    with pytest.raises(ValueError, match="one title per row"):
        plot_word_attention(words, steps, row_titles=["only one"])


def test_plot_image_attention_titles_the_figure_with_the_sentence(tmp_path):
    fig = plot_image_attention(shape_image(), [peaked_attention((8, 8), 1, 1)], "a red circle", titles=["step 1"], path=tmp_path / "a.png")
    assert fig._suptitle.get_text() == "a red circle" and [ax.get_title() for ax in fig.axes] == ["image", "step 1"]
    assert plot_image_attention(shape_image(), [peaked_attention((8, 8), 1, 1)])._suptitle is None


def _panel_pixels(fig, png, ax):
    """The pixels of the saved PNG inside the image drawn in ``ax`` (display coordinates have
    their origin at the bottom left, PNG rows at the top)."""
    box = ax.get_window_extent()
    top, bottom = png.shape[0] - box.y1, png.shape[0] - box.y0
    return png[int(round(top)) + 1 : int(round(bottom)) - 1, int(round(box.x0)) + 1 : int(round(box.x1)) - 1]


def test_plot_caption_attention_draws_one_panel_per_word(tmp_path):
    path = tmp_path / "caption.png"
    words = "a red circle above a blue square".split()
    attentions = [peaked_attention((8, 8), t % 8, 7 - t % 8) for t in range(len(words))]
    fig = plot_caption_attention(shape_image(), words, attentions, path=path, columns=3)
    assert [ax.get_title() for ax in fig.axes] == ["image", *words]  # no empty panels left in the grid
    assert fig.get_suptitle() == "a red circle above a blue square"
    rows = {round(ax.get_position().y0, 3) for ax in fig.axes}
    columns = {round(ax.get_position().x0, 3) for ax in fig.axes}
    assert len(rows) == 3 and len(columns) == 3  # 8 panels wrapped into rows of 3
    with Image.open(path) as png:
        assert png.format == "PNG" and png.height > png.width  # 3 rows of 3 panels, with titles


def test_plot_caption_attention_brightens_the_attended_cell(tmp_path):
    """In the saved PNG, each word's panel is bright where its map peaks and dark elsewhere."""
    path = tmp_path / "caption.png"
    image = Image.new("RGB", (64, 64), (200, 200, 200))
    corners = {"top-left": (0, 0), "bottom-right": (7, 7)}
    fig = plot_caption_attention(image, list(corners), [peaked_attention((8, 8), *cell) for cell in corners.values()],
                                 grid_size=(8, 8), path=path)
    png = np.asarray(Image.open(path).convert("RGB")).astype(int)
    original = _panel_pixels(fig, png, fig.axes[0])
    assert abs(original.mean() - 200) < 3  # the plain image keeps its grey
    for ax, (row, col) in zip(fig.axes[1:], corners.values(), strict=True):
        panel = _panel_pixels(fig, png, ax)
        height, width = panel.shape[:2]
        cell = panel[row * height // 8 : (row + 1) * height // 8, col * width // 8 : (col + 1) * width // 8]
        opposite = panel[(7 - row) * height // 8 : (8 - row) * height // 8, (7 - col) * width // 8 : (8 - col) * width // 8]
        # The attended cell keeps most of the grey 200 (the bicubic upsampling spreads the peak
        # over its neighbours); the far corner is darkened to 1 - alpha = 0.2 of it.
        assert cell.max() > 190 and cell.mean() > 140, f"{ax.get_title()}: the attended cell is dark ({cell.mean():.0f})"
        assert opposite.mean() < 50, f"{ax.get_title()}: the opposite corner is bright ({opposite.mean():.0f})"


def test_plot_caption_attention_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="2 words but 1 attention maps"):
        plot_caption_attention(shape_image(), ["a", "circle"], [torch.rand(64)])
    with pytest.raises(ValueError, match="words is empty"):
        plot_caption_attention(shape_image(), [], [])
    with pytest.raises(ValueError, match="columns"):
        plot_caption_attention(shape_image(), ["a"], [torch.rand(64)], columns=0)
