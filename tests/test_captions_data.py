"""Tests of the caption data of hf_mmattn.data: the generated shapes-captions dataset (determinism,
every caption true of its image, the shapes and colours visible in the pixels) and the loaders
of Karpathy's COCO / Flickr split files (on tiny fixtures written in tmp_path)."""

import json
import re

import numpy as np
import pytest
from PIL import Image

from hf_mmattn.data import generate_shapes_captions, load_coco_karpathy, load_flickr
from hf_mmattn.data.shapes_captions import (
    SHAPES_CAPTIONS_COLORS,
    SHAPES_CAPTIONS_SHAPES,
)

SIZE = 64


@pytest.fixture(scope="module")
def shapes():
    return generate_shapes_captions(num_train=300, num_val=40, num_test=30, image_size=SIZE, seed=0)


def _raw(split):
    """(png bytes, captions, objects) of every row, without decoding the images."""
    data = split.cast_column("image", split.features["image"].__class__(decode=False))
    return [(row["image"]["bytes"], row["captions"], row["objects"]) for row in data]


# --- shapes captions: splits, determinism ---------------------------------------------------

def test_split_sizes_and_columns(shapes):
    assert {name: len(split) for name, split in shapes.items()} == {"train": 300, "validation": 40, "test": 30}
    row = shapes["train"][0]
    assert set(row) == {"image_id", "image", "captions", "objects"}
    assert row["image"].mode == "RGB" and row["image"].size == (SIZE, SIZE)
    assert shapes["test"]["image_id"] == list(range(30))
    assert all(len(captions) == 5 for captions in shapes["train"]["captions"])
    counts = {len(objects) for objects in shapes["train"]["objects"]}
    assert counts == {1, 2, 3}


def test_same_seed_same_data_different_seed_different_data(shapes):
    again = generate_shapes_captions(num_train=300, num_val=40, num_test=30, image_size=SIZE, seed=0)
    for name in shapes:
        assert _raw(again[name]) == _raw(shapes[name])
    other = generate_shapes_captions(num_train=300, num_val=40, num_test=30, image_size=SIZE, seed=1)
    for name in shapes:
        first, second = _raw(shapes[name]), _raw(other[name])
        assert sum(a[0] != b[0] for a, b in zip(first, second, strict=True)) > 0.9 * len(first)
        assert sum(a[1] != b[1] for a, b in zip(first, second, strict=True)) > 0.9 * len(first)
    # the splits differ from each other, and a split does not depend on the other splits' sizes
    assert _raw(shapes["validation"])[:30] != _raw(shapes["test"])
    smaller = generate_shapes_captions(num_train=7, num_val=40, num_test=0, image_size=SIZE, seed=0)
    assert _raw(smaller["validation"]) == _raw(shapes["validation"])
    assert _raw(smaller["train"]) == _raw(shapes["train"])[:7]
    assert len(smaller["test"]) == 0


# --- shapes captions: every caption is true of its image ------------------------------------

COLOR = "|".join(SHAPES_CAPTIONS_COLORS)
SHAPE = "|".join(SHAPES_CAPTIONS_SHAPES)
REL = r"to the left of|to the right of|above|below"
WHERE = {
    "at the top left": (0, 0), "at the top": (0, 1), "at the top right": (0, 2),
    "on the left": (1, 0), "in the middle": (1, 1), "on the right": (1, 2),
    "at the bottom left": (2, 0), "at the bottom": (2, 1), "at the bottom right": (2, 2),
}
WHERE_RE = "|".join(sorted(WHERE, key=len, reverse=True))


def _holds(relation, a, b):
    """The relation from the pixel positions alone (a sixth of the image apart at least)."""
    margin = SIZE / 6
    return {
        "to the left of": a["x"] < b["x"] - margin,
        "to the right of": a["x"] > b["x"] + margin,
        "above": a["y"] < b["y"] - margin,
        "below": a["y"] > b["y"] + margin,
    }[relation]


