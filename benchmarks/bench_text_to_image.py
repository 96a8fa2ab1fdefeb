"""Text-to-image benchmark: GAN vs GAN-CLS vs GAN-INT vs GAN-INT-CLS on shapes-captions.

    python benchmarks/bench_text_to_image.py                        # the four objectives, two at a time
    python benchmarks/bench_text_to_image.py --variants gan gan-cls  # some of them
    python benchmarks/bench_text_to_image.py --speed_only           # re-time the saved GAN-INT-CLS

Each variant is trained by examples/text_to_image/run_text_to_image.py with the same recipe
(RECIPE below: the "shapes" preset, ngf = ndf = 16, the paper's Adam 2e-4 / β1 0.5 /
batch 64, ``--max_train_steps`` steps, seed 42) on the frozen text encoder of the m-DAN that
``benchmarks/bench_matching.py --models mdan`` trains (``--text_encoder``; trained first when
missing), ``OMP_NUM_THREADS=--threads`` each, ``--parallel`` runs at a time. One scene classifier,
trained once on the real training scenes, judges every variant (and is validated on the real
test scenes); the m-DAN ranks the captions for R-precision. Results go to
benchmarks/results/text_to_image.json; the table printed at the end is the README's.

Speed (wall time: run it on an idle machine): ``generate()`` throughput of the GAN-INT-CLS folder at
batch 64 and the ``text-to-image`` pipeline's latency for one caption and one image (median of 50
calls), on 2 threads; the seconds of one training step of each objective at batch 64, on 1 and 2
threads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from results_file import record, run_example

import hf_mmattn  # noqa: F401  (registers the architectures)
from hf_mmattn.data import generate_shapes_captions
from hf_mmattn.tasks.text_to_image.metrics import evaluator_accuracy, train_scene_classifier

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks/results/text_to_image.json"
VARIANTS = ("gan", "gan-cls", "gan-int", "gan-int-cls")
RECIPE = ["--dataset", "shapes_captions", "--preset", "shapes", "--seed", "42", "--num_test_images", "1000", "--num_eval_images", "1000"]
KEYS = ("color", "shape", "position", "object_count", "caption_true", "r_precision", "real_r_precision", "diversity",
        "evaluator_real_exact_scene", "evaluator_real_color", "evaluator_real_shape", "evaluator_real_caption_true",
        "num_images", "images_per_s", "train_time_s", "train_pairs_per_s", "completed_steps")


def ensure_text_encoder(folder: Path, threads: int) -> None:
    """The m-DAN of bench_matching.py, trained now when it is not there."""
    if (folder / "model.safetensors").exists():
        return
    print(f"training the m-DAN text encoder into {folder} (benchmarks/bench_matching.py --models mdan)", flush=True)
    run_example([str(ROOT / "benchmarks/bench_matching.py"), "--models", "mdan", "--threads", str(threads),
                 "--output_dir", str(folder.parent)], folder.parent / "bench_matching_run", threads)


def ensure_scene_evaluator(folder: Path, epochs: int, threads: int) -> dict:
    """One scene classifier for every variant, trained on the real training scenes (the script's
    default data: 5,000 scenes, seed 0) and validated on the 1,000 real test scenes."""
    from hf_mmattn.tasks.text_to_image.metrics import SceneClassifier

    splits = generate_shapes_captions(5000, 500, 1000)
    if (folder / "config.json").exists():
        classifier = SceneClassifier.load(folder)
        train_s = None
    else:
        torch.set_num_threads(threads)
        start = time.perf_counter()
        classifier = train_scene_classifier(splits["train"], epochs=epochs, seed=42)
        train_s = round(time.perf_counter() - start, 1)
        classifier.save(folder)
    validation = evaluator_accuracy(classifier, splits["test"])
    return {"train_time_s": train_s, "epochs": epochs, "exact_scene": validation["exact_scene"],
            "shape_accuracy": validation["shape_accuracy"], "cell_accuracy": validation["cell_accuracy"],
            "caption_consistency": validation["caption_consistency"]}


def train(variant: str, output_dir: Path, args, earlier: dict | None) -> dict:
    """One variant's run. It checkpoints every 500 steps; a run that finds checkpoints resumes
    from the latest (training nothing when it is the last step: the run then only evaluates, e.g.
    with a new scene evaluator), its training time added to the earlier run's."""
    command = [str(ROOT / "examples/text_to_image/run_text_to_image.py"), "--output_dir", str(output_dir), "--loss_type", variant,
               "--text_encoder_name_or_path", str(args.text_encoder), "--scene_evaluator", str(args.scene_evaluator),
               "--max_train_steps", str(args.max_train_steps), "--checkpointing_steps", "500", *RECIPE]
    resumed = (output_dir / "checkpoints").is_dir()
    if resumed:
        command += ["--resume_from_checkpoint", "latest"]
    results, wall, command_line = run_example(command, output_dir, args.threads)
    if resumed:  # the time of the run(s) before is the earlier row's, unknown without one
        results["train_time_s"] = results["train_time_s"] + earlier["train_time_s"] if earlier else None
        wall = wall + earlier["script_wall_time_s"] if earlier else None
    return {**{key: results[key] for key in KEYS if key in results}, "script_wall_time_s": round(wall, 1) if wall else None,
            "max_train_steps": args.max_train_steps, "threads": args.threads,
            "parallel_runs": args.parallel, "command": command_line}


