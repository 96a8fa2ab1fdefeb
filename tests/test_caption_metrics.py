"""Tests of the caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D through pycocoevalcap):
hand-checked values, the path without Java (pure-Python tokenizer, METEOR left out), bad inputs,
and the local `evaluate` module that wraps them."""

import json
import math
import os
import subprocess
import sys
import warnings

import pytest

pytest.importorskip("pycocoevalcap")

import hf_mmattn.tasks.captioning.metrics as caption_metrics  # noqa: E402
from hf_mmattn.metrics import compute_caption_metrics, load_caption_metrics, python_ptb_tokenize  # noqa: E402

HAS_JAVA = caption_metrics._find_java() is not None
needs_java = pytest.mark.skipif(not HAS_JAVA, reason="Java is not installed")

SCORES = ["bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "cider_d"]
# Two images whose captions share no 4-gram, so every CIDEr-D n-gram order has non-zero idf.
IDENTICAL = (
    ["A red circle above a blue square.", "two green triangles left of a yellow star"],
    [["a red circle above a blue square"], ["Two green triangles left of a yellow star!"]],
)


def rouge_l(lcs: int, candidate_len: int, reference_len: int, beta: float = 1.2) -> float:
    precision, recall = lcs / candidate_len, lcs / reference_len
    return (1 + beta**2) * precision * recall / (recall + beta**2 * precision)


@pytest.fixture
def no_java(monkeypatch):
    monkeypatch.setattr(caption_metrics, "_find_java", lambda: None)


@pytest.fixture(scope="module")
def identical_with_java():
    if not HAS_JAVA:
        pytest.skip("Java is not installed")
    return compute_caption_metrics(*IDENTICAL)


# --- values ---------------------------------------------------------------------------------

@needs_java
def test_identical_captions_score_perfectly_with_java(identical_with_java):
    result = identical_with_java
    assert result["tokenizer"] == "ptb"
    assert result["tokenizer_fallback_reason"] is None and result["meteor_skipped_reason"] is None
    for name in ["bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l"]:
        assert result[name] == pytest.approx(1.0, abs=1e-6), name
    assert result["cider_d"] == pytest.approx(10.0, abs=1e-6)
    # METEOR 1.5 with its tuned English parameters gives an exact match 1.
    assert isinstance(result["meteor"], float)
    assert result["meteor"] == pytest.approx(1.0, abs=1e-6)
    assert result["num_images"] == 2


def test_identical_captions_score_perfectly_without_java(no_java):
    with pytest.warns(UserWarning, match="METEOR not computed"), pytest.warns(UserWarning, match="pure-Python"):
        result = compute_caption_metrics(*IDENTICAL)
    for name in ["bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l"]:
        assert result[name] == pytest.approx(1.0, abs=1e-6), name
    assert result["cider_d"] == pytest.approx(10.0, abs=1e-6)


def test_bleu_1_and_rouge_l_by_hand(no_java):
    # Image 0: "a red circle" against a 7-word reference: 3/3 unigrams match, LCS 3.
    # Image 1: "a a a square" against "a blue square": clipped matches a:1 + square:1 = 2 of 4, LCS 2.
    # Corpus BLEU-1 = (3 + 2) / (3 + 4) times the brevity penalty exp(1 - 10 / 7)
    # (candidate length 7 < closest reference length 7 + 3).
    predictions = ["a red circle", "a a a square"]
    references = [["a red circle above a blue square"], ["a blue square"]]
    with pytest.warns(UserWarning):
        result = compute_caption_metrics(predictions, references)
    assert result["bleu_1"] == pytest.approx(5 / 7 * math.exp(1 - 10 / 7), rel=1e-6)
    assert result["rouge_l"] == pytest.approx((rouge_l(3, 3, 7) + rouge_l(2, 4, 3)) / 2, rel=1e-6)
    # The brevity penalty alone: one image, every unigram right.
    with pytest.warns(UserWarning):
        single = compute_caption_metrics(["a red circle"], [["a red circle above a blue square"]])
    assert single["bleu_1"] == pytest.approx(math.exp(1 - 7 / 3), rel=1e-6)


def test_closest_reference_length_and_best_reference(no_java):
    # Two references of length 7 and 3: the closest (3) sets the brevity penalty, so it is 1;
    # ROUGE-L takes the best reference (max precision and max recall, as pycocoevalcap does).
    with pytest.warns(UserWarning):
        result = compute_caption_metrics(["a red circle"], [["a red circle above a blue square", "a red circle"]])
    assert result["bleu_1"] == pytest.approx(1.0, abs=1e-6)
    assert result["rouge_l"] == pytest.approx(1.0)


def test_cider_d_is_zero_for_a_single_image(no_java):
    # Document frequencies come from the references given: with one image every n-gram has idf 0.
    with pytest.warns(UserWarning):
        result = compute_caption_metrics(["a red circle above a blue square"], [["a red circle above a blue square"]])
    assert result["cider_d"] == 0.0


def test_wrong_captions_score_low(no_java):
    with pytest.warns(UserWarning):
        result = compute_caption_metrics(["zebra zebra zebra zebra", "purple"], [["a red circle"], ["a blue square"]])
    assert result["bleu_1"] == pytest.approx(0.0, abs=1e-6)
    assert result["rouge_l"] == 0.0 and result["cider_d"] == 0.0


# --- with and without Java ------------------------------------------------------------------

@needs_java
def test_without_java_meteor_is_none_with_a_reason_and_the_rest_agree(no_java, identical_with_java):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = compute_caption_metrics(*IDENTICAL)
    messages = [str(w.message) for w in caught]
    assert any("METEOR not computed" in m for m in messages)
    assert any("pure-Python PTB equivalent" in m for m in messages)
    assert result["meteor"] is None
    assert "Java was not found" in result["meteor_skipped_reason"]
    assert result["tokenizer"] == "python"
    assert "Java was not found" in result["tokenizer_fallback_reason"]
    for name in SCORES:
        assert result[name] == pytest.approx(identical_with_java[name]), name


def test_a_failing_meteor_jar_gives_none_not_a_crash(monkeypatch):
    import pycocoevalcap.meteor.meteor as meteor_module

    def broken(*args, **kwargs):
        raise OSError("java: cannot start")

    monkeypatch.setattr(caption_metrics, "_find_java", lambda: "/usr/bin/java")
    monkeypatch.setattr(meteor_module, "Meteor", broken)
    monkeypatch.setattr(caption_metrics, "_tokenize", lambda captions, java: (captions, "ptb", None))
    with pytest.warns(UserWarning, match="METEOR not computed"):
        result = compute_caption_metrics(["a red circle"], [["a red circle"]])
    assert result["meteor"] is None
    assert "cannot start" in result["meteor_skipped_reason"]


TOKENIZER_CASES = [
    "A man riding a wave on top of a surfboard.",
    "Two giraffes standing next to each other, in a field.",
    "  a  red   circle\nabove a blue square  ",
    "A dog's toy (red) is [here], isn't it?",
    '"Black-and-white" cat... on a U.S. mat; 5% off $3!',
    "The cat's 'toy' is on the {bed}: 1,000 times - really -- yes!",
    "they're we've I'm you'll he'd don't can't",
    "kids' toys",
    "Is it 3.5 or 10:30?",
    "e-mail me, ok?",
    "end.",
    "",
]


@needs_java
def test_python_tokenizer_matches_the_java_ptb_tokenizer():
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    java = PTBTokenizer().tokenize({i: [{"caption": c}] for i, c in enumerate(TOKENIZER_CASES)})
    for i, caption in enumerate(TOKENIZER_CASES):
        assert python_ptb_tokenize(caption) == java[i][0], caption


def test_python_tokenizer_examples():
    assert python_ptb_tokenize("A Red circle, above a blue square!") == "a red circle above a blue square"
    assert python_ptb_tokenize("the dog's ball isn't here.") == "the dog 's ball is n't here"


# --- bad inputs -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("predictions", "references", "message"),
    [
        (["a", "b"], [["a"]], "2 predictions but 1 references"),
        ([], [], "at least one image"),
        ([3], [["3"]], "prediction 0 is int"),
        ([None], [["a"]], "prediction 0 is NoneType"),
        (["a"], [[]], r"references\[0\]"),
        (["a"], ["a"], r"references\[0\]"),
        (["a"], [["a", 2]], r"references\[0\]"),
        ("a red circle", [["a red circle"]], "list of captions"),
    ],
)
def test_bad_inputs_are_rejected(predictions, references, message):
    with pytest.raises(ValueError, match=message):
        compute_caption_metrics(predictions, references)


