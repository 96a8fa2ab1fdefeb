"""Tests of the bottom-up region-feature loaders (hf_mmattn.data.region_features): the extractor's
TSV, OpenVQA / mcan-vqa .npz files and .npy files, written here in tmp_path exactly as those
tools write them; boxes normalised by the image size; batches padded with masks and boxes; a
VQA v2 split loaded end to end from the fixture JSON with features in every naming scheme."""

import base64
import csv
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_mmattn.data import (
    RegionFeatures,
    convert_feature_tsv_to_npz,
    index_feature_tsv,
    load_image_features,
    load_region_features,
    load_vqa_v2,
    pad_region_features,
    read_feature_tsv_row,
)
from hf_mmattn.data.batching import EncodedQuestions, ImageStore, VQACollator
from hf_mmattn.data.region_features import TSV_FIELDNAMES

VQA_V2 = Path(__file__).parent / "fixtures" / "vqa_v2"
QUESTIONS = VQA_V2 / "v2_OpenEnded_mscoco_val2014_questions.json"
ANNOTATIONS = VQA_V2 / "v2_mscoco_val2014_annotations.json"
IMAGE_IDS = (42, 73, 139)  # the images of the fixture's questions
WIDTH, HEIGHT = 640.0, 480.0
D = 6


def make_regions(image_id: int, num_boxes: int, size: int = D) -> tuple[np.ndarray, np.ndarray]:
    """Features (num_boxes, size) and pixel boxes (num_boxes, 4) that differ per image."""
    rng = np.random.default_rng(image_id)
    features = rng.normal(size=(num_boxes, size)).astype(np.float32)
    x1 = rng.uniform(0, WIDTH / 2, num_boxes)
    y1 = rng.uniform(0, HEIGHT / 2, num_boxes)
    boxes = np.stack([x1, y1, x1 + WIDTH / 4, y1 + HEIGHT / 4], axis=1).astype(np.float32)
    return features, boxes


def write_tsv(path: Path, images: dict[int, tuple[np.ndarray, np.ndarray]], width=WIDTH, height=HEIGHT) -> None:
    """As bottom-up-attention's tools/generate_tsv.py writes it: csv.DictWriter with tab
    delimiters (so \\r\\n line ends), base64 of the float32 arrays, image_w before image_h."""
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, delimiter="\t", fieldnames=TSV_FIELDNAMES)
        for image_id, (features, boxes) in images.items():
            writer.writerow({
                "image_id": image_id, "image_h": int(height), "image_w": int(width), "num_boxes": len(boxes),
                "boxes": base64.b64encode(boxes.astype(np.float32).tobytes()).decode("ascii"),
                "features": base64.b64encode(features.astype(np.float32).tobytes()).decode("ascii"),
            })


def normalised(boxes: np.ndarray) -> np.ndarray:
    return boxes / np.array([WIDTH, HEIGHT, WIDTH, HEIGHT], dtype=np.float32)


# --- TSV ------------------------------------------------------------------------------------

@pytest.fixture
def tsv(tmp_path):
    images = {42: make_regions(42, 3), 73: make_regions(73, 5), 139: make_regions(139, 2)}
    path = tmp_path / "trainval_resnet101_faster_rcnn_genome_36.tsv"
    write_tsv(path, images)
    return path, images


def test_tsv_index_and_rows_round_trip_exactly(tsv):
    path, images = tsv
    raw = path.read_bytes()
    assert raw.count(b"\r\n") == 3  # the DictWriter line ends
    offsets = index_feature_tsv(path)
    assert list(offsets) == [42, 73, 139] and offsets[42] == 0
    assert [raw[offset:].split(b"\t", 1)[0] for offset in offsets.values()] == [b"42", b"73", b"139"]
    for image_id, (features, boxes) in images.items():
        regions = read_feature_tsv_row(path, offsets[image_id], image_id=image_id)
        np.testing.assert_array_equal(regions.features, features)
        np.testing.assert_array_equal(regions.boxes, normalised(boxes))
        assert regions.features.dtype == regions.boxes.dtype == np.float32
        assert regions.mask.tolist() == [1] * len(boxes) and regions.num_regions == len(boxes)
        by_id = load_region_features(path, image_id=image_id)  # indexes the file itself
        np.testing.assert_array_equal(by_id.features, features)


