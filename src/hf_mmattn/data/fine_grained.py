"""Loaders for three fine-grained image classification datasets, read from their released
layouts (nothing is downloaded or converted): birds, aircraft and cars, the benchmarks of the
bilinear CNN (Lin et al., ICCV 2015) and of most fine-grained recognition papers since.

* **CUB-200-2011** (Wah, Branson, Welinder, Perona and Belongie, "The Caltech-UCSD Birds-200-2011
  Dataset", Caltech CNS-TR-2011-001; https://www.vision.caltech.edu/datasets/cub_200_2011/):
  11,788 images of 200 bird species, 5,994 train and 5,794 test. :func:`load_cub200`.
* **FGVC-Aircraft 2013b** (Maji, Kannala, Rahtu, Blaschko and Vedaldi, "Fine-Grained Visual
  Classification of Aircraft", arXiv:1306.5151, 2013;
  https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/): 10,000 images of 100 variants (70
  families, 30 manufacturers), 3,334 train, 3,333 val and 3,333 test. :func:`load_fgvc_aircraft`.
* **Stanford Cars** (Krause, Stark, Deng and Fei-Fei, "3D Object Representations for
  Fine-Grained Categorization", 3dRR workshop at ICCV 2013;
  https://ai.stanford.edu/~jkrause/cars/car_dataset.html): 16,185 images of 196 models, 8,144
  train and 8,041 test. :func:`load_stanford_cars`; its ``.mat`` annotations need ``scipy``
  (``pip install scipy``, or the ``hf-mmattn[fine-grained]`` extra).

Every loader returns a ``DatasetDict`` with ``"train"`` and ``"test"`` (FGVC-Aircraft also
``"validation"`` and ``"trainval"`` when their files are there) and the columns of
:func:`fine_grained_features`:

* ``image_id`` (string): the dataset's own key of the image: CUB's number in ``images.txt``
  (``"1"``), the aircraft image name (``"0034309"``), the file name of a Stanford Cars
  annotation (``"00001.jpg"``);
* ``file_name`` (string): the image's path relative to the dataset's folder (``CUB_200_2011/``,
  ``fgvc-aircraft-2013b/data/``, the Stanford Cars root), e.g. ``"images/0034309.jpg"``;
* ``image``: a ``datasets.Image()`` that refers to the file and decodes it (to a PIL image)
  only when a row is read;
* ``label``: a ``ClassLabel`` whose names are the dataset's classes in the dataset's own order
  (class ``k`` of the files is label ``k - 1``);
* ``bbox``: the box of the object, four floats ``[x_min, y_min, x_max, y_max]`` in pixels of the
  released image; how each dataset's numbers become these is said in its loader.

``crop_to_bbox=True`` crops every image to its box lazily: the datasets get a
``with_transform`` that crops each decoded image when a row is read (the files and the
``bbox`` column stay as released; the box is widened to whole pixels and clipped to the
image). FGVC-Aircraft's ``remove_banner`` (on by default) works the same way. The crop needs
the ``bbox`` column next to ``image`` in what is read: read rows (``dataset[i]``,
``dataset[i:j]``, iteration), not the ``image`` column alone. Setting another format
(``set_format``, ``with_format``, ``set_transform``) replaces the transform.

Images decode in their file's mode: a few released CUB and Stanford Cars images are
grayscale, so convert them to ``"RGB"`` (most image processors do) before stacking them.

A missing folder or file raises ``FileNotFoundError`` naming it and the expected layout;
inconsistent files (an image id of one list missing from another, a class id out of range, a
split file naming an unknown class, a malformed line) raise ``ValueError`` naming the file and
the line or the id.
"""

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, List, Value
from PIL import Image as PILImage

AIRCRAFT_BANNER_HEIGHT = 20
"""Rows of the copyright banner at the bottom of every released FGVC-Aircraft image."""

AIRCRAFT_LEVELS = {"variant": "variants.txt", "family": "families.txt", "manufacturer": "manufacturers.txt"}
"""The label levels of FGVC-Aircraft, finest first, and the file listing each level's classes."""

