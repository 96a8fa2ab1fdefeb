"""Tests of the image-text retrieval metrics (R@K, median and mean rank, rsum; the COCO 1K fold
protocol): ranks worked out by hand, any-caption hits, caption order, the tie convention, bad
inputs, and the local `evaluate` module that wraps them."""

import uuid

import numpy as np
import pytest
import torch

import hf_mmattn.tasks.matching.metrics as matching_metrics
from hf_mmattn.tasks.matching.metrics import (
    compute_retrieval_metrics,
    compute_retrieval_metrics_folds,
    load_retrieval_metrics,
    retrieval_ranks,
    text_image_from_caption_columns,
)

# 3 images x 6 texts, 2 captions per image (texts 0-1: image 0, 2-3: image 1, 4-5: image 2); no
# two scores of a row or of a column are equal.
#            t0    t1    t2    t3    t4    t5
HAND = np.array([
    [0.90, 0.10, 0.50, 0.30, 0.15, 0.40],  # image 0
    [0.80, 0.70, 0.60, 0.10, 0.30, 0.20],  # image 1
    [0.60, 0.50, 0.90, 0.80, 0.20, 0.25],  # image 2
])
HAND_TEXT_IMAGE = [0, 0, 1, 1, 2, 2]
# Image -> text (0-based, best caption):
#   image 0: t0 = 0.90 is the row's maximum                          -> 0
#   image 1: t2 = 0.60 (better than t3 = 0.10); above it 0.80, 0.70  -> 2
#   image 2: t5 = 0.25 (better than t4 = 0.20); above it 0.60, 0.50, 0.90, 0.80 -> 4
HAND_IMAGE_TO_TEXT = [0, 2, 4]
# Text -> image (column, true image's score, the scores above it):
#   t0 [0.90, 0.80, 0.60] image 0: none -> 0      t1 [0.10, 0.70, 0.50] image 0: two -> 2
#   t2 [0.50, 0.60, 0.90] image 1: 0.90 -> 1      t3 [0.30, 0.10, 0.80] image 1: two -> 2
#   t4 [0.15, 0.30, 0.20] image 2: 0.30 -> 1      t5 [0.40, 0.20, 0.25] image 2: 0.40 -> 1
HAND_TEXT_TO_IMAGE = [0, 2, 1, 2, 1, 1]


def reference_ranks(similarity, text_image):
    """Ranks as positions in np.argsort(-scores, kind="stable"), one query at a time."""
    similarity, text_image = np.asarray(similarity), np.asarray(text_image)
    image_to_text = []
    for image, row in enumerate(similarity):
        position = np.empty(len(row), dtype=int)
        position[np.argsort(-row, kind="stable")] = np.arange(len(row))
        image_to_text.append(position[text_image == image].min())
    text_to_image = []
    for text, column in enumerate(similarity.T):
        order = np.argsort(-column, kind="stable")
        text_to_image.append(int(np.flatnonzero(order == text_image[text])[0]))
    return image_to_text, text_to_image


def test_hand_computed_ranks():
    image_to_text, text_to_image = retrieval_ranks(HAND, HAND_TEXT_IMAGE)
    assert image_to_text.tolist() == HAND_IMAGE_TO_TEXT
    assert text_to_image.tolist() == HAND_TEXT_TO_IMAGE
    assert image_to_text.dtype == np.int64 and text_to_image.dtype == np.int64


