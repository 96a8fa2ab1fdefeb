"""Tests of hf_mmattn.data: the official VQA answer normalisation, soft targets, answer
vocabularies, easy-VQA and the VQA v2 loader (on the fixture of tests/fixtures/vqa_v2)."""

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hf_mmattn.data import (
    EASY_VQA_ANSWERS,
    answers_to_soft_targets,
    build_answer_vocabulary,
    easy_vqa_answers,
    load_easy_vqa,
    load_image_features,
    load_vqa_v2,
    normalize_answer,
    official_evaluation_answers,
    soft_target_tensor,
    vqa_soft_score,
)
from hf_mmattn.data.easy_vqa import easy_vqa_answer_type

VQA_V2 = Path(__file__).parent / "fixtures" / "vqa_v2"
QUESTIONS = VQA_V2 / "v2_OpenEnded_mscoco_val2014_questions.json"
ANNOTATIONS = VQA_V2 / "v2_mscoco_val2014_annotations.json"


# --- answer normalisation (official vqaEval.py behaviour) ----------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Two", "2"),                  # number words become digits
        ("none", "0"),                 # ... "none" included
        ("the dog.", "dog"),           # articles dropped, final period stripped
        ("An Apple", "apple"),
        ("dont", "don't"),             # contractions restored
        ("Youre", "you're"),
        ("don't", "don't"),            # apostrophes are not punctuation
        ("yes!", "yes"),
        ("  yes\n", "yes"),
        ("1,000", "1000"),             # digit-comma-digit: punctuation removed outright
        ("1,000?", "1000"),
        ("red,blue", "red blue"),      # otherwise punctuation becomes a space ...
        ("red, blue", "red blue"),     # ... or is removed when it touches a space
        ("T-shirt", "t shirt"),
        ("3.5", "3.5"),                # a period before a digit stays
        ("a.b", "ab"),                 # any other period goes
        ("3:00", "3:00"),              # colons are not punctuation either
        ("(left)", "left"),
        ("yes.", "yes"),
        ("Three", "3"),
        ("a dog", "dog"),
        ("the the", ""),
        ("isnt", "isn't"),
        ("Im", "im"),                  # the official map's capitalised keys never fire after lower()
        ("somebody'd", "somebodyd"),   # an entry of the official map, kept as it is
        ("whats up", "what's up"),
        ("1,000 dollars", "1000 dollars"),
        ("t-shirt, red", "t shirt red"),  # mark by mark: "," touches a space (removed), "-" does not
        ("e.g. 5", "eg 5"),
        ("3. 5", "3 5"),
        ("one two", "1 2"),
        ("$5", "$5"),                  # "$" is not in the official punctuation list
        ("\u0661,\u0662", "\u0661 \u0662"),  # vqaEval.py is Python 2 code: its \d is ASCII only
    ],
)
def test_normalize_answer_matches_official_evaluation(raw, expected):
    assert normalize_answer(raw) == expected


def test_normalize_answer_removes_at_most_32_periods_like_the_official_code():
    # vqaEval.py passes re.UNICODE (32) where Pattern.sub takes `count`.
    assert normalize_answer("." * 40 + "x") == "." * 8 + "x"


@pytest.mark.parametrize(
    ("prediction", "answers", "expected"),
    [
        # Disagreeing answers: both sides get the full normalisation.
        ("Two", ["2", "two", "3"], ("2", ["2", "2", "3"])),
        # Unanimous answers (after stripping): nothing but the stripping, as vqaEval.py since 2021.
        ("Two", ["2"] * 10, ("Two", ["2"] * 10)),
        (" yes\n", ["yes ", "yes"], ("yes", ["yes", "yes"])),
        ("the dog.", ["dog", "Dog"], ("dog", ["dog", "dog"])),
    ],
)
def test_official_evaluation_answers(prediction, answers, expected):
    assert official_evaluation_answers(prediction, answers) == expected


