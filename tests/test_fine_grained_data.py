"""Tests of the fine-grained classification loaders of hf_mmattn.data.fine_grained (CUB-200-2011,
FGVC-Aircraft, Stanford Cars) on tiny fixtures written in tmp_path in each dataset's released
layout: the text files, the .mat files (written with scipy.io.savemat in the nesting loadmat
gives for the released files) and small JPEG images, each of its own colours."""

import os
import sys

import numpy as np
import pytest
import scipy.io
from datasets import ClassLabel, Image
from PIL import Image as PILImage

from hf_mmattn.data.fine_grained import (
    AIRCRAFT_BANNER_HEIGHT,
    fine_grained_features,
    load_cub200,
    load_fgvc_aircraft,
    load_stanford_cars,
)

# Colours are far apart so that JPEG's small errors never confuse them.
COLOURS = [(220, 40, 40), (40, 200, 60), (50, 60, 220), (230, 210, 40), (200, 60, 210), (40, 200, 210), (120, 120, 120),
           (250, 140, 20)]
BOX_COLOUR = (10, 10, 10)
BANNER_COLOUR = (245, 245, 245)
TOLERANCE = 12


def write_jpeg(path, size, colour, box=None, banner_rows=0):
    """A JPEG of ``size`` (width, height) in ``colour``, the pixels ``box`` (0-based pixel edges
    x_min, y_min, x_max, y_max) in BOX_COLOUR and the bottom ``banner_rows`` in BANNER_COLOUR."""
    width, height = size
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[:] = colour
    if box is not None:
        x_min, y_min, x_max, y_max = box
        pixels[y_min:y_max, x_min:x_max] = BOX_COLOUR
    if banner_rows:
        pixels[height - banner_rows:] = BANNER_COLOUR
    os.makedirs(os.path.dirname(path), exist_ok=True)
    PILImage.fromarray(pixels).save(path, "JPEG", quality=95, subsampling=0)


