"""The text-to-image family's part of a model card (``hub.build_model_card``): the Hub metric
ids, the usage snippet, and the model-index entries of the measured caption consistency and
R-precision (``tasks/text_to_image/metrics.py``)."""

from __future__ import annotations

PIPELINE_TAG = "text-to-image"
HUB_METRICS = ("accuracy", "precision", "diversity")

USAGE = (
    "import hf_mmattn  # registers the architectures and the text-to-image pipeline with transformers\n"
    "import torch\n"
    "from transformers import pipeline\n"
    "\n"
    'painter = pipeline("{pipeline_tag}", model="{model_id}")\n'
    'images = painter("a red circle above a blue square", num_images_per_prompt=4, generator=torch.Generator().manual_seed(0))\n'
    'images[0].save("red_circle.png")'
)

# evaluate_generated_images' keys -> model-index names (fractions of generated images or objects, in percent).
CONSISTENCY_METRICS = {
    "color": ("accuracy", "caption colours shown"),
    "shape": ("accuracy", "caption objects shown (colour and shape)"),
    "caption_true": ("accuracy", "captions true of the image"),
    "r_precision": ("precision", "R-precision (1 of 100 captions)"),
}


def model_index_metrics(eval_results: dict) -> list[tuple[str, str, float]]:
    """(metric type, metric name, value in percent) of each consistency metric and the R-precision
    present in ``eval_results`` (fractions in [0, 1]), and the diversity (a pixel distance)."""
    metrics = [(kind, name, round(100 * eval_results[key], 2)) for key, (kind, name) in CONSISTENCY_METRICS.items()
               if eval_results.get(key) is not None]
    if eval_results.get("diversity") is not None:
        metrics.append(("diversity", "mean pixel distance between images of one caption", round(eval_results["diversity"], 4)))
    if not metrics:
        raise ValueError(f"eval_results of a text-to-image model need some of {sorted(CONSISTENCY_METRICS)} or diversity, got keys "
                         f"{sorted(eval_results)}.")
    return metrics