def test_normalize_answer_rejects_non_strings():
    with pytest.raises(TypeError, match="expects a str"):
        normalize_answer(2)


# --- soft scores, vocabularies, targets ----------------------------------------------------

@pytest.mark.parametrize(("count", "score"), [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)])
def test_vqa_soft_score(count, score):
    assert vqa_soft_score(count) == score


@pytest.mark.parametrize("count", [-1, 1.5, True])
def test_vqa_soft_score_rejects_bad_counts(count):
    with pytest.raises(ValueError, match="non-negative int"):
        vqa_soft_score(count)


def test_build_answer_vocabulary_orders_by_frequency_then_alphabetically():
    answer_lists = [["Two", "2", "yes"], ["no", "yes"], ["the cat", "cat", "dog"], ["zebra", "2"]]
    # counts after normalisation: 2 x3, yes x2, cat x2, no/dog/zebra x1
    assert build_answer_vocabulary(answer_lists) == ["2", "cat", "yes", "dog", "no", "zebra"]
    assert build_answer_vocabulary(answer_lists, min_count=2) == ["2", "cat", "yes"]
    assert build_answer_vocabulary(answer_lists, max_answers=4) == ["2", "cat", "yes", "dog"]
    assert build_answer_vocabulary(iter(answer_lists), min_count=3) == ["2"]  # any iterable


def test_build_answer_vocabulary_rejects_bad_limits():
    with pytest.raises(ValueError, match="min_count"):
        build_answer_vocabulary([["a"]], min_count=0)
    with pytest.raises(ValueError, match="max_answers"):
        build_answer_vocabulary([["a"]], max_answers=0)


LABEL2ID = {"2": 0, "3": 1, "yes": 2, "no": 3}


def test_answers_to_soft_targets_counts_normalised_answers():
    answers = ["Two", "2", "two", "2.", "3", "three", "3", "four", "4", "Yes"]
    # "2" x4 -> 1.0, "3" x3 -> 0.9, "yes" x1 -> 0.3; "4" is out of the vocabulary.
    assert answers_to_soft_targets(answers, LABEL2ID) == {0: 1.0, 1: 0.9, 2: 0.3}


def test_answers_to_soft_targets_single_answer_and_edge_cases():
    assert answers_to_soft_targets(["No"], LABEL2ID) == {3: 1.0}
    assert answers_to_soft_targets(["maybe"], LABEL2ID) == {}
    assert answers_to_soft_targets([], LABEL2ID) == {}


def test_soft_target_tensor():
    targets = soft_target_tensor([["yes"], ["2", "2", "no"], []], LABEL2ID, num_labels=5)
    expected = torch.zeros(3, 5)
    expected[0, 2] = 1.0
    expected[1, 0], expected[1, 3] = 0.6, 0.3
    assert targets.dtype == torch.float32
    torch.testing.assert_close(targets, expected)
    with pytest.raises(ValueError, match="num_labels"):
        soft_target_tensor([["no"]], LABEL2ID, num_labels=3)


# --- easy-VQA ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def easy_vqa():
    return load_easy_vqa()


def test_easy_vqa_splits_and_columns(easy_vqa):
    assert easy_vqa["train"].num_rows == 38_575
    assert easy_vqa["test"].num_rows == 9_673
    for split in easy_vqa.values():
        assert split.column_names == ["question_id", "question", "answers", "answer_type", "image_id", "image"]
        assert split["question_id"] == list(range(split.num_rows))
    assert set(easy_vqa["train"]["image_id"]) == set(range(4000))
    assert set(easy_vqa["test"]["image_id"]) == set(range(1000))


