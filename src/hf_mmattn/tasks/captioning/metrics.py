"""The captioning family's metrics: BLEU-1..4, METEOR, ROUGE-L and CIDEr-D with the standard COCO
caption scorers (``pycocoevalcap``, the ``captioning`` extra), as a function and as a local
``evaluate`` module."""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path

import evaluate

from ...metrics.texts import check_texts

_CAPTION_METRICS_MODULE = Path(__file__).parent / "caption_metrics"

# The punctuation tokens that the COCO caption evaluation drops after PTB tokenisation
# (pycocoevalcap/tokenizer/ptbtokenizer.py, PUNCTUATIONS).
_PTB_PUNCTUATIONS = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)
# PTBTokenizer -lowerCase lower-cases its bracket tokens too, so the COCO evaluation keeps them
# (its list holds the upper-case forms only); the fallback reproduces that.
_PTB_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
_PTB_BRACKET_TOKENS = frozenset(_PTB_BRACKETS.values())
_PTB_CLITICS = frozenset(["'s", "'re", "'ve", "'m", "'ll", "'d", "n't"])
_ABBREVIATION = re.compile(r"^(?:[a-z]\.){2,}$")  # "u.s.": PTB keeps the periods of an abbreviation
_PUNCTUATION_ONLY = re.compile(r"^[.?!,:;`'-]+$")


def _find_java() -> str | None:
    """Path of the ``java`` executable on PATH, or ``None``; the METEOR scorer and the PTB
    tokenizer of pycocoevalcap both run ``java`` from PATH. (Tests patch this to simulate a
    machine without Java.)"""
    return shutil.which("java")


def python_ptb_tokenize(caption: str) -> str:
    """Pure-Python stand-in for the COCO caption tokenisation (Stanford PTBTokenizer with
    ``-preserveLines -lowerCase``, then dropping pycocoevalcap's punctuation tokens), used when
    Java is missing.

    Lower-cases; splits off the punctuation ``. ? ! , : ; " ` '`` (keeping abbreviations such as
    "u.s.", in-word hyphens and numbers such as "1,000" or "10:30"), the symbols ``% $ #`` and brackets
    (written ``-lrb-`` etc., as the lower-casing PTB tokenizer does); splits the clitics ``'s 're
    've 'm 'll 'd n't``; splits on whitespace and drops the PTB punctuation list. It gives the
    same tokens as the Java tokenizer on ordinary captions (the tests check a set of them); rare
    constructs (e.g. "cannot", other symbols, URLs) may differ.
    """
    text = caption.lower().replace("\n", " ")
    text = re.sub(r"[()\[\]{}]", lambda m: f" {_PTB_BRACKETS[m.group(0)]} ", text)
    text = text.replace('"', " ")
    text = re.sub(r"(?<!\d),|,(?!\d)", " , ", text)
    text = re.sub(r"(?<!\d):|:(?!\d)", " : ", text)
    text = re.sub(r"([?!;%$#])", r" \1 ", text)
    text = re.sub(r"(\w)n't\b", r"\1 n't", text)
    text = re.sub(r"(\w)('s|'re|'ve|'m|'ll|'d)\b", r"\1 \2", text)
    tokens = []
    for token in text.split():
        if token in _PTB_BRACKET_TOKENS:
            tokens.append(token)
            continue
        if token not in _PTB_CLITICS:
            token = token.strip("`'")  # quotes around a word (its clitics are split off above)
        if not _ABBREVIATION.match(token):
            token = token.rstrip(".")
        token = token.strip("-") or token
        if token and token not in _PTB_PUNCTUATIONS and not _PUNCTUATION_ONLY.match(token):
            tokens.append(token)
    return " ".join(tokens)


def _tokenize(captions: dict, java: str | None) -> tuple[dict, str, str | None]:
    """Tokenised captions, the tokenizer used ("ptb" or "python") and why the fallback was used."""
    reason = None
    if java is not None:
        try:
            from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

            tokenized = PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})
            if all(len(tokenized.get(k, [])) == len(v) for k, v in captions.items()):
                return tokenized, "ptb", None
            reason = "the Java PTBTokenizer returned a wrong number of captions"
        except (OSError, subprocess.SubprocessError) as error:
            reason = f"the Java PTBTokenizer failed ({error})"
    else:
        reason = "Java was not found on PATH"
    warnings.warn(
        f"{reason}: tokenising captions with the pure-Python PTB equivalent "
        "(hf_mmattn.metrics.python_ptb_tokenize) instead of Stanford PTBTokenizer",
        stacklevel=3,
    )
    return {k: [python_ptb_tokenize(c) for c in v] for k, v in captions.items()}, "python", reason


