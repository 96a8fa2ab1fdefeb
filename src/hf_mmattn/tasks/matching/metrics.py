"""The matching family's metrics: image-text retrieval recall R@K, median and mean rank in both
directions (image to text, text to image) and their sum ``rsum``, as functions and as a local
``evaluate`` module (the Hub's cannot be loaded offline).

The protocol is that of VSE++ (Faghri et al., BMVC 2018) and SCAN (Lee et al., ECCV 2018) on
Flickr30K and COCO: each image has several captions (usually 5); an image query is answered
correctly at rank K when ANY of its captions is among its K best-scoring texts, a caption query
when its image is among its K best-scoring images. COCO is reported on the 5K test images at once
(:func:`compute_retrieval_metrics`) and as the mean over 5 folds of 1K images
(:func:`compute_retrieval_metrics_folds`).

Ties are broken by index, as a stable descending sort does: the 0-based rank of a true candidate
is the number of candidates scoring strictly higher plus the number of candidates with the same
score and a lower index (see :func:`retrieval_ranks`).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import evaluate
import numpy as np
import torch

_RETRIEVAL_RECALL_MODULE = Path(__file__).parent / "retrieval_recall"

# Elements of the boolean comparison matrices built per chunk (a 5K x 25K COCO similarity matrix
# is compared a few thousand rows or columns at a time, not all at once).
_CHUNK_ELEMENTS = 1 << 22

_DIRECTIONS = ("image_to_text", "text_to_image")


class RetrievalRanks(NamedTuple):
    """0-based ranks of the true matches (0 = ranked first), as returned by :func:`retrieval_ranks`.

    image_to_text: ``(num_images,)`` int64; per image, the best rank among its captions in the
        image's ranking of all texts.
    text_to_image: ``(num_texts,)`` int64; per text, the rank of its image in the text's ranking
        of all images.
    """

    image_to_text: np.ndarray
    text_to_image: np.ndarray


def _as_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype in (torch.bfloat16, torch.float16):
            value = value.float()  # exact: float32 holds every bfloat16 and float16 value
        return value.numpy()
    return np.asarray(value)


def _check_similarity(similarity) -> np.ndarray:
    try:
        scores = _as_numpy(similarity)
    except (TypeError, ValueError) as error:
        raise ValueError(f"similarity must be a 2-D (num_images, num_texts) array of scores; could not read it as one ({error})") from None
    if scores.ndim != 2:
        raise ValueError(f"similarity must be a 2-D (num_images, num_texts) matrix of scores; got shape {tuple(scores.shape)}")
    if scores.dtype == np.bool_ or not (np.issubdtype(scores.dtype, np.floating) or np.issubdtype(scores.dtype, np.integer)):
        raise ValueError(f"similarity must hold real-valued scores (float or int); got dtype {scores.dtype}")
    if scores.size == 0:
        raise ValueError(f"similarity is empty (shape {tuple(scores.shape)}); retrieval needs at least one image and one text")
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    finite = np.isfinite(scores)
    if not finite.all():
        bad = np.argwhere(~finite)
        row, column = (int(i) for i in bad[0])
        raise ValueError(
            f"similarity has {len(bad)} non-finite score(s) (NaN or inf), the first at [{row}, {column}]: "
            f"{scores[row, column]}; every image-text pair needs a finite score"
        )
    return scores


def _check_text_image(text_image, num_images: int, num_texts: int) -> np.ndarray:
    try:
        indices = _as_numpy(text_image)
    except (TypeError, ValueError) as error:
        raise ValueError(f"text_image must be a 1-D sequence of image indices, one per text; could not read it as one ({error})") from None
    if indices.ndim != 1:
        raise ValueError(f"text_image must be a 1-D sequence of image indices, one per text; got shape {tuple(indices.shape)}")
    if len(indices) != num_texts:
        raise ValueError(
            f"text_image has {len(indices)} entries but similarity has {num_texts} texts (columns); "
            "expected the image index of each text"
        )
    if indices.dtype == np.bool_ or not np.issubdtype(indices.dtype, np.integer):
        values = indices.tolist()
        position = next((j for j, v in enumerate(values) if isinstance(v, bool) or not isinstance(v, numbers.Integral)), 0)
        shown = values[position] if values else None
        raise ValueError(f"text_image must hold integer image indices; text_image[{position}] is {shown!r} (dtype {indices.dtype})")
    indices = indices.astype(np.int64, copy=False)
    out_of_range = np.flatnonzero((indices < 0) | (indices >= num_images))
    if len(out_of_range):
        position = int(out_of_range[0])
        raise ValueError(
            f"text_image[{position}] is {int(indices[position])}, out of range for {num_images} images "
            f"(indices 0..{num_images - 1}); {len(out_of_range)} entries are out of range"
        )
    captions_per_image = np.bincount(indices, minlength=num_images)
    uncaptioned = np.flatnonzero(captions_per_image == 0)
    if len(uncaptioned):
        listed = ", ".join(str(int(i)) for i in uncaptioned[:10]) + (", ..." if len(uncaptioned) > 10 else "")
        raise ValueError(
            f"image {int(uncaptioned[0])} has no text in text_image; every image needs at least one caption "
            f"({len(uncaptioned)} image(s) without one: {listed})"
        )
    return indices


def _check_recall_at(recall_at) -> tuple[int, ...]:
    if isinstance(recall_at, (str, bytes)) or not isinstance(recall_at, Sequence):
        message = f"recall_at must be a sequence of positive ints (the K of R@K), e.g. (1, 5, 10); got {recall_at!r}"
        raise ValueError(message)  # noqa: TRY004
    if len(recall_at) == 0:
        raise ValueError("recall_at is empty; give at least one K of R@K, e.g. (1, 5, 10)")
    for k in recall_at:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"recall_at values must be positive ints (the K of R@K); got {k!r} in {tuple(recall_at)!r}")
    ks = tuple(int(k) for k in recall_at)
    if len(set(ks)) != len(ks):
        raise ValueError(f"recall_at lists a K more than once: {ks!r}")
    return ks


def _image_to_text_ranks(scores: np.ndarray, text_image: np.ndarray) -> np.ndarray:
    """Per image: the stable-descending-sort position of its first caption in that order, i.e. of
    its highest-scoring caption (the lowest-indexed one among equal scores)."""
    num_images, num_texts = scores.shape
    ranks = np.empty(num_images, dtype=np.int64)
    columns = np.arange(num_texts)
    step = max(1, _CHUNK_ELEMENTS // num_texts)
    for start in range(0, num_images, step):
        rows = scores[start : start + step]
        own = text_image[None, :] == np.arange(start, start + len(rows))[:, None]
        best_column = np.where(own, rows, -np.inf).argmax(axis=1)  # the first maximum: the lowest index
        best = rows[np.arange(len(rows)), best_column][:, None]
        ahead = (rows > best) | ((rows == best) & (columns[None, :] < best_column[:, None]))
        ranks[start : start + len(rows)] = ahead.sum(axis=1)
    return ranks


def _text_to_image_ranks(scores: np.ndarray, text_image: np.ndarray) -> np.ndarray:
    num_images, num_texts = scores.shape
    ranks = np.empty(num_texts, dtype=np.int64)
    images = np.arange(num_images)[:, None]
    true_scores = scores[text_image, np.arange(num_texts)]
    step = max(1, _CHUNK_ELEMENTS // num_images)
    for start in range(0, num_texts, step):
        block = scores[:, start : start + step]
        true = true_scores[start : start + step][None, :]
        image = text_image[start : start + step][None, :]
        ranks[start : start + block.shape[1]] = ((block > true) | ((block == true) & (images < image))).sum(axis=0)
    return ranks


def retrieval_ranks(similarity, text_image) -> RetrievalRanks:
    """0-based ranks of the true matches in both retrieval directions.

    ``similarity`` is a ``(num_images, num_texts)`` numpy array or torch tensor of finite scores,
    higher = more similar; ``text_image[j]`` is the index of the image that text (caption) ``j``
    describes. An image may have any number (at least one) of captions, in any columns: they
    need not be contiguous.

    Returns :class:`RetrievalRanks` ``(image_to_text, text_to_image)``:

    - ``image_to_text[i]``: the best rank among image ``i``'s captions when image ``i`` ranks all
      texts (an image query is answered by ANY of its captions);
    - ``text_to_image[j]``: the rank of image ``text_image[j]`` when text ``j`` ranks all images.

    Ties: ranks are positions in a stable descending sort (``np.argsort(-scores, kind="stable")``),
    so the rank of a true candidate is the number of candidates scoring strictly higher PLUS the
    number of candidates scoring the same with a lower index (row or column). A tie thus costs the
    true candidate only against candidates listed before it; all-equal scores give text ``j``
    rank ``text_image[j]``, and image ``i`` the column index of its first caption. (The VSE++/SCAN
    code ranks by a descending argsort too, ``np.argsort(d)[::-1]``, whose order among ties is
    whatever numpy's unstable sort leaves, reversed; with real-valued embedding scores ties are
    rare and both give the same ranks.)
    """
    scores = _check_similarity(similarity)
    num_images, num_texts = scores.shape
    indices = _check_text_image(text_image, num_images, num_texts)
    return RetrievalRanks(_image_to_text_ranks(scores, indices), _text_to_image_ranks(scores, indices))


def _summarize(ranks: np.ndarray, direction: str, recall_at: tuple[int, ...]) -> dict:
    result = {f"{direction}_r{k}": 100.0 * float(np.mean(ranks < k)) for k in recall_at}
    # VSE++ / SCAN: medr = floor(median of the 0-based ranks) + 1, meanr = mean + 1.
    result[f"{direction}_median_rank"] = float(np.floor(np.median(ranks))) + 1.0
    result[f"{direction}_mean_rank"] = float(np.mean(ranks)) + 1.0
    return result


def compute_retrieval_metrics(similarity, text_image, recall_at: Sequence[int] = (1, 5, 10)) -> dict:
    """Image-text retrieval metrics over all images and texts at once (for COCO, the "5K test"
    protocol; :func:`compute_retrieval_metrics_folds` gives the "1K test").

    Arguments as in :func:`retrieval_ranks` (whose tie convention applies); ``recall_at`` are the
    K of the recalls R@K.

    Returns, for ``direction`` in ``image_to_text`` (image queries) and ``text_to_image`` (caption
    queries):

    - ``{direction}_r{K}`` for each K of ``recall_at``: percent (0-100) of queries whose true match
      (for an image, any of its captions) is among the K best-scoring candidates;
    - ``{direction}_median_rank``: "Med r", 1-based (1 = top): ``floor(median of the 0-based
      ranks) + 1``, as the VSE++/SCAN code computes it;
    - ``{direction}_mean_rank``: "Mean r", 1-based: mean of the 0-based ranks + 1;

    plus ``rsum`` (the sum of all the recalls of both directions: R@1 + R@5 + R@10 twice by
    default), ``num_images`` and ``num_texts``. Values are floats, not rounded (counts are ints).
    """
    return summarize_ranks(retrieval_ranks(similarity, text_image), recall_at)


def summarize_ranks(ranks: RetrievalRanks, recall_at: Sequence[int] = (1, 5, 10)) -> dict:
    """The metrics of :func:`compute_retrieval_metrics` from ranks :func:`retrieval_ranks` has
    computed already (a caller that also reads the ranks computes them once)."""
    ks = _check_recall_at(recall_at)
    image_to_text, text_to_image = ranks
    result = {**_summarize(image_to_text, "image_to_text", ks), **_summarize(text_to_image, "text_to_image", ks)}
    result["rsum"] = sum(result[f"{direction}_r{k}"] for direction in _DIRECTIONS for k in ks)
    result["num_images"] = len(image_to_text)
    result["num_texts"] = len(text_to_image)
    return result


def compute_retrieval_metrics_folds(
    similarity, text_image, num_folds: int = 5, recall_at: Sequence[int] = (1, 5, 10)
) -> dict:
    """The COCO "1K test" protocol: the images are split into ``num_folds`` consecutive folds of
    equal size (the 5K test images: 5 folds of 1000), each fold keeps exactly the texts of its
    images (in their order), the metrics of :func:`compute_retrieval_metrics` are computed within
    each fold, and every number is averaged over the folds. (The "5K test" is
    :func:`compute_retrieval_metrics` on all images at once.)

    Returns the averaged metrics (same keys as :func:`compute_retrieval_metrics`; ``num_images``
    and ``num_texts`` are the totals over all folds), ``"num_folds"``, and ``"folds"``: the list of
    per-fold results. Raises ``ValueError`` when the number of images is not divisible by
    ``num_folds``.
    """
    ks = _check_recall_at(recall_at)
    scores = _check_similarity(similarity)
    num_images, num_texts = scores.shape
    indices = _check_text_image(text_image, num_images, num_texts)
    if isinstance(num_folds, bool) or not isinstance(num_folds, numbers.Integral) or num_folds < 1:
        raise ValueError(f"num_folds must be a positive int; got {num_folds!r}")
    num_folds = int(num_folds)
    if num_images % num_folds:
        raise ValueError(
            f"{num_images} images do not split into {num_folds} folds of equal size; the fold protocol "
            f"needs a number of images divisible by num_folds (COCO 1K: 5000 images, 5 folds)"
        )
    fold_size = num_images // num_folds
    folds = []
    for fold in range(num_folds):
        start = fold * fold_size
        columns = np.flatnonzero((indices >= start) & (indices < start + fold_size))
        fold_scores = scores[start : start + fold_size][:, columns]
        folds.append(compute_retrieval_metrics(fold_scores, indices[columns] - start, recall_at=ks))
    result = {key: float(np.mean([f[key] for f in folds])) for key in folds[0] if key not in ("num_images", "num_texts")}
    result["num_images"] = num_images
    result["num_texts"] = num_texts
    result["num_folds"] = num_folds
    result["folds"] = folds
    return result


def text_image_from_caption_columns(caption_columns: Sequence[Sequence[int]], num_texts: int) -> np.ndarray:
    """``text_image`` (the image index of each text) from ``caption_columns[i]``, the column
    indices of image ``i``'s captions in a ``(num_images, num_texts)`` similarity matrix (the
    references of the ``evaluate`` module). Every column must belong to exactly one image and
    every image must have at least one caption."""
    text_image = np.full(num_texts, -1, dtype=np.int64)
    for image, columns in enumerate(caption_columns):
        if isinstance(columns, (str, bytes)) or not isinstance(columns, Sequence):
            raise ValueError(f"caption columns of image {image} must be a list of column indices; got {columns!r}")  # noqa: TRY004
        if len(columns) == 0:
            raise ValueError(f"image {image} has no caption column; every image needs at least one caption")
        for column in columns:
            if isinstance(column, bool) or not isinstance(column, numbers.Integral):
                raise ValueError(f"caption column {column!r} of image {image} is not an int column index")  # noqa: TRY004
            if not 0 <= column < num_texts:
                raise ValueError(
                    f"caption column {column} of image {image} is out of range for {num_texts} texts (0..{num_texts - 1})"
                )
            if text_image[column] >= 0:
                raise ValueError(f"text column {column} is a caption of both image {text_image[column]} and image {image}")
            text_image[column] = image
    orphans = np.flatnonzero(text_image < 0)
    if len(orphans):
        raise ValueError(f"text column {int(orphans[0])} is the caption of no image; every text needs its image ({len(orphans)} without)")
    return text_image


def load_retrieval_metrics(**kwargs) -> evaluate.EvaluationModule:
    """The retrieval metrics as an ``evaluate`` metric, loaded from the package (works offline);
    ``kwargs`` go to ``evaluate.load``. ``compute(predictions=..., references=..., num_folds=None,
    recall_at=(1, 5, 10))`` takes one similarity row per image as its prediction and that image's
    caption column indices as its references, and returns what :func:`compute_retrieval_metrics`
    returns (``num_folds=None``) or :func:`compute_retrieval_metrics_folds` (``num_folds=5``: COCO 1K)."""
    return evaluate.load(str(_RETRIEVAL_RECALL_MODULE), **kwargs)


__all__ = [
    "RetrievalRanks",
    "compute_retrieval_metrics",
    "compute_retrieval_metrics_folds",
    "load_retrieval_metrics",
    "retrieval_ranks",
    "summarize_ranks",
    "text_image_from_caption_columns",
]
