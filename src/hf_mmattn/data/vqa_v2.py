"""Loader for the official VQA v2 files (Goyal et al., CVPR 2017; https://visualqa.org).

The dataset comes as a questions JSON per split::

    {"info", "task_type", "data_type": "mscoco", "data_subtype": "train2014", "license",
     "questions": [{"image_id", "question", "question_id"}, ...]}

an annotations JSON for train and val (none for test)::

    {"annotations": [{"question_id", "image_id", "question_type", "answer_type",
                      "multiple_choice_answer",
                      "answers": [{"answer", "answer_confidence", "answer_id"}] * 10}, ...]}

and the COCO images (``COCO_<subtype>_<image_id:012d>.jpg``) or, as the bottom-up attention
models (Anderson et al., CVPR 2018) and BAN and MCAN are really trained, precomputed region
features: one ``(N, D)`` array per image.
"""

import json
import os

import numpy as np
from datasets import Dataset, Features, Image, List, Value

from .answers import normalize_answer

# The test-dev questions are about images of COCO test2015, which keep that name.
_IMAGE_SUBTYPES = {"test-dev2015": "test2015"}


def _read_json(path: str | os.PathLike) -> dict:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"VQA v2 file not found: {path}")
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def _annotations_by_question(annotations_file, questions: list[dict], normalize) -> dict[int, dict]:
    annotations = {a["question_id"]: a for a in _read_json(annotations_file)["annotations"]}
    question_ids = {q["question_id"] for q in questions}
    if question_ids != annotations.keys():
        without_annotation = sorted(question_ids - annotations.keys())
        without_question = sorted(annotations.keys() - question_ids)
        raise ValueError(
            f"the questions and annotations files do not describe the same questions: "
            f"{len(without_annotation)} question ids have no annotation (e.g. {without_annotation[:5]}), "
            f"{len(without_question)} annotations have no question (e.g. {without_question[:5]}); "
            "pass the two files of the same split"
        )
    for question in questions:
        annotation = annotations[question["question_id"]]
        if annotation["image_id"] != question["image_id"]:
            raise ValueError(
                f"question {question['question_id']} is about image {question['image_id']} in the "
                f"questions file but image {annotation['image_id']} in the annotations file"
            )
    return {
        question_id: {
            "answers": [normalize(a["answer"]) for a in annotation["answers"]],
            "answer_type": annotation["answer_type"],
            "multiple_choice_answer": normalize(annotation["multiple_choice_answer"]),
        }
        for question_id, annotation in annotations.items()
    }


def _check_files_exist(directory, filenames: dict[int, str], scheme: str) -> None:
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"directory not found: {directory} (expected files named {scheme})")
    present = set(os.listdir(directory))
    missing = sorted(name for name in filenames.values() if name not in present)
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(filenames)} files are missing from {directory}, first "
            f"{os.path.join(directory, missing[0])}; expected one file per image named {scheme}"
        )


