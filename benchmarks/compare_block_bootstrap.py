#!/usr/bin/env python
"""Our fusion layers against the reference fusions of ``block.bootstrap.pytorch`` (Cadene et al.).

    pip install block.bootstrap.pytorch --no-deps     # reference only; not a dependency of hf_mmattn
    OMP_NUM_THREADS=1 python benchmarks/compare_block_bootstrap.py
    python benchmarks/compare_block_bootstrap.py --output /tmp/cmp.json

For every pair, block's fusion is built with small sizes, each of its tensors is copied into ours
by an explicit name-to-name map (shapes asserted, every tensor of ours must be assigned), both
are put in eval mode, fed the same random inputs, and compared at two points:

* ``fused``: block's tensor just before its ``linear_out`` (captured with a forward pre-hook),
  against our layer's output. Our layers stop there: the output projection (block's
  ``linear_out``, the paper's ``P`` / ``W_o``) is the model's next layer (an answer classifier or
  an attention score).
* ``full``: block's whole ``forward`` against block's own tail (``linear_out`` then
  ``activ_output`` where it has one; dropout is off in eval) applied to our output.

A pair "matches" when both maximum absolute differences are below 1e-5 (float32). Where the
definitions differ the row says which term, and, where it helps, a diagnostic row shows that the
named term is the whole difference (e.g. block's Mutan with a tanh inserted after its input
linears matches our MutanFusion's default, the paper's tanh projections).

block.bootstrap.pytorch 0.1.6 does not run as shipped on torch >= 1.8; this script adapts it in
its own process only (nothing in hf_mmattn is changed):

* ``block/__init__.py`` imports ``bootstrap.pytorch`` (its training framework, not installed with
  ``--no-deps``): if ``import block`` fails for that reason, the package ``block`` is registered as
  an empty namespace pointing at the installed folder, so that
  ``block.models.networks.fusions.fusions`` (which needs only torch) imports unchanged.
* its ``CompactBilinearPooling`` calls ``torch.rfft`` / ``torch.irfft`` (removed in torch 1.8):
  the ``torch`` name inside ``block/models/networks/fusions/compactbilinearpooling.py`` is
  replaced by a proxy whose ``rfft(x, 1)`` is ``view_as_real(torch.fft.rfft(x))`` and whose
  ``irfft(z, 1, signal_sizes=(n,))`` is ``torch.fft.irfft(view_as_complex(z), n)``, the old
  (unnormalised, one-sided) semantics; every other attribute is torch's own. Its count sketch and
  its own real/imaginary complex multiply run unchanged (the deprecated
  ``addcmul(input, value, t1, t2)`` overload still works; its warning is silenced here).

Only the forward pass (eval) is compared; no training. Dropout sits at different places in block
and in ours (block: after the input linears; ours: on the inputs of each linear), which matters
only in training.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
import types
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from hf_mmattn.layers.fusion import (  # noqa: E402
    CompactBilinearPooling,
    LowRankBilinearFusion,
    MutanFusion,
    TuckerFusion,
    normalize_bilinear,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "block_bootstrap_comparison.json"
TOLERANCE = 1e-5
INSTALL_HINT = (
    "block.bootstrap.pytorch is not installed. It is only needed by this benchmark (it is not a\n"
    "dependency of hf_mmattn). Install it without its dependencies (bootstrap.pytorch, old torch pins):\n\n"
    "    pip install block.bootstrap.pytorch --no-deps\n"
)


# --------------------------------------------------------------------------------------------
# Importing block.bootstrap.pytorch on a current torch
# --------------------------------------------------------------------------------------------


class _TorchWithOldFFT(types.ModuleType):
    """``torch`` plus the ``torch.rfft`` / ``torch.irfft`` of torch < 1.8 (real/imag in a last dim of 2)."""

    def __init__(self):
        super().__init__("torch")

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def rfft(x, signal_ndim, normalized=False, onesided=True):
        assert signal_ndim == 1 and not normalized and onesided, "only the call block's MCB makes is adapted"
        return torch.view_as_real(torch.fft.rfft(x, dim=-1))

    @staticmethod
    def irfft(z, signal_ndim, normalized=False, onesided=True, signal_sizes=None):
        assert signal_ndim == 1 and not normalized and onesided, "only the call block's MCB makes is adapted"
        n = signal_sizes[0] if signal_sizes is not None else None
        return torch.fft.irfft(torch.view_as_complex(z.contiguous()), n=n, dim=-1)


def import_block() -> tuple[types.ModuleType, str, list[str]]:
    """Return (block's fusions module, block's version, the adaptations made)."""
    adaptations = []
    spec = importlib.util.find_spec("block")
    if spec is None or spec.submodule_search_locations is None:
        print(INSTALL_HINT, file=sys.stderr)
        raise SystemExit(2)
    try:
        importlib.import_module("block")
    except ModuleNotFoundError as error:
        if error.name is None or error.name.split(".")[0] != "bootstrap":
            raise
        for name in [key for key in sys.modules if key == "block" or key.startswith("block.")]:
            del sys.modules[name]
        package = types.ModuleType("block")
        package.__path__ = list(spec.submodule_search_locations)
        package.__file__ = spec.origin
        sys.modules["block"] = package
        adaptations.append(
            "block/__init__.py imports bootstrap.pytorch (not installed with --no-deps): `block` was registered "
            "as an empty package over the installed folder and block.models.networks.fusions.fusions imported directly"
        )
    fusions = importlib.import_module("block.models.networks.fusions.fusions")
    cbp = importlib.import_module("block.models.networks.fusions.compactbilinearpooling")
    if not hasattr(torch, "rfft"):
        cbp.torch = _TorchWithOldFFT()
        adaptations.append(
            "block's compactbilinearpooling.py calls torch.rfft/torch.irfft (removed in torch 1.8): inside that "
            "module only, torch.rfft(x, 1) -> view_as_real(torch.fft.rfft(x)) and torch.irfft(z, 1, signal_sizes=(n,)) "
            "-> torch.fft.irfft(view_as_complex(z), n); its count sketch and complex multiply run unchanged"
        )
    warnings.filterwarnings("ignore", message="This overload of addcmul is deprecated")
    try:
        version = importlib.metadata.version("block.bootstrap.pytorch")
    except importlib.metadata.PackageNotFoundError:
        version = getattr(importlib.import_module("block.__version__"), "__version__", "unknown")
    return fusions, version, adaptations


# --------------------------------------------------------------------------------------------
# Weight copy and comparison
# --------------------------------------------------------------------------------------------


def copy_weights(ours: torch.nn.Module, block: torch.nn.Module, mapping: dict[str, str]) -> None:
    """``ours[key] <- block[value]`` for every entry; every tensor of ours must be assigned."""
    ours_state, block_state = ours.state_dict(), block.state_dict()
    missing = set(ours_state) - set(mapping)
    assert not missing, f"tensors of {type(ours).__name__} left unassigned: {sorted(missing)}"
    with torch.no_grad():
        for ours_name, block_name in mapping.items():
            source, target = block_state[block_name], ours_state[ours_name]
            assert source.shape == target.shape, f"{ours_name} {tuple(target.shape)} <- {block_name} {tuple(source.shape)}"
            target.copy_(source.to(target.dtype))


def block_tail(block: torch.nn.Module, fused: torch.Tensor) -> torch.Tensor:
    """What block does after the fusion in eval mode: linear_out, then activ_output if any."""
    out = block.linear_out(fused)
    activation = getattr(block, "activ_output", None)
    return getattr(F, activation)(out) if activation else out


def run_block(block: torch.nn.Module, question: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(tensor entering block.linear_out, block's output)."""
    captured = {}
    handle = block.linear_out.register_forward_pre_hook(lambda module, args: captured.__setitem__("fused", args[0].detach().clone()))
    try:
        full = block([question, image])
    finally:
        handle.remove()
    return captured["fused"], full


