"""What the training benchmarks (bench_shapes_captions.py, bench_matching.py,
bench_text_classification.py, bench_image_classification.py) share: their results files, one
JSON file per benchmark holding the machine and a row per model (rows of the models not run this
time kept); the run of an example script in a fresh process; the best time of a function."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
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


def run_example(command: list[str], output_dir: Path, threads: int) -> tuple[dict, float, str]:
    """Runs ``python <command>`` (an example script writing ``output_dir``) in a fresh process with
    ``OMP_NUM_THREADS=threads``, its output in ``<output_dir>.log``. Returns the run's
    ``eval_results.json``, the script's wall time (s) and the command as a shell line."""
    start = time.perf_counter()
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(output_dir.with_suffix(".log"), "w") as stream:
        subprocess.run([sys.executable, *command], check=True, stdout=stream, stderr=subprocess.STDOUT,
                       env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    wall = time.perf_counter() - start
    results = json.loads((output_dir / "eval_results.json").read_text())
    return results, wall, f"OMP_NUM_THREADS={threads} python " + " ".join(command)


def best_time(function, repeats: int = 3) -> float:
    """The shortest of ``repeats`` timed calls of ``function`` (s), after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)
