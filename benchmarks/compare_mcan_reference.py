#!/usr/bin/env python
"""Our MCAN against the authors' code: the same logits from converted weights, then speed.

    OMP_NUM_THREADS=1 python benchmarks/compare_mcan_reference.py --reference PATH/TO/MILVLG+openvqa
    OMP_NUM_THREADS=1 python benchmarks/compare_mcan_reference.py --reference PATH/TO/MILVLG+mcan-vqa --format mcan-vqa
    OMP_NUM_THREADS=1 python benchmarks/compare_mcan_reference.py --reference PATH/TO/MILVLG+openvqa --speed

``--reference`` is a checkout of MILVLG/openvqa or MILVLG/mcan-vqa (the format is detected from
its files). Its model code is imported unchanged (``openvqa.models.mcan.net.Net`` /
``core.model.net.Net``); the configuration object it expects (``__C``) is stubbed with the values
of its released configs. Nothing in the checkout is patched.

Equivalence, per size (a tiny one and MCAN-small, the released size; ``--sizes`` adds
``mcan-large``): the ORIGINAL model is built with its own random initialisation, its LayerNorm
parameters randomised too (they start at 1 and 0, where a swapped mapping would not show), saved
as an original checkpoint (``{'state_dict', 'optimizer', 'lr_base', 'epoch'}``, keys
``module.``-prefixed as after multi-GPU training), converted with ``python -m hf_mmattn.convert
mcan`` and loaded back with ``AutoModelForVisualQuestionAnswering``. Both run in eval mode on the
same questions (4..14 words, padded with 0 to 14) and zero-padded region features (10..100 real
regions of 100), our model reading the region mask from the zero rows as the original does. The
logits are compared BEFORE the sigmoid: mcan-vqa's Net applies ``torch.sigmoid`` in its forward,
so its pre-sigmoid logits are taken from its ``proj`` layer with a forward hook (OpenVQA's Net
returns them directly). Pass: max |difference| <= 1e-5 in float32.

``--speed``: MCAN-small (d=512, 6+6 layers, 3129 answers, 20,000 words), batch 64, 100 regions
(10..100 real), questions of 14 tokens (4..14 real), one thread. Training step = forward + BCE
(sum, the released loss) + backward + Adam step (betas 0.9/0.98, eps 1e-9, as released; the same
``torch.optim.Adam`` for both); inference = forward in eval mode under ``torch.inference_mode``.
Each measurement runs in its own subprocess (so peak memory is that run's own ``ru_maxrss``),
implementations interleaved, ``--repeats`` times. Rows: the original; ours with the released
LayerNorm (the same maths as the original: what converted weights run); ours with
``nn.LayerNorm`` (the paper's, the default for new models); extra rows for ours under
``torch.compile`` and under CPU bf16 autocast. Results go to ``benchmarks/results/mcan_reference.json``.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "mcan_reference.json"

SIZES = {
    "tiny": dict(LAYER=2, HIDDEN_SIZE=64, FF_SIZE=256, MULTI_HEAD=8, FLAT_MLP_SIZE=32, FLAT_GLIMPSES=2, FLAT_OUT_SIZE=96,
                 WORD_EMBED_SIZE=300, IMG_FEAT_SIZE=2048, TOKENS=500, ANSWERS=50),
    "mcan-small": dict(LAYER=6, HIDDEN_SIZE=512, FF_SIZE=2048, MULTI_HEAD=8, FLAT_MLP_SIZE=512, FLAT_GLIMPSES=1,
                       FLAT_OUT_SIZE=1024, WORD_EMBED_SIZE=300, IMG_FEAT_SIZE=2048, TOKENS=20000, ANSWERS=3129),
    "mcan-large": dict(LAYER=6, HIDDEN_SIZE=1024, FF_SIZE=4096, MULTI_HEAD=8, FLAT_MLP_SIZE=512, FLAT_GLIMPSES=1,
                       FLAT_OUT_SIZE=2048, WORD_EMBED_SIZE=300, IMG_FEAT_SIZE=2048, TOKENS=20000, ANSWERS=3129),
}
REGIONS, WORDS = 100, 14


# --- the original code -------------------------------------------------------------------------

def detect_reference_format(reference: Path) -> str:
    if (reference / "openvqa" / "models" / "mcan" / "net.py").is_file():
        return "openvqa"
    if (reference / "core" / "model" / "net.py").is_file():
        return "mcan-vqa"
    raise SystemExit(f"{reference} is neither a MILVLG/openvqa nor a MILVLG/mcan-vqa checkout")


def original_config(size: str, use_bbox_feat: bool = False) -> types.SimpleNamespace:
    """The ``__C`` object both codes read, with the released configs' values (dropout 0.1)."""
    values = {k: v for k, v in SIZES[size].items() if k not in ("TOKENS", "ANSWERS")}
    return types.SimpleNamespace(
        **values,
        HIDDEN_SIZE_HEAD=values["HIDDEN_SIZE"] // values["MULTI_HEAD"],
        DROPOUT_R=0.1,
        USE_GLOVE=False,
        # OpenVQA's adapter
        DATASET="vqa",
        FEAT_SIZE={"vqa": {"FRCN_FEAT_SIZE": (REGIONS, values["IMG_FEAT_SIZE"]), "BBOX_FEAT_SIZE": (REGIONS, 5)}},
        USE_BBOX_FEAT=use_bbox_feat,
        BBOXFEAT_EMB_SIZE=2048,
        USE_AUX_FEAT=False,
    )


