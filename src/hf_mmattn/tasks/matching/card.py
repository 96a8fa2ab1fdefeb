"""The matching family's part of a model card (``hub.build_model_card``): the Hub metric ids, the
usage snippet, and the model-index entries of measured recall."""

from __future__ import annotations

PIPELINE_TAG = "zero-shot-image-classification"
HUB_METRICS = ("recall",)

USAGE = (
    "import hf_mmattn  # registers the architectures with transformers\n"
    "from transformers import pipeline\n"
    "\n"
    'classifier = pipeline("{pipeline_tag}", model="{model_id}")\n'
    'classifier("shapes.png", candidate_labels=["red circle", "blue square"], hypothesis_template="a {{}}")\n'
    "\n"
    "# retrieval: encode a gallery once, then rank it for any sentence (or sentences for an image)\n"
    "from hf_mmattn import ImageTextRetrieval\n"
    'retrieval = ImageTextRetrieval.from_pretrained("{model_id}")\n'
    "gallery = retrieval.encode_images(images)\n"
    'retrieval.rank_images("a red circle above a blue square", gallery, top_k=5)'
)

# compute_retrieval_metrics' keys -> model-index names (recall in percent, as the papers' tables).
RECALL_METRICS = {
    f"{direction}_r{k}": f"{label} R@{k}"
    for direction, label in (("image_to_text", "image→text"), ("text_to_image", "text→image"))
    for k in (1, 5, 10)
}


def model_index_metrics(eval_results: dict) -> list[tuple[str, str, float]]:
    """(metric type, metric name, value) of each recall present in ``eval_results`` (as
    ``compute_retrieval_metrics`` returns them, in percent), and of the scene-true R@1 when the
    evaluation reports it."""
    metrics = [("recall", name, round(eval_results[key], 2)) for key, name in RECALL_METRICS.items() if key in eval_results]
    if not metrics:
        raise ValueError(
            f"eval_results of a matching model need recall metrics ({sorted(RECALL_METRICS)}, as "
            f"compute_retrieval_metrics returns them), got keys {sorted(eval_results)}."
        )
    if "scene_true_r1" in eval_results:
        metrics.append(("recall", "text→image scene-true R@1", round(eval_results["scene_true_r1"], 2)))
    return metrics