def _meteor(gts: dict, res: dict, java: str | None) -> tuple[float | None, str | None]:
    """METEOR 1.5 through pycocoevalcap's jar, or ``(None, reason)`` when it cannot run."""
    if java is None:
        reason = "METEOR needs Java (meteor-1.5.jar) and Java was not found on PATH"
    else:
        from pycocoevalcap.meteor.meteor import Meteor

        meteor = None
        try:
            meteor = Meteor()
            score, _ = meteor.compute_score(gts, res)
            return float(score), None
        except (OSError, ValueError, subprocess.SubprocessError) as error:
            detail = ""
            if meteor is not None and meteor.meteor_p.poll() is not None:
                detail = meteor.meteor_p.stderr.read().decode(errors="replace").strip()[-500:]
            reason = f"the METEOR jar failed: {error!r} {detail}".strip()
        finally:
            if meteor is not None:
                if meteor.lock.locked():
                    meteor.lock.release()
                del meteor  # its __del__ stops the Java process
    warnings.warn(f"METEOR not computed ('meteor': None): {reason}", stacklevel=3)
    return None, reason


def compute_caption_metrics(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict:
    """BLEU-1..4, METEOR, ROUGE-L and CIDEr-D of generated captions, with the standard COCO
    caption scorers of ``pycocoevalcap`` (``pip install hf-mmattn[captioning]``).

    ``predictions[i]`` is the caption generated for image ``i`` and ``references[i]`` its
    reference captions (5 for COCO). As in the COCO caption evaluation, all captions are first
    tokenised with Stanford PTBTokenizer (lower-cased, punctuation dropped), then scored by
    ``Bleu(4)`` (corpus BLEU, "closest" reference length for the brevity penalty), ``Meteor()``,
    ``Rouge()`` (ROUGE-L, beta 1.2) and ``Cider()`` (which is CIDEr-D: sigma 6, clipped counts,
    x10; its document frequencies come from the references given, so it is 0 for a single
    image and comparable only across evaluations of the same reference set).

    Both the tokenizer and METEOR need Java. Without it the captions are tokenised by
    :func:`python_ptb_tokenize` (``"tokenizer": "python"`` in the result) and METEOR is left
    out with a warning: ``"meteor": None`` and ``"meteor_skipped_reason"`` saying why.

    Returns ``{"bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider_d"}``
    on pycocoevalcap's scales (fractions in [0, 1]; CIDEr-D in [0, 10]), not rounded, plus
    ``"num_images"``, ``"tokenizer"`` ("ptb" or "python"), ``"tokenizer_fallback_reason"`` and
    ``"meteor_skipped_reason"`` (``None`` when not applicable).
    """
    check_texts(predictions, references, text="caption", unit="image", metric="caption metrics")
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.rouge.rouge import Rouge
    except ImportError as error:
        raise ImportError(
            "caption metrics need pycocoevalcap: pip install 'hf-mmattn[captioning]' (or pip install pycocoevalcap)"
        ) from error

    java = _find_java()
    captions = {("ref", i): list(c) for i, c in enumerate(references)}
    captions.update({("pred", i): [p] for i, p in enumerate(predictions)})
    tokenized, tokenizer, tokenizer_reason = _tokenize(captions, java)
    gts = {i: tokenized[("ref", i)] for i in range(len(references))}
    res = {i: tokenized[("pred", i)] for i in range(len(predictions))}

    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    rouge, _ = Rouge().compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)
    meteor, meteor_reason = _meteor(gts, res, java)
    return {
        "bleu_1": float(bleu[0]),
        "bleu_2": float(bleu[1]),
        "bleu_3": float(bleu[2]),
        "bleu_4": float(bleu[3]),
        "meteor": meteor,
        "rouge_l": float(rouge),
        "cider_d": float(cider),
        "num_images": len(predictions),
        "tokenizer": tokenizer,
        "tokenizer_fallback_reason": tokenizer_reason,
        "meteor_skipped_reason": meteor_reason,
    }


def load_caption_metrics(**kwargs) -> evaluate.EvaluationModule:
    """The caption metrics as an ``evaluate`` metric, loaded from the package (works offline);
    ``kwargs`` go to ``evaluate.load``. ``compute(predictions=..., references=...)`` returns
    what :func:`compute_caption_metrics` returns."""
    return evaluate.load(str(_CAPTION_METRICS_MODULE), **kwargs)


__all__ = ["compute_caption_metrics", "load_caption_metrics", "python_ptb_tokenize"]