_AIRCRAFT_SPLITS = {"train": "train", "val": "validation", "trainval": "trainval", "test": "test"}
_AIRCRAFT_OPTIONAL_SPLITS = ("val", "trainval")

CUB_LAYOUT = ("CUB_200_2011/ as extracted from CUB_200_2011.tgz: images.txt, image_class_labels.txt, "
              "train_test_split.txt, classes.txt, bounding_boxes.txt and images/<class folder>/<name>.jpg")
AIRCRAFT_LAYOUT = ("fgvc-aircraft-2013b/ as extracted from fgvc-aircraft-2013b.tar.gz: data/images/<id>.jpg, "
                   "data/images_<level>_<split>.txt, data/variants.txt, data/families.txt, data/manufacturers.txt "
                   "and data/images_box.txt")
CARS_LAYOUT = ("either the devkit layout: devkit/cars_meta.mat, devkit/cars_train_annos.mat, cars_train/<fname>, "
               "cars_test/<fname> and cars_test_annos_withlabels.mat (in the root or in devkit/); or the "
               "all-in-one layout: cars_annos.mat and car_ims/<name>.jpg")
_SCIPY_MISSING = ("reading Stanford Cars' .mat annotations needs scipy, which is not installed: pip install scipy "
                  "(or pip install 'hf-mmattn[fine-grained]')")


@dataclass(frozen=True)
class _Example:
    """One image of a split: the row of the dataset before its image is read."""

    image_id: str
    file_name: str  # relative to the dataset's folder
    label: int  # 0-based
    bbox: tuple[float, float, float, float]  # x_min, y_min, x_max, y_max


def fine_grained_features(class_names) -> Features:
    """The columns every loader of this module returns, with ``class_names`` as the labels."""
    return Features({
        "image_id": Value("string"),
        "file_name": Value("string"),
        "image": Image(),
        "label": ClassLabel(names=list(class_names)),
        "bbox": List(Value("float32"), length=4),
    })


# --- shared: files, the DatasetDict, the lazy crop --------------------------------------------

def _require_file(path: str, dataset: str, layout: str) -> str:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{dataset} file not found: {path} (expected {layout})")
    return path


def _require_root(root, dataset: str, layout: str) -> str:
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{dataset} root directory not found: {root} (expected {layout})")
    return root


def _read_lines(path: str) -> list[tuple[int, str]]:
    """(1-based line number, stripped text) of every non-blank line of a UTF-8 text file."""
    with open(path, encoding="utf-8") as file:
        try:
            return [(number, line.strip()) for number, line in enumerate(file, start=1) if line.strip()]
        except UnicodeDecodeError as error:
            raise ValueError(f"{path} is not UTF-8 text ({error.reason})") from None


def _read_keyed_lines(path: str, layout: str, num_values: int | None) -> dict[str, tuple[int, list[str]]]:
    """``{key: (line number, values)}`` of a file of ``<key> <value> ...`` lines: ``num_values``
    whitespace-separated values after the key, or (``None``) the rest of the line as one value."""
    rows: dict[str, tuple[int, list[str]]] = {}
    for number, line in _read_lines(path):
        parts = line.split(maxsplit=1) if num_values is None else line.split()
        if len(parts) != (2 if num_values is None else 1 + num_values):
            raise ValueError(f"{path}, line {number}: expected {layout!r}, got {line!r}")
        key = parts[0]
        if key in rows:
            raise ValueError(f"{path}, line {number}: {key} is listed twice (first on line {rows[key][0]})")
        rows[key] = (number, [value.strip() for value in parts[1:]])
    return rows


def _numbers(values: list[str], path: str, number: int, kind: type = float) -> list:
    try:
        return [kind(value) for value in values]
    except ValueError:
        raise ValueError(f"{path}, line {number}: {' '.join(values)!r} are not all {kind.__name__} numbers") from None


def _check_box(box: tuple[float, float, float, float], where: str) -> tuple[float, float, float, float]:
    if not all(math.isfinite(value) for value in box) or box[0] > box[2] or box[1] > box[3]:
        raise ValueError(f"{where}: box [x_min, y_min, x_max, y_max] = {list(box)} is not a box (a minimum above its maximum)")
    return box