def test_hand_computed_metrics():
    result = compute_retrieval_metrics(HAND, HAND_TEXT_IMAGE)
    assert set(result) == {
        *(f"{d}_{m}" for d in ("image_to_text", "text_to_image") for m in ("r1", "r5", "r10", "median_rank", "mean_rank")),
        "rsum", "num_images", "num_texts",
    }
    # Image -> text ranks [0, 2, 4]: 1 of 3 at rank 0; all < 5; median 2 -> Med r 3; mean 2 -> 3.
    assert result["image_to_text_r1"] == pytest.approx(100 / 3)
    assert result["image_to_text_r5"] == 100.0
    assert result["image_to_text_r10"] == 100.0
    assert result["image_to_text_median_rank"] == 3.0
    assert result["image_to_text_mean_rank"] == pytest.approx(3.0)
    # Text -> image ranks [0, 2, 1, 2, 1, 1]: 1 of 6 at rank 0; sorted [0, 1, 1, 1, 2, 2], median
    # 1 -> Med r 2; mean 7/6 -> 13/6.
    assert result["text_to_image_r1"] == pytest.approx(100 / 6)
    assert result["text_to_image_r5"] == 100.0
    assert result["text_to_image_r10"] == 100.0
    assert result["text_to_image_median_rank"] == 2.0
    assert result["text_to_image_mean_rank"] == pytest.approx(13 / 6)
    assert result["rsum"] == pytest.approx(100 / 3 + 100 / 6 + 400)
    assert result["num_images"] == 3 and result["num_texts"] == 6


def test_hand_computed_metrics_at_other_k():
    result = compute_retrieval_metrics(HAND, HAND_TEXT_IMAGE, recall_at=(1, 2, 3))
    # Image -> text [0, 2, 4]: < 2: one; < 3: two. Text -> image [0, 2, 1, 2, 1, 1]: < 2: four; < 3: all.
    assert result["image_to_text_r2"] == pytest.approx(100 / 3)
    assert result["image_to_text_r3"] == pytest.approx(200 / 3)
    assert result["text_to_image_r2"] == pytest.approx(400 / 6)
    assert result["text_to_image_r3"] == 100.0
    assert "image_to_text_r5" not in result
    assert result["rsum"] == pytest.approx(100 / 3 + 100 / 3 + 200 / 3 + 100 / 6 + 400 / 6 + 100)


def test_median_rank_is_floor_of_the_median_plus_one():
    # Text ranks [0, 1]: median 0.5 -> floor 0 -> Med r 1 (VSE++/SCAN), mean 0.5 -> 1.5.
    similarity = np.array([[0.9, 0.95], [0.1, 0.9]])
    result = compute_retrieval_metrics(similarity, [0, 1])
    assert retrieval_ranks(similarity, [0, 1]).text_to_image.tolist() == [0, 1]
    assert result["text_to_image_median_rank"] == 1.0
    assert result["text_to_image_mean_rank"] == 1.5


def test_an_image_query_is_answered_by_any_of_its_captions():
    # Image 0's first caption t0 is its worst text (rank 3) but its second, t1, is its best.
    similarity = np.array([
        [0.1, 0.9, 0.5, 0.2],
        [0.3, 0.2, 0.8, 0.1],
    ])
    image_to_text, _ = retrieval_ranks(similarity, [0, 0, 1, 1])
    assert image_to_text.tolist() == [0, 0]
    assert compute_retrieval_metrics(similarity, [0, 0, 1, 1])["image_to_text_r1"] == 100.0
    # With t0 alone as image 0's caption (t1 given to image 1), image 0 ranks 3.
    assert retrieval_ranks(similarity, [0, 1, 1, 1]).image_to_text.tolist() == [3, 0]


def test_non_contiguous_captions_give_the_permuted_results():
    permutation = [3, 0, 5, 1, 4, 2]  # new column c is old column permutation[c]
    shuffled = HAND[:, permutation]
    shuffled_text_image = np.asarray(HAND_TEXT_IMAGE)[permutation]  # [1, 0, 2, 0, 2, 1]
    image_to_text, text_to_image = retrieval_ranks(shuffled, shuffled_text_image)
    assert image_to_text.tolist() == HAND_IMAGE_TO_TEXT
    assert text_to_image.tolist() == np.asarray(HAND_TEXT_TO_IMAGE)[permutation].tolist()
    assert compute_retrieval_metrics(shuffled, shuffled_text_image) == compute_retrieval_metrics(HAND, HAND_TEXT_IMAGE)

    rng = np.random.default_rng(0)
    similarity = rng.normal(size=(4, 20))  # 5 captions per image, texts grouped by image
    text_image = np.repeat(np.arange(4), 5)
    permutation = rng.permutation(20)
    assert compute_retrieval_metrics(similarity[:, permutation], text_image[permutation]) == compute_retrieval_metrics(
        similarity, text_image
    )


