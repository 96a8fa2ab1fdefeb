#!/usr/bin/env python
"""Bilinear pooling on the generated co-occurrence textures: full bilinear (Lin et al. 2015),
compact bilinear by Tensor Sketch and Random Maclaurin at several dimensions (Gao et al. 2016)
and first-order average pooling, on the same backbone with the same budget; then the cost of the
poolings at the paper's size (512-channel 28 x 28 maps).

    python benchmarks/bench_image_classification.py                        # every pooling, then the cost
    python benchmarks/bench_image_classification.py --runs bilinear average
    python benchmarks/bench_image_classification.py --cost_only

Each run trains the bilinear CNN's "generated" preset (a two-block scratch CNN to a 12 x 12 grid
of 16 channels, so the full bilinear vector has 256 dimensions) with only the pooling changed,
by examples/image_classification/run_image_classification.py in a fresh process with
``OMP_NUM_THREADS=--threads``, in two regimes: 4,000 training images of 48 x 48 for 3 epochs in
batches of 64, and 480 (40 a class, about CUB-200-2011's 30) for 15 epochs in batches of 32;
Adam 2e-3 at a constant rate, seed 42, evaluated on the 1,000 test images (12 classes, chance
8.3%) after every epoch (the evaluations are inside the training time).

Cost (``torch.set_num_threads(--threads)``, wall time, run it on an idle machine): forward and
forward + backward of each pooling on a batch of 8 feature maps of 512 channels at 28 x 28 (VGG-16
relu5_3 at 448 x 448), the best of 3 after a warm-up, and the peak memory of each measured in a
fresh process (peak resident set size above the process's baseline); the classifier parameters
for 200 classes (CUB). Results go to benchmarks/results/image_classification.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import torch
from results_file import best_time, record, run_example
from transformers import AutoModelForImageClassification

import hf_mmattn  # noqa: F401  (registers the architectures)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks/results/image_classification.json"
RECIPE = ["--model_type", "bilinear_cnn", "--dataset", "textures", "--preset", "generated", "--num_validation_images", "0",
          "--num_test_images", "1000", "--learning_rate", "2e-3", "--lr_scheduler_type", "constant", "--seed", "42", "--eval_every_epoch"]
# Plenty of data, and 40 images a class (CUB-200-2011 has about 30).
REGIMES = {
    "4000_images": ["--num_train_images", "4000", "--num_train_epochs", "3", "--per_device_train_batch_size", "64"],
    "480_images": ["--num_train_images", "480", "--num_train_epochs", "15", "--per_device_train_batch_size", "32"],
}
RUNS = {
    "bilinear": "pooling=bilinear",
    "tensor_sketch_32": "pooling=tensor_sketch,pooled_size=32",
    "tensor_sketch_64": "pooling=tensor_sketch,pooled_size=64",
    "tensor_sketch_128": "pooling=tensor_sketch,pooled_size=128",
    "random_maclaurin_32": "pooling=random_maclaurin,pooled_size=32",
    "random_maclaurin_64": "pooling=random_maclaurin,pooled_size=64",
    "random_maclaurin_128": "pooling=random_maclaurin,pooled_size=128",
    "average": "pooling=average",
}
KEYS = ("accuracy", "top5_accuracy", "num_images", "train_time_s", "train_images_per_s", "completed_steps")
COST_POOLINGS = {"bilinear": {}, "tensor_sketch_8192": {"output_size": 8192}, "random_maclaurin_8192": {"output_size": 8192}, "average": {}}


def train(name: str, regime: str, output_dir: Path, threads: int) -> dict:
    command = [str(ROOT / "examples/image_classification/run_image_classification.py"), "--output_dir", str(output_dir),
               *RECIPE, *REGIMES[regime], "--config_overrides", RUNS[name]]
    results, wall, command_line = run_example(command, output_dir, threads)
    by_epoch = [float(value) for value in re.findall(r"epoch \d+: accuracy ([\d.]+)", output_dir.with_suffix(".log").read_text())]
    classifier = AutoModelForImageClassification.from_pretrained(output_dir).classifier
    return {**{key: results[key] for key in KEYS if key in results}, "accuracy_by_epoch": by_epoch, "pooled_size": classifier.in_features,
            "classifier_parameters": sum(p.numel() for p in classifier.parameters()), "script_wall_time_s": round(wall, 1),
            "threads": threads, "command": command_line}


def pooling_cost(name: str, batch: int = 8, channels: int = 512, side: int = 28) -> dict:
    """Time (ms) of the forward and forward + backward of pooling ``name`` on a batch of feature
    maps, and the peak memory above the baseline of this process (MiB)."""
    from hf_mmattn.layers.image_pooling import build_pooling

    kind = name.rsplit("_", 1)[0] if name[-1].isdigit() else name
    pooling = build_pooling(kind, channels, **COST_POOLINGS[name])
    features = torch.randn(batch, side * side, channels).relu()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def forward():
        with torch.no_grad():
            pooling(features)

    def forward_backward():
        leaf = features.clone().requires_grad_(True)
        pooling(leaf).sum().backward()

    forward_ms, backward_ms = 1000 * best_time(forward), 1000 * best_time(forward_backward)
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024  # ru_maxrss is in KiB on Linux
    return {"output_size": pooling.output_size, "classifier_parameters_200_classes": pooling.output_size * 200 + 200,
            "forward_ms": round(forward_ms, 1), "forward_backward_ms": round(backward_ms, 1), "peak_memory_mib": round(peak, 1),
            "batch": batch, "channels": channels, "locations": side * side}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output_dir", default=str(ROOT / "out/bench_image_classification"))
    parser.add_argument("--cost_only", action="store_true", help="only time the poolings at 512 channels, 28 x 28")
    parser.add_argument("--cost_of", choices=list(COST_POOLINGS), help=argparse.SUPPRESS)  # one pooling, in a fresh process
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.cost_of:
        print(json.dumps(pooling_cost(args.cost_of)))
        return
    if not args.cost_only:
        for regime in args.regimes:
            for name in args.runs:
                row = train(name, regime, Path(args.output_dir) / regime / name, args.threads)
                print(regime, name, json.dumps(row), flush=True)
                record(RESULTS, ("runs", regime, name), row)
    for name in COST_POOLINGS:
        # A fresh process each, so that the peak memory is this pooling's alone.
        output = subprocess.run([sys.executable, __file__, "--cost_of", name, "--threads", str(args.threads)], check=True,
                                capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)}).stdout
        row = json.loads(output.strip().splitlines()[-1])
        print(name, json.dumps(row), flush=True)
        record(RESULTS, ("pooling_cost", name), row)


if __name__ == "__main__":
    main()