def _linear(ours: str, theirs: str) -> dict[str, str]:
    return {f"{ours}.weight": f"{theirs}.weight", f"{ours}.bias": f"{theirs}.bias"}


def _tanh_after_input_linears(block: torch.nn.Module) -> torch.nn.Module:
    """Diagnostic: block's fusion with tanh applied to the outputs of linear0 / linear1."""
    block.linear0 = torch.nn.Sequential(block.linear0, torch.nn.Tanh())
    block.linear1 = torch.nn.Sequential(block.linear1, torch.nn.Tanh())
    return block


def cases(fusions: types.ModuleType, q_dim: int, v_dim: int, mm_dim: int, out_dim: int, rank: int, mcb_dim: int) -> list[dict]:
    """Each case: block's class and kwargs, our layer, the weight map, the expectation and why."""
    dims = [q_dim, v_dim]
    mlb_map = {**_linear("question_projection", "linear0"), **_linear("image_projection", "linear1")}
    mutan_map = {
        **_linear("question_projection", "linear0"),
        **_linear("image_projection", "linear1"),
        # block: m = merge_linear0(x0) * merge_linear1(x1); m.view(-1, rank, mm_dim).sum(1), so output unit
        # r * mm_dim + k is slice r, unit k. Ours: product.unflatten(-1, (rank, fused)).sum(-2): the same
        # rank-major layout, so W_q^r = merge_linear0.weight[r*mm_dim:(r+1)*mm_dim] with no permutation.
        **_linear("question_factors", "merge_linear0"),
        **_linear("image_factors", "merge_linear1"),
    }
    tucker_map = {
        **_linear("question_projection", "linear0"),
        **_linear("image_projection", "linear1"),
        "core.weight": "bilinear.weight",
        "core.bias": "bilinear.bias",
    }
    mcb_map = {
        "question_hash": "mcb.sketch1.h",
        "question_sign": "mcb.sketch1.s",
        "image_hash": "mcb.sketch2.h",
        "image_sign": "mcb.sketch2.s",
    }
    default_tanh = (
        "default switch differs: block's {cls} applies no activation to linear0/linear1 (its only behaviour); our "
        "{ours} defaults to tanh on both projections (MUTAN paper eq. 3, vqa.pytorch). projection_activation='none' "
        "matches (row above); the diagnostic row with tanh inserted into block's {cls} matches our default."
    )
    return [
        dict(
            name="MLB (block default, ReLU)",
            block_class="MLB", block_kwargs=dict(input_dims=dims, output_dim=out_dim, mm_dim=mm_dim),
            ours_class=LowRankBilinearFusion, ours_kwargs=dict(question_size=q_dim, image_size=v_dim, fused_size=mm_dim, activation="relu"),
            mapping=mlb_map, expected="matches",
            why="block's MLB default activ_input='relu' = our activation='relu'.",
        ),
        dict(
            name="MLB, activ_input='tanh' (Kim et al. 2017)",
            block_class="MLB", block_kwargs=dict(input_dims=dims, output_dim=out_dim, mm_dim=mm_dim, activ_input="tanh"),
            ours_class=LowRankBilinearFusion, ours_kwargs=dict(question_size=q_dim, image_size=v_dim, fused_size=mm_dim, activation="tanh"),
            mapping=mlb_map, expected="matches",
            why="tanh on both projections, as the MLB paper; our default.",
        ),
        dict(
            name="MLB, activ_input=None",
            block_class="MLB", block_kwargs=dict(input_dims=dims, output_dim=out_dim, mm_dim=mm_dim, activ_input=None),
            ours_class=LowRankBilinearFusion, ours_kwargs=dict(question_size=q_dim, image_size=v_dim, fused_size=mm_dim, activation="none"),
            mapping=mlb_map, expected="matches",
            why="pure low-rank bilinear pooling.",
        ),
        dict(
            name="MLB (block default) vs our default activation",
            block_class="MLB", block_kwargs=dict(input_dims=dims, output_dim=out_dim, mm_dim=mm_dim),
            ours_class=LowRankBilinearFusion, ours_kwargs=dict(question_size=q_dim, image_size=v_dim, fused_size=mm_dim, activation="tanh"),
            mapping=mlb_map, expected="differs",
            why="default switch differs: block ReLU, ours tanh (MLB paper); activation='relu' matches (first row).",
        ),
        dict(
            name="MLB, normalize=True",
            block_class="MLB", block_kwargs=dict(input_dims=dims, output_dim=out_dim, mm_dim=mm_dim, normalize=True),
            ours_class=LowRankBilinearFusion, ours_kwargs=dict(question_size=q_dim, image_size=v_dim, fused_size=mm_dim, activation="relu"),
            mapping=mlb_map, expected="differs",
            why="block applies signed sqrt + L2 to the product; LowRankBilinearFusion has no normalisation switch. "
            "normalize_bilinear(ours) matches (see the diagnostic column).",
            ours_post=normalize_bilinear,
        ),
        dict(
            name="MFB, factor=1",
            block_class="MFB", block_kwargs=dict(input_dims=dims, output_dim=out_dim, mm_dim=mm_dim, factor=1),
            ours_class=LowRankBilinearFusion, ours_kwargs=dict(question_size=q_dim, image_size=v_dim, fused_size=mm_dim, activation="relu"),
            mapping=mlb_map, expected="matches",
            why="MFB with factor 1 (no sum pooling) is MLB. With factor k > 1 block sums groups of k product units "
            "(view(B, mm_dim, k).sum(2)); LowRankBilinearFusion has no sum pooling, so it cannot express MFB k > 1 or MFH.",
        ),
        dict(
            name="Mutan (block default), projection_activation='none'",
            block_class="Mutan", block_kwargs=dict(input_dims=dims, output_dim=out_dim, mm_dim=mm_dim, rank=rank),
            ours_class=MutanFusion, ours_kwargs=dict(question_size=q_dim, image_size=v_dim, projected_size=mm_dim, fused_size=mm_dim, rank=rank, projection_activation="none", output_activation="none"),
            mapping=mutan_map, expected="matches",
            why="block's Mutan has linear input projections = our projection_activation='none'; the rank-major "
            "layout of merge_linear{0,1} maps onto question_factors/image_factors without permutation.",
        ),
        dict(
            name="Mutan (block default) vs our default projection_activation",
            block_class="Mutan", block_kwargs=dict(input_dims=dims, output_dim=out_dim, mm_dim=mm_dim, rank=rank),
            ours_class=MutanFusion, ours_kwargs=dict(question_size=q_dim, image_size=v_dim, projected_size=mm_dim, fused_size=mm_dim, rank=rank, output_activation="none"),
            mapping=mutan_map, expected="differs",
            why=default_tanh.format(cls="Mutan", ours="MutanFusion"),
        ),
        dict(
            name="Mutan + tanh after linear0/linear1 (diagnostic, modified block)",
            block_class="Mutan", block_kwargs=dict(input_dims=dims, output_dim=out_dim, mm_dim=mm_dim, rank=rank),
            block_modifier=_tanh_after_input_linears,
            ours_class=MutanFusion, ours_kwargs=dict(question_size=q_dim, image_size=v_dim, projected_size=mm_dim, fused_size=mm_dim, rank=rank, output_activation="none"),
            mapping={key: value.replace("linear0.", "linear0.0.").replace("linear1.", "linear1.0.") if value.startswith("linear") and not value.startswith("linear_") else value
                     for key, value in mutan_map.items()},
            expected="matches",
            why="with the input tanh added to block, block equals our default (the paper's tanh projections).",
        ),
        dict(
            name="Mutan, normalize=True",
            block_class="Mutan", block_kwargs=dict(input_dims=dims, output_dim=out_dim, mm_dim=mm_dim, rank=rank, normalize=True),
            ours_class=MutanFusion, ours_kwargs=dict(question_size=q_dim, image_size=v_dim, projected_size=mm_dim, fused_size=mm_dim, rank=rank, projection_activation="none", output_activation="none"),
            mapping=mutan_map, expected="differs",
            why="block's signed sqrt + L2 after the rank sum, which MutanFusion has no switch for (its "
            "output_activation is tanh/relu/none); normalize_bilinear(ours) matches (see the diagnostic column).",
            ours_post=normalize_bilinear,
        ),
        dict(
            name="Tucker (block default), projection_activation='none'",
            block_class="Tucker", block_kwargs=dict(input_dims=dims, output_dim=out_dim, mm_dim=mm_dim),
            ours_class=TuckerFusion, ours_kwargs=dict(question_size=q_dim, image_size=v_dim, projected_size=mm_dim, fused_size=mm_dim, projection_activation="none", output_activation="none"),
            mapping=tucker_map, expected="matches",
            why="block's Tucker has linear input projections = our projection_activation='none'; its nn.Bilinear "
            "core maps to ours as is.",
        ),
        dict(
            name="Tucker (block default) vs our default projection_activation",
            block_class="Tucker", block_kwargs=dict(input_dims=dims, output_dim=out_dim, mm_dim=mm_dim),
            ours_class=TuckerFusion, ours_kwargs=dict(question_size=q_dim, image_size=v_dim, projected_size=mm_dim, fused_size=mm_dim, output_activation="none"),
            mapping=tucker_map, expected="differs",
            why=default_tanh.format(cls="Tucker", ours="TuckerFusion"),
        ),
        dict(
            name="Tucker + tanh after linear0/linear1 (diagnostic, modified block)",
            block_class="Tucker", block_kwargs=dict(input_dims=dims, output_dim=out_dim, mm_dim=mm_dim),
            block_modifier=_tanh_after_input_linears,
            ours_class=TuckerFusion, ours_kwargs=dict(question_size=q_dim, image_size=v_dim, projected_size=mm_dim, fused_size=mm_dim, output_activation="none"),
            mapping={key: value.replace("linear0.", "linear0.0.").replace("linear1.", "linear1.0.") if value.startswith("linear") else value
                     for key, value in tucker_map.items()},
            expected="matches",
            why="with the input tanh added to block, block equals our default (the paper's tanh projections).",
        ),
        dict(
            name="MCB (block default)",
            block_class="MCB", block_kwargs=dict(input_dims=dims, output_dim=out_dim, mm_dim=mcb_dim),
            ours_class=CompactBilinearPooling, ours_kwargs=dict(question_size=q_dim, image_size=v_dim, output_size=mcb_dim, normalize=False),
            mapping=mcb_map, expected="matches",
            why="block's MCB has no signed sqrt + L2 (nor input linears); ours with normalize=False matches. "
            "Block's output adds linear_out + ReLU (activ_output).",
        ),
        dict(
            name=f"MCB, odd sketch size {mcb_dim - 1}",
            block_class="MCB", block_kwargs=dict(input_dims=dims, output_dim=out_dim, mm_dim=mcb_dim - 1),
            ours_class=CompactBilinearPooling, ours_kwargs=dict(question_size=q_dim, image_size=v_dim, output_size=mcb_dim - 1, normalize=False),
            mapping=mcb_map, expected="matches",
            why="same with an odd d (irfft length given explicitly on both sides).",
        ),
        dict(
            name="MCB vs our default normalize=True",
            block_class="MCB", block_kwargs=dict(input_dims=dims, output_dim=out_dim, mm_dim=mcb_dim),
            ours_class=CompactBilinearPooling, ours_kwargs=dict(question_size=q_dim, image_size=v_dim, output_size=mcb_dim, normalize=True),
            mapping=mcb_map, expected="differs",
            why="our default applies the signed sqrt + L2 of Fukui et al. (sec. 3.2) that block's MCB leaves out; "
            "normalize_bilinear(block's fused output) matches ours (see the diagnostic column).",
            block_post=normalize_bilinear,
        ),
    ]