def test_ties_are_broken_by_index():
    # All scores equal: a stable descending sort keeps index order, so text j ranks at its image's
    # index and an image at the column of its first caption (not 0 for all, as counting only the
    # strictly higher scores would give).
    flat = np.zeros((3, 6))
    image_to_text, text_to_image = retrieval_ranks(flat, [0, 0, 1, 1, 2, 2])
    assert image_to_text.tolist() == [0, 2, 4]
    assert text_to_image.tolist() == [0, 0, 1, 1, 2, 2]
    image_to_text, text_to_image = retrieval_ranks(flat, [2, 0, 1, 0, 1, 2])
    assert image_to_text.tolist() == [1, 2, 0]  # first captions: image 0 in t1, 1 in t2, 2 in t0
    assert text_to_image.tolist() == [2, 0, 1, 0, 1, 2]

    similarity = np.array([
        [0.5, 0.5, 0.5, 0.5],  # image 0, caption t2: t0, t1 tie before it (count), t3 after (does not) -> 2
        [0.5, 0.1, 0.5, 0.7],  # image 1, captions t0, t1, t3: t3 is the row's maximum -> 0
    ])
    image_to_text, text_to_image = retrieval_ranks(similarity, [1, 1, 0, 1])
    assert image_to_text.tolist() == [2, 0]
    # t0 [0.5, 0.5] image 1: image 0 ties before it -> 1; t1 [0.5, 0.1] image 1 -> 1;
    # t2 [0.5, 0.5] image 0: image 1 ties after it -> 0; t3 [0.5, 0.7] image 1 -> 0.
    assert text_to_image.tolist() == [1, 1, 0, 0]


@pytest.mark.parametrize("chunk_elements", [1 << 22, 7])
def test_ranks_are_stable_descending_sort_positions(monkeypatch, chunk_elements):
    monkeypatch.setattr(matching_metrics, "_CHUNK_ELEMENTS", chunk_elements)  # 7: a few rows/columns per chunk
    rng = np.random.default_rng(1)
    for _ in range(20):
        num_images = int(rng.integers(1, 7))
        text_image = np.concatenate([np.arange(num_images), rng.integers(0, num_images, size=int(rng.integers(0, 12)))])
        rng.shuffle(text_image)
        similarity = rng.integers(0, 3, size=(num_images, len(text_image))).astype(np.float32)  # many ties
        image_to_text, text_to_image = retrieval_ranks(similarity, text_image)
        expected_image_to_text, expected_text_to_image = reference_ranks(similarity, text_image)
        assert image_to_text.tolist() == expected_image_to_text
        assert text_to_image.tolist() == expected_text_to_image


def test_torch_and_list_inputs_give_the_numpy_results():
    expected = compute_retrieval_metrics(HAND, HAND_TEXT_IMAGE)
    assert compute_retrieval_metrics(HAND.tolist(), HAND_TEXT_IMAGE) == expected
    assert compute_retrieval_metrics(torch.tensor(HAND), torch.tensor(HAND_TEXT_IMAGE)) == expected
    as_float32 = compute_retrieval_metrics(HAND.astype(np.float32), np.asarray(HAND_TEXT_IMAGE, dtype=np.int32))
    assert compute_retrieval_metrics(torch.tensor(HAND, dtype=torch.float32), torch.tensor(HAND_TEXT_IMAGE)) == as_float32
    bf16 = torch.tensor(HAND, dtype=torch.bfloat16)
    assert compute_retrieval_metrics(bf16, HAND_TEXT_IMAGE) == compute_retrieval_metrics(bf16.float().numpy(), HAND_TEXT_IMAGE)


# --- the COCO 1K fold protocol -------------------------------------------------------------

