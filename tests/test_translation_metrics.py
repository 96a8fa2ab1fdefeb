"""Tests of the translation metrics (sacreBLEU corpus BLEU and chrF with their signatures): a
hand-computed BLEU, agreement with sacreBLEU called directly, several and varying references, empty
predictions, bad inputs, the local `evaluate` module, and BLEU per source-length bucket."""

import math
import socket
import sys

import evaluate
import pytest

sacrebleu = pytest.importorskip("sacrebleu")

from hf_mmattn.tasks.translation import metrics as translation_metrics  # noqa: E402
from hf_mmattn.tasks.translation.metrics import (  # noqa: E402
    bleu_by_length,
    compute_translation_metrics,
    load_translation_metrics,
)

HYPOTHESES = [
    "The cat is sitting on the mat.",
    "There is a dog in the garden , barking loudly.",
    "He said he would come tomorrow morning.",
    "I do not know.",
]
REFERENCES_A = [
    "The cat sits on the mat.",
    "A dog is barking loudly in the garden.",
    "He said that he would come tomorrow morning.",
    "I don't know.",
]
REFERENCES_B = [
    "A cat is sitting on the mat.",
    "In the garden, a dog barks loudly.",
    "He told me he would come in the morning tomorrow.",
    "I do not know it.",
]
TWO_REFERENCES = [[a, b] for a, b in zip(REFERENCES_A, REFERENCES_B, strict=True)]


def test_identical_translations_score_100():
    result = compute_translation_metrics(REFERENCES_A, [[r] for r in REFERENCES_A])
    assert result["bleu"] == pytest.approx(100.0, abs=1e-9)
    assert result["chrf"] == pytest.approx(100.0, abs=1e-9)
    assert result["bleu_precisions"] == pytest.approx([100.0] * 4)
    assert result["brevity_penalty"] == 1.0 and result["length_ratio"] == 1.0
    assert result["hypothesis_length"] == result["reference_length"] == 29
    assert result["num_sentences"] == 4


def test_hand_computed_bleu_of_one_sentence():
    result = compute_translation_metrics(
        ["the quick brown fox jumped over the dog"], [["the quick brown fox jumps over the lazy dog"]]
    )
    # 1-grams: all but "jumped" match (both "the" are clipped to the reference's two): 7 / 8.
    # 2-grams: "the quick", "quick brown", "brown fox", "over the": 4 / 7.
    # 3-grams: "the quick brown", "quick brown fox": 2 / 6.  4-grams: "the quick brown fox": 1 / 5.
    precisions = [7 / 8, 4 / 7, 2 / 6, 1 / 5]
    brevity_penalty = math.exp(1 - 9 / 8)
    assert result["bleu_precisions"] == pytest.approx([100 * p for p in precisions], abs=1e-6)
    assert result["brevity_penalty"] == pytest.approx(brevity_penalty, abs=1e-9)
    assert result["length_ratio"] == pytest.approx(8 / 9, abs=1e-9)
    assert (result["hypothesis_length"], result["reference_length"]) == (8, 9)
    expected = 100 * brevity_penalty * math.exp(sum(math.log(p) for p in precisions) / 4)
    assert result["bleu"] == pytest.approx(expected, abs=1e-6)
    assert 0 < result["bleu"] < 40


def test_agrees_with_sacrebleu_with_two_references():
    result = compute_translation_metrics(HYPOTHESES, TWO_REFERENCES)
    bleu = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES_A, REFERENCES_B])
    chrf = sacrebleu.corpus_chrf(HYPOTHESES, [REFERENCES_A, REFERENCES_B])
    assert result["bleu"] == pytest.approx(bleu.score, abs=1e-9)
    assert result["chrf"] == pytest.approx(chrf.score, abs=1e-9)
    assert result["bleu_precisions"] == pytest.approx(bleu.precisions, abs=1e-9)
    assert result["brevity_penalty"] == pytest.approx(bleu.bp, abs=1e-12)
    assert (result["hypothesis_length"], result["reference_length"]) == (bleu.sys_len, bleu.ref_len)
    single = compute_translation_metrics(HYPOTHESES, [[r] for r in REFERENCES_A])
    assert result["bleu"] > single["bleu"]
    assert result["bleu_signature"] == f"nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:{sacrebleu.__version__}"
    assert result["chrf_signature"] == f"nrefs:2|case:mixed|eff:yes|nc:6|nw:0|space:no|version:{sacrebleu.__version__}"


