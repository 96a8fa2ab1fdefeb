"""Convert the released checkpoints of the original implementations into hf-mmattn folders.

    python -m hf_mmattn.convert mcan --checkpoint epoch13.pkl --answer_dict answer_dict.json ... --output_dir out/mcan-small
    python -m hf_mmattn.convert ban --checkpoint model_epoch12.pth --dictionary dictionary.pkl ... --output_dir out/ban-8

Each model's converter lives beside it (``hf_mmattn.models.<model>.convert_<model>``) and defines
``add_arguments(parser)`` (its own flags; ``--output_dir`` is added here) and
``convert(args) -> Path``. This module holds what they share: safe
loading of the original files, a strict state-dict check, a word tokenizer that reproduces the
original token ids, and writing the Hub-ready folder.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pickle
import sys
from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast


def converters() -> dict[str, str]:
    """Model name → converter module: every model folder with a ``convert_<name>.py``, then the
    backbones' (``vgg``: torchvision's VGG checkpoints)."""
    from . import backbones
    from .models import discover

    return {**{model.name: model.converter_module for model in discover() if model.converter_module}, **backbones.converters()}


def load_original_checkpoint(path: str | Path):
    """``torch.load(path, weights_only=True)`` on the CPU.

    The released checkpoints of BAN and MCAN are dicts of tensors and plain Python values, which
    load without running pickled code. A file that pickles whole modules or custom classes is
    refused with an explanation instead of being unpickled: load it once with its original code and
    re-save ``model.state_dict()``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path} cannot be loaded with torch.load(weights_only=True): it pickles objects other than "
            "tensors and plain Python values (for example whole nn.Modules or custom classes), and unpickling "
            "those would run code from the file. If you trust the file, load it with its original code and "
            "save only the weights: torch.save({'state_dict': model.state_dict()}, 'weights.pth'), then convert "
            f"that file. (torch said: {str(error).splitlines()[0]})"
        ) from None
    except RuntimeError as error:
        raise ValueError(f"{path} is not a PyTorch checkpoint torch.load can read: {error}") from None


def strip_prefix(state_dict: dict, prefix: str = "module.") -> dict:
    """Drop ``prefix`` (DataParallel's ``module.``) from every key that starts with it."""
    return {key.removeprefix(prefix): value for key, value in state_dict.items()}


def checkpoint_state_dict(checkpoint, key: str, layout: str) -> dict[str, torch.Tensor]:
    """The model tensors of a released checkpoint: ``checkpoint[key]`` when the file wraps them
    (``layout`` describes that wrapper for the error), else the file as a bare state dict; keys
    without DataParallel's ``module.`` prefix."""
    state_dict = checkpoint[key] if isinstance(checkpoint, dict) and key in checkpoint else checkpoint
    if not isinstance(state_dict, dict) or not all(isinstance(value, torch.Tensor) for value in state_dict.values()):
        raise ValueError(f"expected {layout} or a bare state dict of tensors")
    return strip_prefix(dict(state_dict))


def load_converted_state_dict(model: torch.nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """Copy ``state_dict`` into ``model``, refusing anything but an exact match: every parameter and
    buffer of the model must be given once, with its shape, and nothing else."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = [
        f"{key}: checkpoint {tuple(state_dict[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in sorted(set(expected) & set(state_dict))
        if tuple(state_dict[key].shape) != tuple(expected[key].shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} model weights have no tensor in the checkpoint: {missing}")
    if unexpected:
        problems.append(f"{len(unexpected)} converted tensors have no place in the model: {unexpected}")
    if mismatched:
        problems.append(f"{len(mismatched)} shapes differ: {mismatched}")
    if problems:
        raise ValueError("the converted checkpoint does not match the model: " + "; ".join(problems))
    model.load_state_dict({key: value.to(expected[key].dtype) for key, value in state_dict.items()}, strict=True)


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain Python data is expected")


def read_pickle_data(path: str | Path):
    """Load a pickle that holds only plain Python data (dicts, lists, tuples, strings, numbers), such
    as ban-vqa's ``dictionary.pkl`` and ``trainval_label2ans.pkl``; any pickled class or function is
    refused, so the file cannot run code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    with open(path, "rb") as file:
        try:
            return _PlainDataUnpickler(file).load()
        except pickle.UnpicklingError as error:
            raise ValueError(f"{path} holds more than plain Python data ({error}); expected dicts/lists of words") from None


def build_word_tokenizer(
    token_to_id: dict[str, int],
    *,
    pad_token: str,
    unk_token: str,
    normalizer_steps: Iterable[normalizers.Normalizer] = (),
    max_length: int = 14,
    padding_side: str = "right",
) -> PreTrainedTokenizerFast:
    """A word-level tokenizer (``tokenizers`` WordLevel) with the ORIGINAL vocabulary and ids.

    ``normalizer_steps`` reproduce the original text cleaning (lower-casing, punctuation regexes,
    ...); words are then split on whitespace. ``pad_token`` and ``unk_token`` must be words of
    ``token_to_id``; questions are cut to ``max_length`` words and padded on ``padding_side``.
    """
    for name, token in (("pad_token", pad_token), ("unk_token", unk_token)):
        if token not in token_to_id:
            raise ValueError(f"{name} {token!r} is not in the vocabulary")
    ids = sorted(token_to_id.values())
    if ids != list(range(len(ids))):
        raise ValueError("the vocabulary's ids must be 0..N-1, each used once")
    tokenizer = Tokenizer(WordLevel(dict(token_to_id), unk_token=unk_token))
    tokenizer.normalizer = normalizers.Sequence(list(normalizer_steps))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=pad_token,
        unk_token=unk_token,
        model_max_length=max_length,
        padding_side=padding_side,
        truncation_side="right",
    )


def save_converted_folder(model, processor, output_dir: str | Path, *, source: str, notes: dict | None = None) -> Path:
    """Write a Hub-ready folder: the model (safetensors + config + card), the processor and
    ``conversion.json`` recording where the weights came from."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    summary = {"converted_from": source, **(notes or {})}
    model.save_pretrained(output_dir, model_card_kwargs={"training_summary": summary})
    processor.save_pretrained(output_dir)
    (output_dir / "conversion.json").write_text(json.dumps(summary, indent=2, default=str))
    return output_dir


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else list(argv)
    available = converters()
    usage = f"python -m hf_mmattn.convert {{{','.join(available)}}} --checkpoint FILE --output_dir DIR [...]"
    if not argv or argv[0] not in available:
        print(__doc__.strip() + "\n\nusage: " + usage, file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        raise SystemExit(0 if argv and argv[0] in ("-h", "--help") else 2)
    model_name = argv[0]
    module = importlib.import_module(available[model_name])
    parser = argparse.ArgumentParser(
        prog=f"python -m hf_mmattn.convert {model_name}", description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    module.add_arguments(parser)
    parser.add_argument("--output_dir", required=True, help="folder to write (from_pretrained / pipeline load it)")
    args = parser.parse_args(argv[1:])
    args.model = model_name
    output_dir = module.convert(args)
    print(f"wrote {output_dir}")
    return output_dir


if __name__ == "__main__":
    main()
