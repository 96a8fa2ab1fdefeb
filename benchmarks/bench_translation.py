#!/usr/bin/env python
"""Bahdanau et al.'s headline result in miniature: BLEU by source length for the encoder-decoder
without attention (RNNencdec), RNNsearch (Bahdanau's additive attention) and Luong's global
attention (general score, input feeding), trained on the same data with the same budget; and the
cost of beam search.

    python benchmarks/bench_translation.py                          # the three models, then the speed and the plot
    python benchmarks/bench_translation.py --models rnnsearch       # one model
    python benchmarks/bench_translation.py --speed_only             # re-time the saved models

Each model is trained by examples/translation/run_translation.py with the same recipe (RECIPE
below: the "numbers" sizes, 20,000 generated English → German number-word sentences of 1-63
source tokens, 4 epochs, Adam 2e-3 with linear decay, batch 64, seed 42) in a fresh process with
``OMP_NUM_THREADS=--threads``, and evaluated on the 1,000 test sentences with beam search (5
beams): sacreBLEU's BLEU and chrF overall and BLEU by source length (buckets of 10 tokens).

Speed (``torch.set_num_threads(--threads)``, wall time: run it on an idle machine): test
sentences translated per second in batches of 64, greedy and with 5 beams, and the ratio. The
plot of BLEU by source length (the papers' figure 2 / figure 6) goes to
benchmarks/results/translation_bleu_by_length.png; the numbers to benchmarks/results/translation.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from results_file import best_time, read_results, record, run_example
from transformers import AutoModelForSeq2SeqLM, AutoProcessor

import hf_mmattn  # noqa: F401  (registers the architectures)
from hf_mmattn.data import generate_number_translation

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks/results/translation.json"
PLOT = ROOT / "benchmarks/results/translation_bleu_by_length.png"
RECIPE = ["--dataset", "number_words", "--per_device_train_batch_size", "64", "--learning_rate", "2e-3", "--seed", "42",
          "--num_beams", "5", "--max_new_tokens", "80", "--num_alignment_figures", "4", "--preset", "numbers"]
MODELS = {
    "rnnencdec": ["--model_type", "bahdanau", "--config_overrides", "attention=none"],
    "rnnsearch": ["--model_type", "bahdanau"],
    "luong_general_input_feeding": ["--model_type", "luong"],
}
LABELS = {
    "rnnencdec": "RNNencdec (no attention)", "rnnsearch": "RNNsearch (Bahdanau)",
    "luong_general_input_feeding": "Luong general + input feeding",
}
KEYS = ("bleu", "chrf", "bleu_by_source_length", "num_sentences", "train_time_s", "train_sentence_pairs_per_s", "completed_steps")


def train(name: str, output_dir: Path, epochs: int, threads: int) -> dict:
    command = [str(ROOT / "examples/translation/run_translation.py"), "--output_dir", str(output_dir), "--num_train_epochs", str(epochs),
               *RECIPE, *MODELS[name]]
    results, wall, command_line = run_example(command, output_dir, threads)
    parameters = AutoModelForSeq2SeqLM.from_pretrained(output_dir).num_parameters()
    return {**{key: results[key] for key in KEYS if key in results}, "parameters": parameters, "script_wall_time_s": round(wall, 1),
            "num_train_epochs": epochs, "threads": threads, "command": command_line}


def speed(folder: Path, threads: int) -> dict:
    model = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    processor = AutoProcessor.from_pretrained(folder)
    sources = list(generate_number_translation(0, 0, 1000)["test"]["source"])
    batches = [processor(text=sources[start:start + 64]) for start in range(0, len(sources), 64)]

    def translate(num_beams: int):
        for batch in batches:
            model.generate(**batch, num_beams=num_beams)

    greedy = len(sources) / best_time(lambda: translate(1), repeats=1)
    beam = len(sources) / best_time(lambda: translate(5), repeats=1)
    return {"greedy_sentences_per_s": round(greedy, 1), "beam5_sentences_per_s": round(beam, 1),
            "beam5_time_over_greedy": round(greedy / beam, 2), "batch_size": 64, "threads": threads}


def plot(models: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for name, row in models.items():
        buckets = [b for b in row.get("bleu_by_source_length", []) if b["count"]]
        ax.plot([b["bucket"] for b in buckets], [b["bleu"] for b in buckets], marker="o", label=LABELS.get(name, name))
    ax.set_xlabel("source length (tokens)")
    ax.set_ylabel("BLEU (beam 5)")
    ax.set_title("English → German number words, same data and budget")
    ax.legend()
    fig.savefig(path, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--num_train_epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output_dir", default=str(ROOT / "out/bench_translation"))
    parser.add_argument("--speed_only", action="store_true", help="time the models saved by an earlier run")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.models:
        folder = Path(args.output_dir) / name
        previous = read_results(RESULTS).get("models", {}).get(name, {})
        row = previous if args.speed_only else train(name, folder, args.num_train_epochs, args.threads)
        row["speed"] = speed(folder, args.threads)
        print(name, json.dumps({k: v for k, v in row.items() if k != "bleu_by_source_length"}, indent=1), flush=True)
        record(RESULTS, ("models", name), row)
    plot(read_results(RESULTS)["models"], PLOT)


if __name__ == "__main__":
    main()