def assert_colour(image, colour, region=None):
    """The mean colour of ``region`` (x_min, y_min, x_max, y_max; default all) of ``image``."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    if region is not None:
        x_min, y_min, x_max, y_max = region
        pixels = pixels[y_min:y_max, x_min:x_max]
    mean = pixels.reshape(-1, 3).mean(axis=0)
    assert np.abs(mean - np.array(colour)).max() < TOLERANCE, (mean, colour)


def outside(size, box):
    """A region of an image of ``size`` that ``box`` (x_min, y_min, x_max, y_max) leaves free."""
    width, height = size
    x_min, y_min, x_max, y_max = box
    for region in ((x_max, 0, width, height), (0, y_max, width, height), (0, 0, x_min, height), (0, 0, width, y_min)):
        if region[2] - region[0] >= 4 and region[3] - region[1] >= 4:
            return region
    raise AssertionError(f"the box {box} leaves no room in {size}")


def write_text(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        file.write("".join(f"{line}\n" for line in lines))


def read_text(path):
    with open(path, encoding="utf-8") as file:
        return file.read().splitlines()


# --- CUB-200-2011 ---------------------------------------------------------------------------

CUB_CLASSES = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]
# image id: (class id, is train, size, box as x, y, width, height)
CUB_IMAGES = {
    1: (1, 1, (40, 32), (8, 8, 16, 16)),
    2: (1, 0, (48, 24), (16, 0, 16, 8)),
    3: (2, 1, (32, 40), (0, 16, 24, 16)),
    4: (3, 1, (56, 32), (24, 8, 32, 16)),
    5: (2, 0, (40, 48), (8, 24, 8, 24)),
}


def cub_path(image_id):
    class_id = CUB_IMAGES[image_id][0]
    folder = CUB_CLASSES[class_id - 1]
    return f"{folder}/{folder.split('.', 1)[1]}_{image_id:04d}_{100 + image_id}.jpg"


@pytest.fixture
def cub_root(tmp_path):
    """The parent of CUB_200_2011/, as CUB_200_2011.tgz extracts."""
    folder = tmp_path / "CUB_200_2011"
    write_text(folder / "classes.txt", [f"{index} {name}" for index, name in enumerate(CUB_CLASSES, start=1)])
    write_text(folder / "images.txt", [f"{i} {cub_path(i)}" for i in CUB_IMAGES])
    write_text(folder / "image_class_labels.txt", [f"{i} {c}" for i, (c, _, _, _) in CUB_IMAGES.items()])
    write_text(folder / "train_test_split.txt", [f"{i} {t}" for i, (_, t, _, _) in CUB_IMAGES.items()])
    write_text(folder / "bounding_boxes.txt", [f"{i} {x:.1f} {y:.1f} {w:.1f} {h:.1f}" for i, (_, _, _, (x, y, w, h)) in CUB_IMAGES.items()])
    for image_id, (_, _, size, (x, y, w, h)) in CUB_IMAGES.items():
        write_jpeg(folder / "images" / cub_path(image_id), size, COLOURS[image_id], box=(x, y, x + w, y + h))
    return tmp_path


def test_cub_splits_labels_boxes_and_images(cub_root):
    data = load_cub200(cub_root)
    assert list(data) == ["train", "test"]
    assert {split: len(data[split]) for split in data} == {"train": 3, "test": 2}
    assert data["train"]["image_id"] == ["1", "3", "4"] and data["test"]["image_id"] == ["2", "5"]
    assert data["train"].features == fine_grained_features(CUB_CLASSES)
    assert data["train"].features["label"].names == CUB_CLASSES
    for split in data.values():
        for row in split:
            image_id = int(row["image_id"])
            class_id, _, size, (x, y, w, h) = CUB_IMAGES[image_id]
            assert row["label"] == class_id - 1
            assert row["file_name"] == f"images/{cub_path(image_id)}"
            assert row["bbox"] == [x, y, x + w, y + h]
            assert row["image"].size == size and row["image"].mode == "RGB"
            assert_colour(row["image"], COLOURS[image_id], outside(size, (x, y, x + w, y + h)))
            assert_colour(row["image"], BOX_COLOUR, (x + 1, y + 1, x + w - 1, y + h - 1))


def test_cub_root_may_be_the_folder_itself_and_images_are_lazy(cub_root):
    data = load_cub200(cub_root / "CUB_200_2011")
    assert len(data["train"]) == 3
    raw = data["train"].cast_column("image", Image(decode=False))[0]["image"]
    assert raw["bytes"] is None and raw["path"] == os.path.join(cub_root / "CUB_200_2011", "images", cub_path(1))


def test_cub_crop_to_bbox(cub_root):
    data = load_cub200(cub_root, crop_to_bbox=True)
    for split in data.values():
        for row in split:
            _, _, _, (x, y, w, h) = CUB_IMAGES[int(row["image_id"])]
            assert row["image"].size == (w, h)
            assert_colour(row["image"], BOX_COLOUR)
            assert row["bbox"] == [x, y, x + w, y + h]  # the column keeps the box of the released image
    batch = data["test"][0:2]
    assert [image.size for image in batch["image"]] == [(16, 8), (8, 24)]
    # a fractional box is widened to whole pixels
    folder = cub_root / "CUB_200_2011"
    lines = read_text(folder / "bounding_boxes.txt")
    lines[0] = "1 8.4 8.6 15.2 15.0"  # x_max 23.6, y_max 23.6
    write_text(folder / "bounding_boxes.txt", lines)
    assert load_cub200(cub_root, crop_to_bbox=True)["train"][0]["image"].size == (16, 16)


def test_cub_missing_files(cub_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="not-there"):
        load_cub200(tmp_path / "not-there")
    with pytest.raises(FileNotFoundError, match=r"images\.txt.*CUB_200_2011\.tgz"):
        load_cub200(cub_root / "CUB_200_2011" / "images")
    os.remove(cub_root / "CUB_200_2011" / "bounding_boxes.txt")
    with pytest.raises(FileNotFoundError, match=r"bounding_boxes\.txt"):
        load_cub200(cub_root)


def test_cub_missing_image(cub_root):
    os.remove(cub_root / "CUB_200_2011" / "images" / cub_path(4))
    with pytest.raises(FileNotFoundError, match="1 of 5 CUB-200-2011 images are missing"):
        load_cub200(cub_root)
    assert len(load_cub200(cub_root, check_images=False)["train"]) == 3


@pytest.mark.parametrize(("file", "line", "replacement", "message"), [
    ("image_class_labels.txt", 2, "2 4", r"image_class_labels\.txt, line 2: class id 4 of image 2 is not from 1 to 3"),
    ("image_class_labels.txt", 2, "2 zero", r"image_class_labels\.txt, line 2: class id zero"),
    ("image_class_labels.txt", 5, "6 2", r"image_class_labels\.txt, line 5: image id 6 is not in .*images\.txt"),
    ("train_test_split.txt", 3, None, r"image id 3 \(.*images\.txt, line 3\) is missing from .*train_test_split\.txt"),
    ("train_test_split.txt", 3, "3 2", r"train_test_split\.txt, line 3: '2' for image 3"),
    ("bounding_boxes.txt", 1, "1 8.0 8.0 16.0", r"bounding_boxes\.txt, line 1: expected '<image_id> <x> <y> <width> <height>'"),
    ("bounding_boxes.txt", 1, "1 8.0 8.0 -16.0 16.0", r"bounding_boxes\.txt, line 1: box"),
    ("bounding_boxes.txt", 2, "1 8.0 8.0 16.0 16.0", r"bounding_boxes\.txt, line 2: 1 is listed twice \(first on line 1\)"),
    ("classes.txt", 3, "4 003.Sooty_Albatross", r"classes\.txt, line 3: class id 4 is not an integer from 1 to 3"),
])
def test_cub_inconsistent_files(cub_root, file, line, replacement, message):
    path = cub_root / "CUB_200_2011" / file
    lines = read_text(path)
    if replacement is None:
        del lines[line - 1]
    else:
        lines[line - 1] = replacement
    write_text(path, lines)
    with pytest.raises(ValueError, match=message):
        load_cub200(cub_root)


# --- FGVC-Aircraft ----------------------------------------------------------------------------

AIRCRAFT_CLASSES = {
    "variant": ["707-320", "A320", "F-16A/B", "Cessna 172"],
    "family": ["Boeing 707", "A320", "F-16", "Cessna 172"],
    "manufacturer": ["Boeing", "Airbus", "Lockheed Martin", "Cessna"],
}
# image id: (split, class index, width, content height (the banner comes below), 0-based box edges)
AIRCRAFT_IMAGES = {
    "0034309": ("train", 0, 48, 32, (8, 8, 24, 24)),
    "1025794": ("train", 2, 40, 24, (0, 8, 16, 24)),
    "0056978": ("val", 3, 56, 32, (16, 0, 40, 16)),
    "2031775": ("val", 1, 32, 40, (8, 16, 24, 32)),
    "0062781": ("test", 1, 48, 32, (24, 8, 40, 16)),
    "0065840": ("test", 0, 40, 40, (8, 24, 32, 40)),
}


@pytest.fixture
def aircraft_root(tmp_path):
    """fgvc-aircraft-2013b/ as fgvc-aircraft-2013b.tar.gz extracts."""
    root = tmp_path / "fgvc-aircraft-2013b"
    data = root / "data"
    files = {"variant": "variants.txt", "family": "families.txt", "manufacturer": "manufacturers.txt"}
    for level, names in AIRCRAFT_CLASSES.items():
        write_text(data / files[level], names)
        for split in ("train", "val", "test"):
            write_text(data / f"images_{level}_{split}.txt",
                       [f"{i} {names[c]}" for i, (s, c, _, _, _) in AIRCRAFT_IMAGES.items() if s == split])
        write_text(data / f"images_{level}_trainval.txt",
                   [f"{i} {names[c]}" for i, (s, c, _, _, _) in AIRCRAFT_IMAGES.items() if s in ("train", "val")])
    # 1-based inclusive pixel coordinates, as the release writes them
    write_text(data / "images_box.txt", [f"{i} {x0 + 1} {y0 + 1} {x1} {y1}" for i, (*_, (x0, y0, x1, y1)) in AIRCRAFT_IMAGES.items()])
    for index, (image_id, (_, _, width, height, box)) in enumerate(AIRCRAFT_IMAGES.items()):
        write_jpeg(data / "images" / f"{image_id}.jpg", (width, height + AIRCRAFT_BANNER_HEIGHT), COLOURS[index], box=box,
                   banner_rows=AIRCRAFT_BANNER_HEIGHT)
    return root


def test_aircraft_splits_labels_and_boxes(aircraft_root):
    data = load_fgvc_aircraft(aircraft_root)
    assert list(data) == ["train", "validation", "trainval", "test"]
    assert {split: len(data[split]) for split in data} == {"train": 2, "validation": 2, "trainval": 4, "test": 2}
    assert data["trainval"]["image_id"] == ["0034309", "1025794", "0056978", "2031775"]
    assert data["test"].features["label"] == ClassLabel(names=AIRCRAFT_CLASSES["variant"])
    release_splits = {"train": {"train"}, "validation": {"val"}, "trainval": {"train", "val"}, "test": {"test"}}
    for name, split in data.items():
        assert {AIRCRAFT_IMAGES[image_id][0] for image_id in split["image_id"]} == release_splits[name]
        for row in split:
            _, class_index, _, _, box = AIRCRAFT_IMAGES[row["image_id"]]
            assert row["label"] == class_index
            assert row["file_name"] == f"images/{row['image_id']}.jpg"
            assert row["bbox"] == list(box)


@pytest.mark.parametrize("level", ["family", "manufacturer"])
def test_aircraft_levels(aircraft_root, level):
    data = load_fgvc_aircraft(aircraft_root, level=level)
    names = AIRCRAFT_CLASSES[level]
    assert data["train"].features["label"].names == names
    for split in data.values():
        for row in split:
            assert split.features["label"].int2str(row["label"]) == names[AIRCRAFT_IMAGES[row["image_id"]][1]]


def test_aircraft_banner_is_removed_lazily(aircraft_root):
    data = load_fgvc_aircraft(aircraft_root)
    kept = load_fgvc_aircraft(aircraft_root, remove_banner=False)
    for split in ("train", "test"):
        for row, full in zip(data[split], kept[split], strict=True):
            index = list(AIRCRAFT_IMAGES).index(row["image_id"])
            _, _, width, height, box = AIRCRAFT_IMAGES[row["image_id"]]
            assert row["image"].size == (width, height)
            assert full["image"].size == (width, height + AIRCRAFT_BANNER_HEIGHT)
            assert_colour(full["image"], BANNER_COLOUR, (0, height + 2, width, height + AIRCRAFT_BANNER_HEIGHT))
            assert_colour(row["image"], BOX_COLOUR, box)
            assert_colour(row["image"], COLOURS[index], outside((width, height), box))
            assert_colour(full["image"], COLOURS[index], outside((width, height), box))
    # also when the image column alone is read, and in slices
    assert [image.size for image in data["test"]["image"]] == [(48, 32), (40, 40)]
    assert [image.size for image in data["train"][:2]["image"]] == [(48, 32), (40, 24)]


def test_aircraft_crop_to_bbox(aircraft_root):
    data = load_fgvc_aircraft(aircraft_root, crop_to_bbox=True)
    for split in data.values():
        for row in split:
            x0, y0, x1, y1 = AIRCRAFT_IMAGES[row["image_id"]][4]
            assert row["image"].size == (x1 - x0, y1 - y0)
            assert_colour(row["image"], BOX_COLOUR)
    # a box that reaches into the banner is clipped above it; without banner removal it is not
    lines = read_text(aircraft_root / "data" / "images_box.txt")
    lines[0] = "0034309 9 9 24 52"
    write_text(aircraft_root / "data" / "images_box.txt", lines)
    assert load_fgvc_aircraft(aircraft_root, crop_to_bbox=True)["train"][0]["image"].size == (16, 24)
    assert load_fgvc_aircraft(aircraft_root, crop_to_bbox=True, remove_banner=False)["train"][0]["image"].size == (16, 44)


def test_aircraft_optional_splits_and_roots(aircraft_root):
    for split in ("val", "trainval"):
        for level in AIRCRAFT_CLASSES:
            os.remove(aircraft_root / "data" / f"images_{level}_{split}.txt")
    for root in (aircraft_root, aircraft_root.parent, aircraft_root / "data"):
        data = load_fgvc_aircraft(root, remove_banner=False)
        assert list(data) == ["train", "test"]
        assert data["test"]["image_id"] == ["0062781", "0065840"]


def test_aircraft_errors(aircraft_root, tmp_path):
    with pytest.raises(ValueError, match="level must be one of"):
        load_fgvc_aircraft(aircraft_root, level="model")
    with pytest.raises(FileNotFoundError, match="FGVC-Aircraft root directory not found"):
        load_fgvc_aircraft(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"images_box\.txt.*fgvc-aircraft-2013b\.tar\.gz"):
        load_fgvc_aircraft(aircraft_root / "data" / "images")
    data = aircraft_root / "data"
    lines = read_text(data / "images_variant_test.txt")
    write_text(data / "images_variant_test.txt", [*lines, "0065841 Boeing 737-700"])
    with pytest.raises(ValueError, match=r"images_variant_test\.txt, line 3: class 'Boeing 737-700' of image 0065841 is not in"):
        load_fgvc_aircraft(aircraft_root)
    write_text(data / "images_variant_test.txt", [*lines, "0065841 A320"])
    with pytest.raises(ValueError, match=r"images_variant_test\.txt, line 3: image 0065841 has no box in .*images_box\.txt"):
        load_fgvc_aircraft(aircraft_root)
    write_text(data / "images_variant_test.txt", lines)
    os.remove(data / "images" / "0065840.jpg")
    with pytest.raises(FileNotFoundError, match=r"1 of 10 FGVC-Aircraft images are missing, first .*0065840\.jpg"):
        load_fgvc_aircraft(aircraft_root)
    os.remove(data / "images_variant_test.txt")
    with pytest.raises(FileNotFoundError, match=r"images_variant_test\.txt"):
        load_fgvc_aircraft(aircraft_root)
    os.remove(data / "families.txt")
    with pytest.raises(FileNotFoundError, match=r"families\.txt"):
        load_fgvc_aircraft(aircraft_root, level="family")


# --- Stanford Cars ----------------------------------------------------------------------------

CARS_CLASSES = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Ram C/V Cargo Van Minivan 2012"]
# (fname, class id 1..3, size, box x1, y1, x2, y2); train and test images share file names
CARS_TRAIN = [("00001.jpg", 3, (48, 32), (8, 8, 24, 24)), ("00002.jpg", 1, (40, 40), (16, 8, 40, 32)),
              ("00003.jpg", 2, (32, 24), (0, 0, 16, 16))]
CARS_TEST = [("00001.jpg", 2, (56, 40), (24, 16, 48, 32)), ("00002.jpg", 3, (40, 32), (8, 0, 32, 8))]
_BOX_FIELDS = ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2")


def mat_cell_of_strings(strings):
    """A 1xN MATLAB cell array of strings, as loadmat gives cars_meta.mat's class_names."""
    cells = np.empty((1, len(strings)), dtype=object)
    for index, string in enumerate(strings):
        cells[0, index] = np.array([string])
    return cells


