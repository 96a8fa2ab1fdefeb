"""The image classification family's part of a model card (``hub.build_model_card``): the Hub
metric ids, the usage snippet, and the model-index entries of measured accuracy."""

from __future__ import annotations

PIPELINE_TAG = "image-classification"
HUB_METRICS = ("accuracy",)

USAGE = (
    "import hf_mmattn  # registers the architectures with transformers\n"
    "from transformers import pipeline\n"
    "\n"
    'classifier = pipeline("{pipeline_tag}", model="{model_id}")\n'
    'classifier("bird.jpg", top_k=5)'
)


def model_index_metrics(eval_results: dict) -> list[tuple[str, str, float]]:
    """(metric type, metric name, value) of the top-1 accuracy (percent) and, when measured, the
    top-5 accuracy."""
    if "accuracy" not in eval_results:
        raise ValueError(f"eval_results need an 'accuracy' entry (percent), got keys {sorted(eval_results)}.")
    metrics = [("accuracy", "accuracy", round(eval_results["accuracy"], 2))]
    if "top5_accuracy" in eval_results:
        metrics.append(("accuracy", "top-5 accuracy", round(eval_results["top5_accuracy"], 2)))
    return metrics
