"""Luong: hf-mmattn against OpenNMT-py 3.x RNN translators, same numbers.

    OMP_NUM_THREADS=1 /work/venv-onmt/bin/python benchmarks/compare_opennmt_reference.py

OpenNMT-py 3.5 pins torch < 2.3; this runs it in its own environment beside the package:

    python3 -m venv /work/venv-onmt && /work/venv-onmt/bin/pip install torch==2.13.0 numpy
    /work/venv-onmt/bin/pip install --no-deps opennmt-py==3.5.1
    /work/venv-onmt/bin/pip install configargparse pyyaml six pyonmttok spacy rapidfuzz pyahocorasick fasttext-wheel regex sacrebleu
    /work/venv-onmt/bin/pip install transformers==5.25.0 tokenizers safetensors accelerate datasets evaluate pillow jinja2
    /work/venv-onmt/bin/pip install --no-deps -e .

(``onmt.transforms`` imports every transform's library at import time, hence spacy, fasttext...).

For each layout (encoder ``rnn``/``brnn`` x attention ``general``/``dot`` x 1/2 layers; ``-input_feed 0``
with ``general`` and with ``none``), twice: with random weights (``-param_init 0.5``; their translations
run to the length limit or stop at once) and trained for a few seconds on a toy task (reverse the
words, s<i> → T<i mod 20>), whose translations end with ``</s>`` at various lengths, so that beams
compete, the script

1. builds the model with OpenNMT-py's own code (``onmt_train``'s option parser, ``model_builder.build_model``
   with its ``-param_init`` uniform initialisation) and vocabularies in 3.x's layout, and saves it with
   OpenNMT-py's ``ModelSaver`` and ``Optimizer``: the file ``onmt_train`` writes;
2. converts it with ``python -m hf_mmattn.convert luong`` and loads the folder with the Auto classes;
3. compares, on 12 sentences (random ones of 1 to 12 words, one with an unknown word; toy sentences
   for the trained models):
   (a) the source ids of our tokenizer and of OpenNMT-py's numericalisation;
   (b) teacher forcing: the log-probabilities at every target position (of the target word, and of
       the whole vocabulary) of OpenNMT-py's model as ``onmt_translate`` loads it (``NMTModel`` +
       generator + log-softmax, padded batch) and of ours, in float64 (max |Δ| <= 1e-10) and float32
       (<= 1e-5, or up to twice OpenNMT-py's own float32 error against its float64 run, reported);
   (c) beam search: ``onmt_translate``'s engine (``InferenceEnginePY.infer_list``, beam 5) against
       ``generate(num_beams=5)`` with the converted folder's defaults, token for token.

Settings of (c): ``-length_penalty none`` (OpenNMT-py 3.5 defaults to ``avg``, a division by the
generated length + 1 that transformers' ``length_penalty`` cannot express; ours is 0.0), and a
fixed length limit (``-max_length 16 -max_length_ratio 0`` against ``max_new_tokens=16``: the
default limit of ``onmt_translate`` depends on the padded source length of each batch). The two
searches differ in one respect: a candidate ending with ``</s>`` leaves OpenNMT-py's beam (beam - 1
paths continue that step), while transformers keeps ``num_beams`` running paths, adding the next
best candidate. That candidate scores below the ``</s>`` hypothesis just found, and so does every
continuation of it: without a length penalty the best translation is the same (n-best lists may
differ below it).

torch >= 2.6 loads with ``weights_only=True`` by default, which OpenNMT-py 3.5 predates: the script
allows ``argparse.Namespace`` (its checkpoints' options), as the converter does. Writes
``benchmarks/results/opennmt_reference.json``; exits non-zero when anything differs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore")
torch.serialization.add_safe_globals([argparse.Namespace])

import onmt  # noqa: E402
import onmt.opts  # noqa: E402
import transformers  # noqa: E402
from onmt.inference_engine import InferenceEnginePY  # noqa: E402
from onmt.inputters.inputter import dict_to_vocabs  # noqa: E402
from onmt.model_builder import build_model  # noqa: E402
from onmt.models.model_saver import build_model_saver  # noqa: E402
from onmt.utils.optimizers import Optimizer  # noqa: E402
from onmt.utils.parse import ArgumentParser  # noqa: E402
from transformers import AutoModelForSeq2SeqLM, AutoProcessor  # noqa: E402

import hf_mmattn  # noqa: E402, F401  (registers the Auto classes)
from hf_mmattn.convert import main as convert_main  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "opennmt_reference.json"
SPECIALS = ["<unk>", "<blank>", "<s>", "</s>"]  # -default_specials
SOURCE_WORDS = [f"s{index}" for index in range(24)]
TARGET_WORDS = [f"T{index}" for index in range(20)]
SIZES = dict(word_vec_size=12, hidden_size=20)
BEAM, MAX_LENGTH = 5, 16
TOLERANCES = {"float32": 1e-5, "float64": 1e-10}
LAYOUTS = {
    "rnn-general-1": dict(encoder_type="rnn", global_attention="general", layers=1),
    "rnn-general-2": dict(encoder_type="rnn", global_attention="general", layers=2),
    "rnn-dot-1": dict(encoder_type="rnn", global_attention="dot", layers=1),
    "rnn-dot-2": dict(encoder_type="rnn", global_attention="dot", layers=2),
    "brnn-general-1": dict(encoder_type="brnn", global_attention="general", layers=1),
    "brnn-general-2": dict(encoder_type="brnn", global_attention="general", layers=2),
    "brnn-dot-1": dict(encoder_type="brnn", global_attention="dot", layers=1),
    "brnn-dot-2": dict(encoder_type="brnn", global_attention="dot", layers=2),
    "brnn-general-2-no-input-feed": dict(encoder_type="brnn", global_attention="general", layers=2, input_feed=0),
    "rnn-none-1-no-input-feed": dict(encoder_type="rnn", global_attention="none", layers=1, input_feed=0),
}
WEIGHTS = ("random", "toy_trained")


def onmt_options(layout: dict, save_model: Path, param_init: float) -> argparse.Namespace:
    """``onmt_train``'s options for ``layout``, parsed and completed by OpenNMT-py's own parser."""
    parser = ArgumentParser()
    onmt.opts.train_opts(parser)
    argv = ["-save_model", str(save_model), "-src_vocab", "unused", "-data", "{}", "-param_init", str(param_init),
            "-optim", "adam", "-learning_rate", "0.01", "-dropout", "0.2", "-word_vec_size", str(SIZES["word_vec_size"]),
            "-hidden_size", str(SIZES["hidden_size"]), "-encoder_type", layout["encoder_type"],
            "-global_attention", layout["global_attention"], "-layers", str(layout["layers"]),
            "-input_feed", str(layout.get("input_feed", 1))]
    opt = parser.parse_known_args(argv)[0]
    ArgumentParser.update_model_opts(opt)
    ArgumentParser.validate_model_opts(opt)
    return opt


def vocabularies():
    return dict_to_vocabs({"src": SPECIALS + SOURCE_WORDS, "tgt": SPECIALS + TARGET_WORDS, "data_task": "seq2seq",
                           "decoder_start_token": "<s>"})


def toy_pair(generator: torch.Generator) -> tuple[str, str]:
    """The toy task: the source words reversed, s<i> → T<i mod 20>, 1 to 8 words."""
    length = int(torch.randint(1, 9, (1,), generator=generator))
    words = [int(w) for w in torch.randint(0, len(SOURCE_WORDS), (length,), generator=generator)]
    return " ".join(SOURCE_WORDS[w] for w in words), " ".join(TARGET_WORDS[w % len(TARGET_WORDS)] for w in reversed(words))


def numericalize(vocab, sentences: list[str], target: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """OpenNMT-py's ``numericalize`` + ``tensorify``: ids (batch, length, 1) padded with <blank>, and lengths."""
    rows = [vocab((["<s>"] + s.split(" ") + ["</s>"]) if target else s.split(" ")) for s in sentences]
    ids = torch.full((len(rows), max(map(len, rows))), vocab["<blank>"], dtype=torch.long)
    for index, row in enumerate(rows):
        ids[index, : len(row)] = torch.tensor(row)
    return ids.unsqueeze(-1), torch.tensor([len(row) for row in rows])


