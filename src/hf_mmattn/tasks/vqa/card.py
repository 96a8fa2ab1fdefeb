"""The VQA family's part of a model card (``hub.build_model_card``): the Hub metric ids, the usage
snippet, and the model-index entries of measured results."""

from __future__ import annotations

PIPELINE_TAG = "visual-question-answering"
HUB_METRICS = ("accuracy",)

USAGE = (
    "import hf_mmattn  # registers the architectures and the pipeline with transformers\n"
    "from transformers import pipeline\n"
    "\n"
    'vqa = pipeline("{pipeline_tag}", model="{model_id}")\n'
    'vqa(image="shapes.png", question="what color is the circle?", top_k=3)'
)


def model_index_metrics(eval_results: dict) -> list[tuple[str, str, float]]:
    """(metric type, metric name, value) of the overall VQA accuracy and of each answer type, in
    percent, from ``{"vqa_accuracy": 99.3, "per_answer_type": {"yes/no": 99.9, ...}}``."""
    if "vqa_accuracy" not in eval_results:
        raise ValueError(f"eval_results need a 'vqa_accuracy' entry (percent), got keys {sorted(eval_results)}.")
    metrics = [("accuracy", "VQA accuracy", eval_results["vqa_accuracy"])]
    for answer_type, value in eval_results.get("per_answer_type", {}).items():
        metrics.append(("accuracy", f"VQA accuracy ({answer_type})", value))
    return metrics