def test_tsv_boxes_are_divided_by_width_and_height(tmp_path):
    features = np.ones((2, 3), np.float32)
    boxes = np.array([[64, 48, 320, 240], [0, 0, 640, 480]], np.float32)
    write_tsv(tmp_path / "f.tsv", {7: (features, boxes)})
    regions = load_region_features(tmp_path / "f.tsv", offset=0)
    np.testing.assert_allclose(regions.boxes, [[0.1, 0.1, 0.5, 0.5], [0.0, 0.0, 1.0, 1.0]], rtol=0, atol=1e-7)


def test_tsv_fields_longer_than_the_csv_limit(tmp_path):
    # 36 regions of 1,024 floats: a 196,608-character features field, over csv's default
    # field_size_limit (131,072) that made ban-vqa raise it to sys.maxsize.
    features, boxes = make_regions(5, 36, size=1024)
    path = tmp_path / "big.tsv.0"  # the numbered parts of split releases are TSVs too
    write_tsv(path, {5: (features, boxes), 6: make_regions(6, 10)})
    assert len(path.read_bytes().split(b"\t")[5]) > csv.field_size_limit()
    regions = load_region_features(path, image_id=5)
    np.testing.assert_array_equal(regions.features, features)
    assert load_region_features(path, image_id=6).features.shape == (10, D)


def test_tsv_written_by_python3_bytes_repr_is_read(tmp_path):
    features, boxes = make_regions(3, 2)
    line = "\t".join([
        "3", "640", "480", "2", str(base64.b64encode(boxes.tobytes())), str(base64.b64encode(features.tobytes())),
    ])
    (tmp_path / "py3.tsv").write_text(line + "\r\n")
    np.testing.assert_array_equal(load_region_features(tmp_path / "py3.tsv", image_id=3).features, features)


def test_tsv_errors_name_the_problem(tsv, tmp_path):
    path, images = tsv
    raw = path.read_bytes()
    lines = raw.split(b"\r\n")[:-1]

    truncated = tmp_path / "truncated.tsv"
    truncated.write_bytes(raw[:-10])
    with pytest.raises(ValueError, match=r"line 3 \(image 139, byte \d+\) is truncated"):
        index_feature_tsv(truncated)

    missing_field = tmp_path / "fields.tsv"
    missing_field.write_bytes(lines[0] + b"\r\n" + lines[1].rsplit(b"\t", 1)[0] + b"\r\n")
    with pytest.raises(ValueError, match=r"line 2 \(image 73\) has 5 tab-separated fields; expected 6"):
        index_feature_tsv(missing_field)

    fields = lines[0].split(b"\t")
    wrong_count = tmp_path / "count.tsv"
    wrong_count.write_bytes(b"\t".join(fields[:3] + [b"4"] + fields[4:]) + b"\r\n")
    with pytest.raises(ValueError, match="image 42: num_boxes = 4 but the boxes field holds 3 boxes"):
        load_region_features(wrong_count, image_id=42)

    corrupted = tmp_path / "corrupted.tsv"
    corrupted.write_bytes(b"\t".join(fields[:5] + [b"!!" + fields[5][2:]]) + b"\r\n")
    with pytest.raises(ValueError, match="the features field is not valid base64"):
        load_region_features(corrupted, offset=0)

    short = tmp_path / "short.tsv"
    short.write_bytes(b"\t".join(fields[:5] + [base64.b64encode(np.zeros(5, np.float32).tobytes())]) + b"\r\n")
    with pytest.raises(ValueError, match="holds 5 floats, not num_boxes = 3 rows"):
        load_region_features(short, offset=0)

    not_an_id = tmp_path / "header.tsv"
    not_an_id.write_bytes(b"\t".join(f.encode() for f in TSV_FIELDNAMES) + b"\r\n")
    with pytest.raises(ValueError, match="not an image id"):
        index_feature_tsv(not_an_id)

    with pytest.raises(KeyError, match="image 999 is not in the feature TSV"):
        load_region_features(path, image_id=999)
    with pytest.raises(ValueError, match="the line is about image 42, not 73"):
        read_feature_tsv_row(path, 0, image_id=73)
    with pytest.raises(ValueError, match="tab-separated fields"):
        read_feature_tsv_row(path, 5)  # not the start of a line
    with pytest.raises(ValueError, match="pass offset= or image_id="):
        load_region_features(path)
    with pytest.raises(FileNotFoundError, match="feature TSV not found"):
        index_feature_tsv(tmp_path / "nowhere.tsv")