def train_toy(model, vocabs, opt, seed: int, steps: int) -> float:
    """A few Adam steps of OpenNMT-py's model on the toy task (NLL of the generator's log-softmax)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    loss = torch.tensor(0.0)
    for _ in range(steps):
        pairs = [toy_pair(generator) for _ in range(32)]
        src, src_len = numericalize(vocabs["src"], [p[0] for p in pairs], target=False)
        tgt, _ = numericalize(vocabs["tgt"], [p[1] for p in pairs], target=True)
        dec_out, _ = model(src, tgt, src_len)
        log_probs = F.log_softmax(model.generator(dec_out), dim=-1)
        loss = F.nll_loss(log_probs.flatten(0, 1), tgt[:, 1:, 0].flatten(), ignore_index=vocabs["tgt"]["<blank>"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return float(loss)


def save_onmt_checkpoint(layout: dict, folder: Path, seed: int, param_init: float, toy_steps: int) -> tuple[Path, dict]:
    """An OpenNMT-py model with random weights (``toy_steps`` 0) or trained for ``toy_steps``, saved
    by its ModelSaver."""
    torch.manual_seed(seed)
    opt = onmt_options(layout, folder / "model", param_init)
    vocabs = vocabularies()
    model = build_model(opt, opt, vocabs, None, 0)
    info = {"parameters": sum(p.numel() for p in model.parameters())}
    if toy_steps:
        info["toy_train_steps"], info["toy_final_loss"] = toy_steps, round(train_toy(model, vocabs, opt, seed, toy_steps), 4)
    optim = Optimizer.from_opt(model, opt)
    build_model_saver(opt, opt, model, vocabs, optim, 0).save(1)
    return folder / "model_step_1.pt", info


def onmt_translate(checkpoint: Path, sentences: list[str]) -> tuple[list[list[str]], object]:
    """``onmt_translate -beam_size 5 -length_penalty none -max_length 16 -max_length_ratio 0`` on
    ``sentences``; returns the best translations' tokens and the translator (its model as loaded)."""
    parser = ArgumentParser()
    onmt.opts.translate_opts(parser)
    opt = parser.parse_args(["-model", str(checkpoint), "-src", "unused", "-output", "/dev/null", "-beam_size", str(BEAM),
                             "-length_penalty", "none", "-max_length", str(MAX_LENGTH), "-max_length_ratio", "0",
                             "-batch_size", str(len(sentences)), "-batch_type", "sents", "-n_best", "1"])
    ArgumentParser.validate_translate_opts(opt)
    ArgumentParser._get_all_transform_translate(opt)
    ArgumentParser._validate_transforms_opts(opt)
    ArgumentParser.validate_translate_opts_dynamic(opt)
    engine = InferenceEnginePY(opt)
    _, predictions = engine.infer_list(sentences)
    return [p[0].split(" ") if p[0] else [] for p in predictions], engine.translator