def load_vqa_v2(
    questions_file: str | os.PathLike,
    annotations_file: str | os.PathLike | None = None,
    images_dir: str | os.PathLike | None = None,
    features_dir: str | os.PathLike | None = None,
    answers_normalized: bool = True,
) -> Dataset:
    """Load one split of VQA v2 from the official JSON files as a ``datasets.Dataset``.

    Columns: ``question_id``, ``image_id``, ``question``, ``answers`` (the 10 human answers;
    an empty list without ``annotations_file``, as for the test split), ``answer_type``
    (``"yes/no"``, ``"number"`` or ``"other"``; None without annotations),
    ``multiple_choice_answer`` (None without annotations), and

    - ``image`` when ``images_dir`` is given: an ``Image()`` feature referring to
      ``images_dir/COCO_<data_subtype>_<image_id:012d>.jpg`` (test-dev images are looked up
      as ``COCO_test2015_...``, the split they belong to);
    - ``image_features_path`` when ``features_dir`` is given: the path of
      ``features_dir/<image_id>.npy``, an ``(N, D)`` array read by :func:`load_image_features`.

    Both may be given; the paths are absolute. Every image's file must exist (one
    ``os.listdir`` per folder checks them all); a missing one raises ``FileNotFoundError``
    naming it. With ``answers_normalized`` the answers and the multiple-choice answer go
    through :func:`~hf_mmattn.data.answers.normalize_answer`, the official evaluation's
    normalisation. A questions and an annotations file of different splits raise
    ``ValueError``.
    """
    questions_json = _read_json(questions_file)
    questions = questions_json["questions"]
    normalize = normalize_answer if answers_normalized else (lambda answer: answer)
    annotations = (
        _annotations_by_question(annotations_file, questions, normalize)
        if annotations_file is not None else {}
    )
    no_annotation = {"answers": [], "answer_type": None, "multiple_choice_answer": None}
    rows = [annotations.get(q["question_id"], no_annotation) for q in questions]
    columns = {
        "question_id": [q["question_id"] for q in questions],
        "image_id": [q["image_id"] for q in questions],
        "question": [q["question"] for q in questions],
        "answers": [row["answers"] for row in rows],
        "answer_type": [row["answer_type"] for row in rows],
        "multiple_choice_answer": [row["multiple_choice_answer"] for row in rows],
    }
    features = Features({
        "question_id": Value("int64"),
        "image_id": Value("int64"),
        "question": Value("string"),
        "answers": List(Value("string")),
        "answer_type": Value("string"),
        "multiple_choice_answer": Value("string"),
    })
    image_ids = sorted(set(columns["image_id"]))

    if images_dir is not None:
        images_dir = os.path.abspath(images_dir)
        data_subtype = questions_json.get("data_subtype")
        if data_subtype is None:
            raise ValueError(f"{questions_file} has no 'data_subtype' (e.g. 'val2014'), which names the images")
        image_subtype = _IMAGE_SUBTYPES.get(data_subtype, data_subtype)
        names = {i: f"COCO_{image_subtype}_{i:012d}.jpg" for i in image_ids}
        _check_files_exist(images_dir, names, f"COCO_{image_subtype}_<12-digit image_id>.jpg")
        columns["image"] = [os.path.join(images_dir, names[i]) for i in columns["image_id"]]
        features["image"] = Image()

    if features_dir is not None:
        features_dir = os.path.abspath(features_dir)
        names = {i: f"{i}.npy" for i in image_ids}
        _check_files_exist(features_dir, names, "<image_id>.npy")
        columns["image_features_path"] = [os.path.join(features_dir, names[i]) for i in columns["image_id"]]
        features["image_features_path"] = Value("string")

    return Dataset.from_dict(columns, features=features)


def load_image_features(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Region features of one image and their mask: ``(features (N, D) float32, mask (N,) int64)``.

    Reads a ``.npy`` file holding the ``(N, D)`` array, or an ``.npz`` file as the bottom-up
    attention extractors write them, with the array under ``"x"`` or ``"features"``. When the
    ``.npz`` also holds ``"num_bbox"`` (the MCAN/OpenVQA format), an array stored as
    ``(D, N)`` is transposed and rows past ``num_bbox`` (zero padding) get mask 0; otherwise
    every row is a region and the mask is all ones.
    """
    path = os.fspath(path)
    if path.endswith(".npy"):
        features, num_regions = np.load(path), None
    elif path.endswith(".npz"):
        with np.load(path) as archive:
            key = next((k for k in ("x", "features") if k in archive), None)
            if key is None:
                raise ValueError(
                    f"{path} holds {sorted(archive.files)}; expected the features under 'x' or 'features'"
                )
            features = archive[key]
            num_regions = int(archive["num_bbox"]) if "num_bbox" in archive else None
    else:
        raise ValueError(f"image features must be a .npy or .npz file, got {path}")
    if features.ndim != 2:
        raise ValueError(f"{path}: expected an (N, D) array of region features, got shape {features.shape}")
    if num_regions is not None and features.shape[0] != num_regions and features.shape[1] == num_regions:
        features = features.T
    mask = np.ones(features.shape[0], dtype=np.int64)
    if num_regions is not None:
        mask[num_regions:] = 0
    return np.ascontiguousarray(features, dtype=np.float32), mask