def mat_struct_array(records, fields):
    """A 1xN MATLAB struct array: loadmat gives each number back as array([[v]], dtype=uint8 or
    uint16) and each string as array(['...']), as in the released annotation files."""
    def matlab_value(value):
        if isinstance(value, str):
            return np.array([value])
        return np.array([[value]], dtype=np.uint16 if value > 255 else np.uint8)

    array = np.zeros((1, len(records)), dtype=[(field, "O") for field in fields])
    for index, record in enumerate(records):
        array[0, index] = tuple(matlab_value(record[field]) for field in fields)
    return array


def devkit_records(examples, with_class=True):
    records = []
    for fname, class_id, _, box in examples:
        record = dict(zip(_BOX_FIELDS, box, strict=True))
        if with_class:
            record["class"] = class_id
        record["fname"] = fname
        records.append(record)
    return records


@pytest.fixture
def cars_root(tmp_path):
    """The devkit layout: car_devkit.tgz, cars_train.tgz, cars_test.tgz and the test labels."""
    root = tmp_path / "stanford_cars"
    os.makedirs(root / "devkit")
    scipy.io.savemat(root / "devkit" / "cars_meta.mat", {"class_names": mat_cell_of_strings(CARS_CLASSES)})
    fields = (*_BOX_FIELDS, "class", "fname")
    scipy.io.savemat(root / "devkit" / "cars_train_annos.mat", {"annotations": mat_struct_array(devkit_records(CARS_TRAIN), fields)})
    unlabelled = mat_struct_array(devkit_records(CARS_TEST, with_class=False), (*_BOX_FIELDS, "fname"))
    scipy.io.savemat(root / "devkit" / "cars_test_annos.mat", {"annotations": unlabelled})
    scipy.io.savemat(root / "cars_test_annos_withlabels.mat", {"annotations": mat_struct_array(devkit_records(CARS_TEST), fields)})
    for split, examples, offset in (("train", CARS_TRAIN, 0), ("test", CARS_TEST, 3)):
        for index, (fname, _, size, box) in enumerate(examples):
            write_jpeg(root / f"cars_{split}" / fname, size, COLOURS[offset + index], box=box)
    return root


