"""The translation family's part of a model card (``hub.build_model_card``): the Hub metric ids,
the usage snippet, and the model-index entries of measured BLEU and chrF."""

from __future__ import annotations

PIPELINE_TAG = "translation"
HUB_METRICS = ("bleu", "chrf")

USAGE = (
    "import hf_mmattn  # registers the architectures and the restored translation pipeline with transformers\n"
    "from transformers import pipeline\n"
    "\n"
    'translator = pipeline("{pipeline_tag}", model="{model_id}")\n'
    'translator("three hundred and twenty - one", num_beams=5)  # [{{"translation_text": "drei hundert ein und zwanzig"}}]\n'
    "# attention models: the alignment of the target words over the source words\n"
    'result = translator("twenty - one", return_alignment=True)[0]\n'
    'result["alignment"], result["source_tokens"], result["target_tokens"]'
)


def model_index_metrics(eval_results: dict) -> list[tuple[str, str, float]]:
    """(metric type, metric name, value) of sacreBLEU's BLEU and chrF (0-100), as
    ``hf_mmattn.tasks.translation.metrics`` computes them."""
    if "bleu" not in eval_results:
        raise ValueError(f"eval_results of a translator need a 'bleu' entry (sacreBLEU, 0-100), got keys {sorted(eval_results)}.")
    metrics = [("bleu", "sacreBLEU", round(eval_results["bleu"], 2))]
    if eval_results.get("chrf") is not None:
        metrics.append(("chrf", "chrF", round(eval_results["chrf"], 2)))
    return metrics
