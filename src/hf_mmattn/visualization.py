"""Attention maps laid over images and words, in the style of the papers' figures.

The VQA and captioning models of this package return, with ``output_attentions=True``, one
map per hop / glimpse / decoding step over the image regions, laid out row-major on a grid
(``image_grid_size``, e.g. 8x8 for the scratch CNN on 64x64 easy-VQA images, 14x14 for a
VGG pool5 grid at 448 pixels). This module turns such a map into a picture:

* :func:`overlay_attention` upsamples the grid smoothly to the image size and either darkens
  the image where attention is low, so that the attended regions stand out as in Figure 5 of
  Yang et al., "Stacked Attention Networks for Image Question Answering" (CVPR 2016) and
  Figure 3 of Xu et al., "Show, Attend and Tell" (ICML 2015), or blends a colour map over it
  (the usual heat-map rendering);
* :func:`plot_vqa_attention` draws the image and one panel per hop, with the question and the
  answer as the title;
* :func:`plot_caption_attention` draws the image and one panel per generated word with the
  attention behind it (Figures 3-4 of Show, Attend and Tell);
* :func:`plot_word_attention` draws a heat strip over the words of a question (for the
  question-side maps of co-attention models such as Lu et al., HieCoAtt, NeurIPS 2016).

The plotting functions build :class:`matplotlib.figure.Figure` objects directly rather than
through ``pyplot``: rendering uses the non-interactive Agg canvas, nothing opens a window,
and no figure is kept in pyplot's global registry, so nothing leaks when many are drawn.
Matplotlib is only needed for the plotting functions and colour maps (``pip install
hf-mmattn[examples]``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = ["attention_to_grid", "overlay_attention", "plot_caption_attention", "plot_vqa_attention", "plot_word_attention"]

ImageLike = Image.Image | np.ndarray | str | os.PathLike


def attention_to_grid(attention, grid_size: tuple[int, int] | None = None) -> np.ndarray:
    """Reshape one attention map over ``N`` image regions to its ``(h, w)`` grid.

    Args:
        attention: a 1-D torch tensor, numpy array or sequence of ``N`` weights, one example's
            map (e.g. ``outputs.attentions[hop][i]``). Regions are ordered row-major: region
            ``r * w + c`` is row ``r``, column ``c``. A 2-D map already laid out as the grid
            (as the pipeline returns it with ``return_attention=True``) is accepted when its
            shape equals ``grid_size``; any other 2-D input is taken for a batch and rejected.
        grid_size: ``(h, w)`` with ``h * w == N`` (the model output's ``image_grid_size``).
            When omitted, ``N`` must be a perfect square.

    Returns:
        A float64 array of shape ``(h, w)``.
    """
    if isinstance(attention, torch.Tensor):
        attention = attention.detach().to("cpu", torch.float64).numpy()
    weights = np.asarray(attention, dtype=np.float64)
    if weights.ndim == 2 and grid_size is not None and weights.shape == tuple(int(s) for s in grid_size):
        weights = weights.reshape(-1)
    if weights.ndim != 1:
        raise ValueError(
            f"attention must be a 1-D map over the image regions of one example, got shape "
            f"{tuple(weights.shape)}; index the batch (and hop/glimpse) first, e.g. attentions[hop][i]."
        )
    if not np.all(np.isfinite(weights)):
        raise ValueError("attention contains NaN or infinite values; cannot draw it.")
    num_regions = weights.shape[0]
    if grid_size is None:
        side = math.isqrt(num_regions)
        if side * side != num_regions:
            raise ValueError(
                f"attention has {num_regions} regions, which is not a square grid; pass grid_size=(h, w) "
                "(the model output's image_grid_size)."
            )
        grid_size = (side, side)
    height, width = (int(s) for s in grid_size)
    if height * width != num_regions:
        raise ValueError(
            f"grid_size {(height, width)} holds {height * width} regions but attention has {num_regions}."
        )
    return weights.reshape(height, width)


def overlay_attention(
    image: ImageLike,
    attention,
    grid_size: tuple[int, int] | None = None,
    alpha: float = 0.6,
    cmap: str | None = None,
) -> Image.Image:
    """Lay an attention map over an image.

    The ``(h, w)`` grid is upsampled bicubically to the image size and divided by its maximum,
    so the most attended point is 1 and a uniform map stays uniform.

    Args:
        image: a PIL image, an ``H x W (x 3|4)`` numpy array (uint8, or float in [0, 1]) or a path.
            Grayscale and RGBA images are converted to RGB.
        attention: one example's 1-D map over the regions (see :func:`attention_to_grid`).
            Weights must be non-negative, as softmax attention is.
        grid_size: ``(h, w)`` of the region grid; omit for a square grid.
        alpha: strength of the overlay in [0, 1].
        cmap: ``None`` (default) darkens the image where attention is low, as the figures of the
            SAN paper do: ``pixel * (1 - alpha * (1 - a))``. The name of a Matplotlib colour map
            (e.g. ``"jet"``) blends that colour map over the image instead:
            ``(1 - alpha) * pixel + alpha * cmap(a)``.

    Returns:
        An RGB PIL image of the input's size.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    rgb = _to_rgb_array(image)
    grid = attention_to_grid(attention, grid_size)
    if grid.min() < 0:
        raise ValueError("attention weights must be non-negative (a softmax over regions).")
    heat = _upsample(grid, rgb.shape[:2])

    pixels = rgb.astype(np.float64) / 255.0
    if cmap is None:
        blended = pixels * (1.0 - alpha * (1.0 - heat))[..., None]
    else:
        colours = _colormap(cmap)(heat)[..., :3]
        blended = (1.0 - alpha) * pixels + alpha * colours
    return Image.fromarray(np.round(blended * 255.0).clip(0, 255).astype(np.uint8))


def plot_vqa_attention(
    image: ImageLike,
    question: str,
    attentions: Sequence,
    answer: str | None = None,
    grid_size: tuple[int, int] | None = None,
    titles: Sequence[str] | None = None,
    path: str | os.PathLike | None = None,
    alpha: float = 0.6,
    cmap: str | None = None,
):
    """Draw the image and the attention of every hop side by side, as Figure 5 of the SAN paper.

    Args:
        image: the input image (see :func:`overlay_attention`).
        question: the question, shown in the title.
        attentions: one 1-D map per hop for this example, e.g.
            ``[hop[i] for hop in outputs.attentions]``.
        answer: the predicted answer, shown in the title when given.
        grid_size: ``(h, w)`` of the region grid (``outputs.image_grid_size``); omit for a square grid.
        titles: panel titles, one per map; default ``"hop 1"``, ``"hop 2"``, ...
        path: when given, the figure is also written there as a PNG.
        alpha, cmap: passed to :func:`overlay_attention`.

    Returns:
        The :class:`matplotlib.figure.Figure` (rendered with Agg, not registered with pyplot).
    """
    suptitle = f"Q: {question}" if answer is None else f"Q: {question}\nA: {answer}"
    return plot_image_attention(image, attentions, suptitle, grid_size, titles, path, alpha, cmap)


def plot_image_attention(
    image: ImageLike,
    attentions: Sequence,
    title: str | None = None,
    grid_size: tuple[int, int] | None = None,
    titles: Sequence[str] | None = None,
    path: str | os.PathLike | None = None,
    alpha: float = 0.6,
    cmap: str | None = None,
):
    """Draw the image and each attention map over it side by side, under ``title`` (a matching
    model's sentence; :func:`plot_vqa_attention` puts the question and answer there).

    ``attentions``: one 1-D map per step for this example; ``titles``: one per map, default
    ``"hop 1"``, ``"hop 2"``, ...; the other arguments as in :func:`plot_vqa_attention`.
    """
    attentions = list(attentions)
    if not attentions:
        raise ValueError("attentions is empty: pass one map per hop.")
    if titles is None:
        titles = [f"hop {k}" for k in range(1, len(attentions) + 1)]
    elif len(titles) != len(attentions):
        raise ValueError(f"got {len(titles)} titles for {len(attentions)} attention maps.")
    return _attention_panels(image, attentions, titles, grid_size, alpha, cmap, title, columns=len(attentions) + 1, path=path)


def plot_caption_attention(
    image: ImageLike,
    words: Sequence[str],
    attentions: Sequence,
    grid_size: tuple[int, int] | None = None,
    path: str | os.PathLike | None = None,
    columns: int = 5,
    alpha: float = 0.8,
    cmap: str | None = None,
):
    """Draw a generated caption word by word, as Figures 3 and 4 of Xu et al., "Show, Attend and
    Tell" (ICML 2015): the image, then one panel per word, titled with the word, showing the
    attention map the model looked at when it produced that word; panels wrap into rows of
    ``columns``. The caption is the figure's title.

    Args:
        image: the input image (see :func:`overlay_attention`).
        words: the ``T`` generated words (without the start and end tokens).
        attentions: ``T`` maps, one per word: 1-D over the regions or already laid out as the
            ``(h, w)`` grid, as ``pipeline("image-text-to-text")(image, return_attention=True)``
            returns them in ``"attentions"``.
        grid_size: ``(h, w)`` of the region grid (``outputs.image_grid_size``); omit for a square grid.
        path: when given, the figure is also written there as a PNG.
        columns: panels per row (the image counts as one).
        alpha, cmap: passed to :func:`overlay_attention`; the default darkens the unattended
            regions strongly, as the paper's figures do.

    Returns:
        The :class:`matplotlib.figure.Figure` (rendered with Agg, not registered with pyplot).
    """
    words, attentions = list(words), list(attentions)
    if not words:
        raise ValueError("words is empty: pass the generated words of the caption, one attention map each.")
    if len(words) != len(attentions):
        raise ValueError(f"got {len(words)} words but {len(attentions)} attention maps; expected one map per word.")
    if not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be a positive integer, got {columns!r}.")
    return _attention_panels(image, attentions, words, grid_size, alpha, cmap, " ".join(words), columns=columns, path=path)


def _attention_panels(image, attentions, titles, grid_size, alpha, cmap, suptitle, columns, path):
    """The figure of the plotting functions: the image, then each map laid over it with its
    title, in rows of ``columns`` panels; written to ``path`` when given."""
    from matplotlib.figure import Figure

    original = Image.fromarray(_to_rgb_array(image))
    panels = [original] + [overlay_attention(original, a, grid_size, alpha=alpha, cmap=cmap) for a in attentions]
    names = ["image", *titles]
    columns = min(columns, len(panels))
    rows = math.ceil(len(panels) / columns)

    fig = Figure(figsize=(2.6 * columns, 2.7 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, panel, name in zip(axes, panels, names):
        ax.imshow(panel, interpolation="lanczos")
        ax.set_title(name)
        ax.set_axis_off()
    for ax in axes[len(panels):]:
        fig.delaxes(ax)
    if suptitle:
        fig.suptitle(suptitle)
    if path is not None:
        fig.savefig(path, format="png", dpi=100)
    return fig


def plot_word_attention(words: Sequence[str], weights, path: str | os.PathLike | None = None, row_titles: Sequence[str] | None = None):
    """Draw a heat strip of attention weights over the words of a question or a sentence.

    Args:
        words: the ``T`` tokens.
        weights: ``T`` non-negative weights (torch tensor, numpy array or sequence), or a
            ``(steps, T)`` array of them: one strip per attention step (DAN's textual attention
            of each step), each titled by ``row_titles``.
        path: when given, the figure is also written there as a PNG.
        row_titles: with 2-D ``weights``, one title per row; default ``"step 1"``, ``"step 2"``...

    Returns:
        The :class:`matplotlib.figure.Figure`.
    """
    from matplotlib.figure import Figure

    if isinstance(weights, torch.Tensor):
        weights = weights.detach().to("cpu", torch.float64).numpy()
    elif isinstance(weights, (list, tuple)) and weights and isinstance(weights[0], torch.Tensor):
        weights = torch.stack([w.detach().to("cpu", torch.float64) for w in weights]).numpy()
    weights = np.asarray(weights, dtype=np.float64)
    rows = weights[None, :] if weights.ndim == 1 else weights
    if rows.ndim != 2 or rows.shape[1] != len(words) or rows.shape[0] == 0:
        raise ValueError(f"weights must be 1-D with one value per word ({len(words)}), or (steps, words); got shape {weights.shape}.")
    if not np.all(np.isfinite(rows)):
        raise ValueError("weights contain NaN or infinite values; cannot draw them.")
    if row_titles is None:
        row_titles = [f"step {k}" for k in range(1, rows.shape[0] + 1)] if weights.ndim == 2 else []
    elif weights.ndim != 2 or len(row_titles) != rows.shape[0]:
        raise ValueError(f"row_titles needs 2-D weights and one title per row; got {len(row_titles)} for shape {weights.shape}.")

    fig = Figure(figsize=(max(3.0, 0.9 * len(words) + (1.0 if row_titles else 0.0)), 0.3 + rows.shape[0]), layout="constrained")
    ax = fig.subplots()
    vmax = rows.max() if rows.max() > 0 else 1.0
    ax.imshow(rows, cmap="Reds", vmin=0.0, vmax=vmax, aspect="auto")
    for r, row in enumerate(rows):
        for t, (word, weight) in enumerate(zip(words, row)):
            ax.text(t, r, f"{word}\n{weight:.2f}", ha="center", va="center",
                    color="white" if weight > 0.6 * vmax else "black")
    ax.set_xticks([])
    ax.set_yticks(range(len(row_titles)), labels=list(row_titles)) if row_titles else ax.set_yticks([])
    if path is not None:
        fig.savefig(path, format="png", dpi=100)
    return fig


def _to_rgb_array(image: ImageLike) -> np.ndarray:
    """Return the image as an ``H x W x 3`` uint8 array."""
    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as opened:
            return np.asarray(opened.convert("RGB"))
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        array = image
        if np.issubdtype(array.dtype, np.floating):
            if array.size and (array.min() < 0.0 or array.max() > 1.0):
                raise ValueError("a float image array must hold values in [0, 1]; pass uint8 for 0-255 values.")
            array = np.round(array * 255.0).astype(np.uint8)
        elif array.dtype != np.uint8:
            raise ValueError(f"image array must be uint8 or float in [0, 1], got {array.dtype}.")
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[..., 0]
        if array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4)):
            return np.asarray(Image.fromarray(array).convert("RGB"))
        raise ValueError(f"image array must be H x W, H x W x 3 or H x W x 4, got shape {array.shape}.")
    raise TypeError(f"image must be a PIL image, a numpy array or a path, got {type(image).__name__}.")


def _upsample(grid: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubically upsample a non-negative grid to ``size`` and scale it to [0, 1] by its maximum."""
    tensor = torch.from_numpy(grid)[None, None]
    heat = F.interpolate(tensor, size=size, mode="bicubic", align_corners=False)[0, 0].clamp_(min=0.0)
    peak = heat.max()
    return (heat / peak if peak > 0 else heat).numpy()


def _colormap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]