def test_sentences(seed: int) -> tuple[list[str], list[str]]:
    generator = torch.Generator().manual_seed(seed)
    sources, targets = [], []
    for length in range(1, 13):
        words = torch.randint(0, len(SOURCE_WORDS), (length,), generator=generator).tolist()
        sources.append(" ".join(SOURCE_WORDS[w] for w in words))
        target_length = int(torch.randint(1, 11, (1,), generator=generator))
        target_words = torch.randint(0, len(TARGET_WORDS), (target_length,), generator=generator).tolist()
        targets.append(" ".join(TARGET_WORDS[w] for w in target_words))
    sources[4] = " ".join([*sources[4].split(" ")[:-1], "unseen"])  # an unknown source word
    return sources, targets


@torch.no_grad()
def teacher_forcing(onmt_model, model, processor, vocabs, sources, targets) -> dict:
    """max |Δ| between the teacher-forced log-probabilities of both models, at every target position
    (the words and </s>): of the target word (``target``) and of the whole vocabulary (``all``), in
    float32 and float64; and OpenNMT-py's own float32 error (against its float64 run), the scale of
    float32 rounding."""
    src, src_len = numericalize(vocabs["src"], sources, target=False)
    tgt, tgt_len = numericalize(vocabs["tgt"], targets, target=True)
    batch = processor(text=sources, text_target=targets)
    runs = {}
    for dtype in (torch.float64, torch.float32):
        onmt_model.to(dtype), model.to(dtype)
        dec_out, _ = onmt_model(src, tgt, src_len)
        runs[dtype] = (F.log_softmax(onmt_model.generator(dec_out), dim=-1), F.log_softmax(model(**batch).logits, dim=-1))
    onmt_model.float(), model.float()

    def max_difference(a, b, gold: bool) -> float:
        rows = []
        for i, n in enumerate(tgt_len.tolist()):
            x, y = a[i, : n - 1].double(), b[i, : n - 1].double()
            if gold:
                x, y = x.gather(1, tgt[i, 1:n]), y.gather(1, tgt[i, 1:n])
            rows.append(float((x - y).abs().max()))
        return max(rows)

    result = {}
    for name, dtype in (("float32", torch.float32), ("float64", torch.float64)):
        theirs, ours = runs[dtype]
        result[name] = {"target": max_difference(ours, theirs, True), "all": max_difference(ours, theirs, False)}
    result["float32"]["opennmt_float32_vs_float64"] = max_difference(runs[torch.float32][0], runs[torch.float64][0], False)
    return result


