"""The text classification family's part of a model card (``hub.build_model_card``): the Hub
metric ids, the usage snippet, and the model-index entries of measured accuracy."""

from __future__ import annotations

PIPELINE_TAG = "text-classification"
HUB_METRICS = ("accuracy",)

USAGE = (
    "import hf_mmattn  # registers the architectures with transformers\n"
    "from transformers import pipeline\n"
    "\n"
    'classifier = pipeline("{pipeline_tag}", model="{model_id}")\n'
    'classifier("The room was small. Overall I would rate it excellent.", top_k=None)'
)


def model_index_metrics(eval_results: dict) -> list[tuple[str, str, float]]:
    """(metric type, metric name, value) of the accuracy (percent) and, on the generated task, of
    the share of sentence attention on the deciding sentences."""
    if "accuracy" not in eval_results:
        raise ValueError(f"eval_results need an 'accuracy' entry (percent), got keys {sorted(eval_results)}.")
    metrics = [("accuracy", "accuracy", round(eval_results["accuracy"], 2))]
    if "deciding_sentence_attention" in eval_results:
        metrics.append(("accuracy", "sentence attention on the deciding sentences", round(eval_results["deciding_sentence_attention"], 2)))
    return metrics