def assert_cars_rows(data, file_names=None):
    """The rows of ``data`` are CARS_TRAIN and CARS_TEST, with the file names of the devkit layout
    (``file_names``: those of another layout, ``{split: [file name, ...]}``)."""
    assert list(data) == ["train", "test"]
    assert data["train"].features["label"].names == CARS_CLASSES
    for split, examples, offset in (("train", CARS_TRAIN, 0), ("test", CARS_TEST, 3)):
        rows = list(data[split])
        assert len(rows) == len(examples)
        expected_names = file_names[split] if file_names else [f"cars_{split}/{fname}" for fname, *_ in examples]
        for index, (row, (_, class_id, size, box), file_name) in enumerate(zip(rows, examples, expected_names, strict=True)):
            assert row["file_name"] == file_name and row["image_id"] == os.path.basename(file_name)
            assert row["label"] == class_id - 1
            assert row["bbox"] == list(box)
            assert row["image"].size == size
            assert_colour(row["image"], BOX_COLOUR, box)
            assert_colour(row["image"], COLOURS[offset + index], outside(size, box))


def test_cars_devkit_layout(cars_root):
    assert_cars_rows(load_stanford_cars(cars_root))
    assert_cars_rows(load_stanford_cars(cars_root.parent))  # torchvision's root holds stanford_cars/
    os.replace(cars_root / "cars_test_annos_withlabels.mat", cars_root / "devkit" / "cars_test_annos_withlabels.mat")
    assert_cars_rows(load_stanford_cars(cars_root))