def _check_images_exist(folder: str, file_names: list[str], dataset: str) -> None:
    """Raise ``FileNotFoundError`` unless every image is there; one ``os.listdir`` per folder."""
    listings: dict[str, set[str]] = {}
    missing = []
    for file_name in file_names:
        directory, name = os.path.split(os.path.join(folder, file_name))
        if directory not in listings:
            listings[directory] = set(os.listdir(directory)) if os.path.isdir(directory) else set()
        if name not in listings[directory]:
            missing.append(os.path.join(directory, name))
    if missing:
        raise FileNotFoundError(f"{len(missing)} of {len(file_names)} {dataset} images are missing, first {missing[0]} "
                                "(pass check_images=False to build the dataset without looking)")


def _crop_image(image, box, bottom_rows_to_remove: int):
    """``image`` without its bottom rows and/or cropped to ``box`` (widened to whole pixels,
    clipped to what is left of the image, at least one pixel); anything but a PIL image as is."""
    if not isinstance(image, PILImage.Image):
        return image
    width, height = image.size
    bottom = height - bottom_rows_to_remove if height > bottom_rows_to_remove else height
    if box is None:
        return image if bottom == height else image.crop((0, 0, width, bottom))
    x_min, y_min, x_max, y_max = box
    left = min(max(math.floor(x_min), 0), width - 1)
    top = min(max(math.floor(y_min), 0), bottom - 1)
    right = min(max(math.ceil(x_max), left + 1), width)
    lower = min(max(math.ceil(y_max), top + 1), bottom)
    return image.crop((left, top, right, lower))


def _image_transform(crop_to_bbox: bool, bottom_rows_to_remove: int) -> Callable[[dict], dict] | None:
    """The ``with_transform`` function that crops the decoded images of a batch; None when
    there is nothing to crop."""
    if not crop_to_bbox and not bottom_rows_to_remove:
        return None

    def transform(batch: dict) -> dict:
        if "image" not in batch:
            return batch
        images = batch["image"]
        if crop_to_bbox:
            if "bbox" not in batch:
                raise KeyError("crop_to_bbox=True crops each image to its 'bbox': read whole rows (dataset[i], "
                               "dataset[i:j], iteration) or keep 'bbox' among the columns read, not 'image' alone")
            boxes = batch["bbox"]
        else:
            boxes = [None] * len(images)
        batch["image"] = [_crop_image(image, box, bottom_rows_to_remove) for image, box in zip(images, boxes, strict=True)]
        return batch

    return transform


def _build_dataset_dict(folder: str, splits: dict[str, list[_Example]], class_names: list[str], dataset: str, *,
                        check_images: bool, crop_to_bbox: bool, bottom_rows_to_remove: int = 0) -> DatasetDict:
    """The ``DatasetDict`` of ``splits`` (images referred to by path, decoded when read), with
    the lazy crop of :func:`_image_transform` when asked for."""
    if check_images:
        _check_images_exist(folder, [example.file_name for examples in splits.values() for example in examples], dataset)
    features = fine_grained_features(class_names)
    data = DatasetDict({
        split: Dataset.from_dict({
            "image_id": [example.image_id for example in examples],
            "file_name": [example.file_name for example in examples],
            "image": [os.path.join(folder, example.file_name) for example in examples],
            "label": [example.label for example in examples],
            "bbox": [list(example.bbox) for example in examples],
        }, features=features, split=split)
        for split, examples in splits.items()
    })
    transform = _image_transform(crop_to_bbox, bottom_rows_to_remove)
    return data if transform is None else data.with_transform(transform)


# --- CUB-200-2011 ---------------------------------------------------------------------------

def _cub_folder(root) -> str:
    root = _require_root(root, "CUB-200-2011", CUB_LAYOUT)
    for folder in (root, os.path.join(root, "CUB_200_2011")):
        if os.path.isfile(os.path.join(folder, "images.txt")):
            return folder
    raise FileNotFoundError(f"CUB-200-2011 file not found: {os.path.join(root, 'images.txt')} (nor in "
                            f"{os.path.join(root, 'CUB_200_2011')}; expected {CUB_LAYOUT})")