def test_tsv_duplicate_image_keeps_the_first_line(tmp_path):
    first, second = make_regions(1, 2), make_regions(2, 3)
    path = tmp_path / "dup.tsv"
    write_tsv(path, {1: first})
    with open(path, "a", newline="") as file:
        csv.DictWriter(file, delimiter="\t", fieldnames=TSV_FIELDNAMES).writerow({
            "image_id": 1, "image_w": 640, "image_h": 480, "num_boxes": 3,
            "boxes": base64.b64encode(second[1].tobytes()).decode(),
            "features": base64.b64encode(second[0].tobytes()).decode(),
        })
    with pytest.warns(UserWarning, match=r"1 image ids appear on more than one line \(e.g. \[1\]\)"):
        offsets = index_feature_tsv(path)
    assert offsets == {1: 0}


def test_convert_tsv_to_openvqa_npz(tsv, tmp_path):
    path, images = tsv
    written = convert_feature_tsv_to_npz(path, tmp_path / "feats", "COCO_val2014_{image_id:012d}.jpg.npz")
    assert [p.name for p in written] == [f"COCO_val2014_{i:012d}.jpg.npz" for i in (42, 73, 139)]
    with np.load(written[1]) as archive:
        assert sorted(archive.files) == ["bbox", "image_h", "image_w", "num_bbox", "x"]
        np.testing.assert_array_equal(archive["bbox"], images[73][1])  # pixels, as OpenVQA stores them
        assert int(archive["num_bbox"]) == 5 and float(archive["image_w"]) == WIDTH
    for target, (image_id, (features, boxes)) in zip(written, images.items(), strict=True):
        regions = load_region_features(target)
        np.testing.assert_array_equal(regions.features, features)
        np.testing.assert_array_equal(regions.boxes, load_region_features(path, image_id=image_id).boxes)


# --- .npz and .npy ----------------------------------------------------------------------------

def test_npz_openvqa_layout_transposed_with_pixel_boxes(tmp_path):
    features, boxes = make_regions(9, 4)
    # OpenVQA's released features: x is (D, N), its loader transposes it.
    np.savez(tmp_path / "COCO_train2014_000000000009.jpg.npz", x=features.T, bbox=boxes, num_bbox=4,
             image_h=HEIGHT, image_w=WIDTH)
    regions = load_region_features(tmp_path / "COCO_train2014_000000000009.jpg.npz")
    np.testing.assert_array_equal(regions.features, features)
    np.testing.assert_array_equal(regions.boxes, normalised(boxes))
    assert regions.mask.tolist() == [1, 1, 1, 1]
    # bottom-up-attention.pytorch writes x as (N, D): the same result.
    np.savez(tmp_path / "rows.npz", x=features, bbox=boxes, num_bbox=4, image_h=480, image_w=640)
    np.testing.assert_array_equal(load_region_features(tmp_path / "rows.npz").features, features)
    # Hand-computed normalisation (OpenVQA's proc_bbox_feat with BBOX_NORMALIZE).
    np.savez(tmp_path / "hand.npz", x=np.ones((3, 1)), bbox=np.array([[32.0, 24.0, 640.0, 120.0]]), image_h=480, image_w=640)
    hand = load_region_features(tmp_path / "hand.npz")
    assert hand.features.shape == (1, 3)  # decided by the box count: x was (D, N)
    np.testing.assert_allclose(hand.boxes, [[0.05, 0.05, 1.0, 0.25]], rtol=0, atol=1e-7)