def speed(folder: Path, threads: int) -> dict:
    from transformers import AutoModel, AutoProcessor, pipeline

    torch.set_num_threads(threads)
    model, processor = AutoModel.from_pretrained(folder).eval(), AutoProcessor.from_pretrained(folder)
    captions = [c[0] for c in generate_shapes_captions(0, 0, 64, seed=7)["test"]["captions"]]
    inputs = processor(text=captions)
    generator = torch.Generator().manual_seed(0)
    model.generate(**inputs, generator=generator)  # warm-up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        model.generate(**inputs, generator=generator)
        times.append(time.perf_counter() - start)
    painter = pipeline("text-to-image", model=str(folder))
    painter(captions[0])
    latency = []
    for k in range(50):
        start = time.perf_counter()
        painter(captions[k % len(captions)], generator=generator)
        latency.append(time.perf_counter() - start)
    return {"batch_size": 64, "images_per_s": round(64 / statistics.median(times), 1),
            "pipeline_latency_ms_median": round(1000 * statistics.median(latency), 2), "threads": threads}


def step_times(text_encoder: Path, threads: int, steps: int = 10) -> dict:
    """Seconds per training step (batch 64, the "shapes" preset, the frozen m-DAN text encoder) of
    each objective, the median of ``steps`` after 2 warm-up steps, on ``threads`` threads."""
    from accelerate import Accelerator
    from transformers import AutoModel

    from hf_mmattn import GanIntClsModel, MatchingProcessor, TextToImageProcessor
    from hf_mmattn.models.gan_int_cls import GAN_INT_CLS_PRESETS
    from hf_mmattn.tasks.text_to_image.training import TextToImageGANStep
    from hf_mmattn.training import make_scheduler

    torch.set_num_threads(threads)
    train = generate_shapes_captions(64, 0, 0)["train"]
    processor = TextToImageProcessor.from_tokenizer(MatchingProcessor.from_pretrained(text_encoder).tokenizer)
    batch = dict(processor(text=[captions[0] for captions in train["captions"]], images=list(train["image"])))
    times = {}
    for variant in VARIANTS:
        torch.manual_seed(0)
        model = GanIntClsModel.from_text_encoder(AutoModel.from_pretrained(text_encoder), loss_type=variant,
                                                 **GAN_INT_CLS_PRESETS["shapes"]).train()
        step = TextToImageGANStep(model, torch.optim.Adam(model.generator.parameters(), lr=2e-4, betas=(0.5, 0.999)),
                                  torch.optim.Adam(TextToImageGANStep.discriminator_parameters(model), lr=2e-4, betas=(0.5, 0.999)))
        accelerator = Accelerator(cpu=True)
        schedule = argparse.Namespace(lr_scheduler_type="constant", num_warmup_steps=0, max_train_steps=steps + 2)
        step.schedulers = {name: make_scheduler(schedule, optimizer, accelerator) for name, optimizer in step.optimizers.items()}
        durations = []
        for k in range(steps + 2):
            start = time.perf_counter()
            step(accelerator, batch)
            if k >= 2:
                durations.append(time.perf_counter() - start)
        times[variant] = round(statistics.median(durations), 3)
    return {"threads": threads, "batch_size": 64, "seconds_per_step": times}


