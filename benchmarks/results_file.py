"""The results files of the training benchmarks (bench_shapes_captions.py, bench_matching.py,
bench_text_classification.py): one JSON file per benchmark, holding the machine and a row per
model, rows of the models not run this time kept."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch


def machine() -> dict:
    """What the figures were measured on."""
    return {"platform": platform.platform(), "processor": platform.processor(), "torch": torch.__version__, "cpu_count": os.cpu_count()}


def read_results(path: Path) -> dict:
    """The file's results, ``{}`` before the first run."""
    return json.loads(path.read_text()) if path.exists() else {}


def record(path: Path, keys: tuple[str, ...], value) -> None:
    """Sets ``results[keys[0]][keys[1]]... = value`` and the machine, and writes the file. It is
    read again first: several runs (one per model) may share it."""
    results = read_results(path)
    results["machine"] = machine()
    entry = results
    for key in keys[:-1]:
        entry = entry.setdefault(key, {})
    entry[keys[-1]] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
