"""Evaluation of text-to-image generation on the shapes-captions dataset (no Inception network needed).

The usual text-to-image metrics (Inception score, FID, AttnGAN's R-precision on DAMSM features) need
weights trained on natural images, which are not available offline and would say little about flat
coloured shapes on black. Since every shapes-captions caption states exactly what must be in its image
(which colour-shape pairs, and for some captions their grid cells and relations), a generated image is
judged instead by what a **scene classifier** sees in it:

1. :class:`SceneClassifier`, a small CNN run on the window around each of the 3x3 grid cells, is
   trained on real scenes (:func:`train_scene_classifier`) to predict, for each of the 8 colours,
   whether an object of that colour is there, which shape it is and in which grid cell its centre lies
   (each colour appears at most once per scene, so one slot per colour describes a scene completely).
   Training augments the real scenes with blur, pixel noise and mild colour jitter so that the
   classifier also reads the blurry, noisy images a GAN produces. :func:`evaluator_accuracy` validates
   it on held-out real scenes: it must recover real scenes almost perfectly (its caption consistency
   on real images near 1.0) before its verdict on generated images means anything. Trained on 5000
   scenes with the defaults, it reads all of 500 held-out real scenes exactly.
2. :func:`caption_consistency` predicts the scene of each generated image (:func:`predict_scenes`) and
   compares it with the caption the image was generated from (:func:`consistency_from_scenes`, plain
   logic, testable by hand): are the mentioned colours there, with the right shapes, in the stated
   cells, in the stated relations, with no extra objects, and is the caption true of the predicted
   scene as a whole (:func:`~hf_mmattn.data.shapes_captions.caption_is_true`)?
3. :func:`r_precision` is AttnGAN's R-precision (Xu et al., CVPR 2018) for any image and text
   embeddings: how often an image's own caption scores highest among it and 99 random other captions.
4. :func:`diversity` measures how different the images generated from one caption are (a collapsed
   generator draws the same image for every noise vector): the mean pairwise mean-absolute pixel
   difference between samples of the same caption.

Images everywhere are RGB, channels first, scaled to [0, 1] (:func:`images_to_tensor` converts PIL
images and uint8 tensors).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from ...data.shapes_captions import (
    GRID,
    SHAPES_CAPTIONS_COLORS,
    SHAPES_CAPTIONS_SHAPES,
    _parse_caption,
    caption_is_true,
    relations_between,
)

COLORS: tuple[str, ...] = tuple(SHAPES_CAPTIONS_COLORS)
"""The colour slots of :class:`SceneClassifier`, in this order."""
SHAPES: tuple[str, ...] = tuple(SHAPES_CAPTIONS_SHAPES)
"""Shape class ``k`` (1..4) of a colour slot is ``SHAPES[k - 1]``; class 0 means the colour is absent."""
ABSENT = 0
NUM_SHAPE_CLASSES = 1 + len(SHAPES)
NUM_CELL_CLASSES = 1 + GRID * GRID
"""Cell class of an object in grid cell (row, column): ``1 + row * 3 + column``; class 0 means absent."""

_WEIGHTS_FILE = "model.safetensors"
_CONFIG_FILE = "config.json"


# --- images ---------------------------------------------------------------------------------------

def _pil_images_to_uint8(images: Sequence[Image.Image]) -> torch.Tensor:
    """(B, 3, H, W) uint8 tensor of a non-empty sequence of same-sized PIL images (converted to RGB)."""
    if len(images) == 0:
        raise ValueError("images is empty: expected at least one image")
    for index, image in enumerate(images):
        if not isinstance(image, Image.Image):
            raise ValueError(f"images[{index}] is a {type(image).__name__}, expected a PIL image (a list of PIL images "
                             f"or a (B, 3, H, W) tensor)")
    sizes = {image.size for image in images}
    if len(sizes) > 1:
        raise ValueError(f"all images must have the same size, got sizes {sorted(sizes)}")
    array = np.stack([np.asarray(image.convert("RGB"), dtype=np.uint8) for image in images])  # (B, H, W, 3)
    return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()


def images_to_tensor(images: Sequence[Image.Image] | torch.Tensor) -> torch.Tensor:
    """A float32 tensor (B, 3, H, W) with values in [0, 1] from a batch of images.

    Accepted forms:

    - a non-empty list (or other sequence) of PIL images of one size, in any mode (converted to RGB);
    - a uint8 tensor (B, 3, H, W) with values 0..255 (divided by 255);
    - a floating-point tensor (B, 3, H, W) with values in [0, 1] (returned as float32 on its device).
      A generator's tanh output in [-1, 1] must be mapped first with ``(x + 1) / 2``.

    ``ValueError`` for anything else (a single image, an empty batch, a wrong shape, values out of range).
    """
    if isinstance(images, Image.Image):
        raise ValueError("expected a batch of images: pass [image] for a single PIL image")
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"an image tensor must have shape (B, 3, H, W), got {tuple(images.shape)}")
        if images.shape[0] == 0:
            raise ValueError("images is empty: expected at least one image")
        if images.dtype == torch.uint8:
            return images.float() / 255
        if not images.is_floating_point():
            raise ValueError(f"an image tensor must be uint8 (0..255) or floating point (0..1), got {images.dtype}")
        images = images.float()
        low, high = images.min().item(), images.max().item()
        if not (0 <= low and high <= 1):  # also catches NaN
            raise ValueError(f"float images must have values in [0, 1], got values from {low} to {high} "
                             f"(map a tanh output in [-1, 1] with (x + 1) / 2)")
        return images
    return _pil_images_to_uint8(list(images)).float() / 255


# --- the scene classifier -------------------------------------------------------------------------

class SceneLogits(NamedTuple):
    """The output of :class:`SceneClassifier`.

    shape_logits: (B, 8, 5) per colour slot (order :data:`COLORS`): 0 = colour absent, k = ``SHAPES[k - 1]``.
    cell_logits: (B, 8, 10) per colour slot: 0 = absent, ``1 + row * 3 + column`` = the grid cell of its centre.
    """

    shape_logits: torch.Tensor
    cell_logits: torch.Tensor


class SceneClassifier(nn.Module):
    """A small CNN that reads a shapes-captions scene: per colour, the shape (or absent) and the grid cell.

    Every object of a real scene lies inside its own cell of the 3x3 grid, so the network looks at the
    9 cells one at a time: it cuts the window around each cell (``crop_size`` pixels, 24 for 64x64
    images: the cell and a margin of 1 to 3 pixels) and passes every window through the same small CNN
    (blocks of conv 3x3 - batch norm - ReLU - max pool 2x2, a global max pool, a linear layer + ReLU of
    ``hidden_size``) to 32 **detection logits**, one per colour and shape: does this cell hold a shape
    of that colour? Position is thus kept by the windows (the cell of a detection is known by
    construction) while recognising a shape is learned once for all cells and places in them: a CNN
    that reads the whole image into one fully connected layer has to learn it for every cell (and
    every place in a cell) apart, and needs many more epochs to do so. Then, per colour slot c
    (:data:`COLORS`):

    - ``shape_logits[c, 1 + k]``: the largest detection logit of (colour c, shape k) over the 9 cells;
    - ``cell_logits[c, 1 + cell]``: the logsumexp over the 4 shapes of that cell's colour-c detections;
    - ``shape_logits[c, 0]`` and ``cell_logits[c, 0]`` (absent): learned constants, one per colour.

    Input: float images (B, 3, image_size, image_size) in [0, 1] (:func:`images_to_tensor`).
    Output: :class:`SceneLogits`; :meth:`detect` gives the detection logits themselves.
    """

    def __init__(self, image_size: int = 64, channels: Sequence[int] = (16, 32, 64), hidden_size: int = 128):
        super().__init__()
        channels = tuple(channels)
        if not channels or not all(isinstance(c, int) and c > 0 for c in channels):
            raise ValueError(f"channels must be a non-empty sequence of positive integers, got {channels!r}")
        reduction = 2 ** len(channels)
        if not isinstance(image_size, int) or image_size < GRID * reduction:
            raise ValueError(f"image_size must be an integer of at least {GRID * reduction} pixels (3 cells across, each "
                             f"halved by {len(channels)} 2x2 pools), got {image_size!r}")
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"hidden_size must be a positive integer, got {hidden_size!r}")
        self.image_size = image_size
        self.channels = channels
        self.hidden_size = hidden_size
        # The windows: the smallest multiple of the pools' reduction holding a cell and 1 pixel either side,
        # spread evenly from the first to the last pixel (64x64 images: 24 pixels from 0, 20 and 40).
        self.crop_size = reduction * math.ceil((image_size / GRID + 2) / reduction)
        self.crop_starts = tuple(round(i * (image_size - self.crop_size) / (GRID - 1)) for i in range(GRID))

        blocks: list[nn.Module] = []
        in_channels = 3
        for out_channels in channels:
            blocks += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
                       nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            in_channels = out_channels
        self.features = nn.Sequential(*blocks)
        self.hidden = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(channels[-1], hidden_size),
                                    nn.ReLU(inplace=True))
        self.detection = nn.Linear(hidden_size, len(COLORS) * len(SHAPES))
        self.absent_shape_logit = nn.Parameter(torch.zeros(len(COLORS)))
        self.absent_cell_logit = nn.Parameter(torch.zeros(len(COLORS)))

    def cell_windows(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 9, 3, crop_size, crop_size): the window around each grid cell, cells in row-major order."""
        size = self.crop_size
        return torch.stack([images[:, :, top:top + size, left:left + size]
                            for top in self.crop_starts for left in self.crop_starts], dim=1)

    def detect(self, images: torch.Tensor) -> torch.Tensor:
        """The detection logits (B, 9 cells, 8 colours, 4 shapes): does the cell hold a shape of that colour?"""
        expected = (3, self.image_size, self.image_size)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"SceneClassifier expects images of shape (B, {', '.join(map(str, expected))}), "
                             f"got {tuple(images.shape)}")
        windows = self.cell_windows(images).flatten(0, 1).contiguous(memory_format=torch.channels_last)
        detections = self.detection(self.hidden(self.features(windows)))
        return detections.view(images.shape[0], GRID * GRID, len(COLORS), len(SHAPES))

    def scene_logits(self, detections: torch.Tensor) -> SceneLogits:
        """The two heads' logits from :meth:`detect`'s detection logits (see the class docstring)."""
        batch = detections.shape[0]
        shape_scores = detections.amax(dim=1)  # (B, colours, shapes): in the cell where each is likeliest
        cell_scores = detections.logsumexp(dim=3).transpose(1, 2)  # (B, colours, cells): a shape of the colour
        shape_absent = self.absent_shape_logit.expand(batch, -1).unsqueeze(-1)
        cell_absent = self.absent_cell_logit.expand(batch, -1).unsqueeze(-1)
        return SceneLogits(shape_logits=torch.cat([shape_absent, shape_scores], dim=-1),
                           cell_logits=torch.cat([cell_absent, cell_scores], dim=-1))

    def forward(self, images: torch.Tensor) -> SceneLogits:
        return self.scene_logits(self.detect(images))

    def config(self) -> dict:
        """The constructor arguments, as saved next to the weights."""
        return {"image_size": self.image_size, "channels": list(self.channels), "hidden_size": self.hidden_size}

    def save(self, path: str | Path) -> None:
        """Write the weights (``model.safetensors``) and the constructor arguments (``config.json``) to the
        directory ``path``, created if missing."""
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        state = {name: tensor.detach().cpu().contiguous() for name, tensor in self.state_dict().items()}
        save_file(state, str(directory / _WEIGHTS_FILE))
        (directory / _CONFIG_FILE).write_text(json.dumps(self.config(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> SceneClassifier:
        """A classifier saved by :meth:`save` to the directory ``path``, in eval mode on ``device``."""
        directory = Path(path)
        for name in (_CONFIG_FILE, _WEIGHTS_FILE):
            if not (directory / name).is_file():
                raise ValueError(f"no {name} in {str(directory)!r}: not a directory written by SceneClassifier.save")
        classifier = cls(**json.loads((directory / _CONFIG_FILE).read_text()))
        classifier.load_state_dict(load_file(str(directory / _WEIGHTS_FILE)))
        return classifier.to(device).eval()


def scene_targets(objects_list: Sequence[Sequence[Mapping]]) -> tuple[torch.Tensor, torch.Tensor]:
    """The classifier's targets of scenes given as their ``objects`` lists (dicts with color, shape, row, column).

    Returns ``(shape_targets, cell_targets)``, two int64 tensors (B, 8) indexed by colour slot
    (:data:`COLORS`): the shape class (0 absent, ``1 + SHAPES.index(shape)``) and the cell class
    (0 absent, ``1 + row * 3 + column``) of the object of that colour.
    """
    if len(objects_list) == 0:
        raise ValueError("objects_list is empty: expected at least one scene")
    shape_targets = torch.zeros(len(objects_list), len(COLORS), dtype=torch.long)
    cell_targets = torch.zeros(len(objects_list), len(COLORS), dtype=torch.long)
    for scene_index, objects in enumerate(objects_list):
        for obj in objects:
            color, shape, row, column = _object_fields(obj, f"objects_list[{scene_index}]")
            if color not in COLORS or shape not in SHAPES:
                raise ValueError(f"objects_list[{scene_index}] has a {color} {shape}: colours are {', '.join(COLORS)}, "
                                 f"shapes {', '.join(SHAPES)}")
            if not (0 <= row < GRID and 0 <= column < GRID):
                raise ValueError(f"objects_list[{scene_index}] has an object in cell ({row}, {column}): rows and "
                                 f"columns go from 0 to {GRID - 1}")
            slot = COLORS.index(color)
            if shape_targets[scene_index, slot] != ABSENT:
                raise ValueError(f"objects_list[{scene_index}] has two {color} objects: a scene holds each colour at most once")
            shape_targets[scene_index, slot] = 1 + SHAPES.index(shape)
            cell_targets[scene_index, slot] = 1 + row * GRID + column
    return shape_targets, cell_targets


def _object_fields(obj: Mapping, where: str) -> tuple[str, str, int, int]:
    """(color, shape, row, column) of an object dict; ValueError naming ``where`` when one is missing."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"{where} holds a {type(obj).__name__}, expected object dicts with color, shape, row and column")
    missing = [key for key in ("color", "shape", "row", "column") if key not in obj]
    if missing:
        raise ValueError(f"{where} has an object without {', '.join(missing)}: {dict(obj)!r}")
    return obj["color"], obj["shape"], int(obj["row"]), int(obj["column"])


# --- training -------------------------------------------------------------------------------------

def _augment(images: torch.Tensor, cell_targets: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Real scenes made to look more like generated ones, and mirrored; every draw from ``generator``.

    Per image: a horizontal flip with probability 1/2 (the four shapes are left-right symmetric, so only
    the column of the cell targets changes); for 60% of the images a blend ``(1 - a) * image + a * blurred``
    with ``a`` uniform in [0, 1] and the image blurred by a 3x3 box filter once or (half of them) twice,
    about a Gaussian blur of standard deviation 0.8 or 1.2 pixels; a brightness factor in
    [0.85, 1.1] times a per-channel gain in [0.92, 1.08] plus an offset in [-0.04, 0.04] (mild enough
    that orange stays apart from yellow and red, cyan from white and green); Gaussian pixel noise of a
    standard deviation uniform in [0, 0.08]; values clipped to [0, 1].
    """
    batch = images.shape[0]

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return (low + (high - low) * torch.rand(batch, *shape, generator=generator)).to(images.device)

    flip = uniform(0, 1) < 0.5
    images = torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)
    present = cell_targets != ABSENT
    row, column = (cell_targets - 1) // GRID, (cell_targets - 1) % GRID
    mirrored = torch.where(present, 1 + row * GRID + (GRID - 1 - column), cell_targets)
    cell_targets = torch.where(flip.view(-1, 1).to(cell_targets.device), mirrored, cell_targets)

    blurred_once = F.avg_pool2d(images, kernel_size=3, stride=1, padding=1, count_include_pad=False)
    blurred_twice = F.avg_pool2d(blurred_once, kernel_size=3, stride=1, padding=1, count_include_pad=False)
    blurred = torch.where(uniform(0, 1, 1, 1, 1) < 0.5, blurred_once, blurred_twice)
    blend = uniform(0, 1, 1, 1, 1) * (uniform(0, 1, 1, 1, 1) < 0.6)
    images = (1 - blend) * images + blend * blurred

    gain = uniform(0.85, 1.1, 1, 1, 1) * uniform(0.92, 1.08, 3, 1, 1)
    images = images * gain + uniform(-0.04, 0.04, 1, 1, 1)

    noise = torch.randn(images.shape, generator=generator).to(images.device)
    images = images + uniform(0, 0.08, 1, 1, 1) * noise
    return images.clamp(0, 1), cell_targets


def cell_contents(shape_targets: torch.Tensor, cell_targets: torch.Tensor) -> torch.Tensor:
    """The content of every grid cell (B, 9) from :func:`scene_targets`: 0 when the cell is empty, else
    ``1 + colour_index * 4 + shape_index`` for the object in it (the flattened order of :meth:`SceneClassifier.detect`)."""
    batch, num_colors = shape_targets.shape
    contents = torch.zeros(batch, 1 + GRID * GRID, dtype=torch.long, device=shape_targets.device)  # column 0: absent objects
    color_indices = torch.arange(num_colors, device=shape_targets.device).expand(batch, -1)
    contents.scatter_(1, cell_targets, torch.where(shape_targets != ABSENT, 1 + color_indices * len(SHAPES) + shape_targets - 1, 0))
    return contents[:, 1:]


def _check_scene_dataset(dataset, name: str = "dataset") -> None:
    missing = [column for column in ("image", "objects") if column not in dataset.column_names]
    if missing:
        raise ValueError(f"{name} needs the shapes-captions columns image and objects; it lacks {', '.join(missing)} "
                         f"(columns: {dataset.column_names})")
    if len(dataset) == 0:
        raise ValueError(f"{name} is empty: expected at least one scene")


def train_scene_classifier(dataset, *, epochs: int = 3, batch_size: int = 64, learning_rate: float = 5e-3, seed: int = 0,
                           augment: bool = True, channels: Sequence[int] = (16, 32, 64),
                           device: str | torch.device = "cpu") -> SceneClassifier:
    """Train a :class:`SceneClassifier` on real shapes-captions scenes; returned in eval mode.

    dataset: a ``datasets.Dataset`` split of :func:`~hf_mmattn.data.generate_shapes_captions` (columns
        ``image`` and ``objects``); the classifier's ``image_size`` is that of its images.
    channels: the classifier's conv blocks (:class:`SceneClassifier`).

    Loss: the sum of the cross-entropies of the shape head and of the cell head (the cell of an absent
    colour is class 0), each averaged over the colour slots, plus the cross-entropy of each cell's
    content (:func:`cell_contents`: empty, with a constant logit 0, or one of the 32 colour-shape
    detections of :meth:`SceneClassifier.detect`), which tells every window directly what it holds.
    Adam with ``learning_rate``, a linear warm-up over the first 5% of the steps, then a cosine decay
    to 0. ``augment`` makes every training batch look more like generated images (:func:`_augment`:
    mirroring, blur, mild colour jitter, pixel noise).

    With the defaults, 5000 training scenes give a classifier that reads about 100% of 500 held-out
    real scenes exactly (:func:`evaluator_accuracy`), in about a minute on 2 CPU cores.

    Deterministic for a ``seed`` on a given machine: the initial weights are drawn under ``seed``
    without touching the global random state (``torch.random.fork_rng``), and the shuffling and
    augmentation draw from their own ``torch.Generator`` seeded with ``seed``.
    """
    _check_scene_dataset(dataset)
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")

    images = _pil_images_to_uint8(dataset["image"])  # kept as uint8 (a quarter of the memory of floats)
    if images.shape[2] != images.shape[3]:
        raise ValueError(f"the scenes must be square, got {images.shape[2]}x{images.shape[3]} images")
    shape_targets, cell_targets = scene_targets(dataset["objects"])

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = SceneClassifier(image_size=images.shape[-1], channels=channels)
    classifier.to(device).train()
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=learning_rate)
    steps_per_epoch = math.ceil(len(images) / batch_size)
    total_steps = epochs * steps_per_epoch
    warmup_steps = max(1, round(0.05 * total_steps))

    def learning_rate_factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total_steps - warmup_steps)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate_factor)
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images), batch_size):
            indices = order[start:start + batch_size]
            batch_images = images[indices].to(device).float() / 255
            batch_shapes, batch_cells = shape_targets[indices].to(device), cell_targets[indices].to(device)
            if augment:
                batch_images, batch_cells = _augment(batch_images, batch_cells, generator)
            detections = classifier.detect(batch_images)
            logits = classifier.scene_logits(detections)
            # Each cell's content as one of 33 classes: empty (a constant logit 0) or a colour-shape pair.
            content_logits = F.pad(detections.flatten(2), (1, 0))
            loss = (F.cross_entropy(logits.shape_logits.flatten(0, 1), batch_shapes.flatten())
                    + F.cross_entropy(logits.cell_logits.flatten(0, 1), batch_cells.flatten())
                    + F.cross_entropy(content_logits.flatten(0, 1), cell_contents(batch_shapes, batch_cells).flatten()))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    return classifier.eval()


