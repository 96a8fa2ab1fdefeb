"""The captioning family's part of a model card (``hub.build_model_card``): the Hub metric ids,
the usage snippet, and the model-index entries of measured caption metrics."""

from __future__ import annotations

PIPELINE_TAG = "image-text-to-text"
HUB_METRICS = ("bleu", "cider", "meteor", "rouge")

# compute_caption_metrics' keys (pycocoevalcap's scales) -> (model-index metric type, name). The
# model-index and the cards give them x100, the scale of the captioning papers' tables (BLEU-4
# 24.3, CIDEr 85.5).
CAPTION_METRICS = {
    "bleu_1": ("bleu", "BLEU-1"),
    "bleu_2": ("bleu", "BLEU-2"),
    "bleu_3": ("bleu", "BLEU-3"),
    "bleu_4": ("bleu", "BLEU-4"),
    "meteor": ("meteor", "METEOR"),
    "rouge_l": ("rouge", "ROUGE-L"),
    "cider_d": ("cider", "CIDEr-D"),
    "cider": ("cider", "CIDEr"),
}

USAGE = (
    "import hf_mmattn  # registers the architectures and the pipeline with transformers\n"
    "from transformers import pipeline\n"
    "\n"
    'captioner = pipeline("{pipeline_tag}", model="{model_id}")\n'
    'captioner("shapes.png")  # [{{"generated_text": "a red circle above a blue square", ...}}]\n'
    "# attention models: also the generated words and the attention map behind each one\n"
    'result = captioner("shapes.png", return_attention=True)[0]\n'
    'result["words"], result["attentions"]'
)


def model_index_metrics(eval_results: dict) -> list[tuple[str, str, float]]:
    """(metric type, metric name, value x100) of each caption metric present (a ``None`` one,
    METEOR without Java, is left out)."""
    metrics = [
        (metric_type, metric_name, round(100 * eval_results[key], 2))
        for key, (metric_type, metric_name) in CAPTION_METRICS.items()
        if eval_results.get(key) is not None
    ]
    if not metrics:
        raise ValueError(
            f"eval_results of a captioner need caption metrics ({sorted(CAPTION_METRICS)}, as "
            f"hf_mmattn.metrics.compute_caption_metrics returns them), got keys {sorted(eval_results)}."
        )
    return metrics