def import_original_net(reference: Path, format: str):
    sys.path.insert(0, str(reference))
    if format == "openvqa":
        from openvqa.models.mcan.net import Net
    else:
        from core.model.net import Net
    return Net


def build_original(reference: Path, format: str, size: str, seed: int = 0, use_bbox_feat: bool = False):
    Net = import_original_net(reference, format)
    torch.manual_seed(seed)
    sizes = SIZES[size]
    net = Net(original_config(size, use_bbox_feat), None, sizes["TOKENS"], sizes["ANSWERS"])
    with torch.no_grad():
        for name, parameter in net.named_parameters():
            if name.endswith(("a_2", "b_2")):  # LayerNorm: away from 1 / 0 so a swapped mapping shows
                parameter.copy_(torch.empty_like(parameter).uniform_(0.5, 1.5) if name.endswith("a_2") else 0.1 * torch.randn_like(parameter))
    return net


def original_logits(net, format: str, features, question_ids, boxes=None):
    """The original model's answer logits BEFORE any sigmoid."""
    captured = {}
    hook = net.proj.register_forward_hook(lambda module, inputs, output: captured.setdefault("logits", output))
    try:
        if format == "openvqa":
            net(features, None, boxes, question_ids)
        else:
            net(features, question_ids)
    finally:
        hook.remove()
    return captured["logits"]


