"""Tests of the VQA accuracy: the plain function, hand-computed against the official
leave-one-out definition, and the local `evaluate` module that wraps it."""

import json
import os
import random
import subprocess
import sys

import pytest

from hf_mmattn.data import vqa_soft_score
from hf_mmattn.metrics import compute_vqa_accuracy, load_vqa_accuracy


def ten_answers(prediction: str, matches: int) -> list[str]:
    return [prediction] * matches + ["other"] * (10 - matches)


@pytest.mark.parametrize(
    ("matches", "percent"),
    [
        (0, 0.0),
        (1, 30.0),   # 9 subsets with 1 match -> 1/3, 1 subset with 0: 9 / 3 / 10
        (2, 60.0),   # 8 subsets with 2 matches -> 2/3, 2 with 1 -> 1/3: (16/3 + 2/3) / 10
        (3, 90.0),   # 7 subsets with 3 -> 1, 3 with 2 -> 2/3: (7 + 2) / 10
        (4, 100.0),  # every subset keeps >= 3 matches
        (10, 100.0),
    ],
)
def test_ten_answers_leave_one_out(matches, percent):
    result = compute_vqa_accuracy(["cat"], [ten_answers("cat", matches)])
    assert result["vqa_accuracy"] == pytest.approx(percent)
    assert result["num_questions"] == 1
    assert "per_answer_type" not in result


def test_soft_score_is_the_accuracy_of_an_answer():
    for count in range(11):
        accuracy = compute_vqa_accuracy(["cat"], [ten_answers("cat", count)])["vqa_accuracy"]
        assert accuracy / 100 == pytest.approx(vqa_soft_score(count))


def test_other_numbers_of_answers():
    # 4 answers, 2 match: leaving out a match -> 1/3 (twice), leaving out another -> 2/3 (twice).
    assert compute_vqa_accuracy(["a"], [["a", "a", "b", "c"]])["vqa_accuracy"] == pytest.approx(50.0)
    # A single answer is an exact match.
    assert compute_vqa_accuracy(["circle"], [["circle"]])["vqa_accuracy"] == 100.0
    assert compute_vqa_accuracy(["circle"], [["triangle"]])["vqa_accuracy"] == 0.0


def official_accuracy(prediction: str, answers: list[str]) -> float:
    """The loop of vqaEval.py, written independently: drop each answer in turn."""
    accuracies = []
    for left_out in range(len(answers)):
        others = answers[:left_out] + answers[left_out + 1:]
        accuracies.append(min(1.0, sum(answer == prediction for answer in others) / 3))
    return sum(accuracies) / len(accuracies)


def test_matches_the_official_loop_on_random_questions():
    rng = random.Random(0)
    vocabulary = ["yes", "no", "2", "red", "dog"]
    predictions, references, expected = [], [], []
    for _ in range(200):
        answers = [rng.choice(vocabulary) for _ in range(rng.choice([2, 3, 5, 10]))]
        prediction = rng.choice(vocabulary)
        predictions.append(prediction)
        references.append(answers)
        expected.append(official_accuracy(prediction, answers))
    result = compute_vqa_accuracy(predictions, references)
    assert result["vqa_accuracy"] == pytest.approx(100 * sum(expected) / len(expected))


def test_predictions_and_references_are_normalised():
    assert compute_vqa_accuracy(["Two"], [["2"] * 10])["vqa_accuracy"] == 100.0
    assert compute_vqa_accuracy(["2"], [["two", "Two.", "2"] + ["3"] * 7])["vqa_accuracy"] == pytest.approx(90.0)
    assert compute_vqa_accuracy([" The Dog."], [["dog"]])["vqa_accuracy"] == 100.0
    assert compute_vqa_accuracy(["dont know"], [["don't know"]])["vqa_accuracy"] == 100.0


def test_mean_and_per_answer_type():
    predictions = ["yes", "2", "red", "blue"]
    references = [["yes"] * 10, ten_answers("2", 2), ten_answers("red", 1), ten_answers("green", 10)]
    answer_types = ["yes/no", "number", "other", "other"]
    result = compute_vqa_accuracy(predictions, references, answer_types=answer_types)
    assert result["vqa_accuracy"] == pytest.approx((100 + 60 + 30 + 0) / 4)
    assert result["per_answer_type"] == pytest.approx({"yes/no": 100.0, "number": 60.0, "other": 15.0})
    assert result["num_questions"] == 4


@pytest.mark.parametrize(
    ("predictions", "references", "answer_types", "message"),
    [
        (["a", "b"], [["a"]], None, "2 predictions but 1 references"),
        (["a"], [["a"]], ["other", "other"], "2 answer_types for 1 questions"),
        ([], [], None, "at least one question"),
        ([3], [["3"]], None, "prediction 0 is int"),
        (["a"], [[]], None, r"references\[0\]"),
        (["a"], ["a"], None, r"references\[0\]"),
        ("yes", [["yes"]], None, "list of answers"),
    ],
)
def test_bad_inputs_are_rejected(predictions, references, answer_types, message):
    with pytest.raises(ValueError, match=message):
        compute_vqa_accuracy(predictions, references, answer_types=answer_types)


# --- the evaluate module -------------------------------------------------------------------

@pytest.fixture(scope="module")
def metric():
    return load_vqa_accuracy()


def test_evaluate_module_gives_the_same_numbers(metric):
    predictions = ["yes", "Two", "red", "circle"]
    references = [["yes"] * 10, ten_answers("2", 2), ten_answers("red", 3), ["circle"]]
    answer_types = ["yes/no", "number", "other", "shape"]
    expected = compute_vqa_accuracy(predictions, references, answer_types=answer_types)
    assert metric.name == "vqa_accuracy"
    assert metric.compute(predictions=predictions, references=references, answer_types=answer_types) == expected

    for prediction, answers in zip(predictions, references, strict=True):
        metric.add(prediction=prediction, references=answers)
    assert metric.compute() == compute_vqa_accuracy(predictions, references)


def test_evaluate_module_rejects_bad_inputs(metric):
    with pytest.raises(ValueError, match="Mismatch in the number of predictions"):
        metric.compute(predictions=["a", "b"], references=[["a"]])
    with pytest.raises(ValueError, match="expected format"):
        metric.compute(predictions=[3], references=[["3"]])


def test_evaluate_load_works_offline_from_another_directory(tmp_path):
    script = (
        "import json, evaluate, hf_mmattn.tasks.vqa.metrics as m\n"
        "metric = evaluate.load(str(m._VQA_ACCURACY_MODULE))\n"
        "print(json.dumps(metric.compute(predictions=['Two'], references=[['2'] * 2 + ['3'] * 8])))\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    completed = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result == {"vqa_accuracy": pytest.approx(60.0), "num_questions": 1}
