"""Loaders for the real caption datasets in Karpathy's split files (Karpathy and Fei-Fei,
CVPR 2015; https://cs.stanford.edu/people/karpathy/deepimagesent/): ``dataset_coco.json``,
``dataset_flickr8k.json`` and ``dataset_flickr30k.json``, the splits every captioning paper
since Show, Attend and Tell reports on. Each file is::

    {"dataset": "coco" | "flickr8k" | "flickr30k",
     "images": [{"filepath": "val2014",                     (COCO only)
                 "filename": "COCO_val2014_000000391895.jpg",
                 "imgid": 0, "cocoid": 391895,              (cocoid: COCO only)
                 "split": "train" | "val" | "test" | "restval",   (restval: COCO only)
                 "sentids": [770337, ...],
                 "sentences": [{"raw": "A man with a red helmet ...", "tokens": ["a", "man", ...],
                                "imgid": 0, "sentid": 770337}, ...]}, ...]}

COCO images live at ``<images_dir>/<filepath>/<filename>`` (``train2014/``, ``val2014/``);
Flickr images at ``<images_dir>/<filename>`` (``Flicker8k_Dataset/``, ``flickr30k-images/``).
"""

import json
import os

from datasets import Dataset, DatasetDict, Features, Image, List, Value

CAPTION_FEATURES = Features({
    "image_id": Value("int64"),
    "filename": Value("string"),
    "image": Image(),
    "captions": List(Value("string")),
    "caption_tokens": List(List(Value("string"))),
    "sentence_ids": List(Value("int64")),
})

_SPLITS = {"train": "train", "val": "validation", "test": "test", "restval": "restval"}


def _read_karpathy_json(dataset_json, name: str) -> list[dict]:
    if not os.path.isfile(dataset_json):
        raise FileNotFoundError(f"{name} split file not found: {dataset_json} (expected Karpathy's "
                                f"dataset_{name.lower()}.json)")
    with open(dataset_json, encoding="utf-8") as file:
        try:
            data = json.load(file)
        except json.JSONDecodeError as error:
            raise ValueError(f"{dataset_json} is not valid JSON ({error}); expected Karpathy's split file") from error
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        # a bad file, not a bad argument: ValueError like every other layout error here
        raise ValueError(  # noqa: TRY004
            f"{dataset_json} is not in Karpathy's layout: expected a JSON object with an "
            "'images' list of {'filename', 'split', 'sentences': [{'raw', 'tokens'}], ...}")
    return data


def _check_image_entry(entry, index: int, dataset_json, required: tuple[str, ...]) -> None:
    if not isinstance(entry, dict):
        raise ValueError(f"{dataset_json}: images[{index}] is not an object")  # noqa: TRY004
    missing = [key for key in required if key not in entry]
    if missing:
        raise ValueError(f"{dataset_json}: images[{index}] ({entry.get('filename', 'no filename')}) lacks "
                         f"{missing}; every image of Karpathy's layout has {list(required)}")
    if entry["split"] not in _SPLITS:
        raise ValueError(f"{dataset_json}: images[{index}] ({entry['filename']}) has split {entry['split']!r}; "
                         f"expected one of {list(_SPLITS)}")
    sentences = entry["sentences"]
    if not isinstance(sentences, list) or not sentences:
        raise ValueError(f"{dataset_json}: images[{index}] ({entry['filename']}) has no sentences")
    for sentence in sentences:
        if not isinstance(sentence, dict) or not isinstance(sentence.get("raw"), str):
            raise ValueError(  # noqa: TRY004
                f"{dataset_json}: images[{index}] ({entry['filename']}) has a sentence without a 'raw' "
                f"string: {sentence!r}")


def _find_images(relative_paths: list[str], images_dir, name: str) -> list[str]:
    """Absolute paths of the images, checked with one ``os.listdir`` per folder. A COCO image is
    also looked for directly in ``images_dir`` (all images in one folder)."""
    if not os.path.isdir(images_dir):
        raise FileNotFoundError(f"{name} images directory not found: {images_dir}")
    listings: dict[str, set[str]] = {}

    def present(folder: str, filename: str) -> bool:
        if folder not in listings:
            listings[folder] = set(os.listdir(folder)) if os.path.isdir(folder) else set()
        return filename in listings[folder]

    paths, missing = [], []
    for relative in relative_paths:
        folder, filename = os.path.split(os.path.join(images_dir, relative))
        if present(folder, filename):
            paths.append(os.path.join(folder, filename))
        elif present(os.fspath(images_dir), filename):
            paths.append(os.path.join(images_dir, filename))
        else:
            missing.append(os.path.join(images_dir, relative))
    if missing:
        raise FileNotFoundError(f"{len(missing)} of {len(relative_paths)} {name} images are missing, first "
                                f"{missing[0]}; pass the folder that holds them as images_dir (or "
                                "check_images=False to build the dataset without looking)")
    return paths


