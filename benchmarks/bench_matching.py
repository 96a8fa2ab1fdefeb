#!/usr/bin/env python
"""Image–text retrieval quality of m-DAN (K = 2 attention steps) against the same encoders with
mean pooling (K = 0, no attention) on the generated shapes-captions test split after training on
CPU, and the cost of retrieval: gallery encoding throughput and query latency against 5,000 images.

    python benchmarks/bench_matching.py                           # both models, then the speed
    python benchmarks/bench_matching.py --models mdan             # one model
    python benchmarks/bench_matching.py --speed_only              # re-time the saved m-DAN

Each model is trained by examples/matching/run_matching.py with the same recipe (RECIPE below:
the m-DAN "scratch-cnn" preset or its "mean-pooling" twin, 5,000 training images x 5 captions,
Adam 2e-3 with linear decay, batch 128, seed 42) in a fresh process with
``OMP_NUM_THREADS=--threads``; the script evaluates retrieval both ways on the 1,000 test images
and their 5,000 captions (R@1/5/10, median rank; an image→text hit is any of the image's
captions), the scene-true R@1 (the top image for a caption makes it true by the generator's scene
description: shapes-captions sentences can be true of several scenes) and the recalls by number of
objects in the scene, written to each model's eval_results.json and gathered here.

Speed (m-DAN, ``torch.set_num_threads(--threads)``, wall time: run it on an idle machine):
images/s of ``get_image_features`` over a 5,000-image gallery in batches of 250; the latency of
one text query against it (encode the sentence, score the gallery, take the top 10), median of
100 queries; and the same for an image query against the 25,000 captions of the gallery.
Results go to benchmarks/results/matching.json (rows of other models are kept).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from results_file import record, run_example

import hf_mmattn  # noqa: F401  (registers the architectures)
from hf_mmattn import ImageTextRetrieval
from hf_mmattn.data import generate_shapes_captions

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks/results/matching.json"
RECIPE = ["--dataset", "shapes_captions", "--per_device_train_batch_size", "128", "--learning_rate", "2e-3", "--seed", "42",
          "--num_test_images", "1000", "--num_attention_figures", "4"]
# name: (--model_type, extra arguments)
MODELS = {
    "mdan": ("mdan", ["--preset", "scratch-cnn"]),
    "mean_pooling": ("mdan", ["--preset", "mean-pooling"]),
}
KEYS = ("image_to_text_r1", "image_to_text_r5", "image_to_text_r10", "image_to_text_median_rank", "text_to_image_r1",
        "text_to_image_r5", "text_to_image_r10", "text_to_image_median_rank", "rsum", "scene_true_r1", "by_objects",
        "num_images", "num_texts", "train_time_s", "train_pairs_per_s", "completed_steps")


def train(name: str, output_dir: Path, epochs: int, threads: int) -> dict:
    model_type, extra = MODELS[name]
    command = [str(ROOT / "examples/matching/run_matching.py"), "--model_type", model_type,
               "--output_dir", str(output_dir), "--num_train_epochs", str(epochs), *RECIPE, *extra]
    results, wall, command_line = run_example(command, output_dir, threads)
    return {**{key: results[key] for key in KEYS if key in results}, "script_wall_time_s": round(wall, 1), "num_train_epochs": epochs,
            "threads": threads, "command": command_line}


def speed(folder: Path, threads: int) -> dict:
    retrieval = ImageTextRetrieval.from_pretrained(folder, batch_size=250)
    gallery = generate_shapes_captions(0, 0, 5000, seed=7)["test"]
    images, captions = list(gallery["image"]), [c for image_captions in gallery["captions"] for c in image_captions]
    retrieval.encode_images(images[:250])  # warm-up
    start = time.perf_counter()
    image_embeds = retrieval.encode_images(images)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    text_embeds = retrieval.encode_texts(captions)
    text_encode_s = time.perf_counter() - start
    text_latency, image_latency = [], []
    for k in range(100):
        start = time.perf_counter()
        retrieval.rank_images(captions[k * 7], image_embeds, top_k=10)
        text_latency.append(time.perf_counter() - start)
    for k in range(100):
        start = time.perf_counter()
        retrieval.rank_texts(images[k * 7], text_embeds, top_k=10)
        image_latency.append(time.perf_counter() - start)
    return {
        "gallery_images": len(images), "gallery_images_per_s": round(len(images) / encode_s, 1),
        "gallery_captions": len(captions), "gallery_captions_per_s": round(len(captions) / text_encode_s, 1),
        "embedding_size": int(image_embeds.shape[1]),
        "text_query_ms_median": round(1000 * statistics.median(text_latency), 2),
        "image_query_ms_median": round(1000 * statistics.median(image_latency), 2),
        "batch_size": 250, "threads": threads,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--num_train_epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output_dir", default=str(ROOT / "out/bench_matching"))
    parser.add_argument("--speed_only", action="store_true", help="time retrieval with the m-DAN saved by an earlier run")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.speed_only:
        for name in args.models:
            row = train(name, Path(args.output_dir) / name, args.num_train_epochs, args.threads)
            print(name, json.dumps(row, indent=1), flush=True)
            record(RESULTS, ("models", name), row)
    if "mdan" in args.models:
        timing = speed(Path(args.output_dir) / "mdan", args.threads)
        print("speed", json.dumps(timing, indent=1), flush=True)
        record(RESULTS, ("speed",), timing)


if __name__ == "__main__":
    main()
