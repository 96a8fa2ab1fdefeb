"""The translation family's metrics: corpus BLEU and chrF computed with sacreBLEU (the ``translation``
extra), with the signatures that make them reproducible (Post, 2018, "A Call for Clarity in Reporting
BLEU Scores"), as a function and as a local ``evaluate`` module (the Hub's cannot be loaded offline),
and BLEU per source-length bucket (the BLEU-vs-sentence-length figure of Bahdanau et al., 2015)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from pathlib import Path

import evaluate

from ...metrics.texts import check_texts

_TRANSLATION_METRICS_MODULE = Path(__file__).parent / "translation_metrics"

DEFAULT_LENGTH_BUCKETS = (0, 10, 20, 30, 40, 50, math.inf)


def _sacrebleu_metrics():
    try:
        from sacrebleu.metrics import BLEU, CHRF
    except ImportError as error:
        raise ImportError(
            "translation metrics need sacrebleu: pip install 'hf-mmattn[translation]' (or pip install sacrebleu)"
        ) from error
    return BLEU, CHRF


def _reference_streams(references: Sequence[Sequence[str]]) -> list[list[str | None]]:
    """sacreBLEU's layout of the references: one stream per reference position, each holding one
    reference per sentence; sentences with fewer references than the most are padded with ``None``,
    which sacreBLEU skips (its documented way of giving a variable number of references)."""
    count = max(len(texts) for texts in references)
    return [[texts[k] if k < len(texts) else None for texts in references] for k in range(count)]


def compute_translation_metrics(
    predictions: Sequence[str], references: Sequence[Sequence[str]], tokenize: str = "13a", lowercase: bool = False
) -> dict:
    """Corpus BLEU (Papineni et al., 2002) and chrF (Popović, 2015) of translations, computed by
    sacreBLEU (Post, 2018; ``pip install hf-mmattn[translation]``) on detokenised text.

    ``predictions[i]`` is the translation of source sentence ``i`` and ``references[i]`` its list of
    reference translations; the number of references may differ between sentences (the missing ones
    are given to sacreBLEU as ``None``, so the signatures then say ``nrefs:var``). An empty prediction
    (a model that output nothing) is scored like any other: it adds no n-gram and no length, and
    lowers BLEU through the brevity penalty.

    BLEU uses sacreBLEU's defaults apart from ``tokenize`` (one of sacreBLEU's tokenizers: ``"13a"``,
    the WMT standard, ``"intl"``, ``"char"``, ``"zh"``, ``"none"``, ...) and ``lowercase``: 4-gram
    corpus BLEU, brevity penalty against the closest reference length, ``exp`` smoothing. chrF is
    sacreBLEU's chrF2 (character 6-grams, beta 2); it does not tokenise, ``lowercase`` applies to it too.

    Returns ``"bleu"`` and ``"chrf"`` (0-100), BLEU's details ``"bleu_precisions"`` (the 1- to
    4-gram precisions, in percent as sacreBLEU gives them), ``"brevity_penalty"``, ``"length_ratio"``
    (hypothesis / reference length), ``"hypothesis_length"`` and ``"reference_length"`` (in tokens),
    ``"num_sentences"``, and sacreBLEU's ``"bleu_signature"`` and ``"chrf_signature"``
    (e.g. ``nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0``), to be reported with the scores.
    """
    check_texts(predictions, references, text="translation", unit="source sentence", metric="translation metrics")
    BLEU, CHRF = _sacrebleu_metrics()
    if tokenize not in BLEU.TOKENIZERS:
        raise ValueError(f"tokenize={tokenize!r} is not a sacreBLEU tokenizer; expected one of {sorted(BLEU.TOKENIZERS)}")
    hypotheses = list(predictions)
    streams = _reference_streams(references)
    bleu = BLEU(tokenize=tokenize, lowercase=lowercase)
    chrf = CHRF(lowercase=lowercase)
    bleu_score = bleu.corpus_score(hypotheses, streams)
    chrf_score = chrf.corpus_score(hypotheses, streams)
    return {
        "bleu": float(bleu_score.score),
        "chrf": float(chrf_score.score),
        "bleu_precisions": [float(p) for p in bleu_score.precisions],
        "brevity_penalty": float(bleu_score.bp),
        "length_ratio": float(bleu_score.ratio),
        "hypothesis_length": int(bleu_score.sys_len),
        "reference_length": int(bleu_score.ref_len),
        "num_sentences": len(hypotheses),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


def load_translation_metrics(**kwargs) -> evaluate.EvaluationModule:
    """The translation metrics as an ``evaluate`` metric, loaded from the package (works offline);
    ``kwargs`` go to ``evaluate.load``. ``compute(predictions=..., references=...)`` (optionally with
    ``tokenize=`` and ``lowercase=``) returns what :func:`compute_translation_metrics` returns."""
    return evaluate.load(str(_TRANSLATION_METRICS_MODULE), **kwargs)


def _check_buckets(buckets: Sequence[float]) -> list:
    edges = list(buckets)
    if len(edges) < 2:
        raise ValueError(f"buckets={edges!r} has fewer than 2 edges; expected increasing edges such as [0, 10, 20, math.inf]")
    for position, edge in enumerate(edges):
        last = position == len(edges) - 1
        if isinstance(edge, bool) or not isinstance(edge, numbers.Real) or not (
            (last and edge == math.inf) or (math.isfinite(edge) and float(edge).is_integer())
        ):
            raise ValueError(
                f"bucket edge {position} is {edge!r}; expected whole numbers of tokens (the last edge may be math.inf)"
            )
    if any(low >= high for low, high in zip(edges, edges[1:])):
        raise ValueError(f"buckets={edges!r} are not strictly increasing")
    return [edge if edge == math.inf else int(edge) for edge in edges]


def _bucket_label(low: int, high: float) -> str:
    if high == math.inf:
        return f"{low}+"
    return f"{low}" if high - 1 == low else f"{low}-{high - 1}"


def bleu_by_length(
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    source_lengths: Sequence[int],
    buckets: Sequence[float] = DEFAULT_LENGTH_BUCKETS,
    tokenize: str = "13a",
    lowercase: bool = False,
) -> list[dict]:
    """Corpus BLEU (sacreBLEU, as :func:`compute_translation_metrics`) of the sentences in each
    source-length bucket: the data of Bahdanau et al. (2015)'s figure of BLEU against sentence length.

    ``source_lengths[i]`` is the length of source sentence ``i`` (a whole number, e.g. of words or
    tokens); ``buckets`` are increasing edges, bucket ``k`` holding the lengths ``buckets[k] <= n <
    buckets[k + 1]`` (the last edge may be ``math.inf``). A length outside all buckets is an error.

    Returns one dict per bucket, in order, with ``"bucket"`` (its label: ``"10-19"``, or ``"50+"``
    for an open last bucket), ``"low"`` and ``"high"`` (its edges), ``"count"`` (its sentences) and
    ``"bleu"``. Empty buckets are kept, with ``"count": 0`` and ``"bleu": None``, so that the lists
    of several systems line up.
    """
    check_texts(predictions, references, text="translation", unit="source sentence", metric="BLEU by length")
    if isinstance(source_lengths, str) or len(source_lengths) != len(predictions):
        length = "a str" if isinstance(source_lengths, str) else f"{len(source_lengths)} source lengths"
        raise ValueError(f"got {length} for {len(predictions)} predictions; expected one source length per source sentence")
    edges = _check_buckets(buckets)
    members: list[list[int]] = [[] for _ in edges[1:]]
    for index, length in enumerate(source_lengths):
        if isinstance(length, bool) or not isinstance(length, numbers.Integral):
            raise ValueError(f"source length {index} is {type(length).__name__} {length!r}; expected an int")
        bucket = next((k for k, (low, high) in enumerate(zip(edges, edges[1:])) if low <= length < high), None)
        if bucket is None:
            raise ValueError(
                f"source length {index} is {length}, outside the buckets [{edges[0]}, {edges[-1]}); widen the bucket edges"
            )
        members[bucket].append(index)
    results = []
    for (low, high), indices in zip(zip(edges, edges[1:]), members):
        bleu = None
        if indices:
            bleu = compute_translation_metrics(
                [predictions[i] for i in indices], [references[i] for i in indices], tokenize=tokenize, lowercase=lowercase
            )["bleu"]
        results.append({"bucket": _bucket_label(low, high), "low": low, "high": high, "count": len(indices), "bleu": bleu})
    return results


__all__ = ["DEFAULT_LENGTH_BUCKETS", "bleu_by_length", "compute_translation_metrics", "load_translation_metrics"]