def test_tokenize_and_lowercase_are_passed_to_sacrebleu():
    result = compute_translation_metrics(HYPOTHESES, TWO_REFERENCES, tokenize="intl", lowercase=True)
    bleu = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES_A, REFERENCES_B], tokenize="intl", lowercase=True)
    chrf = sacrebleu.CHRF(lowercase=True).corpus_score(HYPOTHESES, [REFERENCES_A, REFERENCES_B])
    assert result["bleu"] == pytest.approx(bleu.score, abs=1e-9)
    assert result["chrf"] == pytest.approx(chrf.score, abs=1e-9)
    assert "case:lc" in result["bleu_signature"] and "tok:intl" in result["bleu_signature"]
    assert "case:lc" in result["chrf_signature"]
    cased = compute_translation_metrics(["the cat"], [["The Cat"]])
    lowered = compute_translation_metrics(["the cat"], [["The Cat"]], lowercase=True)
    assert cased["chrf"] < lowered["chrf"] == pytest.approx(100.0)


def test_a_varying_number_of_references_is_supported():
    references = [[REFERENCES_A[0], REFERENCES_B[0]], [REFERENCES_A[1]], [REFERENCES_A[2], REFERENCES_B[2]], [REFERENCES_B[3]]]
    result = compute_translation_metrics(HYPOTHESES, references)
    # A repeated reference changes neither BLEU (same clipped counts, same closest length) nor chrF.
    padded = [texts if len(texts) == 2 else texts * 2 for texts in references]
    expected = compute_translation_metrics(HYPOTHESES, padded)
    for key in ("bleu", "chrf", "bleu_precisions", "brevity_penalty", "hypothesis_length", "reference_length"):
        assert result[key] == pytest.approx(expected[key], abs=1e-9), key
    assert result["bleu_signature"].startswith("nrefs:var|") and result["chrf_signature"].startswith("nrefs:var|")
    assert expected["bleu_signature"].startswith("nrefs:2|")


def test_an_empty_prediction_is_scored():
    result = compute_translation_metrics(["the cat sat on the mat", ""], [["the cat sat on the mat"], ["a dog"]])
    assert (result["hypothesis_length"], result["reference_length"]) == (6, 8)
    assert result["bleu_precisions"] == pytest.approx([100.0] * 4)
    assert result["brevity_penalty"] == pytest.approx(math.exp(1 - 8 / 6))
    assert result["bleu"] == pytest.approx(100 * math.exp(1 - 8 / 6))
    assert result["num_sentences"] == 2
    nothing = compute_translation_metrics(["", ""], [["the cat"], ["a dog"]])
    assert nothing["bleu"] == 0.0 and nothing["chrf"] == 0.0 and nothing["hypothesis_length"] == 0


@pytest.mark.parametrize(
    ("predictions", "references", "message"),
    [
        (["a", "b"], [["a"]], "got 2 predictions but 1 references; expected one per source sentence"),
        ([], [], "at least one source sentence"),
        ([3], [["3"]], "prediction 0 is int"),
        ([None], [["a"]], "prediction 0 is NoneType"),
        (["a"], [[]], r"references\[0\] is \[\]; expected a non-empty list of str translations"),
        (["a"], ["a"], r"references\[0\] is 'a'"),
        (["a"], [["a", 2]], r"references\[0\]"),
        ("a cat", [["a cat"]], "list of translations"),
        (["a"], "a", "list of lists of translations"),
    ],
)
def test_bad_inputs_are_rejected(predictions, references, message):
    with pytest.raises(ValueError, match=message):
        compute_translation_metrics(predictions, references)


def test_an_unknown_tokenizer_is_rejected():
    with pytest.raises(ValueError, match=r"tokenize='moses' is not a sacreBLEU tokenizer; expected one of .*'13a'"):
        compute_translation_metrics(["a"], [["a"]], tokenize="moses")


def test_missing_sacrebleu_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sacrebleu.metrics", None)
    with pytest.raises(ImportError, match=r"hf-mmattn\[translation\]"):
        compute_translation_metrics(["a"], [["a"]])


# --- the evaluate module --------------------------------------------------------------------

@pytest.fixture(scope="module")
def metric():
    return load_translation_metrics()


def test_evaluate_module_gives_the_same_numbers(metric):
    references = [TWO_REFERENCES[0], [REFERENCES_A[1]], TWO_REFERENCES[2], TWO_REFERENCES[3]]
    predictions = HYPOTHESES[:3] + [""]
    expected = compute_translation_metrics(predictions, references)
    assert metric.name == "translation_metrics"
    assert metric.compute(predictions=predictions, references=references) == expected
    for prediction, texts in zip(predictions, references, strict=True):
        metric.add(prediction=prediction, references=texts)
    assert metric.compute() == expected
    char = metric.compute(predictions=predictions, references=references, tokenize="char", lowercase=True)
    assert char == compute_translation_metrics(predictions, references, tokenize="char", lowercase=True)
    assert char["bleu"] != expected["bleu"]


def test_evaluate_module_rejects_bad_inputs(metric):
    with pytest.raises(ValueError, match="Mismatch in the number of predictions"):
        metric.compute(predictions=["a", "b"], references=[["a"]])
    with pytest.raises(ValueError, match=r"references\[0\] is \[\]"):
        metric.compute(predictions=["a"], references=[[]])