def test_easy_vqa_answers_and_types(easy_vqa):
    import easy_vqa as package

    assert easy_vqa_answers() == package.get_answers() == list(EASY_VQA_ANSWERS)
    train = easy_vqa["train"]
    assert all(len(answers) == 1 for answers in train["answers"])
    by_type = {}
    for answers, answer_type in zip(train["answers"], train["answer_type"], strict=True):
        by_type.setdefault(answer_type, set()).add(answers[0])
    assert by_type == {
        "yes/no": {"yes", "no"},
        "shape": {"circle", "rectangle", "triangle"},
        "color": {"green", "red", "gray", "teal", "black", "yellow", "brown", "blue"},
    }
    with pytest.raises(ValueError, match="not an easy-VQA answer"):
        easy_vqa_answer_type("purple")


def test_easy_vqa_first_row_and_image(easy_vqa):
    row = easy_vqa["train"][0]
    assert row["question"] == "what is the blue shape?"
    assert row["answers"] == ["rectangle"] and row["answer_type"] == "shape"
    assert row["image_id"] == 0
    image = row["image"]
    assert isinstance(image, Image.Image) and image.size == (64, 64) and image.mode == "RGB"
    # Test images are other files under the same ids.
    assert easy_vqa["test"][0]["image"].filename != image.filename


def test_easy_vqa_does_not_embed_image_bytes(easy_vqa):
    stored = easy_vqa["test"].with_format("arrow")[:1]["image"][0].as_py()
    assert stored["bytes"] is None and stored["path"].endswith("/test/images/0.png")


def test_easy_vqa_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "easy_vqa", None)  # makes `import easy_vqa` fail
    with pytest.raises(ImportError, match="pip install easy-vqa"):
        load_easy_vqa()


# --- VQA v2 --------------------------------------------------------------------------------

def test_vqa_v2_fixture_loads_with_normalised_answers():
    dataset = load_vqa_v2(QUESTIONS, ANNOTATIONS)
    assert dataset.column_names == [
        "question_id", "image_id", "question", "answers", "answer_type", "multiple_choice_answer"
    ]
    assert dataset["question_id"] == [42000, 42001, 73000, 73001, 139000]
    rows = {row["question_id"]: row for row in dataset}
    assert rows[42000]["answers"] == ["2", "2", "2", "2", "3", "2", "2", "2", "3", "2"]
    assert rows[42001]["answers"].count("dog") == 8
    assert rows[73000]["answers"] == ["yes"] * 4 + ["no"] + ["yes"] * 3 + ["no", "yes"]
    assert rows[73001]["multiple_choice_answer"] == "t shirt"
    assert rows[139000]["answers"][-1] == "don't know"
    assert [row["answer_type"] for row in dataset] == ["number", "other", "yes/no", "other", "other"]


def test_vqa_v2_raw_answers_and_test_split():
    raw = load_vqa_v2(QUESTIONS, ANNOTATIONS, answers_normalized=False)
    assert raw[0]["answers"][:4] == ["Two", "2", "two", "2 "]
    assert raw[3]["multiple_choice_answer"] == "T-shirt"
    unannotated = load_vqa_v2(QUESTIONS)
    assert unannotated[0]["answers"] == []
    assert unannotated[0]["answer_type"] is None and unannotated[0]["multiple_choice_answer"] is None


def test_vqa_v2_images_and_features_resolve():
    dataset = load_vqa_v2(QUESTIONS, ANNOTATIONS, images_dir=VQA_V2 / "val2014", features_dir=VQA_V2 / "features")
    row = dataset[0]
    assert isinstance(row["image"], Image.Image) and row["image"].size == (24, 16)
    assert row["image"].filename == str((VQA_V2 / "val2014" / "COCO_val2014_000000000042.jpg").resolve())
    paths = dataset["image_features_path"]
    assert all(os.path.isabs(path) for path in paths)
    assert [os.path.basename(path) for path in paths] == ["42.npy", "42.npy", "73.npy", "73.npy", "139.npy"]
    features, mask = load_image_features(paths[2])
    assert features.shape == (5, 8) and features.dtype == np.float32
    assert mask.tolist() == [1] * 5