def test_cars_loadmat_nesting_is_that_of_the_release(cars_root):
    annotations = scipy.io.loadmat(cars_root / "devkit" / "cars_train_annos.mat")["annotations"]
    assert annotations.shape == (1, 3) and annotations.dtype.names == (*_BOX_FIELDS, "class", "fname")
    first = annotations[0, 0]
    assert first["bbox_x1"].shape == (1, 1) and first["bbox_x1"].dtype == np.uint8 and first["fname"].shape == (1,)
    names = scipy.io.loadmat(cars_root / "devkit" / "cars_meta.mat")["class_names"]
    assert names.shape == (1, 3) and names.dtype == object and names[0, 0][0] == CARS_CLASSES[0]


def test_cars_crop_to_bbox(cars_root):
    data = load_stanford_cars(cars_root, crop_to_bbox=True)
    for split, examples in (("train", CARS_TRAIN), ("test", CARS_TEST)):
        for row, (_, _, _, (x1, y1, x2, y2)) in zip(data[split], examples, strict=True):
            assert row["image"].size == (x2 - x1, y2 - y1)
            assert_colour(row["image"], BOX_COLOUR)
    with pytest.raises(KeyError, match="crop_to_bbox=True crops each image to its 'bbox'"):
        data["train"].select_columns(["image"])[0]