def compare(name: str, layout: dict, weights: str, args, folder: Path) -> dict:
    start = time.perf_counter()
    trained = weights == "toy_trained"
    checkpoint, info = save_onmt_checkpoint(layout, folder / name / weights, args.seed, args.param_init, args.toy_steps if trained else 0)
    converted = convert_main(["luong", "--checkpoint", str(checkpoint), "--output_dir", str(folder / name / weights / "converted")])
    model = AutoModelForSeq2SeqLM.from_pretrained(converted).eval()
    processor = AutoProcessor.from_pretrained(converted)
    sources, targets = test_sentences(args.seed + 1)
    if trained:
        generator = torch.Generator().manual_seed(args.seed + 2)
        sources, targets = map(list, zip(*(toy_pair(generator) for _ in range(12))))
    theirs, translator = onmt_translate(checkpoint, sources)
    vocabs = translator.vocabs

    src, _ = numericalize(vocabs["src"], sources, target=False)
    source_ids_match = processor(text=sources)["input_ids"].tolist() == src[:, :, 0].tolist()
    differences = teacher_forcing(translator.model, model, processor, vocabs, sources, targets)

    batch = processor(text=sources)
    with torch.no_grad():
        generated = model.generate(**batch, max_new_tokens=MAX_LENGTH)
    target_tokens, eos = vocabs["tgt"].ids_to_tokens, model.config.eos_token_id
    ours = []
    for row in generated[:, 1:].tolist():
        ours.append([target_tokens[i] for i in (row[: row.index(eos)] if eos in row else row)])
    mismatches = [{"source": s, "opennmt": " ".join(t), "ours": " ".join(o)} for s, t, o in zip(sources, theirs, ours) if t != o]
    return {
        **info,
        "source_ids_match": source_ids_match,
        "teacher_forcing_log_prob_max_abs_diff": differences,
        "beam5_identical": len(sources) - len(mismatches),
        "beam5_sentences": len(sources),
        "beam5_lengths": [len(t) for t in theirs],
        "beam5_ended_with_eos": sum(len(t) < MAX_LENGTH for t in theirs),
        "beam5_differences": mismatches,
        "seconds": round(time.perf_counter() - start, 2),
    }


def disagreements(results: dict) -> list[str]:
    """What differs: a source id, a beam-5 translation, or teacher-forced log-probabilities beyond
    TOLERANCES; in float32, a difference up to twice OpenNMT-py's own float32 error passes too
    (rounding: float32 carries ~7 digits, and a trained model's log-probabilities reach -15)."""
    found = []
    for name, rows in results["layouts"].items():
        for weights, row in rows.items():
            where = f"{name} ({weights})"
            for dtype, tolerance in TOLERANCES.items():
                difference = row["teacher_forcing_log_prob_max_abs_diff"][dtype]
                bound = max(tolerance, 2 * difference.get("opennmt_float32_vs_float64", 0.0))
                for scope in ("target", "all"):
                    if not difference[scope] <= bound:
                        found.append(f"{where}: teacher-forced log-probabilities ({scope}) differ by {difference[scope]:.3g} > {bound:.3g} "
                                     f"in {dtype}")
            if not row["source_ids_match"]:
                found.append(f"{where}: the converted tokenizer's source ids differ from OpenNMT-py's")
            if row["beam5_identical"] != row["beam5_sentences"]:
                found.append(f"{where}: beam-5 translations identical for {row['beam5_identical']} of {row['beam5_sentences']} sentences")
    return found


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--param_init", type=float, default=0.5, help="init range of the random models (0.1: flat outputs)")
    parser.add_argument("--toy_steps", type=int, default=100, help="training steps of the toy-trained models")
    parser.add_argument("--layouts", nargs="+", choices=sorted(LAYOUTS), default=list(LAYOUTS))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        layouts = {name: {weights: compare(name, LAYOUTS[name], weights, args, Path(folder)) for weights in WEIGHTS}
                   for name in args.layouts}
    results = {
        "opennmt_py": onmt.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "sizes": {**SIZES, "source_vocab": len(SPECIALS + SOURCE_WORDS), "target_vocab": len(SPECIALS + TARGET_WORDS),
                  "param_init": args.param_init},
        "beam": {"opennmt": f"-beam_size {BEAM} -length_penalty none -max_length {MAX_LENGTH} -max_length_ratio 0",
                 "ours": f"generate(num_beams={BEAM}, length_penalty=0.0, max_new_tokens={MAX_LENGTH}) (the folder's defaults "
                         "but max_new_tokens)"},
        "tolerances": {**TOLERANCES, "float32_or": "2 x OpenNMT-py's own float32 error (opennmt_float32_vs_float64)"},
        "layout_options": {name: LAYOUTS[name] for name in args.layouts},
        "layouts": layouts,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    failures = disagreements(results)
    if failures:
        print("the converted models disagree with OpenNMT-py:\n" + "\n".join(failures), file=sys.stderr)
        raise SystemExit(1)
    return results


if __name__ == "__main__":
    main()
