"""Bottom-up region features: reading them from every common file format, and padding them into
batches.

The bottom-up attention VQA models (Anderson et al., CVPR 2018), BAN (Kim et al., NeurIPS 2018)
and MCAN (Yu et al., CVPR 2019) are trained on the Faster R-CNN region features of
https://github.com/peteanderson80/bottom-up-attention: per image, ``N`` regions (10 to 100, or a
fixed 36) of ``D = 2048`` features and their boxes ``(x1, y1, x2, y2)`` in pixels. They come as

- the extractor's TSV (``tools/generate_tsv.py``): one image per line, six tab-separated fields
  ``image_id, image_w, image_h, num_boxes, boxes, features``, the two arrays as base64 of
  float32 ``(num_boxes, 4)`` and ``(num_boxes, D)`` (written by ``csv.DictWriter``, so lines end in
  ``\\r\\n``; ban-vqa's ``tools/detection_features_converter.py`` reads it). A line holds about
  400 kB, so :func:`index_feature_tsv` finds each image's byte offset in one pass without decoding
  anything, and :func:`read_feature_tsv_row` decodes one image from its offset;
- one ``.npz`` per image in the OpenVQA / mcan-vqa layout (``x`` as ``(D, N)`` or ``(N, D)``,
  ``bbox`` ``(N, 4)`` in pixels, ``num_bbox``, ``image_h``, ``image_w``), or with plain
  ``features`` / ``boxes`` keys;
- one ``.npy`` per image holding the ``(N, D)`` features alone (no boxes).

:func:`load_region_features` reads any of them into :class:`RegionFeatures`, with the boxes
normalised to ``[0, 1]`` by the image's width and height (OpenVQA's ``proc_bbox_feat`` with
``BBOX_NORMALIZE``); :func:`pad_region_features` zero-pads a list of them into a batch.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..modeling_base import BOX_TOLERANCE

# The fields of a bottom-up-attention TSV line, in the order generate_tsv.py writes them.
TSV_FIELDNAMES = ("image_id", "image_w", "image_h", "num_boxes", "boxes", "features")

# ``name.tsv`` or the numbered parts some releases are split into (``name.tsv.0``, ``name.tsv.1``).
_TSV_NAME = re.compile(r"\.tsv(\.\d+)?$")


@dataclass
class RegionFeatures:
    """The region features of one image.

    ``features``: ``(N, D)`` float32. ``boxes``: ``(N, 4)`` float32 ``(x1, y1, x2, y2)`` divided
    by the image's width and height, so in ``[0, 1]``; None when the source has no boxes.
    ``mask``: ``(N,)`` int64, 1 for a region and 0 for a row of zero padding stored in the file
    (the rows past ``num_bbox`` of a padded ``.npz``).
    """

    features: np.ndarray
    boxes: np.ndarray | None
    mask: np.ndarray

    @property
    def num_regions(self) -> int:
        """Rows up to the last real region: the trailing padding rows of a file do not count."""
        valid = np.flatnonzero(self.mask)
        return int(valid[-1]) + 1 if len(valid) else 0


def is_feature_tsv(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named like a bottom-up-attention TSV (``*.tsv`` or ``*.tsv.<n>``)."""
    return _TSV_NAME.search(os.fspath(path)) is not None