def test_cars_all_in_one_layout(tmp_path):
    root = tmp_path / "cars"
    fields = ("relative_im_path", *_BOX_FIELDS, "class", "test")
    records, names = [], []
    for offset, (examples, is_test) in enumerate(((CARS_TRAIN, 0), (CARS_TEST, 1))):
        for index, (_, class_id, size, box) in enumerate(examples):
            name = f"{len(names) + 1:06d}.jpg"
            names.append(name)
            box_fields = dict(zip(_BOX_FIELDS, box, strict=True))
            records.append({"relative_im_path": f"car_ims/{name}", **box_fields, "class": class_id, "test": is_test})
            write_jpeg(root / "car_ims" / name, size, COLOURS[3 * offset + index], box=box)
    scipy.io.savemat(root / "cars_annos.mat", {"annotations": mat_struct_array(records, fields),
                                               "class_names": mat_cell_of_strings(CARS_CLASSES)})
    assert_cars_rows(load_stanford_cars(root), {"train": [f"car_ims/{name}" for name in names[:3]],
                                                "test": [f"car_ims/{name}" for name in names[3:]]})
    # with the devkit files next to it, the devkit layout wins only when its test labels are there
    os.makedirs(root / "devkit")
    scipy.io.savemat(root / "devkit" / "cars_meta.mat", {"class_names": mat_cell_of_strings(CARS_CLASSES)})
    assert load_stanford_cars(root)["test"]["file_name"] == ["car_ims/000004.jpg", "car_ims/000005.jpg"]


