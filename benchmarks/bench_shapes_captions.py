#!/usr/bin/env python
"""Caption quality of Show and Tell, SAT-soft and SAT-hard on the generated shapes-captions test
split after training on CPU, and the speed of greedy and beam-5 decoding.

    python benchmarks/bench_shapes_captions.py                          # all the models of MODELS
    python benchmarks/bench_shapes_captions.py --models sat_hard sat_hard_arctic   # hard attention, both REINFORCE scales
    python benchmarks/bench_shapes_captions.py --models sat_hard --num_train_epochs 5
    python benchmarks/bench_shapes_captions.py --speed_only             # re-time decoding of saved models

Each model is trained by examples/captioning/run_captioning.py with the same recipe (RECIPE
below: its shapes-captions presets, 5,000 training images x 5 captions, Adam 1e-3 with linear
decay, batch 32, gradient norm clipped at 5, seed 42) in a fresh process with
``OMP_NUM_THREADS=--threads``, then captions the 500 test images with beam search (beam 3) and
is scored with pycocoevalcap (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D against the 5 references).
Because the grammar of the generated captions is known, the script also measures what the n-gram
metrics blur, from the script's generated_captions.json: the share of the image's objects
("red circle") a caption names (object recall), the share of named objects that are really there
(object precision), of the relations and positions it states the share that are true, and the
share of captions naming exactly the scene's objects — over all images and by number of objects,
since scenes with 2 or 3 objects are where a captioner has to look at several places.

Speed: captions per second of greedy and beam-5 decoding (at most 25 new words), one image at a
time and in batches of 50, with ``torch.set_num_threads(--threads)``, and beam-5's cost relative
to greedy. Run on an idle machine: the numbers are wall times. Results go to
benchmarks/results/shapes_captions.json (rows of other models are kept).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import torch
from results_file import read_results, record, run_example
from transformers import AutoModelForImageTextToText, AutoProcessor

import hf_mmattn  # noqa: F401  (registers the captioners)
from hf_mmattn.data import generate_shapes_captions
from hf_mmattn.data.shapes_captions import (
    RELATIONS,
    SHAPES_CAPTIONS_COLORS,
    SHAPES_CAPTIONS_SHAPES,
    relations_between,
    where_phrase,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks/results/shapes_captions.json"
RECIPE = ["--dataset", "shapes_captions", "--per_device_train_batch_size", "32", "--learning_rate", "1e-3",
          "--num_beams", "3", "--seed", "42"]
# name: (--model_type, extra arguments)
MODELS = {
    "show_tell": ("show_tell", []),
    "sat_soft": ("show_attend_tell", ["--attention_type", "soft"]),
    "sat_hard": ("show_attend_tell", ["--attention_type", "hard"]),
    # REINFORCE and entropy terms on arctic-captions' scale (summed over the batch, reward per word).
    "sat_hard_arctic": ("show_attend_tell", ["--attention_type", "hard", "--config_overrides", "reinforce_normalization=arctic"]),
}
OBJECT = re.compile(rf"\b({'|'.join(SHAPES_CAPTIONS_COLORS)}) ({'|'.join(SHAPES_CAPTIONS_SHAPES)})\b")
RELATION = re.compile(rf"\b(?:a|the) (\w+ \w+) ({'|'.join(RELATIONS)}) (?:a|the) (\w+ \w+)\b")
POSITION = re.compile(r"\b(?:a|one|the) (\w+ \w+) (at the top left|at the top right|at the bottom left|at the bottom right"
                      r"|at the top|at the bottom|on the left|on the right|in the middle)\b")


def grounding(caption: str, objects: list[dict]) -> dict:
    """Counts of named/true objects, relations and positions of one caption against the scene."""
    by_name = {f"{o['color']} {o['shape']}": o for o in objects}
    named = set(OBJECT.findall(caption))
    named = {" ".join(pair) for pair in named}
    relations = RELATION.findall(caption)
    true_relations = sum(a in by_name and b in by_name and rel in relations_between(by_name[a], by_name[b]) for a, rel, b in relations)
    positions = POSITION.findall(caption)
    true_positions = sum(name in by_name and where_phrase(by_name[name]["row"], by_name[name]["column"]) == where
                         for name, where in positions)
    return {"objects": len(objects), "named": len(named), "named_present": len(named & by_name.keys()),
            "relations": len(relations), "true_relations": true_relations,
            "positions": len(positions), "true_positions": true_positions}


def summarize_grounding(rows: list[dict]) -> dict:
    def ratio(a, b):
        total = sum(r[b] for r in rows)
        return round(100 * sum(r[a] for r in rows) / total, 2) if total else None

    return {"images": len(rows), "object_recall": ratio("named_present", "objects"),
            "object_precision": ratio("named_present", "named"), "relation_accuracy": ratio("true_relations", "relations"),
            "position_accuracy": ratio("true_positions", "positions"),
            "exact_scene": round(100 * sum(r["named_present"] == r["objects"] == r["named"] for r in rows) / len(rows), 2)}


def caption_all(model, pixel_values, num_beams: int, batch_size: int = 100, max_new_tokens: int = 25):
    sequences = []
    with torch.no_grad():
        for start in range(0, len(pixel_values), batch_size):
            sequences += model.generate(pixel_values=pixel_values[start:start + batch_size], num_beams=num_beams,
                                        do_sample=False, max_new_tokens=max_new_tokens).tolist()
    return sequences


def decoding_speed(model, pixel_values, num_beams: int, batch_size: int, count: int) -> float:
    """Captions per second."""
    images = pixel_values[:count]
    caption_all(model, images[:batch_size], num_beams, batch_size)  # warm-up
    start = time.perf_counter()
    caption_all(model, images, num_beams, batch_size)
    return round(len(images) / (time.perf_counter() - start), 1)


def train(name: str, output_dir: Path, epochs: int, threads: int) -> dict:
    model_type, extra = MODELS[name]
    command = [str(ROOT / "examples/captioning/run_captioning.py"), "--model_type", model_type,
               "--output_dir", str(output_dir), "--num_train_epochs", str(epochs), *RECIPE, *extra]
    results, wall, command_line = run_example(command, output_dir, threads)
    return {**results, "script_wall_time_s": round(wall, 1), "num_train_epochs": epochs, "threads": threads, "command": command_line}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--num_train_epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output_dir", default=str(ROOT / "out/bench_shapes_captions"))
    parser.add_argument("--speed_only", action="store_true", help="time decoding of the models saved by an earlier run")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    test = generate_shapes_captions(0, 0, 500)["test"]  # the script's test split (seed 0, 500 images)
    test_objects = list(test["objects"])
    for name in args.models:
        folder = Path(args.output_dir) / name
        row = read_results(RESULTS).get("models", {}).get(name, {}) if args.speed_only else {"training": train(name, folder, args.num_train_epochs, args.threads)}
        captions = json.loads((folder / "generated_captions.json").read_text())
        by_image = {entry["image_id"]: entry["caption"] for entry in captions}
        rows = [grounding(by_image[i], objects) for i, objects in enumerate(test_objects)]
        row["grounding"] = {"all": summarize_grounding(rows),
                            **{f"{k}_objects": summarize_grounding([r for r in rows if r["objects"] == k]) for k in (1, 2, 3)}}
        row["examples"] = [{"prediction": by_image[i], "reference": test["captions"][i][0]} for i in range(5)]

        model = AutoModelForImageTextToText.from_pretrained(folder).eval()
        processor = AutoProcessor.from_pretrained(folder)
        pixels = processor.image_processor(list(test["image"]), return_tensors="pt")["pixel_values"]
        speed = {f"{mode}_batch{batch}_captions_per_s": decoding_speed(model, pixels, beams, batch, 100 if batch == 1 else 500)
                 for mode, beams in (("greedy", 1), ("beam5", 5)) for batch in (1, 50)}
        for batch in (1, 50):
            speed[f"beam5_cost_vs_greedy_batch{batch}"] = round(
                speed[f"greedy_batch{batch}_captions_per_s"] / speed[f"beam5_batch{batch}_captions_per_s"], 2)
        row["speed"] = {**speed, "threads": args.threads, "max_new_tokens": 25}
        print(name, json.dumps(row, indent=1), flush=True)
        record(RESULTS, ("models", name), row)


if __name__ == "__main__":
    main()