def test_npz_num_bbox_padding_gets_mask_zero(tmp_path):
    features, boxes = make_regions(11, 3, size=8)
    padded_features = np.concatenate([features, np.zeros((2, 8), np.float32)])
    padded_boxes = np.concatenate([boxes, np.zeros((2, 4), np.float32)])
    # Padded and transposed: neither axis of x (8, 5) is num_bbox = 3; the longer one is D.
    np.savez(tmp_path / "padded.npz", x=padded_features.T, bbox=padded_boxes, num_bbox=3, image_h=480, image_w=640)
    regions = load_region_features(tmp_path / "padded.npz")
    np.testing.assert_array_equal(regions.features, padded_features)
    assert regions.mask.tolist() == [1, 1, 1, 0, 0] and regions.num_regions == 3
    np.testing.assert_array_equal(regions.boxes[:3], normalised(boxes))
    # Boxes of the real regions only: padded with zero boxes.
    np.savez(tmp_path / "short_boxes.npz", x=padded_features, bbox=boxes, num_bbox=3, image_h=480, image_w=640)
    regions = load_region_features(tmp_path / "short_boxes.npz")
    assert regions.boxes.shape == (5, 4) and not regions.boxes[3:].any()
    # load_image_features (features and mask only) keeps working on the same files.
    features_only, mask = load_image_features(tmp_path / "padded.npz")
    np.testing.assert_array_equal(features_only, padded_features)
    assert mask.tolist() == [1, 1, 1, 0, 0]


def test_npz_plain_keys_and_npy(tmp_path):
    features, boxes = make_regions(12, 3)
    np.savez(tmp_path / "plain.npz", features=features, boxes=normalised(boxes))  # already normalised
    regions = load_region_features(tmp_path / "plain.npz")
    np.testing.assert_array_equal(regions.features, features)
    np.testing.assert_array_equal(regions.boxes, normalised(boxes))
    np.savez(tmp_path / "nobox.npz", features=features.astype(np.float64))
    regions = load_region_features(tmp_path / "nobox.npz")
    assert regions.boxes is None and regions.features.dtype == np.float32
    np.save(tmp_path / "12.npy", features)
    regions = load_region_features(tmp_path / "12.npy")
    np.testing.assert_array_equal(regions.features, features)
    assert regions.boxes is None and regions.mask.tolist() == [1, 1, 1]


def test_npz_errors(tmp_path):
    features, boxes = make_regions(13, 3)
    np.savez(tmp_path / "pixels.npz", features=features, boxes=boxes)
    with pytest.raises(ValueError, match="boxes are in pixels .* no 'image_w' and 'image_h'"):
        load_region_features(tmp_path / "pixels.npz")
    np.savez(tmp_path / "count.npz", x=features, bbox=boxes[:2], image_h=480, image_w=640, num_bbox=3)
    with pytest.raises(ValueError, match="2 boxes for 3 regions"):
        load_region_features(tmp_path / "count.npz")
    np.savez(tmp_path / "num.npz", x=features, num_bbox=7)
    with pytest.raises(ValueError, match="num_bbox = 7 but the file holds"):
        load_region_features(tmp_path / "num.npz")
    np.savez(tmp_path / "shape.npz", x=features, bbox=boxes[:, :2])
    with pytest.raises(ValueError, match=r"'bbox' must be \(N, 4\) boxes"):
        load_region_features(tmp_path / "shape.npz")
    np.savez(tmp_path / "size.npz", x=features, bbox=boxes, image_h=0, image_w=640)
    with pytest.raises(ValueError, match="must be positive"):
        load_region_features(tmp_path / "size.npz")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_region_features(tmp_path / "absent.npz")
    with pytest.raises(ValueError, match=".npy, .npz or .tsv"):
        load_region_features(tmp_path / "pixels.h5")


