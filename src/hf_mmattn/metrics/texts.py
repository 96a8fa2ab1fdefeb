"""What the package's metrics share: the check of their prediction and reference lists."""

from __future__ import annotations


def check_texts(predictions, references, *, text: str, unit: str, metric: str) -> None:
    """Rejects what is not one ``text`` string per ``unit`` (question, image) with a non-empty list
    of reference strings, naming the problem."""
    if isinstance(predictions, str) or isinstance(references, str):
        raise ValueError(f"predictions must be a list of {text}s and references a list of lists of {text}s")
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions but {len(references)} references; expected one per {unit}")
    if not predictions:
        raise ValueError(f"no predictions: {metric} needs at least one {unit}")
    for index, (prediction, texts) in enumerate(zip(predictions, references)):
        if not isinstance(prediction, str):
            raise ValueError(f"prediction {index} is {type(prediction).__name__} {prediction!r}; expected the {text} as a str")
        if isinstance(texts, str) or len(texts) == 0 or not all(isinstance(t, str) for t in texts):
            raise ValueError(f"references[{index}] is {texts!r}; expected a non-empty list of str {text}s")