def _cub_class_names(path: str) -> list[str]:
    rows = _read_keyed_lines(path, "<class_id> <class name>", None)
    ids = {}
    for key, (number, _) in rows.items():
        if not key.isdigit() or not 1 <= int(key) <= len(rows):
            raise ValueError(f"{path}, line {number}: class id {key} is not an integer from 1 to {len(rows)} "
                             "(the number of classes listed)")
        ids[int(key)] = key
    return [rows[ids[class_id]][1][0] for class_id in range(1, len(rows) + 1)]


def _cub_check_same_images(images: dict, other: dict, images_path: str, other_path: str) -> None:
    for image_id, (number, _) in other.items():
        if image_id not in images:
            raise ValueError(f"{other_path}, line {number}: image id {image_id} is not in {images_path}")
    for image_id, (number, _) in images.items():
        if image_id not in other:
            raise ValueError(f"image id {image_id} ({images_path}, line {number}) is missing from {other_path}")


def load_cub200(root, *, crop_to_bbox: bool = False, check_images: bool = True) -> DatasetDict:
    """CUB-200-2011 (Wah et al. 2011, Caltech CNS-TR-2011-001) as released in ``CUB_200_2011.tgz``.

    ``root`` is the extracted ``CUB_200_2011/`` folder or the folder that holds it, with::

        images.txt               <image_id> <path under images/>   1 001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg
        image_class_labels.txt   <image_id> <class_id 1..200>      1 1
        train_test_split.txt     <image_id> <1 train | 0 test>     1 0
        classes.txt              <class_id> <class name>           1 001.Black_footed_Albatross
        bounding_boxes.txt       <image_id> <x> <y> <width> <height>   1 60.0 27.0 325.0 304.0
        images/<class folder>/<name>.jpg

    Returns a ``DatasetDict`` with ``"train"`` (5,994 images in the release) and ``"test"``
    (5,794), rows in the order of ``images.txt``. ``label``: the class names of ``classes.txt``
    as written there (``"001.Black_footed_Albatross"``), by class id; ``image_id``: the number of
    ``images.txt`` (a string); ``file_name``: ``images/<path>``; ``bbox``: ``[x, y, x + width,
    y + height]`` of ``bounding_boxes.txt`` (the release does not say where pixel coordinates
    start; they are used as given, the common practice). ``crop_to_bbox``: crop each image to its
    box when read (lazily, see the module's docstring); ``check_images``: check that every image
    file is there (one directory listing per class folder).

    A missing file raises ``FileNotFoundError``; an image id missing from one of the files or
    listed in one but not in ``images.txt``, a class id out of range or a malformed line raises
    ``ValueError`` naming the file and line.
    """
    folder = _cub_folder(root)
    paths = {name: _require_file(os.path.join(folder, f"{name}.txt"), "CUB-200-2011", CUB_LAYOUT)
             for name in ("images", "image_class_labels", "train_test_split", "classes", "bounding_boxes")}
    class_names = _cub_class_names(paths["classes"])
    images = _read_keyed_lines(paths["images"], "<image_id> <image path>", None)
    labels = _read_keyed_lines(paths["image_class_labels"], "<image_id> <class_id>", 1)
    is_train = _read_keyed_lines(paths["train_test_split"], "<image_id> <is_training_image>", 1)
    boxes = _read_keyed_lines(paths["bounding_boxes"], "<image_id> <x> <y> <width> <height>", 4)
    for name, rows in (("image_class_labels", labels), ("train_test_split", is_train), ("bounding_boxes", boxes)):
        _cub_check_same_images(images, rows, paths["images"], paths[name])

    splits: dict[str, list[_Example]] = {"train": [], "test": []}
    for image_id, (_, (relative_path,)) in images.items():
        number, (class_id,) = labels[image_id]
        if not class_id.isdigit() or not 1 <= int(class_id) <= len(class_names):
            raise ValueError(f"{paths['image_class_labels']}, line {number}: class id {class_id} of image {image_id} is "
                             f"not from 1 to {len(class_names)} (the classes of {paths['classes']})")
        number, (flag,) = is_train[image_id]
        if flag not in ("0", "1"):
            raise ValueError(f"{paths['train_test_split']}, line {number}: {flag!r} for image {image_id}; expected 1 "
                             "(train) or 0 (test)")
        number, values = boxes[image_id]
        x, y, width, height = _numbers(values, paths["bounding_boxes"], number)
        where = f"{paths['bounding_boxes']}, line {number}"
        bbox = _check_box((x, y, x + width, y + height), where)
        example = _Example(image_id, f"images/{relative_path}", int(class_id) - 1, bbox)
        splits["train" if flag == "1" else "test"].append(example)
    return _build_dataset_dict(folder, splits, class_names, "CUB-200-2011", check_images=check_images,
                               crop_to_bbox=crop_to_bbox)


