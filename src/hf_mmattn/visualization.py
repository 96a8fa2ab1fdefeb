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
  question-side maps of co-attention models such as Lu et al., HieCoAtt, NeurIPS 2016);
* :func:`document_attention_html` and :func:`plot_document_attention` draw a document sentence
  by sentence with its word and sentence attention, as Figures 5 and 6 of Yang et al.,
  "Hierarchical Attention Networks for Document Classification" (NAACL 2016);
* :func:`plot_alignment` draws a translator's alignment, the target words' attention over the
  source words, as Figure 3 of Bahdanau et al., "Neural Machine Translation by Jointly Learning
  to Align and Translate" (ICLR 2015) and Figure 7 of Luong et al. (EMNLP 2015);
* :func:`plot_image_grid` draws generated images in rows and columns with their titles: a
  text-to-image model's samples per caption, its interpolations between two captions and its
  images for one noise across captions (Figures 3, 6 and 8 of Reed et al., "Generative
  Adversarial Text to Image Synthesis", ICML 2016).

The plotting functions build :class:`matplotlib.figure.Figure` objects directly rather than
through ``pyplot``: rendering uses the non-interactive Agg canvas, nothing opens a window,
and no figure is kept in pyplot's global registry, so nothing leaks when many are drawn.
Matplotlib is only needed for the plotting functions and colour maps (``pip install
hf-mmattn[examples]``).
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = [
    "attention_to_grid",
    "document_attention_html",
    "overlay_attention",
    "plot_alignment",
    "plot_caption_attention",
    "plot_document_attention",
    "plot_image_grid",
    "plot_vqa_attention",
    "plot_word_attention",
]

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
    ax.set_yticks(range(len(row_titles)), labels=list(row_titles))  # no ticks without titles
    if path is not None:
        fig.savefig(path, format="png", dpi=100)
    return fig


def plot_alignment(source_tokens: Sequence[str], target_tokens: Sequence[str], alignment, path: str | os.PathLike | None = None,
                   title: str | None = None):
    """Draw an alignment matrix in grey scale (white: weight 1, black: 0), source words along the
    top, target words down the side, as Bahdanau et al.'s Figure 3.

    Args:
        source_tokens: the ``S`` source tokens (columns).
        target_tokens: the ``T`` target tokens (rows): row t is the attention with which target
            word t was predicted.
        alignment: ``(T, S)`` non-negative weights (torch tensor, numpy array or nested sequence),
            e.g. ``outputs.cross_attentions[0][0]`` or the translation pipeline's ``"alignment"``.
        path: when given, the figure is also written there as a PNG.
        title: drawn above the matrix.

    Returns:
        The :class:`matplotlib.figure.Figure`.
    """
    from matplotlib.figure import Figure

    weights = _as_float_array(alignment)
    if weights.ndim != 2 or weights.shape != (len(target_tokens), len(source_tokens)) or weights.size == 0:
        raise ValueError(
            f"alignment must be (target tokens, source tokens) = ({len(target_tokens)}, {len(source_tokens)}); got shape {weights.shape}."
        )
    if not np.all(np.isfinite(weights)) or (weights < 0).any():
        raise ValueError("alignment weights must be finite and non-negative.")
    fig = Figure(figsize=(1.0 + 0.4 * len(source_tokens), 1.0 + 0.4 * len(target_tokens)), layout="constrained")
    ax = fig.subplots()
    ax.imshow(weights, cmap="gray", vmin=0.0, vmax=1.0, aspect="equal")
    ax.set_xticks(range(len(source_tokens)), labels=list(source_tokens), rotation=90)
    ax.set_yticks(range(len(target_tokens)), labels=list(target_tokens))
    ax.xaxis.tick_top()
    if title:
        ax.set_title(title)
    if path is not None:
        fig.savefig(path, format="png", dpi=100)
    return fig


def document_attention_html(
    sentences: Sequence[Sequence[str]],
    word_attentions,
    sentence_attentions,
    title: str | None = None,
) -> str:
    """Render a document with its hierarchical attention as an HTML fragment, as Figures 5 and 6
    of Yang et al., "Hierarchical Attention Networks for Document Classification" (NAACL 2016).

    The document is shown one sentence per line. At the left of each sentence a blue bar shows
    its sentence weight ``p_s``, with opacity ``p_s / max_s p_s``. Each word has a red
    background whose opacity follows the paper's rule: the word weight ``p_w`` (a softmax within
    its sentence) is scaled by the square root of its sentence's weight, so that only the
    important words of important sentences stand out while those of unimportant sentences fade
    without vanishing; the intensity ``sqrt(p_s) * p_w`` is then divided by its maximum over the
    whole document, so the strongest word has opacity 1. A sentence of weight 0 thus has words
    of opacity 0.

    The fragment is self-contained (inline styles, no scripts, no external resources): it can be
    written into a page or shown in a notebook with ``IPython.display.HTML``. Every word and the
    title are HTML-escaped; hovering a word or a bar shows its raw weight.

    Args:
        sentences: the ``S`` sentences of the document, each a sequence of words (strings).
            Empty sentences are allowed (shown as a bar with no words); an empty document is not.
        word_attentions: one row of word weights per sentence: a ``(S, T)`` torch tensor or numpy
            array (a model's padded output for one document), or a sequence of ``S`` rows (lists,
            arrays or 1-D tensors). Row ``s`` needs at least ``len(sentences[s])`` weights;
            weights beyond the sentence's words (padding) are ignored.
        sentence_attentions: ``S`` sentence weights (torch tensor, numpy array or sequence).
        title: shown above the document when given, e.g. the predicted label.

    Returns:
        The HTML fragment, a single ``<div>``.
    """
    sentences, word_weights, sentence_weights = _document_weights(sentences, word_attentions, sentence_attentions)
    word_alphas, sentence_alphas = _document_alphas(word_weights, sentence_weights)

    parts = ['<div style="font-family: sans-serif; line-height: 1.9;">']
    if title is not None:
        parts.append(f'<div style="font-weight: bold; margin-bottom: 0.5em;">{html.escape(str(title))}</div>')
    for words, weights, alphas, weight, bar_alpha in zip(sentences, word_weights, word_alphas, sentence_weights, sentence_alphas):
        parts.append('<div style="display: flex; align-items: stretch; margin: 2px 0;">')
        parts.append(
            '<span style="flex: 0 0 0.8em; margin-right: 0.6em; border: 1px solid #bbb; '
            f'background-color: rgba(0, 0, 255, {bar_alpha:.3f});" title="sentence weight {weight:.4f}"></span>'
        )
        spans = [
            f'<span style="background-color: rgba(255, 0, 0, {alpha:.3f}); padding: 0 2px;" '
            f'title="{weight_w:.4f}">{html.escape(word)}</span>'
            for word, weight_w, alpha in zip(words, weights, alphas)
        ]
        parts.append(f'<span style="flex: 1 1 auto;">{" ".join(spans)}</span>')
        parts.append("</div>")
    parts.append("</div>")
    return "\n".join(parts)


def plot_document_attention(
    sentences: Sequence[Sequence[str]],
    word_attentions,
    sentence_attentions,
    title: str | None = None,
    path: str | os.PathLike | None = None,
    max_words_per_line: int = 20,
):
    """Draw a document with its hierarchical attention, as Figures 5 and 6 of the HAN paper.

    The same picture as :func:`document_attention_html`, as a Matplotlib figure: one line per
    sentence (a sentence longer than ``max_words_per_line`` words wraps onto further lines), each
    word drawn on a red box of opacity ``sqrt(p_s) * p_w`` divided by its document maximum, and a
    blue box of opacity ``p_s / max_s p_s`` at the left of each sentence, spanning its lines.

    Args:
        sentences, word_attentions, sentence_attentions, title: as in :func:`document_attention_html`;
            ``title`` (e.g. the predicted label) is drawn on top.
        path: when given, the figure is also written there as a PNG.
        max_words_per_line: words per line before a sentence wraps.

    Returns:
        The :class:`matplotlib.figure.Figure` (rendered with Agg, not registered with pyplot).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import Rectangle

    if isinstance(max_words_per_line, bool) or not isinstance(max_words_per_line, int) or max_words_per_line < 1:
        raise ValueError(f"max_words_per_line must be a positive integer, got {max_words_per_line!r}.")
    sentences, word_weights, sentence_weights = _document_weights(sentences, word_attentions, sentence_attentions)
    word_alphas, sentence_alphas = _document_alphas(word_weights, sentence_weights)

    fontsize = 11.0
    dpi = 100.0
    fig = Figure(dpi=dpi)
    renderer = FigureCanvasAgg(fig).get_renderer()
    prop = FontProperties(size=fontsize)
    points = dpi / 72.0  # pixels per point
    pad = 0.15 * fontsize * points  # box padding around each word (boxstyle pad is in font sizes)
    space = renderer.get_text_width_height_descent(" ", prop, ismath=False)[0] + 2 * pad
    line_height = 1.9 * fontsize * points
    margin, bar_width, bar_gap = 10.0, 12.0, 10.0
    title_height = 2.2 * fontsize * points if title is not None else 0.0

    # Lay the words out in pixels from the top-left corner, then size the figure to fit them.
    lines = []  # (sentence index, [(x, word, alpha)])
    text_width = 0.0
    for s, (words, alphas) in enumerate(zip(sentences, word_alphas)):
        starts = range(0, len(words), max_words_per_line) if words else [0]
        for start in starts:
            placed, x = [], 0.0
            for word, alpha in zip(words[start:start + max_words_per_line], alphas[start:start + max_words_per_line]):
                placed.append((x, word, alpha))
                x += renderer.get_text_width_height_descent(word, prop, ismath=False)[0] + space
            text_width = max(text_width, x - space + 2 * pad if placed else 0.0)
            lines.append((s, placed))
    width = 2 * margin + bar_width + bar_gap + max(text_width, 100.0)
    height = 2 * margin + title_height + line_height * len(lines)
    fig.set_size_inches(width / dpi, height / dpi)

    def to_figure(x, y):  # pixels from the top-left corner to figure fractions
        return x / width, 1.0 - y / height

    if title is not None:
        fig.text(*to_figure(margin, margin + 0.5 * title_height), str(title), fontsize=fontsize + 1,
                 fontweight="bold", ha="left", va="center", parse_math=False)
    text_left = margin + bar_width + bar_gap + pad
    top = margin + title_height
    for index, (s, placed) in enumerate(lines):
        centre = top + (index + 0.5) * line_height
        for x, word, alpha in placed:
            fig.text(*to_figure(text_left + x, centre), word, fontproperties=prop, ha="left", va="center_baseline",
                     parse_math=False, bbox={"boxstyle": "square,pad=0.15", "facecolor": (1.0, 0.0, 0.0, alpha), "edgecolor": "none"})
    first_line = 0
    for s, bar_alpha in enumerate(sentence_alphas):
        count = sum(1 for line_s, _ in lines if line_s == s)
        y0 = top + first_line * line_height + 0.12 * line_height
        y1 = top + (first_line + count) * line_height - 0.12 * line_height
        x0, y_bottom = to_figure(margin, y1)
        fig.add_artist(Rectangle((x0, y_bottom), bar_width / width, (y1 - y0) / height, transform=fig.transFigure,
                                 facecolor=(0.0, 0.0, 1.0, float(bar_alpha)), edgecolor="#bbbbbb", linewidth=0.8))
        first_line += count
    if path is not None:
        fig.savefig(path, format="png", dpi=dpi)
    return fig


def _document_weights(sentences, word_attentions, sentence_attentions):
    """Validate a document and its hierarchical attention; return the sentences as lists of
    words, one float64 array of weights per sentence (cut to its words) and the ``(S,)`` array
    of sentence weights."""
    if isinstance(sentences, str) or not isinstance(sentences, Sequence):
        raise ValueError("sentences must be a sequence of sentences, each a sequence of words.")  # noqa: TRY004
    sentences = list(sentences)
    if not sentences:
        raise ValueError("the document is empty: pass at least one sentence.")
    for s, words in enumerate(sentences):
        if isinstance(words, str) or not isinstance(words, Sequence):
            raise ValueError(f"sentence {s} must be a sequence of words (e.g. a list of strings), got {type(words).__name__}.")  # noqa: TRY004
        for word in words:
            if not isinstance(word, str):
                raise ValueError(f"sentence {s} holds a word that is not a string: {word!r}.")  # noqa: TRY004
    sentences = [list(words) for words in sentences]
    num_sentences = len(sentences)

    sentence_weights = _as_float_array(sentence_attentions)
    if sentence_weights.ndim != 1:
        raise ValueError(f"sentence_attentions must be 1-D, one weight per sentence; got shape {sentence_weights.shape}.")
    if sentence_weights.shape[0] != num_sentences:
        raise ValueError(f"got {sentence_weights.shape[0]} sentence weights for {num_sentences} sentences; expected one per sentence.")
    if not np.all(np.isfinite(sentence_weights)):
        raise ValueError("sentence_attentions contain NaN or infinite values; cannot draw them.")
    if np.any(sentence_weights < 0):
        raise ValueError("sentence_attentions must be non-negative (a softmax over sentences).")

    if isinstance(word_attentions, (torch.Tensor, np.ndarray)):
        array = _as_float_array(word_attentions)
        if array.ndim != 2:
            raise ValueError(
                f"word_attentions must be 2-D (sentences, words) for one document, got shape {array.shape}; "
                "index the batch first."
            )
        rows = list(array)
    elif isinstance(word_attentions, Sequence) and not isinstance(word_attentions, str):
        rows = [_as_float_array(row) for row in word_attentions]
    else:
        raise ValueError(f"word_attentions must be a tensor, an array or a sequence of rows, got {type(word_attentions).__name__}.")  # noqa: TRY004
    if len(rows) != num_sentences:
        raise ValueError(f"got {len(rows)} rows of word weights for {num_sentences} sentences; expected one row per sentence.")
    word_weights = []
    for s, (words, row) in enumerate(zip(sentences, rows)):
        if row.ndim != 1:
            raise ValueError(f"word weights of sentence {s} must be 1-D, got shape {row.shape}.")
        if row.shape[0] < len(words):
            raise ValueError(f"sentence {s} has {len(words)} words but only {row.shape[0]} word weights.")
        row = row[:len(words)]  # weights beyond the sentence's words are padding
        if not np.all(np.isfinite(row)):
            raise ValueError(f"word weights of sentence {s} contain NaN or infinite values; cannot draw them.")
        if np.any(row < 0):
            raise ValueError(f"word weights of sentence {s} must be non-negative (a softmax over its words).")
        word_weights.append(row)
    return sentences, word_weights, sentence_weights


def _document_alphas(word_weights, sentence_weights):
    """Opacities of the words, ``sqrt(p_s) * p_w`` over its document maximum (HAN, Section 3.6),
    and of the sentences, ``p_s`` over its maximum; all zero where the maximum is zero."""
    intensities = [math.sqrt(float(p_s)) * row for p_s, row in zip(sentence_weights, word_weights)]
    peak = max((float(row.max()) for row in intensities if row.size), default=0.0)
    word_alphas = [row / peak if peak > 0 else np.zeros_like(row) for row in intensities]
    sentence_peak = float(sentence_weights.max())
    sentence_alphas = sentence_weights / sentence_peak if sentence_peak > 0 else np.zeros_like(sentence_weights)
    return word_alphas, sentence_alphas


def plot_image_grid(images, path: str | os.PathLike | None = None, row_titles: Sequence[str] | None = None,
                    column_titles: Sequence[str] | None = None, title: str | None = None, image_inches: float = 1.2):
    """Draw images in a grid, with a title per row (left) and per column (top).

    Args:
        images: ``(rows, columns, 3, H, W)`` float tensor or array in [0, 1] (``generate()``'s
            images, reshaped), or a list of rows, each a list of PIL images / arrays.
        path: when given, the figure is also written there as a PNG.
        row_titles / column_titles: one string per row / column (e.g. the captions, the βs).
        title: drawn above the grid.
        image_inches: the side of one image in the figure.

    Returns:
        The :class:`matplotlib.figure.Figure`.
    """
    from matplotlib.figure import Figure

    if isinstance(images, (torch.Tensor, np.ndarray)):
        array = images.detach().float().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, dtype=np.float32)
        if array.ndim != 5 or array.shape[2] not in (1, 3):
            raise ValueError(f"images must be (rows, columns, 3, H, W); got shape {array.shape}.")
        rows = [[np.clip(image.transpose(1, 2, 0), 0.0, 1.0) for image in row] for row in array]
    else:
        rows = [list(row) for row in images]
    if not rows or not rows[0] or any(len(row) != len(rows[0]) for row in rows):
        raise ValueError("images must be a non-empty grid: every row with the same number of images.")
    for name, titles, count in (("row_titles", row_titles, len(rows)), ("column_titles", column_titles, len(rows[0]))):
        if titles is not None and len(titles) != count:
            raise ValueError(f"{name} has {len(titles)} titles for {count} {name.split('_')[0]}s.")
    label_inches = 2.6 if row_titles is not None else 0.0
    fig = Figure(figsize=(label_inches + image_inches * len(rows[0]), 0.4 + image_inches * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), len(rows[0]), squeeze=False)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            ax = axes[r][c]
            ax.imshow(_to_rgb_array(image), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if column_titles is not None and r == 0:
                ax.set_title(column_titles[c], fontsize=8)
        if row_titles is not None:
            axes[r][0].set_ylabel(row_titles[r], rotation=0, ha="right", va="center", fontsize=8, wrap=True)
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, format="png", dpi=100)
    return fig


def _as_float_array(values) -> np.ndarray:
    """A torch tensor, numpy array or (nested) sequence of numbers as a float64 numpy array."""
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", torch.float64).numpy()
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"attention weights must be numbers (a tensor, an array or a sequence), got {values!r}.") from error


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