def test_cars_errors(cars_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="Stanford Cars root directory not found"):
        load_stanford_cars(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"neither .*devkit/cars_meta\.mat nor .*cars_annos\.mat"):
        load_stanford_cars(cars_root / "devkit")
    os.remove(cars_root / "cars_test_annos_withlabels.mat")
    with pytest.raises(FileNotFoundError, match=r"test labels not found: .*cars_test_annos_withlabels\.mat"):
        load_stanford_cars(cars_root)


def test_cars_inconsistent_annotations(cars_root):
    fields = (*_BOX_FIELDS, "class", "fname")
    wrong = devkit_records(CARS_TRAIN)
    wrong[1]["class"] = 4
    scipy.io.savemat(cars_root / "devkit" / "cars_train_annos.mat", {"annotations": mat_struct_array(wrong, fields)})
    with pytest.raises(ValueError, match=r"cars_train_annos\.mat, annotations\(2\) \(00002\.jpg\): class 4 is not from 1 to 3"):
        load_stanford_cars(cars_root)
    unlabelled = mat_struct_array(devkit_records(CARS_TRAIN, with_class=False), (*_BOX_FIELDS, "fname"))
    scipy.io.savemat(cars_root / "devkit" / "cars_train_annos.mat", {"annotations": unlabelled})
    with pytest.raises(ValueError, match=r"cars_train_annos\.mat: the struct array 'annotations' lacks the fields \['class'\]"):
        load_stanford_cars(cars_root)
    scipy.io.savemat(cars_root / "devkit" / "cars_train_annos.mat", {"annotations": mat_struct_array(devkit_records(CARS_TRAIN), fields)})
    os.remove(cars_root / "cars_test" / "00002.jpg")
    with pytest.raises(FileNotFoundError, match=r"1 of 5 Stanford Cars images are missing, first .*cars_test.00002\.jpg"):
        load_stanford_cars(cars_root)
    with open(cars_root / "devkit" / "cars_meta.mat", "w") as file:
        file.write("not a mat file")
    with pytest.raises(ValueError, match=r"cars_meta\.mat is not a MATLAB \.mat file"):
        load_stanford_cars(cars_root)


def test_cars_without_scipy_says_how_to_install_it(cars_root, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(ImportError, match=r"pip install scipy.*hf-mmattn\[fine-grained\]"):
        load_stanford_cars(cars_root)