# --- FGVC-Aircraft ----------------------------------------------------------------------------

def _aircraft_data_folder(root) -> str:
    root = _require_root(root, "FGVC-Aircraft", AIRCRAFT_LAYOUT)
    candidates = (os.path.join(root, "data"), os.path.join(root, "fgvc-aircraft-2013b", "data"), root)
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, "images_box.txt")) or os.path.isfile(os.path.join(folder, "variants.txt")):
            return folder
    raise FileNotFoundError(f"FGVC-Aircraft file not found: {os.path.join(candidates[0], 'images_box.txt')} (nor in "
                            f"{candidates[1]} or {root}; expected {AIRCRAFT_LAYOUT})")


def _aircraft_class_names(path: str) -> list[str]:
    names = [line for _, line in _read_lines(path)]
    if not names:
        raise ValueError(f"{path} lists no classes (expected one class name a line)")
    if len(set(names)) != len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise ValueError(f"{path} lists the class {twice!r} twice")
    return names


def _aircraft_boxes(path: str) -> dict[str, tuple[int, tuple[float, float, float, float]]]:
    """``{image id: (line, box)}``: the 1-based inclusive pixel boxes of ``images_box.txt`` as
    0-based pixel edges, ``[xmin - 1, ymin - 1, xmax, ymax]``."""
    boxes = {}
    for image_id, (number, values) in _read_keyed_lines(path, "<image_id> <xmin> <ymin> <xmax> <ymax>", 4).items():
        x_min, y_min, x_max, y_max = _numbers(values, path, number)
        boxes[image_id] = (number, _check_box((x_min - 1, y_min - 1, x_max, y_max), f"{path}, line {number}"))
    return boxes