def test_boxes_outside_the_image_or_swapped_are_refused(tmp_path):
    """Boxes divided by a wrong image size (or never in pixels of this image) came out beyond
    [0, 1] and were passed on; the file is named here rather than a batch later in the model."""
    features, boxes = make_regions(13, 3)
    np.savez(tmp_path / "small.npz", x=features, bbox=boxes, image_w=WIDTH / 4, image_h=HEIGHT / 4)
    with pytest.raises(ValueError, match=r"small.npz: the boxes, divided by the image size, range over .* instead of \[0, 1\]"):
        load_region_features(tmp_path / "small.npz")
    np.savez(tmp_path / "swapped.npz", x=features, bbox=boxes[:, [2, 3, 0, 1]], image_w=WIDTH, image_h=HEIGHT)
    with pytest.raises(ValueError, match="swapped.npz: some box has x2 < x1 or y2 < y1"):
        load_region_features(tmp_path / "swapped.npz")
    # Padding rows past num_bbox are not boxes: left as they are.
    padded = np.concatenate([boxes, np.full((2, 4), -1, np.float32)])
    np.savez(tmp_path / "padded.npz", x=np.concatenate([features, np.zeros((2, D), np.float32)]), bbox=padded,
             image_w=WIDTH, image_h=HEIGHT, num_bbox=3)
    assert load_region_features(tmp_path / "padded.npz").mask.tolist() == [1, 1, 1, 0, 0]
    write_tsv(tmp_path / "small.tsv", {7: (features, boxes)}, width=WIDTH / 4, height=HEIGHT / 4)
    with pytest.raises(ValueError, match=r"small.tsv, image 7: the boxes, divided by the image size, range over"):
        load_region_features(tmp_path / "small.tsv", image_id=7)