def fold_example():
    """10 images in 2 folds of 5 (images 0-4, 5-9), 2 captions each, not contiguous: text j
    describes image j % 10 (fold 0's texts: 0-4 and 10-14). Within a fold a true pair scores 1.0
    and a false one 0.0, except image 5, which scores its own captions 0.2 and the fold's 8 other
    texts 0.5; every cross-fold pair scores 2.0, above everything."""
    text_image = np.arange(20) % 10
    fold = np.arange(10) // 5
    similarity = np.where(fold[:, None] == fold[text_image][None, :], 0.0, 2.0)
    similarity[np.arange(10)[:, None] == text_image[None, :]] = 1.0
    similarity[5, fold[text_image] == 1] = 0.5
    similarity[5, [5, 15]] = 0.2
    return similarity, text_image


def test_folds_by_hand():
    similarity, text_image = fold_example()
    result = compute_retrieval_metrics_folds(similarity, text_image, num_folds=2)
    assert result["num_folds"] == 2 and result["num_images"] == 10 and result["num_texts"] == 20
    first, second = result["folds"]
    assert first["num_images"] == second["num_images"] == 5 and first["num_texts"] == second["num_texts"] == 10
    # Fold 0 is perfect. In fold 1, image 5's captions (0.2) are below the fold's 8 other texts
    # (0.5): image -> text ranks [8, 0, 0, 0, 0]; every text still ranks its image first (its
    # image's 1.0 or 0.2 beats the other images' 0.0).
    assert first["rsum"] == 600.0 and first["image_to_text_mean_rank"] == 1.0
    assert second["image_to_text_r1"] == 80.0 and second["image_to_text_r5"] == 80.0 and second["image_to_text_r10"] == 100.0
    assert second["image_to_text_median_rank"] == 1.0 and second["image_to_text_mean_rank"] == pytest.approx(2.6)
    assert second["text_to_image_r1"] == 100.0 and second["text_to_image_mean_rank"] == 1.0
    assert result["image_to_text_r1"] == pytest.approx(90.0)
    assert result["image_to_text_r5"] == pytest.approx(90.0)
    assert result["image_to_text_r10"] == 100.0
    assert result["image_to_text_mean_rank"] == pytest.approx(1.8)
    assert result["text_to_image_r1"] == 100.0
    assert result["rsum"] == pytest.approx(580.0)

    # All at once the other fold's texts (10 at 2.0) outrank every image's captions: image ranks
    # 10, and 18 for image 5 (plus its fold's 8 texts at 0.5); every text ranks its image 5th,
    # after the other fold's 5 images.
    whole = compute_retrieval_metrics(similarity, text_image)
    assert whole["image_to_text_r1"] == whole["image_to_text_r5"] == whole["image_to_text_r10"] == 0.0
    assert whole["image_to_text_median_rank"] == 11.0
    assert whole["image_to_text_mean_rank"] == pytest.approx(11.8)
    assert whole["text_to_image_r1"] == whole["text_to_image_r5"] == 0.0 and whole["text_to_image_r10"] == 100.0
    assert whole["text_to_image_median_rank"] == whole["text_to_image_mean_rank"] == 6.0
    assert whole["rsum"] == 100.0


def test_folds_average_the_separately_computed_folds():
    rng = np.random.default_rng(2)
    text_image = rng.permutation(np.repeat(np.arange(10), 3))
    similarity = rng.normal(size=(10, 30))
    result = compute_retrieval_metrics_folds(similarity, text_image, num_folds=2)
    separate = []
    for start in (0, 5):
        columns = np.flatnonzero((text_image >= start) & (text_image < start + 5))
        separate.append(compute_retrieval_metrics(similarity[start : start + 5][:, columns], text_image[columns] - start))
    assert result["folds"] == separate
    assert separate[0] != separate[1]
    for key in separate[0]:
        if key not in ("num_images", "num_texts"):
            assert result[key] == pytest.approx((separate[0][key] + separate[1][key]) / 2), key
    assert compute_retrieval_metrics_folds(similarity, text_image, num_folds=1)["folds"] == [
        compute_retrieval_metrics(similarity, text_image)
    ]