def _cell(obj):
    return int(obj["y"] * 3 // SIZE), int(obj["x"] * 3 // SIZE)


def _check_caption(caption, objects):
    """Parse a caption with the documented grammar; assert it is true of the objects. Returns
    the kind of the caption."""
    by_color = {obj["color"]: obj for obj in objects}

    def lookup(color, shape):
        assert color in by_color and by_color[color]["shape"] == shape, (caption, objects)
        return by_color[color]

    assert caption == caption.lower() and caption.strip() == caption and not caption.endswith(".")
    if len(objects) == 1:
        match = re.fullmatch(rf"(?:a|there is a|a single|one) ({COLOR}) ({SHAPE})(?: ({WHERE_RE}))?", caption)
        assert match, caption
        obj = lookup(match[1], match[2])
        if match[3]:
            assert WHERE[match[3]] == _cell(obj), (caption, obj)
        return "single"
    chunks = re.split(r", | and ", caption)
    mentioned, kinds = [], set()
    for i, chunk in enumerate(chunks):
        if match := re.fullmatch(rf"a ({COLOR}) ({SHAPE}) ({REL}) (a|the) ({COLOR}) ({SHAPE})", chunk):
            a, b = lookup(match[1], match[2]), lookup(match[5], match[6])
            assert _holds(match[3], a, b), (caption, a, b)
            assert match[4] == ("the" if i > 0 else "a"), caption  # later clauses refer back
            if i > 0:
                assert b in mentioned, caption
            mentioned += [a] if i > 0 else [a, b]
            kinds.add("relation")
        elif match := re.fullmatch(rf"a ({COLOR}) ({SHAPE}) ({WHERE_RE})", chunk):
            obj = lookup(match[1], match[2])
            assert WHERE[match[3]] == _cell(obj), (caption, obj)
            mentioned.append(obj)
            kinds.add("position")
        elif match := re.fullmatch(rf"a ({COLOR}) ({SHAPE})", chunk):
            mentioned.append(lookup(match[1], match[2]))
            kinds.add("list")
        else:
            raise AssertionError(f"{chunk!r} of {caption!r} is not in the grammar")
    assert len(kinds) == 1, caption
    # every object is introduced exactly once
    assert sorted(o["color"] for o in mentioned) == sorted(o["color"] for o in objects), (caption, objects)
    return kinds.pop()


def test_every_caption_is_true_of_its_objects(shapes):
    kinds = {"single": 0, "relation": 0, "list": 0, "position": 0}
    for split in shapes.values():
        for captions, objects in zip(split["captions"], split["objects"], strict=True):
            assert len(set(captions)) == len(captions), captions
            caption_kinds = [_check_caption(caption, objects) for caption in captions]
            for kind in caption_kinds:
                kinds[kind] += 1
            if len(objects) > 1:
                assert caption_kinds[0] == "relation", captions
    assert all(count > 0 for count in kinds.values()), kinds
    assert kinds["relation"] > kinds["list"] + kinds["position"], kinds


def test_objects_are_apart_and_distinctly_coloured(shapes):
    for objects in shapes["train"]["objects"]:
        assert len({o["color"] for o in objects}) == len(objects)
        for i, a in enumerate(objects):
            assert a["size"] <= a["x"] <= SIZE - 1 - a["size"] and a["size"] <= a["y"] <= SIZE - 1 - a["size"]
            for b in objects[i + 1:]:
                # bounding boxes do not touch
                assert (abs(a["x"] - b["x"]) > a["size"] + b["size"] or abs(a["y"] - b["y"]) > a["size"] + b["size"])


def _shape_from_pixels(pixels, obj):
    """Classify the shape from a few pixels around its centre."""
    x, y, s = obj["x"], obj["y"], obj["size"]
    color = np.array(SHAPES_CAPTIONS_COLORS[obj["color"]])

    def on(px, py):
        return bool((pixels[py, px] == color).all())

    d = round(0.6 * s)
    if on(x - s, y - s) and on(x + s, y + s):
        return "square"
    if on(x - s, y + s) and on(x + s, y + s) and on(x, y - s) and not on(x - s, y - s):
        return "triangle"
    if on(x - d, y - d) and on(x + d, y + d) and not on(x - s, y - s):
        return "circle"
    if on(x - s, y) and on(x, y - s) and not on(x - d, y - d):
        return "diamond"
    return "unknown"


def test_shapes_and_colours_are_in_the_pixels(shapes):
    for row in shapes["validation"]:
        pixels = np.asarray(row["image"])
        present = {obj["color"] for obj in row["objects"]}
        for obj in row["objects"]:
            assert tuple(pixels[obj["y"], obj["x"]]) == SHAPES_CAPTIONS_COLORS[obj["color"]]
            assert _shape_from_pixels(pixels, obj) == obj["shape"], obj
        colors_in_image = {tuple(c) for c in pixels.reshape(-1, 3)}
        assert colors_in_image == {(0, 0, 0)} | {SHAPES_CAPTIONS_COLORS[c] for c in present}


def test_options_and_bad_arguments():
    data = generate_shapes_captions(num_train=20, num_val=1, num_test=1, image_size=32, max_objects=1,
                                    captions_per_image=2, seed=3)
    assert data["train"][0]["image"].size == (32, 32)
    assert all(len(o) == 1 for o in data["train"]["objects"])
    assert all(len(c) == 2 for c in data["train"]["captions"])
    many = generate_shapes_captions(num_train=30, num_val=0, num_test=0, max_objects=5, captions_per_image=8)
    assert max(len(o) for o in many["train"]["objects"]) > 3
    for captions, objects in zip(many["train"]["captions"], many["train"]["objects"], strict=True):
        for caption in captions:
            _check_caption(caption, objects)
    with pytest.raises(ValueError, match="num_val"):
        generate_shapes_captions(num_val=-1)
    with pytest.raises(ValueError, match="image_size"):
        generate_shapes_captions(num_train=1, image_size=8)
    with pytest.raises(ValueError, match="max_objects"):
        generate_shapes_captions(num_train=1, max_objects=10)
    with pytest.raises(ValueError, match="captions_per_image"):
        generate_shapes_captions(num_train=1, captions_per_image=0)


# --- Karpathy split files ---------------------------------------------------------------------

def _png(path, color, size=(6, 4)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format="PNG")  # PNG content (lossless) under a .jpg name


def _sentence(raw, imgid, sentid):
    return {"raw": raw, "tokens": raw.lower().rstrip(".").split(), "imgid": imgid, "sentid": sentid}


def _coco_entry(imgid, cocoid, split, folder):
    filename = f"COCO_{folder}_{cocoid:012d}.jpg"
    return {"filepath": folder, "filename": filename, "imgid": imgid, "cocoid": cocoid, "split": split,
            "sentids": [10 * imgid, 10 * imgid + 1],
            "sentences": [_sentence(f"A photo number {imgid}. ", imgid, 10 * imgid),
                          _sentence(f"Image {imgid} of a cat.", imgid, 10 * imgid + 1)]}


@pytest.fixture
def coco(tmp_path):
    entries = [_coco_entry(0, 9, "train", "train2014"), _coco_entry(1, 25, "restval", "val2014"),
               _coco_entry(2, 42, "val", "val2014"), _coco_entry(3, 73, "test", "val2014"),
               _coco_entry(4, 74, "test", "val2014")]
    images = tmp_path / "coco"
    for i, entry in enumerate(entries):
        _png(images / entry["filepath"] / entry["filename"], (40 * i, 0, 0))
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps({"dataset": "coco", "images": entries}))
    return path, images, entries