# --- prediction -----------------------------------------------------------------------------------

def _predict_classes(classifier: SceneClassifier, images: Sequence[Image.Image] | torch.Tensor,
                     batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(shape classes (B, 8), best cells (B, 8)) on the CPU: the argmax shape class of every colour slot
    (0 = absent) and the argmax cell among the 9 cells (1..9, whether or not the colour is predicted present)."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    images = images_to_tensor(images)
    expected = (3, classifier.image_size, classifier.image_size)
    if tuple(images.shape[1:]) != expected:
        raise ValueError(f"the classifier reads images of shape (B, {', '.join(map(str, expected))}), "
                         f"got {tuple(images.shape)}")
    device = next(classifier.parameters()).device
    shape_classes, best_cells = [], []
    was_training = classifier.training
    classifier.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                logits = classifier(images[start:start + batch_size].to(device))
                shape_classes.append(logits.shape_logits.argmax(-1).cpu())
                best_cells.append(1 + logits.cell_logits[..., 1:].argmax(-1).cpu())
    finally:
        classifier.train(was_training)
    return torch.cat(shape_classes), torch.cat(best_cells)


def _scenes_from_classes(shape_classes: torch.Tensor, best_cells: torch.Tensor) -> list[list[dict]]:
    scenes = []
    for image_shapes, image_cells in zip(shape_classes.tolist(), best_cells.tolist(), strict=True):
        scenes.append([{"color": color, "shape": SHAPES[shape - 1], "row": (cell - 1) // GRID, "column": (cell - 1) % GRID}
                       for color, shape, cell in zip(COLORS, image_shapes, image_cells, strict=True) if shape != ABSENT])
    return scenes


def predict_scenes(classifier: SceneClassifier, images: Sequence[Image.Image] | torch.Tensor,
                   batch_size: int = 256) -> list[list[dict]]:
    """The scene the classifier sees in each image: a list of ``{"color", "shape", "row", "column"}`` dicts.

    A colour is in the scene when its most likely shape class is not "absent"; its cell is then the most
    likely of the 9 cells. Objects are listed in :data:`COLORS` order. The classifier runs in eval mode
    without gradients (its training mode is restored afterwards), ``batch_size`` images at a time on
    its own device. ``images``: any form :func:`images_to_tensor` accepts, of the classifier's size.
    """
    return _scenes_from_classes(*_predict_classes(classifier, images, batch_size))


# --- caption consistency --------------------------------------------------------------------------

def consistency_from_scenes(scenes: Sequence[Sequence[Mapping]], captions: Sequence[str]) -> dict[str, float | int | None]:
    """How well each scene (e.g. predicted from a generated image) matches the caption it was generated from.

    scenes: one list of objects (dicts with ``color``, ``shape``, ``row``, ``column``) per image.
    captions: one shapes-captions caption per image (``ValueError`` for one outside the grammar).

    Returns a dict of fractions in [0, 1]:

    - ``color``: over all mentioned objects of all captions (micro average), the fraction whose colour is
      present in the scene (whatever its shape);
    - ``shape``: the same, the fraction present with both the right colour and the right shape;
    - ``position``: over all WHERE phrases of all captions ("a red circle at the top"), the fraction whose
      object (same colour and shape) is in the scene in the stated cell; a missing object counts as
      wrong. ``None`` when no caption states a position;
    - ``relation``: over all stated relations ("a red circle above a blue square"), the fraction that
      hold between the two objects' cells in the scene; a relation with a missing object counts as
      wrong. ``None`` when no caption states a relation;
    - ``object_count``: over images, the fraction whose scene has as many objects as the caption mentions;
    - ``caption_true``: over images, the fraction whose caption is true of the scene as a whole
      (:func:`~hf_mmattn.data.shapes_captions.caption_is_true`: exactly the mentioned objects, in the
      stated cells and relations);

    and ``num_images``.
    """
    if len(scenes) != len(captions):
        raise ValueError(f"got {len(scenes)} scenes but {len(captions)} captions: expected one caption per scene")
    if len(scenes) == 0:
        raise ValueError("scenes and captions are empty: expected at least one image")

    mentioned_objects = color_matches = shape_matches = 0
    stated_positions = position_matches = 0
    stated_relations = relation_matches = 0
    count_matches = true_captions = 0
    for index, (scene, caption) in enumerate(zip(scenes, captions, strict=True)):
        if not isinstance(caption, str):
            raise ValueError(f"captions[{index}] is a {type(caption).__name__}, expected a string")
        try:
            mentions, cells, relations = _parse_caption(caption)
        except ValueError as error:
            raise ValueError(f"captions[{index}]: {error}") from None
        objects = [dict(zip(("color", "shape", "row", "column"), _object_fields(obj, f"scenes[{index}]"), strict=True))
                   for obj in scene]
        colors_present = {obj["color"] for obj in objects}
        cells_by_name: dict[tuple[str, str], list[dict]] = {}
        for obj in objects:
            cells_by_name.setdefault((obj["color"], obj["shape"]), []).append({"row": obj["row"], "column": obj["column"]})

        mentioned_objects += len(mentions)
        color_matches += sum(color in colors_present for color, _ in mentions)
        shape_matches += sum(name in cells_by_name for name in mentions)
        stated_positions += len(cells)
        position_matches += sum(any((cell["row"], cell["column"]) == stated for cell in cells_by_name.get(mentions[mention], ()))
                                for mention, stated in cells)
        stated_relations += len(relations)
        relation_matches += sum(any(relation in relations_between(cell_a, cell_b)
                                    for cell_a in cells_by_name.get(mentions[a], ()) for cell_b in cells_by_name.get(mentions[b], ()))
                                for a, relation, b in relations)
        count_matches += len(objects) == len(mentions)
        true_captions += caption_is_true(caption, objects)

    return {
        "color": color_matches / mentioned_objects,
        "shape": shape_matches / mentioned_objects,
        "position": position_matches / stated_positions if stated_positions else None,
        "relation": relation_matches / stated_relations if stated_relations else None,
        "object_count": count_matches / len(scenes),
        "caption_true": true_captions / len(scenes),
        "num_images": len(scenes),
    }


def caption_consistency(classifier: SceneClassifier, images: Sequence[Image.Image] | torch.Tensor, captions: Sequence[str],
                        batch_size: int = 256) -> dict[str, float | int | None]:
    """:func:`consistency_from_scenes` of the scenes the classifier sees in ``images`` (generated from ``captions``)."""
    if len(images) != len(captions):
        raise ValueError(f"got {len(images)} images but {len(captions)} captions: expected one caption per image")
    return consistency_from_scenes(predict_scenes(classifier, images, batch_size=batch_size), captions)


def evaluator_accuracy(classifier: SceneClassifier, dataset, batch_size: int = 256) -> dict:
    """How well the classifier reads real scenes (a held-out split of shapes captions): its validation.

    Returns:

    - ``exact_scene``: the fraction of images whose predicted scene equals the true one, as sets of
      (color, shape, row, column);
    - ``shape_accuracy``: over all (image, colour slot) pairs, the fraction whose shape class (absent
      included) is right;
    - ``cell_accuracy``: over the (image, colour slot) pairs whose colour is in the true scene, the
      fraction whose most likely cell is right;
    - ``caption_consistency``: :func:`consistency_from_scenes` of the predicted scenes with each image's
      first caption (all its fractions should be close to 1.0 for a trustworthy evaluator);
    - ``num_images``.
    """
    _check_scene_dataset(dataset)
    if "captions" not in dataset.column_names:
        raise ValueError(f"dataset needs a captions column, got columns {dataset.column_names}")
    shape_targets, cell_targets = scene_targets(dataset["objects"])
    shape_classes, best_cells = _predict_classes(classifier, dataset["image"], batch_size)
    predicted_scenes = _scenes_from_classes(shape_classes, best_cells)
    true_scenes = [{(obj["color"], obj["shape"], obj["row"], obj["column"]) for obj in objects} for objects in dataset["objects"]]
    exact = [{(obj["color"], obj["shape"], obj["row"], obj["column"]) for obj in predicted} == true
             for predicted, true in zip(predicted_scenes, true_scenes, strict=True)]
    present = cell_targets != ABSENT
    return {
        "exact_scene": sum(exact) / len(exact),
        "shape_accuracy": (shape_classes == shape_targets).float().mean().item(),
        "cell_accuracy": (best_cells == cell_targets)[present].float().mean().item(),
        "caption_consistency": consistency_from_scenes(predicted_scenes, [captions[0] for captions in dataset["captions"]]),
        "num_images": len(dataset),
    }


# --- R-precision and diversity --------------------------------------------------------------------

def r_precision(image_embeds: torch.Tensor, text_embeds: torch.Tensor, texts: Sequence[str] | None = None, *,
                num_candidates: int = 100, seed: int = 0) -> float:
    """AttnGAN's R-precision with R = 1: how often a generated image's own caption scores highest among candidates.

    image_embeds: (N, D) embeddings of N generated images; text_embeds: (N, D) embeddings of the caption
    each was generated from (row i of both belong together). For each image i, the candidates are its
    own caption and ``num_candidates - 1`` others drawn at random without replacement (a
    ``torch.Generator`` seeded with ``seed``) from the other rows; when ``texts`` (the N caption strings)
    is given, rows whose text equals text i are not drawn (a duplicate of the true caption is not a
    wrong answer). The score of a candidate is the dot product of the image and text embeddings (pass
    L2-normalised embeddings for AttnGAN's cosine similarity). Image i counts as a hit when its own
    caption scores strictly higher than every other candidate: a tie counts as a miss. Returns the
    fraction of hits.

    ``ValueError`` when some image has fewer than ``num_candidates - 1`` other rows to draw from.
    """
    for name, embeds in (("image_embeds", image_embeds), ("text_embeds", text_embeds)):
        if not isinstance(embeds, torch.Tensor) or embeds.ndim != 2:
            raise ValueError(f"{name} must be a 2-D tensor (N, D), got {getattr(embeds, 'shape', type(embeds).__name__)}")
    if image_embeds.shape != text_embeds.shape:
        raise ValueError(f"image_embeds {tuple(image_embeds.shape)} and text_embeds {tuple(text_embeds.shape)} must have the "
                         f"same shape (N, D): row i of both belong together")
    num_rows = image_embeds.shape[0]
    if num_rows == 0:
        raise ValueError("image_embeds and text_embeds are empty: expected at least one row")
    if not isinstance(num_candidates, int) or num_candidates < 2:
        raise ValueError(f"num_candidates must be an integer of at least 2 (the true caption and one other), got {num_candidates!r}")
    if texts is not None and len(texts) != num_rows:
        raise ValueError(f"got {len(texts)} texts for {num_rows} embedding rows: expected one text per row")

    if texts is None:
        text_ids = torch.arange(num_rows)
    else:
        ids: dict[str, int] = {}
        text_ids = torch.tensor([ids.setdefault(text, len(ids)) for text in texts])
    eligible_counts = num_rows - torch.bincount(text_ids)[text_ids]
    fewest = int(eligible_counts.min())
    if fewest < num_candidates - 1:
        worst = int(eligible_counts.argmin())
        reason = " with a different text" if texts is not None else ""
        raise ValueError(f"r_precision needs {num_candidates - 1} other captions per image, but image {worst} has only {fewest} "
                         f"other rows{reason} to draw from (N = {num_rows}); lower num_candidates or pass more rows")

    image_embeds, text_embeds = image_embeds.detach().float().cpu(), text_embeds.detach().float().cpu()
    generator = torch.Generator().manual_seed(seed)
    hits = 0
    for i in range(num_rows):
        others = torch.nonzero(text_ids != text_ids[i]).squeeze(1)
        drawn = others[torch.randperm(len(others), generator=generator)[:num_candidates - 1]]
        true_score = image_embeds[i] @ text_embeds[i]
        other_scores = text_embeds[drawn] @ image_embeds[i]
        hits += bool((true_score > other_scores).all())
    return hits / num_rows


def diversity(images: torch.Tensor) -> float:
    """The mean pairwise mean-absolute pixel difference between images generated from the same caption.

    images: (num_captions, samples_per_caption, 3, H, W) with values in [0, 1] and at least 2 samples per
    caption. For each caption, the mean over all pairs of its samples (each unordered pair once) of the
    mean absolute difference over pixels and channels; returns the mean over captions. 0 means the
    generator ignores its noise; two independent uniform-noise images differ by about 1/3.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 5 or images.shape[2] != 3:
        raise ValueError(f"images must be a tensor (num_captions, samples_per_caption, 3, H, W), "
                         f"got {getattr(images, 'shape', type(images).__name__)}")
    num_captions, samples, _, height, width = images.shape
    if num_captions == 0 or height == 0 or width == 0:
        raise ValueError(f"images is empty: got shape {tuple(images.shape)}")
    if samples < 2:
        raise ValueError(f"diversity needs at least 2 samples per caption to compare, got {samples}")
    flat = images.detach().to(torch.float64).flatten(2)  # (num_captions, samples, 3 * H * W)
    first, second = torch.triu_indices(samples, samples, offset=1)
    # cdist with p=1: the sums of absolute differences of all pairs, without a (pairs, 3 * H * W) tensor
    pair_distances = torch.stack([torch.cdist(caption, caption, p=1)[first, second] for caption in flat])
    return (pair_distances.mean(dim=1) / flat.shape[-1]).mean().item()