@pytest.mark.parametrize(("num_folds", "message"), [
    (3, "10 images do not split into 3 folds"),
    (4, "10 images do not split into 4 folds"),
    (0, "num_folds must be a positive int"),
    (2.0, "num_folds must be a positive int"),
    (True, "num_folds must be a positive int"),
])
def test_folds_reject_bad_num_folds(num_folds, message):
    similarity, text_image = fold_example()
    with pytest.raises(ValueError, match=message):
        compute_retrieval_metrics_folds(similarity, text_image, num_folds=num_folds)


# --- bad inputs ----------------------------------------------------------------------------

def with_value(row, column, value):
    similarity = HAND.copy()
    similarity[row, column] = value
    return similarity


@pytest.mark.parametrize(("similarity", "text_image", "message"), [
    (HAND[0], HAND_TEXT_IMAGE, r"2-D \(num_images, num_texts\) matrix of scores; got shape \(6,\)"),
    (HAND[None], HAND_TEXT_IMAGE, r"got shape \(1, 3, 6\)"),
    (np.zeros((0, 6)), HAND_TEXT_IMAGE, r"similarity is empty \(shape \(0, 6\)\)"),
    (np.zeros((3, 0)), [], r"similarity is empty \(shape \(3, 0\)\)"),
    (HAND > 0.5, HAND_TEXT_IMAGE, "real-valued scores.*bool"),
    ([["a", "b"]], [0, 0], "real-valued scores"),
    ([[0.1, 0.2], [0.3]], [0, 1], "could not read it"),
    (with_value(1, 2, np.nan), HAND_TEXT_IMAGE, r"1 non-finite score\(s\) \(NaN or inf\), the first at \[1, 2\]"),
    (with_value(2, 0, -np.inf), HAND_TEXT_IMAGE, r"non-finite.*\[2, 0\]"),
    (HAND, [0, 0, 1, 1, 2], "text_image has 5 entries but similarity has 6 texts"),
    (HAND, [[0, 0, 1, 1, 2, 2]], "text_image must be a 1-D sequence"),
    (HAND, [0, 0, 1, 1, 2, 2.0], r"integer image indices; text_image\[0\] is 0.0"),
    (HAND, [0, 0, 1, 1, 2, None], r"integer image indices; text_image\[5\] is None"),
    (HAND, [0, 0, 1, 7, 2, 2], r"text_image\[3\] is 7, out of range for 3 images \(indices 0..2\)"),
    (HAND, [0, -1, 1, 1, 2, 2], r"text_image\[1\] is -1, out of range"),
    (HAND, [0, 0, 2, 2, 2, 2], "image 1 has no text in text_image"),
    (np.zeros((5, 2)), [0, 3], r"image 1 has no text.*3 image\(s\) without one: 1, 2, 4"),
])
def test_bad_inputs_are_rejected(similarity, text_image, message):
    with pytest.raises(ValueError, match=message):
        compute_retrieval_metrics(similarity, text_image)
    with pytest.raises(ValueError, match=message):
        retrieval_ranks(similarity, text_image)


@pytest.mark.parametrize(("recall_at", "message"), [
    ((0, 5), "recall_at values must be positive ints.*got 0"),
    ((1, -5), "recall_at values must be positive ints.*got -5"),
    ((1, 2.5), "recall_at values must be positive ints.*got 2.5"),
    ((True,), "recall_at values must be positive ints.*got True"),
    ((), "recall_at is empty"),
    (5, "recall_at must be a sequence of positive ints"),
    ("15", "recall_at must be a sequence of positive ints"),
    ((1, 5, 1), "recall_at lists a K more than once"),
])
def test_bad_recall_at_is_rejected(recall_at, message):
    with pytest.raises(ValueError, match=message):
        compute_retrieval_metrics(HAND, HAND_TEXT_IMAGE, recall_at=recall_at)
    with pytest.raises(ValueError, match=message):
        compute_retrieval_metrics_folds(HAND, HAND_TEXT_IMAGE, num_folds=1, recall_at=recall_at)