def make_inputs(batch: int, sizes: dict, seed: int = 1, feature_size: int = 2048, min_real: int = 10):
    """Questions of 4..14 words padded with 0 to 14; 100 regions of which ``min_real``..100 are
    real (the rest zero, as the original loaders pad); boxes normalised to [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(4, WORDS + 1, (batch,), generator=generator)
    question_ids = torch.randint(1, sizes["TOKENS"], (batch, WORDS), generator=generator)
    question_ids[torch.arange(WORDS)[None, :] >= lengths[:, None]] = 0
    real = torch.randint(min_real, REGIONS + 1, (batch,), generator=generator)
    region_mask = torch.arange(REGIONS)[None, :] < real[:, None]
    features = torch.rand(batch, REGIONS, feature_size, generator=generator) * region_mask[..., None]
    corners = torch.rand(batch, REGIONS, 2, 2, generator=generator).sort(dim=2).values
    boxes = corners.transpose(2, 3).reshape(batch, REGIONS, 4) * region_mask[..., None]
    return question_ids, features, boxes, region_mask


# --- equivalence -------------------------------------------------------------------------------

def convert_original(net, format: str, size: str, folder: Path) -> Path:
    from hf_mmattn.convert import main as convert_main

    sizes = SIZES[size]
    checkpoint = folder / "epoch13.pkl"
    state_dict = {f"module.{key}": value for key, value in net.state_dict().items()}
    torch.save({"state_dict": state_dict, "optimizer": {}, "lr_base": 1e-4, "epoch": 13}, checkpoint)
    answers = [f"answer {i}" for i in range(sizes["ANSWERS"])]
    (folder / "answer_dict.json").write_text(json.dumps([{a: i for i, a in enumerate(answers)}, {str(i): a for i, a in enumerate(answers)}]))
    first = ["PAD", "UNK"] + (["CLS"] if format == "openvqa" else [])
    words = first + [f"word{i}" for i in range(sizes["TOKENS"] - len(first))]
    (folder / "token_to_ix.json").write_text(json.dumps({w: i for i, w in enumerate(words)}))
    return convert_main([
        "mcan", "--checkpoint", str(checkpoint), "--answer_dict", str(folder / "answer_dict.json"),
        "--token_to_ix", str(folder / "token_to_ix.json"), "--output_dir", str(folder / "converted"),
    ])


def equivalence(reference: Path, format: str, size: str, batch: int, use_bbox_feat: bool = False) -> dict:
    from transformers import AutoModelForVisualQuestionAnswering

    import hf_mmattn  # noqa: F401

    net = build_original(reference, format, size, use_bbox_feat=use_bbox_feat).eval()
    with tempfile.TemporaryDirectory() as tmp:
        folder = convert_original(net, format, size, Path(tmp))
        ours = AutoModelForVisualQuestionAnswering.from_pretrained(folder).eval()
    question_ids, features, boxes, region_mask = make_inputs(batch, SIZES[size])
    with torch.no_grad():
        expected = original_logits(net, format, features, question_ids, boxes if use_bbox_feat else None)
        attention_mask = (question_ids != 0).long()
        actual = ours(input_ids=question_ids, attention_mask=attention_mask, image_features=features,
                      image_boxes=boxes if use_bbox_feat else None).logits
        explicit = ours(input_ids=question_ids, attention_mask=attention_mask, image_features=features,
                        image_attention_mask=region_mask.long(), image_boxes=boxes if use_bbox_feat else None).logits
        trimmed = ours(input_ids=question_ids[:, : int(attention_mask.sum(1).max())], attention_mask=attention_mask[:, : int(attention_mask.sum(1).max())],
                       image_features=features, image_boxes=boxes if use_bbox_feat else None).logits
    difference = (actual - expected).abs().max().item()
    return {
        "format": format,
        "size": size,
        "box_features": use_bbox_feat,
        "parameters": sum(p.numel() for p in net.parameters()),
        "batch": batch,
        "max_abs_diff_logits": difference,
        "max_abs_diff_with_explicit_region_mask": (explicit - expected).abs().max().item(),
        "max_abs_diff_questions_padded_to_longest": (trimmed - expected).abs().max().item(),
        "logit_scale": expected.abs().max().item(),
        "same_top_answer": bool((actual.argmax(-1) == expected.argmax(-1)).all()),
        "pass": difference <= 1e-5,
    }


# --- speed -------------------------------------------------------------------------------------

def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def allocated_bytes() -> int:
    """Bytes the C allocator has handed out and not taken back (glibc ``mallinfo2``: heap in use +
    mmapped blocks): tensors plus everything else, but not memory freed and kept by the allocator."""
    info = _LIBC.mallinfo2()
    return info.uordblks + info.hblkhd


_LIBC = ctypes.CDLL("libc.so.6")
_LIBC.mallinfo2.restype = _MallInfo2


class PeakAllocated(TorchDispatchMode):
    """Samples ``allocated_bytes`` after every aten op (forward, backward and optimizer ops all go
    through the dispatcher): the step's peak of memory actually in use, independent of how much
    freed memory the allocator keeps mapped (which is what RSS shows)."""

    def __enter__(self):
        self.start = self.peak = allocated_bytes()
        return super().__enter__()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.peak = max(self.peak, allocated_bytes())
        return out


def build_ours(variant: str, sizes: dict):
    import hf_mmattn  # noqa: F401
    from hf_mmattn import McanConfig, McanForVisualQuestionAnswering

    config = McanConfig.from_preset(
        "mcan-small",
        vocab_size=sizes["TOKENS"],
        id2label={i: str(i) for i in range(sizes["ANSWERS"])},
        label2id={str(i): i for i in range(sizes["ANSWERS"])},
        layer_norm_form="paper" if variant == "ours_paper_layer_norm" else "code",
        mask_all_zero_regions=True,
    )
    return McanForVisualQuestionAnswering(config)


def measure(args) -> dict:
    """One measurement (run in its own process): returns samples/s per step and peak memory."""
    import hf_mmattn  # noqa: F401  (imported for every row: the same libraries in memory)

    torch.set_num_threads(1)
    torch.manual_seed(0)
    sizes = SIZES["mcan-small"]
    implementation, mode = args.measure, args.mode
    reference_format = detect_reference_format(args.reference)
    if implementation == "original":
        model = build_original(args.reference, reference_format, "mcan-small")
    else:
        model = build_ours(implementation, sizes)
    question_ids, features, _, _ = make_inputs(args.batch, sizes, min_real=args.min_real_regions)
    attention_mask = (question_ids != 0).long()
    targets = (torch.rand(args.batch, sizes["ANSWERS"], generator=torch.Generator().manual_seed(2)) < 0.002).float()

    if implementation == "original":
        sigmoid_inside = reference_format == "mcan-vqa"

        def forward():
            return model(features, None, None, question_ids) if reference_format == "openvqa" else model(features, question_ids)
    else:
        sigmoid_inside = False
        runner = model
        if implementation == "ours_compile":
            runner = torch.compile(model)

        def forward():
            return runner(input_ids=question_ids, attention_mask=attention_mask, image_features=features).logits

    def loss_of(output):
        if sigmoid_inside:  # mcan-vqa: sigmoid in the model, BCELoss(reduction='sum')
            return torch.nn.functional.binary_cross_entropy(output, targets, reduction="sum")
        return torch.nn.functional.binary_cross_entropy_with_logits(output, targets, reduction="sum")

    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if implementation == "ours_bf16" else None
    if mode == "train":
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)

        def step():
            with autocast or _null():
                loss = loss_of(forward())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    else:
        model.eval()

        def step():
            with torch.inference_mode(), autocast or _null():
                forward()

    baseline = rss_mb()
    times = []
    for index in range(args.warmup + args.steps):
        start = time.perf_counter()
        step()
        elapsed = time.perf_counter() - start
        if index >= args.warmup:
            times.append(elapsed)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracker = PeakAllocated()
    if implementation != "ours_compile":  # compiled graphs run fused kernels, not per-op dispatch
        with tracker:
            step()
    return {
        "implementation": implementation,
        "mode": mode,
        "batch": args.batch,
        "step_seconds": times,
        "samples_per_second": args.batch * len(times) / sum(times),
        "peak_rss_mb": peak,
        "rss_before_steps_mb": baseline,
        "peak_increase_mb": peak - baseline,
        "step_peak_allocated_mb": (tracker.peak - tracker.start) / 2**20 if implementation != "ours_compile" else None,
    }


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def speed(args) -> dict:
    implementations = ["original", "ours_code_layer_norm", "ours_paper_layer_norm"]
    extras = [name for name in ("ours_compile", "ours_bf16") if name in args.extra_rows]
    runs = []
    for mode in args.modes:
        steps = args.train_steps if mode == "train" else args.infer_steps
        for repeat in range(args.repeats):
            for implementation in implementations + (extras if repeat == 0 else []):
                command = [
                    sys.executable, __file__, "--reference", str(args.reference), "--measure", implementation, "--mode", mode,
                    "--batch", str(args.batch), "--steps", str(steps), "--warmup", str(args.warmup),
                    "--min_real_regions", str(args.min_real_regions),
                ]
                result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
                if result.returncode != 0:
                    print(result.stderr[-3000:], file=sys.stderr)
                    raise SystemExit(f"measurement {implementation} {mode} failed")
                run = json.loads(result.stdout.strip().splitlines()[-1])
                run["repeat"] = repeat
                runs.append(run)
                print(f"{mode:5s} {implementation:24s} {run['samples_per_second']:7.2f} samples/s  peak {run['peak_rss_mb']:7.0f} MB "
                      f"(+{run['peak_increase_mb']:.0f} MB during the steps)", flush=True)
    return {"runs": runs, "summary": summarize(runs)}


def summarize(runs: list[dict]) -> dict:
    """Per mode and implementation: the median samples/s over the repeats and its ratio to the
    original's median, and the speed-up against the original of the SAME repeat (the runs of one
    repeat ran back to back, under the same load from other processes on the machine)."""
    summary = {}
    for mode in dict.fromkeys(run["mode"] for run in runs):
        rows = {}
        for implementation in dict.fromkeys(run["implementation"] for run in runs):
            mine = [run for run in runs if run["mode"] == mode and run["implementation"] == implementation]
            same_repeat = [
                run["samples_per_second"] / original["samples_per_second"]
                for run in mine
                for original in runs
                if original["mode"] == mode and original["implementation"] == "original" and original["repeat"] == run["repeat"]
            ]
            rows[implementation] = {
                "samples_per_second_median": statistics.median(r["samples_per_second"] for r in mine),
                "samples_per_second_runs": [r["samples_per_second"] for r in mine],
                "speedup_vs_original_same_repeat": same_repeat,
                "step_peak_allocated_mb": max((r["step_peak_allocated_mb"] for r in mine if r["step_peak_allocated_mb"] is not None), default=None),
                "peak_rss_mb_max": max(r["peak_rss_mb"] for r in mine),
            }
        original = rows["original"]["samples_per_second_median"]
        for row in rows.values():
            row["speedup_vs_original_median"] = row["samples_per_second_median"] / original
        summary[mode] = rows
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, required=True, help="checkout of MILVLG/openvqa or MILVLG/mcan-vqa")
    parser.add_argument("--format", choices=("openvqa", "mcan-vqa"), default=None, help="checked against the checkout's files")
    parser.add_argument("--sizes", default="tiny,mcan-small", help="comma-separated sizes for the equivalence check: " + ", ".join(SIZES))
    parser.add_argument("--speed", action="store_true", help="also measure training and inference speed")
    parser.add_argument("--modes", nargs="+", default=["train", "infer"], choices=["train", "infer"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--min_real_regions", type=int, default=10,
                        help="speed inputs: each image has a uniform min..100 real regions of 100 (100: no padding)")
    parser.add_argument("--train_steps", type=int, default=2)
    parser.add_argument("--infer_steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--extra_rows", nargs="*", default=["ours_compile", "ours_bf16"], choices=["ours_compile", "ours_bf16"])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.reference = args.reference.resolve()

    if args.measure:
        print(json.dumps(measure(args)))
        return

    torch.set_num_threads(1)
    format = detect_reference_format(args.reference)
    if args.format and args.format != format:
        raise SystemExit(f"--format {args.format} but {args.reference} is a {format} checkout")
    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor(),
        "threads": torch.get_num_threads(),
        "reference": str(args.reference),
        "format": format,
        "equivalence": [],
    }
    for size in args.sizes.split(","):
        for boxes in ([False, True] if format == "openvqa" and size == "tiny" else [False]):
            result = equivalence(args.reference, format, size, batch=8, use_bbox_feat=boxes)
            report["equivalence"].append(result)
            print(json.dumps(result), flush=True)
    if args.speed:
        report[f"speed_{args.min_real_regions}_to_{REGIONS}_real_regions"] = {
            "setting": {
                "batch": args.batch, "regions": REGIONS, "question_tokens": WORDS, "answers": SIZES["mcan-small"]["ANSWERS"],
                "vocabulary": SIZES["mcan-small"]["TOKENS"], "threads": 1,
                "real_regions_per_image": f"uniform {args.min_real_regions}..{REGIONS}", "warmup_steps": args.warmup,
                "train_steps": args.train_steps, "infer_steps": args.infer_steps, "repeats": args.repeats,
                "original_format": format,
            },
            **speed(args),
        }
    previous = json.loads(args.output.read_text()) if args.output.is_file() else {}
    previous.setdefault(format, {}).update(report)  # keeps the speed runs of other settings
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(previous, indent=2))
    print(f"wrote {args.output}")
    if not all(result["pass"] for result in report["equivalence"]):
        raise SystemExit("the logits differ by more than 1e-5")


if __name__ == "__main__":
    main()