def test_evaluate_load_works_offline_from_another_directory(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network access attempted while loading the local evaluate module")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    metric = evaluate.load(str(translation_metrics._TRANSLATION_METRICS_MODULE))
    result = metric.compute(predictions=["the cat sat on the mat"], references=[["the cat sat on the mat"]])
    assert result["bleu"] == pytest.approx(100.0) and result["chrf"] == pytest.approx(100.0)
    assert result["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|")


# --- BLEU by source length ------------------------------------------------------------------

LENGTH_CASES = [
    # (source length, prediction, references)
    (0, "", ["nothing"]),
    (9, "The cat is sitting on the mat.", ["The cat sits on the mat."]),
    (10, "There is a dog in the garden , barking loudly.", ["A dog is barking loudly in the garden."]),
    (19, "He said he would come tomorrow morning.", ["He said that he would come tomorrow morning."]),
    (25, "I do not know.", ["I don't know.", "I do not know it."]),
    (49, "the quick brown fox jumped over the dog", ["the quick brown fox jumps over the lazy dog"]),
    (50, "a very long sentence that goes on and on", ["a very long sentence which goes on and on"]),
    (120, "the end of a long story", ["the end of the long story", "the end of a story"]),
]


def test_bleu_by_length_puts_each_sentence_in_its_bucket():
    lengths, predictions, references = (list(column) for column in zip(*LENGTH_CASES, strict=True))
    buckets = bleu_by_length(predictions, references, lengths, buckets=[0, 10, 20, 30, 40, 50, math.inf])
    assert [b["bucket"] for b in buckets] == ["0-9", "10-19", "20-29", "30-39", "40-49", "50+"]
    assert [b["count"] for b in buckets] == [2, 2, 1, 0, 1, 2]
    assert [(b["low"], b["high"]) for b in buckets][-1] == (50, math.inf)
    members = {"0-9": [0, 1], "10-19": [2, 3], "20-29": [4], "40-49": [5], "50+": [6, 7]}
    for bucket in buckets:
        if bucket["count"] == 0:
            assert bucket["bleu"] is None
            continue
        indices = members[bucket["bucket"]]
        subset = [predictions[i] for i in indices], [references[i] for i in indices]
        assert bucket["bleu"] == compute_translation_metrics(*subset)["bleu"]
        streams = [[texts[k] if k < len(texts) else None for texts in subset[1]] for k in range(max(map(len, subset[1])))]
        assert bucket["bleu"] == pytest.approx(sacrebleu.corpus_bleu(subset[0], streams).score, abs=1e-9)
    corpus = compute_translation_metrics(predictions, references)["bleu"]
    assert len({round(b["bleu"], 6) for b in buckets if b["bleu"] is not None} | {round(corpus, 6)}) > 2


def test_bleu_by_length_default_buckets_and_labels():
    buckets = bleu_by_length(["a b c d", "a b c d"], [["a b c d"], ["a b c e"]], [3, 60])
    assert [b["bucket"] for b in buckets] == ["0-9", "10-19", "20-29", "30-39", "40-49", "50+"]
    assert [b["count"] for b in buckets] == [1, 0, 0, 0, 0, 1]
    assert buckets[0]["bleu"] == pytest.approx(100.0)
    assert translation_metrics.DEFAULT_LENGTH_BUCKETS == (0, 10, 20, 30, 40, 50, math.inf)
    narrow = bleu_by_length(["a b c d"], [["a b c d"]], [9], buckets=[0, 9, 10.0])
    assert [(b["bucket"], b["count"]) for b in narrow] == [("0-8", 0), ("9", 1)]


@pytest.mark.parametrize(
    ("lengths", "buckets", "message"),
    [
        ([3], [0, 10], "got 1 source lengths for 2 predictions; expected one source length per source sentence"),
        ([3, 4.5], [0, 10], "source length 1 is float 4.5; expected an int"),
        ([3, True], [0, 10], "source length 1 is bool"),
        ([3, 10], [0, 10], r"source length 1 is 10, outside the buckets \[0, 10\); widen the bucket edges"),
        ([3, -1], [0, 10], r"source length 1 is -1, outside the buckets"),
        ([3, 4], [0], "fewer than 2 edges"),
        ([3, 4], [0, 10, 10], "not strictly increasing"),
        ([3, 4], [0, 5.5, 10], r"bucket edge 1 is 5.5; expected whole numbers of tokens \(the last edge may be math.inf\)"),
        ([3, 4], [0, math.inf, math.inf], "bucket edge 1 is inf"),
        ("ab", [0, 10], "got a str for 2 predictions"),
    ],
)
def test_bleu_by_length_rejects_bad_lengths_and_buckets(lengths, buckets, message):
    with pytest.raises(ValueError, match=message):
        bleu_by_length(["a", "b"], [["a"], ["b"]], lengths, buckets=buckets)