@pytest.mark.parametrize(("columns", "message"), [
    ([[0, 1], [2, 3], [4]], "text column 5 is the caption of no image"),
    ([[0, 1], [1, 2, 3], [4, 5]], "text column 1 is a caption of both image 0 and image 1"),
    ([[0, 1], [], [2, 3, 4, 5]], "image 1 has no caption column"),
    ([[0, 1], [2, 3], [4, 6]], r"caption column 6 of image 2 is out of range for 6 texts \(0..5\)"),
    ([[0, 1], [2, 3.0], [4, 5]], "caption column 3.0 of image 1 is not an int"),
    ([[0, 1], 2, [3, 4, 5]], "caption columns of image 1 must be a list"),
])
def test_bad_caption_columns_are_rejected(columns, message):
    with pytest.raises(ValueError, match=message):
        text_image_from_caption_columns(columns, 6)


def test_text_image_from_caption_columns():
    assert text_image_from_caption_columns([[1, 3], [0], [2, 4, 5]], 6).tolist() == [1, 0, 2, 0, 2, 2]


# --- the evaluate module -------------------------------------------------------------------

HAND_CAPTION_COLUMNS = [[0, 1], [2, 3], [4, 5]]


@pytest.fixture(scope="module")
def metric():
    return load_retrieval_metrics()


def test_evaluate_module_gives_the_same_numbers(metric):
    assert metric.name == "retrieval_recall"
    expected = compute_retrieval_metrics(HAND, HAND_TEXT_IMAGE)
    assert metric.compute(predictions=HAND.tolist(), references=HAND_CAPTION_COLUMNS) == expected
    assert metric.compute(predictions=HAND, references=HAND_CAPTION_COLUMNS) == expected
    assert metric.compute(predictions=HAND.tolist(), references=HAND_CAPTION_COLUMNS, recall_at=(1, 2, 3)) == (
        compute_retrieval_metrics(HAND, HAND_TEXT_IMAGE, recall_at=(1, 2, 3))
    )

    for row, columns in zip(HAND.tolist(), HAND_CAPTION_COLUMNS, strict=True):
        metric.add(prediction=row, references=columns)
    assert metric.compute() == expected

    similarity, text_image = fold_example()
    caption_columns = [np.flatnonzero(text_image == image).tolist() for image in range(10)]
    assert metric.compute(predictions=similarity.tolist(), references=caption_columns, num_folds=2) == (
        compute_retrieval_metrics_folds(similarity, text_image, num_folds=2)
    )
    assert metric.compute(predictions=similarity.tolist(), references=caption_columns) == compute_retrieval_metrics(
        similarity, text_image
    )


@pytest.mark.parametrize(("predictions", "references", "kwargs", "message"), [
    (HAND.tolist(), HAND_CAPTION_COLUMNS[:2], {}, "Mismatch in the number of predictions"),
    ([HAND[0].tolist(), HAND[1, :5].tolist(), HAND[2].tolist()], HAND_CAPTION_COLUMNS, {},
     r"predictions\[1\] scores 5 texts but predictions\[0\] scores 6"),
    (HAND.tolist(), [[0, 1], [1, 2, 3], [4, 5]], {}, "text column 1 is a caption of both image 0 and image 1"),
    (HAND.tolist(), [[0, 1], [], [2, 3, 4, 5]], {}, "image 1 has no caption column"),
    (with_value(0, 0, np.nan).tolist(), HAND_CAPTION_COLUMNS, {}, "non-finite"),
    (HAND.tolist(), HAND_CAPTION_COLUMNS, {"num_folds": 2}, "3 images do not split into 2 folds"),
    (HAND.tolist(), HAND_CAPTION_COLUMNS, {"recall_at": (0,)}, "recall_at values must be positive ints"),
])
def test_evaluate_module_rejects_bad_inputs(predictions, references, kwargs, message):
    # A fresh module under its own experiment_id: a compute that raises keeps the lock on its cache
    # file, which makes the next module of the same experiment wait a second for it.
    metric = load_retrieval_metrics(experiment_id=uuid.uuid4().hex)
    with pytest.raises(ValueError, match=message):
        metric.compute(predictions=predictions, references=references, **kwargs)