def table(results: dict) -> str:
    rows = ["| objective | colours shown | objects shown | captions true | R-precision | diversity | training |",
            "|---|---|---|---|---|---|---|"]
    for variant in VARIANTS:
        row = results.get("variants", {}).get(variant)
        if row is None:
            continue
        r_precision = f"{100 * row['r_precision']:.1f}" if row.get("r_precision") is not None else "–"
        rows.append(f"| {variant.upper()} | {100 * row['color']:.1f} | {100 * row['shape']:.1f} | {100 * row['caption_true']:.1f} | "
                    f"{r_precision} | {row['diversity']:.3f} | {row['completed_steps']} steps |")
    real = results.get("scene_evaluator")
    if real:
        consistency = real["caption_consistency"]
        rows.append(f"| real test images | {100 * consistency['color']:.1f} | {100 * consistency['shape']:.1f} | "
                    f"{100 * consistency['caption_true']:.1f} | "
                    f"{100 * next(iter(results['variants'].values()))['real_r_precision']:.1f} | | |")
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--max_train_steps", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of each run")
    parser.add_argument("--parallel", type=int, default=2, help="runs at a time")
    parser.add_argument("--evaluator_epochs", type=int, default=6)
    parser.add_argument("--text_encoder", type=Path, default=ROOT / "out/bench_matching/mdan")
    parser.add_argument("--output_dir", type=Path, default=ROOT / "out/bench_text_to_image")
    parser.add_argument("--scene_evaluator", type=Path, default=None,
                        help="a saved scene classifier (default: <output_dir>/scene_evaluator, trained when missing)")
    parser.add_argument("--speed_only", action="store_true", help="time generation with the GAN-INT-CLS saved by an earlier run")
    args = parser.parse_args(argv)
    args.scene_evaluator = args.scene_evaluator or args.output_dir / "scene_evaluator"
    if not args.speed_only:
        ensure_text_encoder(args.text_encoder, 2)
        evaluator = ensure_scene_evaluator(args.scene_evaluator, args.evaluator_epochs, 2)
        print("scene evaluator", json.dumps(evaluator, indent=1), flush=True)
        record(RESULTS, ("scene_evaluator",), evaluator)
        with ThreadPoolExecutor(args.parallel) as pool:
            earlier = json.loads(RESULTS.read_text()).get("variants", {}) if RESULTS.exists() else {}
            runs = {variant: pool.submit(train, variant, args.output_dir / variant, args, earlier.get(variant))
                    for variant in args.variants}
            for variant, run in runs.items():
                row = run.result()
                print(variant, json.dumps(row, indent=1), flush=True)
                record(RESULTS, ("variants", variant), row)
    if (args.output_dir / "gan-int-cls" / "model.safetensors").exists():
        timing = speed(args.output_dir / "gan-int-cls", 2)
        print("speed", json.dumps(timing, indent=1), flush=True)
        record(RESULTS, ("speed",), timing)
        for threads in (1, 2):
            timing = step_times(args.text_encoder, threads)
            print("training steps", json.dumps(timing), flush=True)
            record(RESULTS, ("training_step", f"{threads}_threads"), timing)
    print(table(json.loads(RESULTS.read_text())))


if __name__ == "__main__":
    main()