def _load_karpathy(dataset_json, images_dir, name: str, expected: tuple[str, ...], is_coco: bool,
                   restval: str, check_images: bool) -> DatasetDict:
    if restval not in ("train", "restval"):
        raise ValueError(f"restval must be 'train' (merge Karpathy's restval images into train) or "
                         f"'restval' (keep them as their own split), got {restval!r}")
    data = _read_karpathy_json(dataset_json, name)
    declared = data.get("dataset")
    if declared is not None and declared not in expected:
        declared = str(declared)
        raise ValueError(f"{dataset_json} is Karpathy's {declared!r} file, but this loader reads {expected}"
                         + ("; use load_flickr" if declared.startswith("flickr") else "")
                         + ("; use load_coco_karpathy" if declared == "coco" else ""))
    required = ("filename", "split", "sentences") + (("filepath", "cocoid") if is_coco else ())
    images = data["images"]
    for index, entry in enumerate(images):
        _check_image_entry(entry, index, dataset_json, required)
    relative = [os.path.join(e["filepath"], e["filename"]) if is_coco else e["filename"] for e in images]
    if check_images:
        paths = _find_images(relative, images_dir, name)
    else:
        paths = [os.path.join(images_dir, r) for r in relative]

    split_names = ["train", "validation", "test"] + (["restval"] if restval == "restval" else [])
    columns = {split: {key: [] for key in CAPTION_FEATURES} for split in split_names}
    for index, (entry, path) in enumerate(zip(images, paths)):
        split = _SPLITS[entry["split"]]
        if split == "restval" and restval == "train":
            split = "train"
        sentences = entry["sentences"]
        column = columns[split]
        column["image_id"].append(entry["cocoid"] if is_coco else entry.get("imgid", index))
        column["filename"].append(entry["filename"])
        column["image"].append(path)
        column["captions"].append([s["raw"].strip() for s in sentences])
        column["caption_tokens"].append([list(s.get("tokens", s["raw"].lower().split())) for s in sentences])
        column["sentence_ids"].append([s.get("sentid", -1) for s in sentences])
    return DatasetDict({
        split: Dataset.from_dict(columns[split], features=CAPTION_FEATURES, split=split) for split in split_names
    })


def load_coco_karpathy(dataset_json, images_dir, *, restval: str = "train",
                       check_images: bool = True) -> DatasetDict:
    """COCO captions with Karpathy's splits from ``dataset_coco.json``.

    Returns a ``DatasetDict`` with ``"train"`` (113,287 images in the full file: 82,783 train +
    30,504 restval), ``"validation"`` (5,000) and ``"test"`` (5,000); with ``restval="restval"``
    the restval images form a fourth split ``"restval"`` and train keeps only Karpathy's train.
    Columns: ``image_id`` (the COCO id, ``cocoid``, as COCO-style evaluation needs it),
    ``filename``, ``image`` (an ``Image()`` feature referring to
    ``<images_dir>/<filepath>/<filename>``, or ``<images_dir>/<filename>`` when the images are
    all in one folder; read only when accessed), ``captions`` (the raw sentences, usually 5,
    some images have 6 or 7), ``caption_tokens`` (Karpathy's lower-cased tokens of each) and
    ``sentence_ids``.

    Raises ``FileNotFoundError`` when the JSON, the folder or (with ``check_images``) any image
    is missing, ``ValueError`` when the file is not in Karpathy's COCO layout.
    """
    return _load_karpathy(dataset_json, images_dir, "COCO", ("coco",), is_coco=True,
                          restval=restval, check_images=check_images)


def load_flickr(dataset_json, images_dir, *, check_images: bool = True) -> DatasetDict:
    """Flickr8k or Flickr30k with Karpathy's splits from ``dataset_flickr8k.json`` or
    ``dataset_flickr30k.json`` (6,000/1,000/1,000 and 29,000/1,014/1,000 images, 5 captions each).

    Returns a ``DatasetDict`` with ``"train"``, ``"validation"`` and ``"test"``, columns as
    :func:`load_coco_karpathy` but ``image_id`` is Karpathy's ``imgid`` (the image's index in the
    file; Flickr has no other numeric id) and ``image`` refers to ``<images_dir>/<filename>``.
    """
    return _load_karpathy(dataset_json, images_dir, "Flickr", ("flickr8k", "flickr30k"), is_coco=False,
                          restval="train", check_images=check_images)
