"""The VQA family's metric: the official VQA accuracy (Antol et al., ICCV 2015), as a function
and as a local ``evaluate`` module (the Hub's cannot be loaded offline)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import evaluate

from ...data.answers import normalize_answer
from ...metrics.texts import check_texts

_VQA_ACCURACY_MODULE = Path(__file__).parent / "vqa_accuracy"


def _question_accuracy(prediction: str, answers: list[str]) -> float:
    """Accuracy of one normalised prediction against its normalised human answers.

    The official VQA evaluation scores ``min(1, #humans that gave the prediction / 3)``,
    averaged over the leave-one-out subsets of the human answers (10 subsets of 9 for VQA).
    A single answer leaves no subset, so it is scored by exact match.
    """
    matches = [answer == prediction for answer in answers]
    if len(matches) == 1:
        return float(matches[0])
    total = sum(matches)
    return sum(min(1.0, (total - left_out) / 3) for left_out in matches) / len(matches)


def compute_vqa_accuracy(
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    answer_types: Sequence[str] | None = None,
) -> dict:
    """Official VQA accuracy, in percent.

    ``predictions[i]`` is the answer predicted for question ``i`` and ``references[i]`` its
    human answers (10 for VQA v1/v2, 1 for easy-VQA). Predictions and references are both
    normalised with :func:`~hf_mmattn.data.answers.normalize_answer`, so "Two" matches "2".
    (Since 2021 the official ``vqaEval.py`` skips normalisation, of the prediction too, for a
    question whose 10 human answers are identical; normalising always differs from it only
    for a prediction that is not already normalised, which a classifier over a normalised
    answer vocabulary never outputs.)

    Returns ``{"vqa_accuracy": mean accuracy x 100, "num_questions": n}`` plus, when
    ``answer_types`` (one per question, e.g. "yes/no", "number", "other") is given,
    ``"per_answer_type": {type: mean accuracy x 100}``. Values are not rounded (the official
    evaluation rounds to 2 decimals).
    """
    check_texts(predictions, references, text="answer", unit="question", metric="VQA accuracy")
    if answer_types is not None and len(answer_types) != len(predictions):
        raise ValueError(
            f"got {len(answer_types)} answer_types for {len(predictions)} questions; expected one per question"
        )

    scores = []
    for prediction, answers in zip(predictions, references):
        scores.append(_question_accuracy(normalize_answer(prediction), [normalize_answer(a) for a in answers]))

    result = {"vqa_accuracy": 100.0 * sum(scores) / len(scores), "num_questions": len(scores)}
    if answer_types is not None:
        by_type: dict[str, list[float]] = {}
        for answer_type, score in zip(answer_types, scores):
            by_type.setdefault(answer_type, []).append(score)
        result["per_answer_type"] = {t: 100.0 * sum(s) / len(s) for t, s in by_type.items()}
    return result


def load_vqa_accuracy(**kwargs) -> evaluate.EvaluationModule:
    """The VQA accuracy as an ``evaluate`` metric, loaded from the package (works offline);
    ``kwargs`` go to ``evaluate.load``. ``compute(predictions=..., references=...,
    answer_types=None)`` returns what :func:`compute_vqa_accuracy` returns."""
    return evaluate.load(str(_VQA_ACCURACY_MODULE), **kwargs)


__all__ = ["compute_vqa_accuracy", "load_vqa_accuracy"]
