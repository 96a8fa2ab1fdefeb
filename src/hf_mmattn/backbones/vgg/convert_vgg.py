"""Convert a torchvision VGG checkpoint (vgg16, vgg19, vgg16_bn, vgg19_bn) into a VggBackbone folder.

    python -m hf_mmattn.convert vgg --checkpoint vgg16-397923af.pth --output_dir out/vgg16
    python -m hf_mmattn.convert vgg --checkpoint vgg19-dcbb9e9d.pth --include_top --output_dir out/vgg19-fc7

The checkpoint is torchvision's state dict (``model.state_dict()`` of ``torchvision.models.vgg16``
and the others; a ``{"state_dict": ...}`` wrapper and DataParallel's ``module.`` prefix are
accepted too). torchvision's ``features`` Sequential holds, for each entry of the layer list, a
convolution at index i, its BatchNorm at i + 1 (``_bn`` models) and its ReLU next, and one index
per max-pooling: ``features.{i}`` is stage i of [`VggConfig`]'s ``stage_names`` (``features.28``
of vgg16 is ``conv5_3``). ``classifier.0`` and ``classifier.3`` are fc6 and fc7 (with
``--include_top``; dropped otherwise); ``classifier.6``, ImageNet's 1000-way fc8, is always
dropped. Every tensor of the checkpoint is either converted or in that dropped list, and every
tensor of the backbone is filled: anything else is an error naming the keys.

The variant is read from the tensors (13 or 16 convolutions, BatchNorm statistics or not) unless
``--variant`` names it. The folder holds the backbone (``VggBackbone.from_pretrained(folder)``;
after ``import hf_mmattn``, ``AutoConfig.from_pretrained(folder)`` gives its ``VggConfig``, which
``AutoBackbone.from_config`` builds), an image processor with torchvision's ImageNet mean/std at
224x224 (``AutoImageProcessor.from_pretrained(folder)``), and ``conversion.json``; a model with a
VGG ``backbone_config`` copies the weights with ``model.load_pretrained_backbone(folder)``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from ...convert import checkpoint_state_dict, load_converted_state_dict, load_original_checkpoint
from ...processing.image_processor import square_image_processor
from .configuration_vgg import POOLING, VGG_PRESETS, VggConfig, convolution_stage_names
from .modeling_vgg import VggBackbone

VARIANTS = tuple(VGG_PRESETS)
# torchvision's classifier: Linear (0), ReLU, Dropout, Linear (3), ReLU, Dropout, Linear (6).
FULLY_CONNECTED_INDICES = {"fc6": 0, "fc7": 3}
CLASSIFIER_FC8 = 6
IMAGE_SIZE = 224


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="torchvision VGG state dict (e.g. vgg16-397923af.pth)")
    parser.add_argument("--variant", choices=VARIANTS, help="the checkpoint's model; read from its tensors when left out")
    parser.add_argument("--include_top", action="store_true", help="also convert fc6 and fc7 (classifier.0 and classifier.3)")


def infer_variant(state_dict: dict[str, torch.Tensor]) -> str:
    """``vgg16``/``vgg19`` from the number of convolutions in ``features`` (13 or 16), ``_bn``
    when the checkpoint has BatchNorm statistics."""
    convolutions = sum(key.startswith("features.") and key.endswith(".weight") and value.ndim == 4 for key, value in state_dict.items())
    batch_norm = any(key.startswith("features.") and key.endswith(".running_mean") for key in state_dict)
    for variant, preset in VGG_PRESETS.items():
        if preset["batch_norm"] == batch_norm and sum(entry != POOLING for entry in preset["layers"]) == convolutions:
            return variant
    raise ValueError(
        f"the checkpoint has {convolutions} convolution weights under features.* ({'with' if batch_norm else 'without'} BatchNorm): "
        f"it is none of torchvision's {', '.join(VARIANTS)}; pass --variant if it is one of them"
    )


def _try_infer_variant(state_dict: dict[str, torch.Tensor]) -> str | None:
    try:
        return infer_variant(state_dict)
    except ValueError:
        return None


def torchvision_keys(model: VggBackbone) -> dict[str, str]:
    """Backbone key → torchvision key of every tensor of ``model``: ``stages.{stage}.{tensor}`` is
    ``features.{i}.{tensor}`` for the i-th stage of the layer list, ``classifier.0`` / ``.3`` for
    fc6 / fc7."""
    config = model.config
    feature_indices = {name: index for index, name in enumerate(convolution_stage_names(config.layers, config.batch_norm))}
    keys = {}
    for key in model.state_dict():
        _, stage, tensor = key.split(".", 2)
        if stage in feature_indices:
            keys[key] = f"features.{feature_indices[stage]}.{tensor}"
        else:
            keys[key] = f"classifier.{FULLY_CONNECTED_INDICES[stage]}.{tensor}"
    return keys


def dropped_keys(state_dict: dict[str, torch.Tensor], include_top: bool) -> list[str]:
    """The checkpoint's tensors left out on purpose: fc8 (``classifier.6``) always, fc6 and fc7
    (``classifier.0`` and ``.3``) without ``include_top``."""
    indices = [CLASSIFIER_FC8] + ([] if include_top else list(FULLY_CONNECTED_INDICES.values()))
    candidates = {f"classifier.{index}.{tensor}" for index in indices for tensor in ("weight", "bias")}
    return sorted(key for key in state_dict if key in candidates)


def convert_torchvision_vgg_state_dict(
    state_dict: dict[str, torch.Tensor], variant: str | None = None, include_top: bool = False, **config_overrides
) -> VggBackbone:
    """A [`VggBackbone`] (eval mode) holding the tensors of torchvision's VGG ``state_dict``.

    ``variant`` is one of ``"vgg16"``, ``"vgg19"``, ``"vgg16_bn"``, ``"vgg19_bn"`` (read from the
    tensors when ``None``); ``include_top`` also converts fc6 and fc7; ``config_overrides`` go to
    [`VggConfig`]: ``out_features``, or ``layers`` / ``fully_connected_size`` for a torchvision
    ``VGG`` built from other widths (the variant then only says whether it has BatchNorm). A
    tensor of the checkpoint that is neither converted nor one of the dropped classifier tensors,
    or a tensor of the backbone the checkpoint lacks, is a ``ValueError`` naming them."""
    state_dict = checkpoint_state_dict(state_dict, "state_dict", "a torchvision state dict (or {'state_dict': ...})")
    variant = variant or infer_variant(state_dict)
    if variant not in VGG_PRESETS:
        raise ValueError(f"unknown VGG variant {variant!r}; choose one of {list(VARIANTS)}")
    model = VggBackbone(VggConfig.from_preset(variant, include_top=include_top, **config_overrides))
    keys = torchvision_keys(model)
    missing = sorted(source for source in keys.values() if source not in state_dict)
    unexpected = sorted(set(state_dict) - set(keys.values()) - set(dropped_keys(state_dict, include_top)))
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensors of torchvision's {variant} are missing: {missing}")
    if unexpected:
        problems.append(f"{len(unexpected)} tensors are not part of torchvision's {variant} (features, classifier.0/3/6): {unexpected}")
    if problems:
        looks_like = _try_infer_variant(state_dict)
        if looks_like not in (None, variant):
            problems.append(f"its tensors look like torchvision's {looks_like}")
        what = f"torchvision {variant}" + (" with its classifier" if include_top else "")
        raise ValueError(f"the checkpoint is not a {what}: " + "; ".join(problems))
    load_converted_state_dict(model, {key: state_dict[source] for key, source in keys.items()})
    return model.eval()


def convert(args: argparse.Namespace) -> Path:
    state_dict = checkpoint_state_dict(
        load_original_checkpoint(args.checkpoint), "state_dict", "a torchvision state dict (or {'state_dict': ...})"
    )
    variant = args.variant or infer_variant(state_dict)
    model = convert_torchvision_vgg_state_dict(state_dict, variant, include_top=args.include_top)
    notes = {
        "converted_from": str(args.checkpoint),
        "original_code": "torchvision.models.vgg",
        "variant": variant,
        "include_top": args.include_top,
        "stage_names": model.config.stage_names,
        "dropped_tensors": {
            key: "ImageNet's 1000-way classifier fc8, not part of the backbone" if key.startswith(f"classifier.{CLASSIFIER_FC8}.")
            else "fc6/fc7, converted only with --include_top"
            for key in dropped_keys(state_dict, args.include_top)
        },
        "image_processor": f"resize to {IMAGE_SIZE}x{IMAGE_SIZE}, ImageNet mean/std (torchvision resizes to 256 and crops 224)",
    }
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    square_image_processor(IMAGE_SIZE, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD).save_pretrained(output_dir)
    (output_dir / "conversion.json").write_text(json.dumps(notes, indent=2))
    return output_dir


__all__ = [
    "VARIANTS", "add_arguments", "convert", "convert_torchvision_vgg_state_dict", "dropped_keys", "infer_variant", "torchvision_keys",
]