def test_unreadable_feature_files_are_named(tmp_path):
    features, boxes = make_regions(13, 3)
    np.save(tmp_path / "ok.npy", features)
    np.savez(tmp_path / "ok.npz", features=features)
    for name in ("ok.npy", "ok.npz"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut{name[2:]}").write_bytes(data[: len(data) - 40])
        with pytest.raises(ValueError, match=rf"cut{name[2:]}: not a readable {name[2:]} file of region features"):
            load_region_features(tmp_path / f"cut{name[2:]}")
    np.save(tmp_path / "pickled.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"pickled.npy: not a readable .npy file .*allow_pickle"):
        load_region_features(tmp_path / "pickled.npy")
    np.save(tmp_path / "words.npy", np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="words.npy: the region features are <U1, not numbers"):
        load_region_features(tmp_path / "words.npy")
    (tmp_path / "folder.npy").mkdir()
    with pytest.raises(FileNotFoundError, match="not found"):
        load_region_features(tmp_path / "folder.npy")


# --- batches ----------------------------------------------------------------------------------

def regions_of(num: int, padding: int = 0, boxes: bool = True, size: int = 2) -> RegionFeatures:
    features = np.arange(1, (num + padding) * size + 1, dtype=np.float32).reshape(num + padding, size)
    features[num:] = 0
    mask = np.array([1] * num + [0] * padding)
    box_array = np.full((num + padding, 4), 0.5, np.float32) if boxes else None
    return RegionFeatures(features, box_array, mask)


def test_pad_region_features_to_the_batch_largest_count():
    batch = pad_region_features([regions_of(2), regions_of(3, padding=4)])
    assert batch["image_features"].shape == (2, 3, 2)  # file padding rows are trimmed too
    torch.testing.assert_close(batch["image_features"][0], torch.tensor([[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]]))
    assert batch["image_attention_mask"].tolist() == [[1, 1, 0], [1, 1, 1]]
    assert batch["image_boxes"].tolist() == [[[0.5] * 4] * 2 + [[0.0] * 4], [[0.5] * 4] * 3]
    assert "image_boxes" not in pad_region_features([regions_of(2, boxes=False)])


def test_pad_region_features_to_a_fixed_count_truncates_with_a_warning():
    batch = pad_region_features([regions_of(2)], max_regions=4)
    assert batch["image_attention_mask"].tolist() == [[1, 1, 0, 0]] and batch["image_boxes"].shape == (1, 4, 4)
    with pytest.warns(UserWarning, match="1 of 2 images have more than max_regions = 3 regions"):
        batch = pad_region_features([regions_of(5), regions_of(1)], max_regions=3)
    torch.testing.assert_close(batch["image_features"][0], torch.arange(1.0, 7.0).reshape(3, 2))
    assert batch["image_attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_pad_region_features_errors():
    with pytest.raises(ValueError, match="without boxes"):
        pad_region_features([regions_of(2), regions_of(2, boxes=False)])
    with pytest.raises(ValueError, match=r"different sizes \[2, 3\]"):
        pad_region_features([regions_of(2), regions_of(2, size=3)])
    with pytest.raises(ValueError, match="max_regions"):
        pad_region_features([regions_of(2)], max_regions=0)


# --- VQA v2 end to end ------------------------------------------------------------------------

NUM_BOXES = {42: 3, 73: 5, 139: 2}
REGIONS = {image_id: make_regions(image_id, n) for image_id, n in NUM_BOXES.items()}


def save_openvqa_npz(path: Path, image_id: int) -> None:
    features, boxes = REGIONS[image_id]
    np.savez(path, x=features.T, bbox=boxes, num_bbox=len(boxes), image_h=HEIGHT, image_w=WIDTH)


@pytest.mark.parametrize(
    "scheme", ["{image_id}.npz", "COCO_val2014_{image_id:012d}.jpg.npz", "val2014/COCO_val2014_{image_id:012d}.jpg.npz"]
)
def test_vqa_v2_finds_feature_files_in_every_naming_scheme(tmp_path, scheme):
    for image_id in IMAGE_IDS:
        target = tmp_path / "feats" / scheme.format(image_id=image_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        save_openvqa_npz(target, image_id)
    dataset = load_vqa_v2(QUESTIONS, ANNOTATIONS, features_dir=tmp_path / "feats")
    expected = [str(tmp_path / "feats" / scheme.format(image_id=i)) for i in dataset["image_id"]]
    assert dataset["image_features_path"] == expected
    regions = load_region_features(dataset["image_features_path"][2])
    np.testing.assert_array_equal(regions.features, REGIONS[73][0])


def test_vqa_v2_missing_feature_file_lists_what_was_looked_for(tmp_path):
    shutil.copytree(VQA_V2 / "features", tmp_path / "feats")
    (tmp_path / "feats" / "139.npy").unlink()
    looked_for = (r"images are missing \(image ids \[139\]\): for image 139 looked for 139\.npz, "
                  r"COCO_val2014_000000000139\.jpg\.npz, COCO_val2014_000000000139\.npz, 139\.npy in .*feats")
    with pytest.raises(FileNotFoundError, match=looked_for):
        load_vqa_v2(QUESTIONS, features_dir=tmp_path / "feats")


def test_vqa_v2_feature_tsv_errors(tsv, tmp_path):
    path, _ = tsv
    with pytest.raises(ValueError, match="not both"):
        load_vqa_v2(QUESTIONS, features_dir=VQA_V2 / "features", features_tsv=path)
    write_tsv(tmp_path / "part.tsv", {42: make_regions(42, 2)})
    with pytest.raises(FileNotFoundError, match=r"2 of 3 images are not in the feature TSV.*image ids \[73, 139\]"):
        load_vqa_v2(QUESTIONS, features_tsv=tmp_path / "part.tsv")


@pytest.fixture
def tsv_split(tmp_path):
    # A release split in two parts, as some bottom-up-attention TSVs are.
    write_tsv(tmp_path / "feats.tsv.0", {42: REGIONS[42], 73: REGIONS[73]})
    write_tsv(tmp_path / "feats.tsv.1", {139: REGIONS[139]})
    return load_vqa_v2(QUESTIONS, ANNOTATIONS, features_tsv=[tmp_path / "feats.tsv.0", tmp_path / "feats.tsv.1"])


class WordTokenizer:
    """Enough of a tokenizer for EncodedQuestions: one id per word, 0 padding."""

    def __call__(self, questions, **kwargs):
        words = [question.lower().split() for question in questions]
        length = max(map(len, words))
        ids = torch.tensor([[hash(w) % 97 + 1 for w in ws] + [0] * (length - len(ws)) for ws in words])
        return {"input_ids": ids, "attention_mask": (ids != 0).long()}


@pytest.mark.parametrize("cache", [True, False])
def test_vqa_v2_from_tsv_batched_with_boxes(tsv_split, cache):
    dataset = tsv_split
    assert dataset.column_names[-2:] == ["image_features_path", "image_features_offset"]
    assert [Path(p).name for p in dataset["image_features_path"]] == ["feats.tsv.0"] * 4 + ["feats.tsv.1"]
    assert dataset["image_features_offset"][4] == 0

    label2id = {"2": 0, "dog": 1, "yes": 2}
    images = ImageStore(dataset, cache=cache)
    questions = EncodedQuestions(dataset, WordTokenizer(), label2id, images.question_rows)
    collate = VQACollator(questions, images)

    batch = collate([0, 1, 4])  # two questions about image 42 (3 regions), one about 139 (2)
    assert batch["image_index"].tolist() == [0, 0, 1]
    assert batch["image_features"].shape == (2, 3, D)  # the batch's largest count, not 73's 5
    torch.testing.assert_close(batch["image_features"][0], torch.from_numpy(REGIONS[42][0]))
    torch.testing.assert_close(batch["image_features"][1, :2], torch.from_numpy(REGIONS[139][0]))
    assert not batch["image_features"][1, 2].any()
    assert batch["image_attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    torch.testing.assert_close(batch["image_boxes"][0], torch.from_numpy(normalised(REGIONS[42][1])))
    assert batch["image_boxes"].min() >= 0 and batch["image_boxes"].max() <= 1
    torch.testing.assert_close(batch["labels"][0], torch.tensor([1.0, 0.0, 0.0]))  # "2" x8 of 10

    batch = collate([2, 4])  # 73 (5 regions) and 139
    assert batch["image_features"].shape == (2, 5, D)
    assert batch["image_attention_mask"].sum(dim=1).tolist() == [5, 2]

    with pytest.warns(UserWarning, match="more than max_regions = 4 regions"):  # when cached or batched
        fixed = VQACollator(questions, ImageStore(dataset, cache=cache, max_regions=4))
        batch = fixed([2, 4])
    assert batch["image_features"].shape == (2, 4, D) and batch["image_boxes"].shape == (2, 4, 4)
    torch.testing.assert_close(batch["image_features"][0], torch.from_numpy(REGIONS[73][0][:4]))
    assert fixed([0])["image_attention_mask"].tolist() == [[1, 1, 1, 0]]


# --- run_vqa.py --------------------------------------------------------------------------------

def load_run_vqa():
    script = Path(__file__).resolve().parents[1] / "examples" / "vqa" / "run_vqa.py"
    spec = importlib.util.spec_from_file_location("run_vqa_for_region_tests", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_vqa_features_tsv_arguments(tmp_path):
    write_tsv(tmp_path / "f.tsv", REGIONS)
    run_vqa = load_run_vqa()
    common = ["--model_type", "mlb", "--dataset", "vqa_v2", "--output_dir", str(tmp_path / "out"),
              "--train_questions", str(QUESTIONS), "--train_annotations", str(ANNOTATIONS),
              "--eval_questions", str(QUESTIONS), "--eval_annotations", str(ANNOTATIONS)]
    args = run_vqa.parse_args(common + ["--features_tsv", str(tmp_path / "f.tsv"), "--max_regions", "36",
                                        "--min_answer_count", "1"])
    assert args.image_encoder == "features" and args.max_regions == 36
    train, evaluation, answers = run_vqa.load_splits(args)
    assert evaluation["image_features_path"] == train["image_features_path"] == [str(tmp_path / "f.tsv")] * 5
    assert "2" in answers
    with pytest.raises(SystemExit):
        run_vqa.parse_args(common + ["--features_tsv", "a.tsv", "--features_dir", "feats"])