def test_load_coco_karpathy(coco):
    path, images, _ = coco
    data = load_coco_karpathy(path, images)
    assert list(data) == ["train", "validation", "test"]
    assert data["train"]["image_id"] == [9, 25]            # restval merged into train
    assert data["validation"]["image_id"] == [42] and data["test"]["image_id"] == [73, 74]
    row = data["test"][1]
    assert row["filename"] == "COCO_val2014_000000000074.jpg"
    assert row["captions"] == ["A photo number 4.", "Image 4 of a cat."]
    assert row["caption_tokens"][1] == ["image", "4", "of", "a", "cat"]
    assert row["sentence_ids"] == [40, 41]
    assert row["image"].size == (6, 4) and row["image"].getpixel((0, 0)) == (160, 0, 0)

    apart = load_coco_karpathy(path, images, restval="restval")
    assert list(apart) == ["train", "validation", "test", "restval"]
    assert apart["train"]["image_id"] == [9] and apart["restval"]["image_id"] == [25]


def test_load_coco_karpathy_images_in_one_folder(coco, tmp_path):
    path, _, entries = coco
    flat = tmp_path / "flat"
    for entry in entries:
        _png(flat / entry["filename"], (1, 2, 3))
    data = load_coco_karpathy(path, flat)
    assert data["validation"][0]["image"].getpixel((0, 0)) == (1, 2, 3)