def test_vqa_v2_missing_image_names_the_file(tmp_path):
    images = tmp_path / "val2014"
    shutil.copytree(VQA_V2 / "val2014", images)
    (images / "COCO_val2014_000000000073.jpg").unlink()
    expected = r"COCO_val2014_000000000073\.jpg.*named COCO_val2014_<12-digit image_id>\.jpg"
    with pytest.raises(FileNotFoundError, match=expected):
        load_vqa_v2(QUESTIONS, images_dir=images)


def test_vqa_v2_missing_features_name_the_file(tmp_path):
    shutil.copytree(VQA_V2 / "features", tmp_path / "features")
    (tmp_path / "features" / "139.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"for image 139 looked for 139\.npz, .*139\.npy in"):
        load_vqa_v2(QUESTIONS, features_dir=tmp_path / "features")
    with pytest.raises(FileNotFoundError, match="directory not found"):
        load_vqa_v2(QUESTIONS, features_dir=tmp_path / "nowhere")


def test_vqa_v2_test_dev_images_use_the_test2015_names(tmp_path):
    questions = json.loads(QUESTIONS.read_text())
    questions["data_subtype"] = "test-dev2015"
    (tmp_path / "q.json").write_text(json.dumps(questions))
    with pytest.raises(FileNotFoundError, match=r"COCO_test2015_000000000042\.jpg"):
        load_vqa_v2(tmp_path / "q.json", images_dir=VQA_V2 / "val2014")


def test_vqa_v2_mismatched_annotations_are_rejected(tmp_path):
    annotations = json.loads(ANNOTATIONS.read_text())
    annotations["annotations"].pop()
    (tmp_path / "a.json").write_text(json.dumps(annotations))
    with pytest.raises(ValueError, match=r"1 question ids have no annotation \(e.g. \[139000\]\)"):
        load_vqa_v2(QUESTIONS, tmp_path / "a.json")

    annotations = json.loads(ANNOTATIONS.read_text())
    annotations["annotations"][0]["image_id"] = 73
    (tmp_path / "b.json").write_text(json.dumps(annotations))
    with pytest.raises(ValueError, match="question 42000 is about image 42"):
        load_vqa_v2(QUESTIONS, tmp_path / "b.json")


def test_vqa_v2_missing_questions_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_vqa_v2(tmp_path / "nope.json")


# --- region features -----------------------------------------------------------------------

def test_load_image_features_npz_formats(tmp_path):
    regions = np.arange(12, dtype=np.float64).reshape(3, 4)
    np.savez(tmp_path / "plain.npz", features=regions)
    features, mask = load_image_features(tmp_path / "plain.npz")
    np.testing.assert_array_equal(features, regions.astype(np.float32))
    assert features.dtype == np.float32 and mask.tolist() == [1, 1, 1]

    # MCAN/OpenVQA dumps store "x" as (D, N) beside num_bbox = N.
    np.savez(tmp_path / "mcan.npz", x=regions.T, num_bbox=3, image_h=480, image_w=640)
    features, mask = load_image_features(tmp_path / "mcan.npz")
    np.testing.assert_array_equal(features, regions.astype(np.float32))
    assert mask.tolist() == [1, 1, 1]

    # Rows past num_bbox are zero padding.
    padded = np.zeros((5, 6), dtype=np.float32)
    np.savez(tmp_path / "padded.npz", x=padded, num_bbox=2)
    features, mask = load_image_features(tmp_path / "padded.npz")
    assert features.shape == (5, 6)
    assert mask.tolist() == [1, 1, 0, 0, 0]


def test_load_image_features_errors(tmp_path):
    np.savez(tmp_path / "other.npz", boxes=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="'x' or 'features'"):
        load_image_features(tmp_path / "other.npz")
    np.save(tmp_path / "flat.npy", np.zeros(7))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        load_image_features(tmp_path / "flat.npy")
    with pytest.raises(ValueError, match=".npy or .npz"):
        load_image_features(tmp_path / "features.pt")