def test_missing_pycocoevalcap_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pycocoevalcap.bleu.bleu", None)
    with pytest.raises(ImportError, match=r"hf-mmattn\[captioning\]"):
        compute_caption_metrics(["a"], [["a"]])


# --- the evaluate module --------------------------------------------------------------------

@pytest.fixture(scope="module")
def metric():
    return load_caption_metrics()


def test_evaluate_module_gives_the_same_numbers(metric, no_java):
    predictions = ["a red circle", "a a a square", "two green triangles"]
    references = [["a red circle above a blue square"], ["a blue square", "a square"], ["two green triangles"]]
    with pytest.warns(UserWarning):
        expected = compute_caption_metrics(predictions, references)
    assert metric.name == "caption_metrics"
    with pytest.warns(UserWarning):
        assert metric.compute(predictions=predictions, references=references) == expected
    for prediction, captions in zip(predictions, references, strict=True):
        metric.add(prediction=prediction, references=captions)
    with pytest.warns(UserWarning):
        assert metric.compute() == expected


def test_evaluate_module_rejects_bad_inputs(metric):
    with pytest.raises(ValueError, match="Mismatch in the number of predictions"):
        metric.compute(predictions=["a", "b"], references=[["a"]])


def test_evaluate_load_works_offline_from_another_directory_without_java(tmp_path):
    script = (
        "import json, evaluate, hf_mmattn.tasks.captioning.metrics as m\n"
        "metric = evaluate.load(str(m._CAPTION_METRICS_MODULE))\n"
        "print(json.dumps(metric.compute(predictions=['a red circle'],\n"
        "                                references=[['a red circle above a blue square']])))\n"
    )
    # A PATH holding only this Python's folder: no java, so the subprocess takes the fallback path.
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"),
               PATH=os.path.dirname(sys.executable))
    completed = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "METEOR not computed" in completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["bleu_1"] == pytest.approx(math.exp(1 - 7 / 3), rel=1e-6)
    assert result["meteor"] is None and result["tokenizer"] == "python"
