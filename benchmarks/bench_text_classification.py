#!/usr/bin/env python
"""Document classification on the generated deciding-sentence documents: HAN against a flat
bi-GRU with one attention over all the words and a mean-pooled bag of embeddings, at equal
budget; the share of HAN's sentence attention on the deciding sentences; speed, and how the cost
grows with the length of a document.

    python benchmarks/bench_text_classification.py                        # the three models, then the speed
    python benchmarks/bench_text_classification.py --models han           # one model
    python benchmarks/bench_text_classification.py --speed_only           # re-time the saved models

Each model is trained by examples/text_classification/run_text_classification.py with the same
recipe (RECIPE below: HAN's "generated" preset or its "flat-gru" / "mean-pooling" twins, 5,000
training documents of 5-30 sentences, Adam 2e-3 with linear decay, batch 32, seed 42) in a fresh
process with ``OMP_NUM_THREADS=--threads``, and evaluated on the 1,000 test documents (accuracy;
for HAN the mean share of the sentence attention on the deciding sentences).

Speed (``torch.set_num_threads(--threads)``, wall time: run it on an idle machine): documents/s
of inference in batches of 64 test documents; and the time of one batch of 16 documents of 5,
10, 20, 40 and 80 sentences (sentences of the generated task), forward only and forward +
backward. Results go to benchmarks/results/text_classification.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from results_file import best_time, read_results, record, run_example
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import hf_mmattn  # noqa: F401  (registers the architectures)
from hf_mmattn.data import generate_deciding_sentence_documents

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks/results/text_classification.json"
RECIPE = ["--dataset", "deciding_sentences", "--per_device_train_batch_size", "32", "--learning_rate", "2e-3", "--seed", "42",
          "--num_attention_figures", "4"]
MODELS = {"han": ["--preset", "generated"], "flat_gru": ["--preset", "flat-gru"], "mean_pooling": ["--preset", "mean-pooling"]}
KEYS = ("accuracy", "deciding_sentence_attention", "num_documents", "train_time_s", "train_documents_per_s", "completed_steps")
LENGTHS = (5, 10, 20, 40, 80)


def train(name: str, output_dir: Path, epochs: int, threads: int) -> dict:
    command = [str(ROOT / "examples/text_classification/run_text_classification.py"), "--model_type", "han",
               "--output_dir", str(output_dir), "--num_train_epochs", str(epochs), *RECIPE, *MODELS[name]]
    results, wall, command_line = run_example(command, output_dir, threads)
    parameters = AutoModelForSequenceClassification.from_pretrained(output_dir).num_parameters()
    return {**{key: results[key] for key in KEYS if key in results}, "parameters": parameters, "script_wall_time_s": round(wall, 1),
            "num_train_epochs": epochs, "threads": threads, "command": command_line}


def speed(folder: Path, threads: int) -> dict:
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    test = generate_deciding_sentence_documents(0, 0, 1000)["test"]
    texts = list(test["text"])

    def classify_all():
        with torch.no_grad():
            for start in range(0, len(texts), 64):
                model(**tokenizer(texts[start:start + 64], padding=True, return_tensors="pt"))

    inference = len(texts) / best_time(classify_all, repeats=1)
    sentences = [s for document in generate_deciding_sentence_documents(0, 0, 200, seed=3)["test"]["sentences"] for s in document]
    by_length = {}
    for length in LENGTHS:
        documents = [" ".join(sentences[(k * length + j) % len(sentences)] for j in range(length)) for k in range(16)]
        batch = tokenizer(documents, padding=True, return_tensors="pt")

        def forward(batch=batch):
            with torch.no_grad():
                model(**batch)

        def forward_backward(batch=batch):
            model.zero_grad()
            model(**batch, labels=torch.zeros(16, dtype=torch.long)).loss.backward()

        by_length[str(length)] = {"forward_ms": round(1000 * best_time(forward), 1), "forward_backward_ms": round(1000 * best_time(forward_backward), 1),
                                  "tokens": int(batch["attention_mask"].sum())}
    return {"inference_documents_per_s": round(inference, 1), "batch_size": 64, "batch_of_16_by_sentences": by_length, "threads": threads}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--num_train_epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output_dir", default=str(ROOT / "out/bench_text_classification"))
    parser.add_argument("--speed_only", action="store_true", help="time the models saved by an earlier run")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.models:
        folder = Path(args.output_dir) / name
        previous = read_results(RESULTS).get("models", {}).get(name, {})
        row = previous if args.speed_only else train(name, folder, args.num_train_epochs, args.threads)
        row["speed"] = speed(folder, args.threads)
        print(name, json.dumps(row, indent=1), flush=True)
        record(RESULTS, ("models", name), row)


if __name__ == "__main__":
    main()
