#!/usr/bin/env python
"""easy-VQA accuracy, training time, throughput, pipeline latency and memory of each VQA model.

    python benchmarks/bench_easy_vqa.py                 # every model, writes benchmarks/results/easy_vqa.json
    python benchmarks/bench_easy_vqa.py --models mcb mlb  # re-measure some; the other rows of the JSON are kept
    python benchmarks/bench_easy_vqa.py --reuse         # time the pipeline of models trained earlier

Each model is trained by examples/vqa/run_vqa.py with RECIPE (the one README.md gives), in a fresh process so that its peak memory is its own; then the saved folder is loaded
by ``pipeline("visual-question-answering")`` and timed on single questions. Run it on an idle
machine: the numbers are wall-clock times.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ["--num_train_epochs", "10", "--per_device_train_batch_size", "32", "--lr_scheduler_type", "constant"]
# name: (--model_type, extra arguments)
RECIPES = {
    "san": ("san", []),
    "san_1hop": ("san", ["--config_overrides", "num_hops=1"]),
    "san_linear_head": ("san", ["--config_overrides", "answer_head=linear"]),
    "lstm_q_norm_i": ("lstm_q_norm_i", []),
    "hiecoatt": ("hiecoatt", []),
    "mcb": ("mcb", []),
    "mlb": ("mlb", []),
    "mutan": ("mutan", []),
    "dan": ("dan", []),
    "ban": ("ban", []),
    "mcan": ("mcan", ["--learning_rate", "3e-4", "--lr_scheduler_type", "constant_with_warmup", "--num_warmup_steps", "1000"]),
}


def train(name: str, output_dir: Path, seed: int) -> dict:
    model_type, extra = RECIPES[name]
    command = [
        sys.executable, str(ROOT / "examples/vqa/run_vqa.py"), "--model_type", model_type, "--dataset", "easy_vqa",
        "--output_dir", str(output_dir), "--seed", str(seed), *RECIPE, *extra,
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    results = json.loads((output_dir / "eval_results.json").read_text())
    return {**results, "script_wall_time_s": round(wall, 1), "command": " ".join(command[1:])}


def pipeline_latency(output_dir: Path, repeats: int = 50) -> dict:
    import easy_vqa
    from transformers import pipeline

    import hf_mmattn  # noqa: F401

    vqa = pipeline("visual-question-answering", model=str(output_dir))
    image = easy_vqa.get_test_image_paths()[0]
    vqa(image=image, question="what color is the shape?")  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        vqa(image=image, question="what color is the shape?")
        times.append(time.perf_counter() - start)
    model = vqa.model
    return {
        "pipeline_latency_ms_median": round(1000 * statistics.median(times), 2),
        "pipeline_latency_ms_p90": round(1000 * sorted(times)[int(0.9 * len(times))], 2),
        "parameters": model.num_parameters(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work_dir", default=str(ROOT / "out/benchmarks"))
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/easy_vqa.json"))
    parser.add_argument("--reuse", action="store_true", help="skip training where WORK_DIR/<model> already has eval_results.json")
    args = parser.parse_args()

    report = {
        "machine": {"cpu_count": torch.get_num_threads(), "platform": platform.platform(), "torch": torch.__version__},
        "seed": args.seed,
        "models": {},
    }
    previous = json.loads(Path(args.output).read_text()) if Path(args.output).exists() else {}
    if previous.get("seed") == args.seed:
        # Rows of models not run this time are kept, so one model can be re-measured alone.
        report["models"] = {name: previous["models"][name] for name in RECIPES if name in previous.get("models", {})}
    for name in args.models:
        output_dir = Path(args.work_dir) / name
        print(f"training {name} ...", flush=True)
        if args.reuse and (output_dir / "eval_results.json").exists():
            result = json.loads((output_dir / "eval_results.json").read_text())
        else:
            result = train(name, output_dir, args.seed)
        result.update(pipeline_latency(output_dir))
        report["models"][name] = result
        report["models"] = {key: report["models"][key] for key in RECIPES if key in report["models"]}
        print(json.dumps({name: result}, indent=2), flush=True)
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(report, indent=2))  # after each model: a long run keeps what it measured
    print(f"wrote {args.output}\n")
    print(markdown_table(report))


def markdown_table(report: dict) -> str:
    """The results table of benchmarks/README.md."""
    lines = [
        "| model | parameters | VQA acc. | yes/no | shape | color | train time (s) | train questions/s | pipeline latency, median (ms) | peak memory (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in report["models"].items():
        per_type = r.get("per_answer_type", {})
        lines.append(
            f"| {name} | {r['parameters']:,} | {r['vqa_accuracy']:.2f} | {per_type.get('yes/no', float('nan')):.2f} "
            f"| {per_type.get('shape', float('nan')):.2f} | {per_type.get('color', float('nan')):.2f} | {r['train_time_s']} "
            f"| {r['train_questions_per_s']} | {r['pipeline_latency_ms_median']} | {r['peak_memory_mib']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