def load_fgvc_aircraft(root, level: str = "variant", *, remove_banner: bool = True, crop_to_bbox: bool = False,
                       check_images: bool = True) -> DatasetDict:
    """FGVC-Aircraft 2013b (Maji et al. 2013, arXiv:1306.5151) as released in
    ``fgvc-aircraft-2013b.tar.gz``.

    ``root`` is the extracted ``fgvc-aircraft-2013b/`` folder (or the folder that holds it, or
    its ``data/`` folder), with::

        data/images/<image_id>.jpg                     0034309.jpg, ...
        data/images_<level>_<split>.txt                <image_id> <class name>   e.g. "1025794 707-320",
                                                       "0056978 Boeing 707" (names may hold spaces)
        data/variants.txt, families.txt, manufacturers.txt   one class name a line
        data/images_box.txt                            <image_id> <xmin> <ymin> <xmax> <ymax>

    for ``level`` in ``"variant"`` (100 classes), ``"family"`` (70) and ``"manufacturer"`` (30)
    and split in train, val, trainval and test. Returns a ``DatasetDict`` with ``"train"`` and
    ``"test"`` and, when their files are there, ``"validation"`` (the release's ``val``) and
    ``"trainval"`` (train and val together, what papers train on), rows in the order of the
    split files. ``label``: the classes of ``level`` in the order of its class list file;
    ``image_id``: the image's name (``"0034309"``); ``file_name``: ``images/<image_id>.jpg``;
    ``bbox``: the box of ``images_box.txt``, whose coordinates are 1-based and inclusive (the
    top-left pixel is (1, 1), the README says), as 0-based pixel edges ``[xmin - 1, ymin - 1,
    xmax, ymax]``: ``image.crop(bbox)`` is the box.

    ``remove_banner`` (default True): every released image has a copyright banner
    :data:`AIRCRAFT_BANNER_HEIGHT` (20) pixels high at its bottom, not part of the photograph (a
    classifier can learn from its text), which fine-grained recognition work crops off: the
    images are read without their bottom 20 rows (lazily, a ``with_transform``; see the module's
    docstring). ``remove_banner=False`` gives the files as released (as torchvision's
    ``FGVCAircraft`` does). The boxes keep the coordinates of the released image, which removing
    the bottom rows does not shift.
    ``crop_to_bbox``: crop each image to its box when read (also lazily; with the banner
    removed, the box is clipped above it). ``check_images``: check that every image file is
    there.

    A missing file raises ``FileNotFoundError``; a split file naming a class that the class list
    does not hold, an image without a box or a malformed line raises ``ValueError`` naming the
    file and line.
    """
    if level not in AIRCRAFT_LEVELS:
        raise ValueError(f"level must be one of {list(AIRCRAFT_LEVELS)}, got {level!r}")
    folder = _aircraft_data_folder(root)
    classes_path = _require_file(os.path.join(folder, AIRCRAFT_LEVELS[level]), "FGVC-Aircraft", AIRCRAFT_LAYOUT)
    class_names = _aircraft_class_names(classes_path)
    label_of = {name: index for index, name in enumerate(class_names)}
    boxes_path = _require_file(os.path.join(folder, "images_box.txt"), "FGVC-Aircraft", AIRCRAFT_LAYOUT)
    boxes = _aircraft_boxes(boxes_path)

    splits: dict[str, list[_Example]] = {}
    for release_split, split in _AIRCRAFT_SPLITS.items():
        path = os.path.join(folder, f"images_{level}_{release_split}.txt")
        if release_split in _AIRCRAFT_OPTIONAL_SPLITS and not os.path.isfile(path):
            continue
        _require_file(path, "FGVC-Aircraft", AIRCRAFT_LAYOUT)
        examples = []
        for image_id, (number, (class_name,)) in _read_keyed_lines(path, "<image_id> <class name>", None).items():
            if class_name not in label_of:
                raise ValueError(f"{path}, line {number}: class {class_name!r} of image {image_id} is not in {classes_path}")
            if image_id not in boxes:
                raise ValueError(f"{path}, line {number}: image {image_id} has no box in {boxes_path}")
            examples.append(_Example(image_id, f"images/{image_id}.jpg", label_of[class_name], boxes[image_id][1]))
        splits[split] = examples
    splits = {split: splits[split] for split in ("train", "validation", "trainval", "test") if split in splits}
    return _build_dataset_dict(folder, splits, class_names, "FGVC-Aircraft", check_images=check_images,
                               crop_to_bbox=crop_to_bbox, bottom_rows_to_remove=AIRCRAFT_BANNER_HEIGHT if remove_banner else 0)


# --- Stanford Cars ----------------------------------------------------------------------------

def _load_mat(path: str) -> dict:
    try:
        from scipy.io import loadmat
        from scipy.io.matlab import MatReadError
    except ImportError as error:
        raise ImportError(_SCIPY_MISSING) from error
    try:
        return loadmat(path)
    except (MatReadError, ValueError, TypeError, IndexError, EOFError, OSError) as error:  # what corrupt files raise
        raise ValueError(f"{path} is not a MATLAB .mat file that scipy.io.loadmat reads ({error})") from error


def _mat_scalar(value, where: str):
    """The one number or string inside ``loadmat``'s nesting (``array([[39]], dtype=uint8)``,
    ``array(['00001.jpg'])``, a cell's object array around either)."""
    while isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"{where}: expected one value, got an array of shape {value.shape}")
        value = value.reshape(-1)[0]
    return value


def _mat_number(value, where: str) -> float:
    value = _mat_scalar(value, where)
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{where}: {value!r} is not a number")  # noqa: TRY004
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {value!r} is not a number") from None


def _mat_int(value, where: str) -> int:
    number = _mat_number(value, where)
    if not number.is_integer():
        raise ValueError(f"{where}: {number!r} is not an integer")
    return int(number)


def _mat_string(value, where: str) -> str:
    value = _mat_scalar(value, where)
    if not isinstance(value, str):
        raise ValueError(f"{where}: {value!r} is not a string")  # noqa: TRY004
    return value.strip()