def load_region_features(
    path: str | os.PathLike, *, offset: int | None = None, image_id: int | None = None
) -> RegionFeatures:
    """Region features of one image from a ``.npy``, a ``.npz`` or a bottom-up-attention TSV.

    For a TSV, give the line's byte ``offset`` (from :func:`index_feature_tsv`) or the
    ``image_id`` (the file is then indexed once per process); with both, the line read must be
    about ``image_id``. See the module docstring for the formats; errors name the file and what
    is wrong with it.
    """
    path = os.fspath(path)
    if is_feature_tsv(path):
        if offset is None:
            if image_id is None:
                raise ValueError(f"{path} is a feature TSV holding many images: pass offset= or image_id=")
            offsets = _cached_tsv_index(path)
            if image_id not in offsets:
                raise KeyError(f"image {image_id} is not in the feature TSV {path} ({len(offsets)} images)")
            offset = offsets[image_id]
        return read_feature_tsv_row(path, offset, image_id=image_id)
    if not path.endswith((".npy", ".npz")):
        raise ValueError(f"region features must be a .npy, .npz or .tsv file, got {path}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"region features file not found: {path}")
    if path.endswith(".npy"):
        features = _load_numpy(path)
        _check_features(features, path)
        return RegionFeatures(np.ascontiguousarray(features, dtype=np.float32), None,
                              np.ones(features.shape[0], dtype=np.int64))
    return _read_npz(_load_numpy(path), path)


def _load_numpy(path: str) -> np.ndarray | dict:
    """The array of a ``.npy`` or the arrays of a ``.npz``; a truncated, corrupt or pickled file
    (refused: loading pickles runs code) raises ``ValueError`` naming the file."""
    try:
        if path.endswith(".npy"):
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as archive:
            return dict(archive.items())
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a readable {Path(path).suffix} file of region features ({error})") from None


def _check_features(features: np.ndarray, path: str) -> None:
    if features.ndim != 2:
        raise ValueError(f"{path}: expected an (N, D) array of region features, got shape {features.shape}")
    if features.dtype == bool or not (np.issubdtype(features.dtype, np.floating) or np.issubdtype(features.dtype, np.integer)):
        raise ValueError(f"{path}: the region features are {features.dtype}, not numbers")


def _first_key(archive: dict, keys: tuple[str, ...]) -> str | None:
    return next((key for key in keys if key in archive), None)


def _read_npz(archive: dict, path: str) -> RegionFeatures:
    feature_key = _first_key(archive, ("x", "features"))
    if feature_key is None:
        raise ValueError(f"{path} holds {sorted(archive)}; expected the features under 'x' or 'features'")
    features = archive[feature_key]
    _check_features(features, path)
    box_key = _first_key(archive, ("bbox", "boxes"))
    boxes = archive[box_key] if box_key is not None else None
    if boxes is not None and (boxes.ndim != 2 or boxes.shape[1] != 4):
        raise ValueError(f"{path}: '{box_key}' must be (N, 4) boxes (x1, y1, x2, y2), got shape {boxes.shape}")
    count_key = _first_key(archive, ("num_bbox", "num_boxes"))
    num_regions = int(archive[count_key]) if count_key is not None else None

    features = _regions_first(features, boxes, num_regions)
    rows = features.shape[0]
    if num_regions is not None and not 0 <= num_regions <= rows:
        raise ValueError(f"{path}: {count_key} = {num_regions} but the file holds {rows} regions of features")
    mask = np.ones(rows, dtype=np.int64)
    if num_regions is not None:
        mask[num_regions:] = 0

    if boxes is not None:
        if boxes.shape[0] == num_regions and rows > num_regions:  # boxes of the real regions only
            boxes = np.concatenate([boxes, np.zeros((rows - num_regions, 4), dtype=boxes.dtype)])
        if boxes.shape[0] != rows:
            raise ValueError(f"{path}: {boxes.shape[0]} boxes for {rows} regions of features")
        boxes = _normalise_boxes(boxes, archive, mask, path)
    return RegionFeatures(np.ascontiguousarray(features, dtype=np.float32), boxes, mask)


def _regions_first(features: np.ndarray, boxes: np.ndarray | None, num_regions: int | None) -> np.ndarray:
    """The features as ``(N, D)``. OpenVQA's released ``x`` is ``(D, N)`` (its loader transposes
    it); bottom-up-attention.pytorch writes ``(N, D)``. The axis whose length is the boxes' row
    count, else ``num_bbox``, holds the regions. When that does not decide (neither axis has that
    length because the regions are zero-padded, or both have it), the longer axis is taken as the
    features (D = 2048 against at most 100 regions in every released set); without boxes or
    ``num_bbox`` the array is taken as ``(N, D)``."""
    rows, columns = features.shape
    regions = boxes.shape[0] if boxes is not None else num_regions
    if regions is None:
        return features
    if rows == regions and columns != regions:
        return features
    if columns == regions and rows != regions:
        return features.T
    return features.T if rows > columns else features


def _normalise_boxes(boxes: np.ndarray, archive: dict, mask: np.ndarray, path: str) -> np.ndarray:
    boxes = boxes.astype(np.float32)
    if "image_w" in archive and "image_h" in archive:
        width, height = float(archive["image_w"]), float(archive["image_h"])
        if width <= 0 or height <= 0:
            raise ValueError(f"{path}: image_w = {width} and image_h = {height} must be positive")
        return _check_normalised_boxes(boxes / np.array([width, height, width, height], dtype=np.float32), mask, path)
    real = boxes[mask.astype(bool)]
    if real.size and (real.min() < 0 or real.max() > 1):
        raise ValueError(
            f"{path}: the boxes are in pixels (values up to {real.max():g}) but the file has no 'image_w' and "
            "'image_h' to normalise them by; store them, or store boxes already divided by the image size"
        )
    return _check_normalised_boxes(boxes, mask, path)  # already normalised


def _check_normalised_boxes(boxes: np.ndarray, mask: np.ndarray, where: str) -> np.ndarray:
    """``boxes`` if every real region's box is ``(x1, y1, x2, y2)`` inside the image (within
    ``BOX_TOLERANCE`` of [0, 1], as the models require) with ``x2 >= x1`` and ``y2 >= y1``."""
    real = boxes[mask.astype(bool)]
    if not real.size:
        return boxes
    if not np.isfinite(real).all() or real.min() < -BOX_TOLERANCE or real.max() > 1 + BOX_TOLERANCE:
        raise ValueError(
            f"{where}: the boxes, divided by the image size, range over [{real.min():.4g}, {real.max():.4g}] instead of "
            "[0, 1]: they reach outside the image (are image_w / image_h the size the boxes were detected on?)"
        )
    if ((real[:, 2] < real[:, 0] - BOX_TOLERANCE) | (real[:, 3] < real[:, 1] - BOX_TOLERANCE)).any():
        raise ValueError(f"{where}: some box has x2 < x1 or y2 < y1; boxes must be (x1, y1, x2, y2)")
    return boxes


# --- the bottom-up-attention TSV -----------------------------------------------------------

def index_feature_tsv(path: str | os.PathLike) -> dict[int, int]:
    """``{image_id: byte offset of its line}`` of a bottom-up-attention TSV, in one pass.

    Nothing is decoded: each line is only checked to hold the six fields and to end in a newline
    (a cut-off download ends in a truncated line, reported with its image id). Lines are read as
    bytes, so the ``csv`` module's field size limit (131,072 characters, a tenth of one features
    field) does not apply. An image id seen twice keeps its first line, with a warning. The index
    of an unchanged file is computed once per process.
    """
    return dict(_cached_tsv_index(path))


def _cached_tsv_index(path: str | os.PathLike) -> dict[int, int]:
    path = os.path.realpath(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"feature TSV not found: {path}")
    stat = os.stat(path)
    return _index_feature_tsv(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _index_feature_tsv(path: str, size: int, mtime_ns: int) -> dict[int, int]:
    del size, mtime_ns  # part of the cache key only: a rewritten file is indexed again
    offsets: dict[int, int] = {}
    duplicates = []
    offset = 0
    with open(path, "rb") as file:
        for line_number, line in enumerate(iter(file.readline, b""), start=1):
            if line.strip():
                image_id = _parse_image_id(line, path, line_number)
                if not line.endswith(b"\n"):
                    raise ValueError(
                        f"{path}: line {line_number} (image {image_id}, byte {offset}) is truncated: the file "
                        "ends in the middle of it; the file is incomplete (download it again)"
                    )
                tabs = line.count(b"\t")
                if tabs != len(TSV_FIELDNAMES) - 1:
                    raise ValueError(
                        f"{path}: line {line_number} (image {image_id}) has {tabs + 1} tab-separated fields; "
                        f"expected {len(TSV_FIELDNAMES)}: {', '.join(TSV_FIELDNAMES)}"
                    )
                if image_id in offsets:
                    duplicates.append(image_id)
                else:
                    offsets[image_id] = offset
            offset += len(line)
    if duplicates:
        warnings.warn(
            f"{path}: {len(duplicates)} image ids appear on more than one line (e.g. {duplicates[:5]}); "
            "their first line is used",
            stacklevel=4,
        )
    return offsets


def _parse_image_id(line: bytes, path: str, line_number: int) -> int:
    field = line.split(b"\t", 1)[0]
    try:
        return int(field)
    except ValueError:
        raise ValueError(
            f"{path}: line {line_number} starts with {field[:40]!r}, not an image id; expected the "
            f"tab-separated fields {', '.join(TSV_FIELDNAMES)}"
        ) from None


def read_feature_tsv_row(path: str | os.PathLike, offset: int, image_id: int | None = None) -> RegionFeatures:
    """Decode the image on the line starting at byte ``offset`` of a bottom-up-attention TSV;
    with ``image_id``, check that the line is about that image."""
    row = _read_tsv_line(os.fspath(path), offset, image_id)
    width, height = row["image_w"], row["image_h"]
    boxes = row["boxes"] / np.array([width, height, width, height], dtype=np.float32)
    mask = np.ones(len(boxes), dtype=np.int64)
    _check_normalised_boxes(boxes, mask, f"{os.fspath(path)}, image {row['image_id']}")
    return RegionFeatures(row["features"], boxes, mask)


def _read_tsv_line(path: str, offset: int, image_id: int | None) -> dict:
    """The decoded fields of one TSV line, the boxes still in pixels."""
    with open(path, "rb") as file:
        file.seek(offset)
        line = file.readline()
    where = f"{path} at byte {offset}"
    if not line.strip():
        raise ValueError(f"{where}: no line there (the offset is past the end of the file or on a blank line)")
    if not line.endswith(b"\n"):
        raise ValueError(f"{where}: the line is truncated (the file ends in the middle of it)")
    fields = line.rstrip(b"\r\n").split(b"\t")
    if len(fields) != len(TSV_FIELDNAMES):
        raise ValueError(
            f"{where}: {len(fields)} tab-separated fields; expected {len(TSV_FIELDNAMES)}: "
            f"{', '.join(TSV_FIELDNAMES)} (is the offset the start of a line?)"
        )
    try:
        line_image_id, num_boxes = int(fields[0]), int(fields[3])
        width, height = float(fields[1]), float(fields[2])
    except ValueError:
        raise ValueError(
            f"{where}: image_id, image_w, image_h and num_boxes must be numbers, got {[f[:20] for f in fields[:4]]}"
        ) from None
    if image_id is not None and line_image_id != image_id:
        raise ValueError(f"{where}: the line is about image {line_image_id}, not {image_id}")
    where = f"{path}, image {line_image_id}"
    if num_boxes < 1:
        raise ValueError(f"{where}: num_boxes = {num_boxes}; expected at least one region")
    if width <= 0 or height <= 0:
        raise ValueError(f"{where}: image_w = {width:g} and image_h = {height:g} must be positive")
    boxes = _decode_array(fields[4], "boxes", where)
    features = _decode_array(fields[5], "features", where)
    if boxes.size != num_boxes * 4:
        raise ValueError(f"{where}: num_boxes = {num_boxes} but the boxes field holds {boxes.size / 4:g} boxes")
    if features.size == 0 or features.size % num_boxes:
        raise ValueError(
            f"{where}: the features field holds {features.size} floats, not num_boxes = {num_boxes} rows of features"
        )
    return {"image_id": line_image_id, "image_w": width, "image_h": height,
            "boxes": boxes.reshape(num_boxes, 4).copy(), "features": features.reshape(num_boxes, -1).copy()}


def _decode_array(field: bytes, name: str, where: str) -> np.ndarray:
    if field.startswith(b"b'") and field.endswith(b"'"):
        field = field[2:-1]  # written by generate_tsv.py under Python 3, as the repr of bytes
    try:
        raw = base64.b64decode(field, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"{where}: the {name} field is not valid base64 ({error})") from None
    if len(raw) % 4:
        raise ValueError(f"{where}: the {name} field decodes to {len(raw)} bytes, not a whole number of float32")
    return np.frombuffer(raw, dtype=np.float32)


def convert_feature_tsv_to_npz(
    tsv_path: str | os.PathLike, output_dir: str | os.PathLike, name_format: str = "{image_id}.npz"
) -> list[Path]:
    """Write each image of a bottom-up-attention TSV as its own ``.npz`` in the OpenVQA layout
    (``x`` ``(N, D)``, ``bbox`` ``(N, 4)`` in pixels, ``num_bbox``, ``image_h``, ``image_w``),
    named by ``name_format`` (e.g. ``"COCO_val2014_{image_id:012d}.jpg.npz"``). Returns the
    paths written."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for image_id, offset in index_feature_tsv(tsv_path).items():
        row = _read_tsv_line(os.fspath(tsv_path), offset, image_id)
        target = output_dir / name_format.format(image_id=image_id)
        np.savez(target, x=row["features"], bbox=row["boxes"], num_bbox=len(row["boxes"]),
                 image_h=row["image_h"], image_w=row["image_w"])
        written.append(target)
    return written


# --- batches -------------------------------------------------------------------------------

def pad_region_features(items: list[RegionFeatures], max_regions: int | None = None) -> dict[str, torch.Tensor]:
    """Zero-pad the region features of several images into one batch.

    Returns ``image_features`` ``(B, R, D)``, ``image_attention_mask`` ``(B, R)`` and, when the
    images have boxes, ``image_boxes`` ``(B, R, 4)``. ``R`` is the largest region count of the
    batch (ban-vqa trims each batch to it), or ``max_regions`` when given (OpenVQA pads to 100):
    images with more regions are then cut to their first ``max_regions``, with a warning.
    """
    if not items:
        raise ValueError("no images to batch")
    sizes = {item.features.shape[1] for item in items}
    if len(sizes) != 1:
        raise ValueError(f"the images' region features have different sizes {sorted(sizes)}; expected one size D")
    with_boxes = [item.boxes is not None for item in items]
    if any(with_boxes) and not all(with_boxes):
        raise ValueError(
            f"{with_boxes.count(False)} of {len(items)} images have region features without boxes; "
            "use one feature source for the whole dataset"
        )
    lengths = [item.num_regions for item in items]
    if max_regions is None:
        num_regions = max(lengths)
    else:
        if max_regions < 1:
            raise ValueError(f"max_regions must be None or >= 1, got {max_regions}")
        num_regions = max_regions
        cut = sum(length > max_regions for length in lengths)
        if cut:
            warnings.warn(
                f"{cut} of {len(items)} images have more than max_regions = {max_regions} regions "
                f"(up to {max(lengths)}); only their first {max_regions} are kept",
                stacklevel=2,
            )
    features = torch.zeros(len(items), num_regions, sizes.pop())
    mask = torch.zeros(len(items), num_regions, dtype=torch.long)
    boxes = torch.zeros(len(items), num_regions, 4) if all(with_boxes) else None
    for row, (item, length) in enumerate(zip(items, lengths)):
        kept = min(length, num_regions)
        features[row, :kept] = torch.from_numpy(np.ascontiguousarray(item.features[:kept], dtype=np.float32))
        mask[row, :kept] = torch.from_numpy(item.mask[:kept].astype(np.int64))
        if boxes is not None:
            boxes[row, :kept] = torch.from_numpy(np.ascontiguousarray(item.boxes[:kept], dtype=np.float32))
    batch = {"image_features": features, "image_attention_mask": mask}
    if boxes is not None:
        batch["image_boxes"] = boxes
    return batch