def compare(case: dict, fusions: types.ModuleType, question: torch.Tensor, image: torch.Tensor, seed: int) -> dict:
    torch.manual_seed(seed)  # block draws its weights (and MCB's hashes/signs) from the global generator
    block = getattr(fusions, case["block_class"])(**case["block_kwargs"])
    if case.get("block_modifier"):
        block = case["block_modifier"](block)
    ours = case["ours_class"](**case["ours_kwargs"])
    copy_weights(ours, block, case["mapping"])
    block.eval()
    ours.eval()
    with torch.no_grad():
        block_fused, block_full = run_block(block, question, image)
        ours_fused = ours(question, image)
        ours_full = block_tail(block, ours_fused)
        fused_diff = (block_fused - ours_fused).abs().max().item()
        full_diff = (block_full - ours_full).abs().max().item()
        diagnostic = None
        if case.get("ours_post") is not None:
            diagnostic = ("normalize_bilinear(ours) vs block fused", (block_fused - case["ours_post"](ours_fused)).abs().max().item())
        if case.get("block_post") is not None:
            diagnostic = ("ours vs normalize_bilinear(block fused)", (case["block_post"](block_fused) - ours_fused).abs().max().item())
    verdict = "matches" if max(fused_diff, full_diff) < TOLERANCE else "differs"
    result = {
        "name": case["name"],
        "block": {"class": case["block_class"], "kwargs": case["block_kwargs"], "modified": bool(case.get("block_modifier"))},
        "ours": {"class": case["ours_class"].__name__, "kwargs": case["ours_kwargs"]},
        "weight_mapping": {ours_name: f"block.{block_name}" for ours_name, block_name in case["mapping"].items()},
        "fused_size": tuple(ours_fused.shape)[-1],
        "max_abs_diff_fused": fused_diff,
        "max_abs_diff_full": full_diff,
        "verdict": verdict,
        "expected": case["expected"],
        "why": case["why"],
    }
    if diagnostic is not None:
        result["diagnostic"] = {"comparison": diagnostic[0], "max_abs_diff": diagnostic[1], "verdict": "matches" if diagnostic[1] < TOLERANCE else "differs"}
    if verdict != case["expected"]:
        result["unexpected"] = True
    return result