def _mat_struct_array(mat: dict, path: str, variable: str, fields: tuple[str, ...]):
    """The records of the struct array ``variable`` of a loaded .mat file (any shape, flattened)."""
    if variable not in mat:
        found = sorted(key for key in mat if not key.startswith("__"))
        raise ValueError(f"{path} has no variable {variable!r} (it has {found})")
    records = mat[variable]
    names = getattr(getattr(records, "dtype", None), "names", None)
    if names is None:
        raise ValueError(f"{path}: {variable!r} is not a struct array")
    missing = [field for field in fields if field not in names]
    if missing:
        raise ValueError(f"{path}: the struct array {variable!r} lacks the fields {missing} (it has {list(names)})")
    return records.reshape(-1)


def _mat_class_names(mat: dict, path: str) -> list[str]:
    if "class_names" not in mat:
        raise ValueError(f"{path} has no variable 'class_names' (a cell array of the class names)")
    cells = np.asarray(mat["class_names"], dtype=object).reshape(-1)
    names = [_mat_string(cell, f"{path}, class_names{{{index + 1}}}") for index, cell in enumerate(cells)]
    if not names:
        raise ValueError(f"{path}: class_names is empty")
    return names


def _cars_examples(records, path: str, num_classes: int, file_field: str, folder_of_file) -> list[tuple[_Example, object]]:
    """(example, record) of every annotation: ``file_field`` names its image, ``folder_of_file``
    gives the image's path relative to the root."""
    examples = []
    for index, record in enumerate(records):
        where = f"{path}, annotations({index + 1})"
        file_name = _mat_string(record[file_field], f"{where}.{file_field}")
        where = f"{where} ({file_name})"
        class_id = _mat_int(record["class"], f"{where}.class")
        if not 1 <= class_id <= num_classes:
            raise ValueError(f"{where}: class {class_id} is not from 1 to {num_classes} (the classes of class_names)")
        bbox = tuple(_mat_number(record[field], f"{where}.{field}") for field in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"))
        example = _Example(os.path.basename(file_name), folder_of_file(file_name), class_id - 1, _check_box(bbox, where))
        examples.append((example, record))
    return examples


_BOX_FIELDS = ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class")


def _cars_devkit_splits(folder: str, test_labels: str) -> tuple[dict[str, list[_Example]], list[str]]:
    meta_path = os.path.join(folder, "devkit", "cars_meta.mat")
    class_names = _mat_class_names(_load_mat(meta_path), meta_path)
    train_path = _require_file(os.path.join(folder, "devkit", "cars_train_annos.mat"), "Stanford Cars", CARS_LAYOUT)
    splits = {}
    for split, path in (("train", train_path), ("test", test_labels)):
        records = _mat_struct_array(_load_mat(path), path, "annotations", (*_BOX_FIELDS, "fname"))
        pairs = _cars_examples(records, path, len(class_names), "fname", lambda name, split=split: f"cars_{split}/{name}")
        splits[split] = [example for example, _ in pairs]
    return splits, class_names


def _cars_all_in_one_splits(folder: str) -> tuple[dict[str, list[_Example]], list[str]]:
    path = os.path.join(folder, "cars_annos.mat")
    mat = _load_mat(path)
    class_names = _mat_class_names(mat, path)
    records = _mat_struct_array(mat, path, "annotations", (*_BOX_FIELDS, "relative_im_path", "test"))
    splits: dict[str, list[_Example]] = {"train": [], "test": []}
    for index, (example, record) in enumerate(_cars_examples(records, path, len(class_names), "relative_im_path", lambda name: name)):
        is_test = _mat_int(record["test"], f"{path}, annotations({index + 1}).test")
        if is_test not in (0, 1):
            raise ValueError(f"{path}, annotations({index + 1}) ({example.file_name}): test is {is_test}, expected 0 or 1")
        splits["test" if is_test else "train"].append(example)
    return splits, class_names


def load_stanford_cars(root, *, crop_to_bbox: bool = False, check_images: bool = True) -> DatasetDict:
    """Stanford Cars (Krause et al. 2013, "3D Object Representations for Fine-Grained
    Categorization") in one of its two released layouts, from ``root`` (or ``root/stanford_cars``,
    torchvision's folder):

    * the devkit layout (``car_devkit.tgz``, ``cars_train.tgz``, ``cars_test.tgz`` and the test
      labels released later)::

          devkit/cars_meta.mat                 class_names: 1x196 cell array of strings
          devkit/cars_train_annos.mat          annotations: 1x8144 struct array with fields
                                               bbox_x1, bbox_y1, bbox_x2, bbox_y2, class (1-based), fname
          cars_test_annos_withlabels.mat       the same for the 8,041 test images (also read from devkit/)
          cars_train/<fname>, cars_test/<fname>

    * the all-in-one layout (``car_ims.tgz`` and ``cars_annos.mat``)::

          cars_annos.mat                       annotations: 1x16185 struct array with fields relative_im_path
                                               ("car_ims/000001.jpg"), bbox_x1, ..., class, test (1: test);
                                               class_names as above
          car_ims/<name>.jpg

    The devkit layout is read when ``devkit/cars_meta.mat`` and the test labels are there, else
    the all-in-one layout. The ``.mat`` files are read with ``scipy.io.loadmat`` (scipy 1.13 or
    newer; not a dependency of hf-mmattn: ``pip install scipy`` or ``hf-mmattn[fine-grained]``;
    without it an ``ImportError`` says so); a struct's fields may be nested in arrays as
    ``loadmat`` gives them (``array([[39]], dtype=uint8)``, ``array(['00001.jpg'])``).

    Returns a ``DatasetDict`` with ``"train"`` (8,144 images) and ``"test"`` (8,041), rows in the
    order of the annotations. ``label``: the class names of ``class_names`` in their order
    (``"AM General Hummer SUV 2000"``, ...); ``image_id``: the image's file name
    (``"00001.jpg"``; train and test images share names in the devkit layout); ``file_name``:
    ``cars_train/<fname>``, ``cars_test/<fname>`` or the ``relative_im_path``; ``bbox``:
    ``[bbox_x1, bbox_y1, bbox_x2, bbox_y2]`` as given (the devkit says "min/max x-value of the
    bounding box, in pixels", not where they start; used as given, the common practice).
    ``crop_to_bbox``: crop each image to its box when read (lazily, see the module's docstring);
    ``check_images``: check that every image file is there.

    A missing file raises ``FileNotFoundError`` naming it and both layouts; a class out of range,
    a missing field or a file that is not a .mat file raises ``ValueError``.
    """
    root = _require_root(root, "Stanford Cars", CARS_LAYOUT)
    for folder in (root, os.path.join(root, "stanford_cars")):
        devkit_meta = os.path.join(folder, "devkit", "cars_meta.mat")
        all_in_one = os.path.join(folder, "cars_annos.mat")
        test_labels = [path for path in (os.path.join(folder, "cars_test_annos_withlabels.mat"),
                                         os.path.join(folder, "devkit", "cars_test_annos_withlabels.mat")) if os.path.isfile(path)]
        if os.path.isfile(devkit_meta) and (test_labels or not os.path.isfile(all_in_one)):
            if not test_labels:
                raise FileNotFoundError(
                    f"Stanford Cars test labels not found: {os.path.join(folder, 'cars_test_annos_withlabels.mat')} (nor in "
                    f"{os.path.join(folder, 'devkit')}); devkit/cars_test_annos.mat has no labels, the labelled file was "
                    f"released separately (expected {CARS_LAYOUT})")
            splits, class_names = _cars_devkit_splits(folder, test_labels[0])
            break
        if os.path.isfile(all_in_one):
            splits, class_names = _cars_all_in_one_splits(folder)
            break
    else:
        raise FileNotFoundError(f"Stanford Cars annotations not found: neither {os.path.join(root, 'devkit', 'cars_meta.mat')} "
                                f"nor {os.path.join(root, 'cars_annos.mat')} (expected {CARS_LAYOUT})")
    return _build_dataset_dict(folder, splits, class_names, "Stanford Cars", check_images=check_images,
                               crop_to_bbox=crop_to_bbox)
