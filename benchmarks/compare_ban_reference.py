"""BAN: hf-mmattn against the authors' code (jnhwkim/ban-vqa): same logits, and speed.

    OMP_NUM_THREADS=1 python benchmarks/compare_ban_reference.py --reference /path/to/ban-vqa
    OMP_NUM_THREADS=1 python benchmarks/compare_ban_reference.py --reference /path/to/ban-vqa --speed

1. Equivalence. Imports ban-vqa's model code from the checkout (patching, inside this process
   only, its ``torch._six`` import and the in-place dropout after a ReLU that breaks backward on
   current torch), builds its BanModel (``build_ban(dataset, 1280, op='c', gamma=8)``) with random
   weights for a fake dataset, saves its state dict as a ban-vqa checkpoint
   (``{'epoch', 'model_state', 'optimizer_state'}``, ``module.`` keys) with a dictionary.pkl and a
   label2ans.pkl, converts them with ``python -m hf_mmattn.convert ban`` and compares the logits on
   the same inputs: questions tokenised by ban-vqa's ``Dictionary.tokenize`` and padded as its
   dataset does (with unknown words), regions zero-padded as its ``trim_collate`` (one image with
   fewer regions than the counter's 10), boxes. Also checks that the converted processor gives the
   original ids.
2. ``--speed``: training step (forward + backward + Adamax step) and inference throughput at the
   released size (hidden 1280, 8 glimpses, 3129 answers, 2048-d features), batch 64, 100 regions,
   14 tokens; original and ours in turn, interleaved repeats, each measurement in its own
   subprocess (one thread), with the peak RSS increase over the measured steps (sampled every
   5 ms). Extra rows: ours under CPU bf16 autocast and ours with ``torch.compile``.

Writes ``benchmarks/results/ban_reference.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results" / "ban_reference.json"
QUESTIONS = [
    "What color is the man's shirt?",
    "How many dogs are there?",
    "Is the zebra eating grass, or sleeping?",
    "what is on the table",
    "Is there a flibbertigibbet near the quokka?",  # unknown words
    "How many people are standing on the left side of the red bus in this picture today?",  # > 14 words
]


# --- the original code ---------------------------------------------------------------------------

def import_reference(path: str):
    """ban-vqa's modules, importable on current torch: ``torch._six`` (gone since torch 2.0) is
    provided with the one name utils.py reads, and h5py (only needed by dataset.py's loaders) is
    stubbed when missing."""
    if "torch._six" not in sys.modules:
        six = types.ModuleType("torch._six")
        six.string_classes = (str, bytes)
        sys.modules["torch._six"] = six
    try:
        import h5py  # noqa: F401
    except ImportError:
        sys.modules["h5py"] = types.ModuleType("h5py")
    sys.path.insert(0, str(Path(path).resolve()))
    import base_model
    import dataset

    return base_model, dataset


def fix_inplace_dropout(model: torch.nn.Module) -> None:
    """SimpleClassifier's ReLU → Dropout(inplace=True) overwrites what ReLU's backward needs
    (an error on current torch); the same dropout out of place computes the same thing."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.inplace = False


def build_reference(base_model, dataset, ntoken: int, num_answers: int, hidden: int = 1280, glimpses: int = 8, v_dim: int = 2048,
                    words: list[str] = ()):
    words = list(words) + [f"word{i}" for i in range(ntoken - len(words))]
    vocabulary = dataset.Dictionary({w: i for i, w in enumerate(words)}, list(words))
    fake = types.SimpleNamespace(dictionary=vocabulary, v_dim=v_dim, num_ans_candidates=num_answers)
    model = base_model.build_ban(fake, hidden, op="c", gamma=glimpses, task="vqa")
    fix_inplace_dropout(model)
    return model, vocabulary


def randomize(model: torch.nn.Module, seed: int = 0) -> None:
    """Random weights everywhere, so that every tensor's conversion shows in the logits: weight
    norms g away from ‖v‖, non-trivial piecewise-linear maps (first weight 0, as trained ones)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("_g"):
                v = dict(model.named_parameters())[name[:-2] + "_v"]
                scale = 0.3 if name.endswith("h_mat_g") else 1.0
                parameter.copy_(v.norm() * scale * (0.5 + torch.rand((), generator=generator)))
            elif name.startswith("counter.f."):
                parameter.copy_(torch.rand(parameter.shape, generator=generator) + 0.1)
                parameter[0] = 0
            elif "emb" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
                parameter[-1] = 0  # padding_idx row
            elif name.endswith("h_bias"):
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
            else:
                parameter.copy_((torch.rand(parameter.shape, generator=generator) - 0.5) * 2 / max(1, parameter.shape[-1]) ** 0.5)


def reference_question_ids(vocabulary, question: str, max_length: int = 14) -> list[int]:
    """ban-vqa's VQAFeatureDataset.tokenize for one question."""
    tokens = vocabulary.tokenize(question, False)[:max_length]
    return tokens + [vocabulary.padding_idx] * (max_length - len(tokens))


def make_regions(batch: int, num_regions: int, real: list[int], v_dim: int, seed: int = 0):
    """Features (batch, regions, v_dim) and ban-vqa spatials (x1, y1, x2, y2, w, h), zero beyond
    each image's real regions, as trim_collate pads."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.rand(batch, num_regions, v_dim, generator=generator)
    corner = torch.rand(batch, num_regions, 2, generator=generator) * 0.6
    size = torch.rand(batch, num_regions, 2, generator=generator) * 0.4 + 0.05
    spatials = torch.cat([corner, corner + size, size], dim=-1)
    for row, count in enumerate(real):
        features[row, count:] = 0
        spatials[row, count:] = 0
    return features, spatials


# --- equivalence -----------------------------------------------------------------------------------

TOLERANCES = {"float64": 1e-10, "float32": 1e-5}  # max |Δ logit|


def disagreements(equivalence: dict) -> list[str]:
    """What differs: the question ids, a logit beyond the tolerance, or a top answer."""
    found = [] if equivalence["ids_match"] else ["the converted processor's question ids differ from ban-vqa's"]
    for dtype, tolerance in TOLERANCES.items():
        if not equivalence[f"max_abs_diff_{dtype}"] <= tolerance:
            found.append(f"{dtype}: max |Δ logit| {equivalence[f'max_abs_diff_{dtype}']:.3g} > {tolerance:g}")
        if not equivalence[f"same_top_answer_{dtype}"]:
            found.append(f"{dtype}: a top answer differs")
    return found


def check_equivalence(reference: str, workdir: Path) -> dict:
    from transformers import AutoModelForVisualQuestionAnswering, AutoProcessor

    import hf_mmattn  # noqa: F401
    from hf_mmattn.convert import main as convert_main

    base_model, dataset = import_reference(reference)
    ntoken, num_answers = 500, 3129
    torch.manual_seed(0)
    # The questions' words (but two unknown ones) then fillers; the last word is ban-vqa's UNK.
    known = []
    for question in QUESTIONS:
        for word in question.lower().replace(",", "").replace("?", "").replace("'s", " 's").split():
            if word not in ("flibbertigibbet", "quokka") and word not in known:
                known.append(word)
    original, vocabulary = build_reference(base_model, dataset, ntoken, num_answers, words=known)
    randomize(original)
    original.eval()

    checkpoint, dictionary, label2ans = workdir / "model_epoch12.pth", workdir / "dictionary.pkl", workdir / "label2ans.pkl"
    state = {f"module.{k}": v for k, v in original.state_dict().items()}
    torch.save({"epoch": 12, "model_state": state, "optimizer_state": {}}, checkpoint)
    with open(dictionary, "wb") as file:
        pickle.dump([vocabulary.word2idx, vocabulary.idx2word], file)
    with open(label2ans, "wb") as file:
        pickle.dump([f"answer {i}" for i in range(num_answers)], file)
    folder = convert_main(["ban", "--checkpoint", str(checkpoint), "--dictionary", str(dictionary),
                           "--label2ans", str(label2ans), "--output_dir", str(workdir / "converted")])
    ours = AutoModelForVisualQuestionAnswering.from_pretrained(folder).eval()
    processor = AutoProcessor.from_pretrained(folder)

    original_ids = torch.tensor([reference_question_ids(vocabulary, q) for q in QUESTIONS])
    encoded = processor(text=QUESTIONS)
    ids_match = torch.equal(encoded["input_ids"][:, :14], original_ids[:, : encoded["input_ids"].shape[1]]) and bool(
        (original_ids[:, encoded["input_ids"].shape[1]:] == ntoken).all()
    )
    features, spatials = make_regions(len(QUESTIONS), 36, [36, 20, 12, 7, 36, 25], 2048)

    result = {"ids_match": ids_match, "unknown_word_id": ntoken - 1, "pad_id": ntoken}
    for dtype in (torch.float64, torch.float32):
        original.to(dtype)
        ours.to(dtype)
        with torch.no_grad():
            expected, _ = original(features.to(dtype), spatials.to(dtype), original_ids, None)
            actual = ours(**encoded, image_features=features.to(dtype), image_boxes=spatials[..., :4].to(dtype)).logits
        result[f"max_abs_diff_{str(dtype).split('.')[-1]}"] = (actual - expected).abs().max().item()
        result[f"logit_scale_{str(dtype).split('.')[-1]}"] = expected.abs().max().item()
        result[f"same_top_answer_{str(dtype).split('.')[-1]}"] = bool((actual.argmax(-1) == expected.argmax(-1)).all())
    return result


# --- speed ------------------------------------------------------------------------------------------

class PeakRSS:
    """Peak resident memory above the level at start, sampled every 5 ms in a thread."""

    def __init__(self):
        import psutil

        self.process = psutil.Process()

    def __enter__(self):
        self.start = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def increase_mib(self) -> float:
        return (self.peak - self.start) / 2**20


def measure(reference: str, implementation: str, mode: str, steps: int, batch: int, regions: int, variant: str) -> dict:
    """One measurement (run in a fresh process): build the model, one warm-up step, then ``steps``
    timed steps."""
    torch.manual_seed(0)
    ntoken, num_answers = 20000, 3129
    features, spatials = make_regions(batch, regions, [regions] * batch, 2048)
    generator = torch.Generator().manual_seed(1)
    lengths = torch.randint(4, 15, (batch,), generator=generator)
    ids = torch.randint(0, ntoken - 1, (batch, 14), generator=generator)
    mask = torch.arange(14)[None] < lengths[:, None]
    ids[~mask] = ntoken
    labels = (torch.rand(batch, num_answers, generator=generator) > 0.999).float()

    if implementation == "reference":
        base_model, dataset = import_reference(reference)
        model, _ = build_reference(base_model, dataset, ntoken, num_answers)

        def forward():
            return model(features, spatials, ids, None)[0]
    else:
        import hf_mmattn  # noqa: F401
        from hf_mmattn import BanConfig, BanForVisualQuestionAnswering

        config = BanConfig.from_preset(
            "ban-vqa", vocab_size=ntoken + 1, pad_token_id=ntoken, question_padding="released",
            id2label={i: str(i) for i in range(num_answers)}, label2id={str(i): i for i in range(num_answers)},
        )
        model = BanForVisualQuestionAnswering(config)
        inputs = dict(input_ids=ids, attention_mask=mask.long(), image_features=features, image_boxes=spatials[..., :4])
        call = model
        if variant == "compile":
            call = torch.compile(model)

        def forward():
            if variant == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return call(**inputs).logits.float()
            return call(**inputs).logits

    optimizer = torch.optim.Adamax(model.parameters(), lr=1e-3)

    def step():
        if mode == "train":
            model.train()
            logits = forward()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels) * num_answers
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        else:
            model.eval()
            with torch.inference_mode():
                forward()

    step()  # warm-up (and compilation)
    with PeakRSS() as memory:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        elapsed = time.perf_counter() - start
    return {"samples_per_s": batch * steps / elapsed, "seconds_per_step": elapsed / steps, "peak_rss_increase_mib": memory.increase_mib}


def run_speed(reference: str, repeats: int, train_steps: int, infer_steps: int, batch: int, regions: int, extras: bool) -> dict:
    plan = []
    for _ in range(repeats):
        for mode, steps in (("train", train_steps), ("infer", infer_steps)):
            for implementation in ("reference", "ours"):
                plan.append((implementation, mode, steps, "fp32"))
    if extras:
        for variant in ("bf16", "compile"):
            for mode, steps in (("train", train_steps), ("infer", infer_steps)):
                plan.append(("ours", mode, steps, variant))
    rows = []
    for implementation, mode, steps, variant in plan:
        command = [sys.executable, __file__, "--reference", reference, "--measure", implementation, mode, str(steps), variant,
                   "--batch", str(batch), "--regions", str(regions)]
        try:
            completed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
        except subprocess.TimeoutExpired:
            completed = subprocess.CompletedProcess(command, 1, "", "timed out after 600 s (compilation included)")
        if completed.returncode != 0:
            row = {"error": completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else "failed"}
        else:
            row = json.loads(completed.stdout.strip().splitlines()[-1])
        row.update(implementation=implementation, mode=mode, variant=variant, steps=steps)
        print(json.dumps(row), flush=True)
        rows.append(row)

    summary = {}
    for mode in ("train", "infer"):
        for implementation, variant in (("reference", "fp32"), ("ours", "fp32"), ("ours", "bf16"), ("ours", "compile")):
            selected = [r for r in rows if r["mode"] == mode and r["implementation"] == implementation and r["variant"] == variant and "error" not in r]
            if selected:
                summary[f"{mode}/{implementation}/{variant}"] = {
                    "samples_per_s_median": float(np.median([r["samples_per_s"] for r in selected])),
                    "peak_rss_increase_mib_max": float(max(r["peak_rss_increase_mib"] for r in selected)),
                    "runs": len(selected),
                }
        base = summary.get(f"{mode}/reference/fp32")
        for key in list(summary):
            if key.startswith(f"{mode}/ours") and base:
                summary[key]["speedup_vs_reference"] = summary[key]["samples_per_s_median"] / base["samples_per_s_median"]
    return {"rows": rows, "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", required=True, help="a checkout of jnhwkim/ban-vqa")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--train_steps", type=int, default=2)
    parser.add_argument("--infer_steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--regions", type=int, default=100)
    parser.add_argument("--no_extras", action="store_true", help="skip the bf16 and torch.compile rows")
    parser.add_argument("--measure", nargs=4, metavar=("IMPLEMENTATION", "MODE", "STEPS", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if args.measure:
        implementation, mode, steps, variant = args.measure
        print(json.dumps(measure(args.reference, implementation, mode, int(steps), args.batch, args.regions, variant)))
        return

    with tempfile.TemporaryDirectory() as workdir:
        equivalence = check_equivalence(args.reference, Path(workdir))
    print(json.dumps({"equivalence": equivalence}, indent=2))
    failures = disagreements(equivalence)
    report = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "equivalence": equivalence,
    }
    if RESULTS.is_file():
        previous = json.loads(RESULTS.read_text())
        if "speed" in previous:
            report["speed"] = previous["speed"]
    if args.speed:
        report["speed"] = {
            "setting": {"batch": args.batch, "regions": args.regions, "question_length": 14, "hidden": 1280, "glimpses": 8,
                        "answers": 3129, "optimizer": "Adamax", "threads": 1, "train_steps": args.train_steps,
                        "infer_steps": args.infer_steps, "repeats": args.repeats,
                        "memory": "peak RSS increase over the timed steps, sampled every 5 ms, one subprocess per measurement"},
            **run_speed(args.reference, args.repeats, args.train_steps, args.infer_steps, args.batch, args.regions, not args.no_extras),
        }
        print(json.dumps(report["speed"]["summary"], indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    if failures:
        raise SystemExit("the converted model disagrees with ban-vqa: " + "; ".join(failures))


if __name__ == "__main__":
    main()