def test_load_coco_karpathy_errors(coco, tmp_path):
    path, images, entries = coco
    with pytest.raises(FileNotFoundError, match="split file not found"):
        load_coco_karpathy(tmp_path / "nope.json", images)
    with pytest.raises(FileNotFoundError, match="images directory not found"):
        load_coco_karpathy(path, tmp_path / "nowhere")
    with pytest.raises(ValueError, match="restval"):
        load_coco_karpathy(path, images, restval="drop")
    (images / "val2014" / entries[2]["filename"]).unlink()
    with pytest.raises(FileNotFoundError, match=r"1 of 5 COCO images are missing, first .*000000000042\.jpg"):
        load_coco_karpathy(path, images)
    assert len(load_coco_karpathy(path, images, check_images=False)["validation"]) == 1

    def write(content):
        bad = tmp_path / "bad.json"
        bad.write_text(content if isinstance(content, str) else json.dumps(content))
        return bad

    with pytest.raises(ValueError, match="not valid JSON"):
        load_coco_karpathy(write("{"), images)
    with pytest.raises(ValueError, match="'images' list"):
        load_coco_karpathy(write({"annotations": []}), images)
    no_cocoid = dict(entries[0]); del no_cocoid["cocoid"]
    with pytest.raises(ValueError, match=r"images\[0\].*lacks \['cocoid'\]"):
        load_coco_karpathy(write({"images": [no_cocoid]}), images)
    with pytest.raises(ValueError, match="split 'dev'"):
        load_coco_karpathy(write({"images": [dict(entries[0], split="dev")]}), images)
    with pytest.raises(ValueError, match="no sentences"):
        load_coco_karpathy(write({"images": [dict(entries[0], sentences=[])]}), images)
    with pytest.raises(ValueError, match="without a 'raw'"):
        load_coco_karpathy(write({"images": [dict(entries[0], sentences=[{"tokens": ["a"]}])]}), images)
    with pytest.raises(ValueError, match="'flickr8k' file.*use load_flickr"):
        load_coco_karpathy(write({"dataset": "flickr8k", "images": [entries[0]]}), images)


@pytest.mark.parametrize("name", ["flickr8k", "flickr30k"])
def test_load_flickr(tmp_path, name):
    images = tmp_path / "images"
    splits = ["train", "train", "val", "test"]
    entries = []
    for imgid, split in enumerate(splits):
        filename = f"{1000 + imgid}_abc.jpg"
        _png(images / filename, (0, 50 * imgid, 0))
        entries.append({"filename": filename, "imgid": imgid, "split": split, "sentids": [imgid],
                        "sentences": [_sentence(f"A dog runs {imgid}", imgid, imgid)]})
    path = tmp_path / f"dataset_{name}.json"
    path.write_text(json.dumps({"dataset": name, "images": entries}))
    data = load_flickr(path, images)
    assert {split: len(data[split]) for split in data} == {"train": 2, "validation": 1, "test": 1}
    row = data["test"][0]
    assert row["image_id"] == 3 and row["filename"] == "1003_abc.jpg"
    assert row["captions"] == ["A dog runs 3"] and row["caption_tokens"] == [["a", "dog", "runs", "3"]]
    assert row["image"].getpixel((0, 0)) == (0, 150, 0)

    (images / "1002_abc.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="1 of 4 Flickr images are missing"):
        load_flickr(path, images)
    path.write_text(json.dumps({"dataset": "coco", "images": entries}))
    with pytest.raises(ValueError, match="'coco' file.*use load_coco_karpathy"):
        load_flickr(path, images)
