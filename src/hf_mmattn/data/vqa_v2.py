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
from .region_features import index_feature_tsv, load_region_features

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


# Names under which per-image feature files are looked for, in this order of preference (an
# .npz can carry boxes): ban-vqa / this package's own dumps, and OpenVQA / mcan-vqa's
# ``COCO_train2014_000000000009.jpg.npz``.
_FEATURE_NAME_SCHEMES = (
    "{image_id}.npz",
    "COCO_{subtype}_{image_id:012d}.jpg.npz",
    "COCO_{subtype}_{image_id:012d}.npz",
    "{image_id}.npy",
)


def _find_feature_files(features_dir, image_ids: list[int], image_subtype: str | None) -> dict[int, str]:
    """``{image_id: path}`` of every image's features under ``features_dir`` or, as OpenVQA lays
    them out, ``features_dir/<subtype>`` (e.g. ``feats/val2014``); one ``os.listdir`` per folder."""
    if not os.path.isdir(features_dir):
        raise FileNotFoundError(f"features directory not found: {features_dir}")
    folders = [features_dir]
    if image_subtype is not None and os.path.isdir(os.path.join(features_dir, image_subtype)):
        folders.append(os.path.join(features_dir, image_subtype))
    schemes = [s for s in _FEATURE_NAME_SCHEMES if "{subtype}" not in s or image_subtype is not None]
    listings = [(folder, set(os.listdir(folder))) for folder in folders]
    found, missing = {}, []
    for image_id in image_ids:
        names = [scheme.format(image_id=image_id, subtype=image_subtype) for scheme in schemes]
        path = next((os.path.join(folder, name) for name in names for folder, present in listings if name in present), None)
        if path is None:
            missing.append(image_id)
        else:
            found[image_id] = path
    if missing:
        example = missing[0]
        looked_for = ", ".join(scheme.format(image_id=example, subtype=image_subtype) for scheme in schemes)
        raise FileNotFoundError(
            f"the region features of {len(missing)} of {len(image_ids)} images are missing (image ids "
            f"{missing[:5]}): for image {example} looked for {looked_for} in {' and '.join(folders)}"
            + ("" if image_subtype else " (the questions file has no 'data_subtype', so COCO_<subtype>_... names were not tried)")
        )
    return found


def _find_tsv_rows(features_tsv, image_ids: list[int]) -> dict[int, tuple[str, int]]:
    """``{image_id: (tsv path, byte offset)}`` over one or several TSV files (releases split in parts)."""
    paths = [features_tsv] if isinstance(features_tsv, (str, os.PathLike)) else list(features_tsv)
    rows: dict[int, tuple[str, int]] = {}
    for path in paths:
        path = os.path.abspath(path)
        for image_id, offset in index_feature_tsv(path).items():
            rows.setdefault(image_id, (path, offset))
    missing = [image_id for image_id in image_ids if image_id not in rows]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(image_ids)} images are not in the feature TSV file(s) "
            f"{[os.fspath(p) for p in paths]} (holding {len(rows)} images): image ids {missing[:5]}"
        )
    return rows


def load_vqa_v2(
    questions_file: str | os.PathLike,
    annotations_file: str | os.PathLike | None = None,
    images_dir: str | os.PathLike | None = None,
    features_dir: str | os.PathLike | None = None,
    answers_normalized: bool = True,
    features_tsv: str | os.PathLike | list[str | os.PathLike] | None = None,
) -> Dataset:
    """Load one split of VQA v2 from the official JSON files as a ``datasets.Dataset``.

    Columns: ``question_id``, ``image_id``, ``question``, ``answers`` (the 10 human answers;
    an empty list without ``annotations_file``, as for the test split), ``answer_type``
    (``"yes/no"``, ``"number"`` or ``"other"``; None without annotations),
    ``multiple_choice_answer`` (None without annotations), and

    - ``image`` when ``images_dir`` is given: an ``Image()`` feature referring to
      ``images_dir/COCO_<data_subtype>_<image_id:012d>.jpg`` (test-dev images are looked up
      as ``COCO_test2015_...``, the split they belong to);
    - ``image_features_path`` when ``features_dir`` is given: the path of the image's region
      features, found in ``features_dir`` or ``features_dir/<data_subtype>`` under the first of
      the names ``<image_id>.npz``, ``COCO_<subtype>_<image_id:012d>.jpg.npz`` (OpenVQA,
      mcan-vqa), ``COCO_<subtype>_<image_id:012d>.npz`` and ``<image_id>.npy`` that exists;
    - ``image_features_path`` and ``image_features_offset`` when ``features_tsv`` (one
      bottom-up-attention TSV or a list of its parts) is given instead: the TSV holding the image
      and the byte offset of its line (the TSV is indexed once, nothing is decoded).

    :func:`~hf_mmattn.data.region_features.load_region_features` reads either
    (``ImageStore`` does). Images and features may both be given; the paths are absolute. Every
    image's file must exist (one ``os.listdir`` per folder checks them all); a missing one
    raises ``FileNotFoundError`` naming what was looked for. With ``answers_normalized`` the answers and the multiple-choice answer go
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

    if features_dir is not None and features_tsv is not None:
        raise ValueError("pass features_dir (one file per image) or features_tsv, not both")
    if features_dir is not None:
        data_subtype = questions_json.get("data_subtype")
        image_subtype = _IMAGE_SUBTYPES.get(data_subtype, data_subtype)
        paths = _find_feature_files(os.path.abspath(features_dir), image_ids, image_subtype)
        columns["image_features_path"] = [paths[i] for i in columns["image_id"]]
        features["image_features_path"] = Value("string")
    if features_tsv is not None:
        rows = _find_tsv_rows(features_tsv, image_ids)
        columns["image_features_path"] = [rows[i][0] for i in columns["image_id"]]
        columns["image_features_offset"] = [rows[i][1] for i in columns["image_id"]]
        features["image_features_path"] = Value("string")
        features["image_features_offset"] = Value("int64")

    return Dataset.from_dict(columns, features=features)


def load_image_features(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Region features of one image and their mask: ``(features (N, D) float32, mask (N,) int64)``.

    The features and mask of
    :func:`~hf_mmattn.data.region_features.load_region_features` (which also gives the boxes),
    from a ``.npy`` or ``.npz`` file: an ``.npz`` holds the array under ``"x"`` or ``"features"``;
    with ``"bbox"`` or ``"num_bbox"`` (the MCAN/OpenVQA format) an array stored as ``(D, N)`` is
    transposed and rows past ``num_bbox`` (zero padding) get mask 0.
    """
    if os.fspath(path).endswith((".npy", ".npz")):
        regions = load_region_features(path)
        return regions.features, regions.mask
    raise ValueError(f"image features must be a .npy or .npz file, got {path}")