def switches(kwargs: dict) -> str:
    skip = {"question_size", "image_size", "input_dims", "output_dim"}
    return ", ".join(f"{key}={value!r}" for key, value in kwargs.items() if key not in skip)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--question-size", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=30)
    parser.add_argument("--mm-dim", type=int, default=24, help="block's mm_dim = our fused (and projected) size")
    parser.add_argument("--rank", type=int, default=5)
    parser.add_argument("--mcb-dim", type=int, default=64)
    parser.add_argument("--output-dim", type=int, default=16, help="block's output_dim (its linear_out)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    fusions, block_version, adaptations = import_block()
    generator = torch.Generator().manual_seed(args.seed)
    question = torch.randn(args.batch, args.question_size, generator=generator)
    image = torch.randn(args.batch, args.image_size, generator=generator)

    results = [
        compare(case, fusions, question, image, args.seed)
        for case in cases(fusions, args.question_size, args.image_size, args.mm_dim, args.output_dim, args.rank, args.mcb_dim)
    ]

    print("Adaptations of block.bootstrap.pytorch made in this process only:")
    for line in adaptations:
        print(f"  - {line}")
    print()
    header = f"{'pair':<62} {'ours (switches)':<72} {'fused diff':>10} {'full diff':>10}  verdict"
    print(header)
    print("-" * len(header))
    for row in results:
        ours = f"{row['ours']['class']}({switches(row['ours']['kwargs'])})"
        flag = "  (UNEXPECTED)" if row.get("unexpected") else ""
        print(f"{row['name']:<62} {ours:<72} {row['max_abs_diff_fused']:>10.2e} {row['max_abs_diff_full']:>10.2e}  {row['verdict']}{flag}")
        print(f"    why: {row['why']}")
        if "diagnostic" in row:
            diag = row["diagnostic"]
            print(f"    diagnostic: {diag['comparison']}: {diag['max_abs_diff']:.2e} ({diag['verdict']})")

    payload = {
        "description": "hf_mmattn fusion layers vs block.bootstrap.pytorch reference fusions: block's weights copied into ours, "
        "eval mode, same random inputs. max_abs_diff_fused: block's tensor entering linear_out vs our output; "
        "max_abs_diff_full: block's forward vs block's linear_out (+ activ_output) applied to our output.",
        "command": "OMP_NUM_THREADS=1 python benchmarks/compare_block_bootstrap.py",
        "tolerance": TOLERANCE,
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "block.bootstrap.pytorch": block_version,
            "platform": platform.platform(),
            "threads": torch.get_num_threads(),
            "dtype": str(question.dtype),
            "date": datetime.date.today().isoformat(),
        },
        "adaptations_of_block": adaptations,
        "config": {
            "seed": args.seed, "batch": args.batch, "question_size": args.question_size, "image_size": args.image_size,
            "mm_dim": args.mm_dim, "rank": args.rank, "mcb_dim": args.mcb_dim, "output_dim": args.output_dim,
        },
        "not_compared": {
            "MFB factor>1, MFH": "sum pooling over groups of factor units: no counterpart among our layers",
            "Block, BlockTucker": "block-diagonal cores with signed sqrt + L2 per chunk (always on): with chunks=1 they "
            "are Mutan / Tucker with normalize=True: ours match them only with normalize_bilinear applied after",
            "LinearSum, ConcatMLP": "no counterpart among our layers",
        },
        "comparisons": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {args.output}")
    unexpected = [row["name"] for row in results if row.get("unexpected")]
    if unexpected:
        print(f"UNEXPECTED verdicts: {unexpected}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
