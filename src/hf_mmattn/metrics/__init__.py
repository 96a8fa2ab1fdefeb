"""Metrics of hf-mmattn, shipped as local `evaluate` modules (the Hub ones cannot be loaded
offline). Each belongs to its task family; the names here resolve lazily to them:

- :func:`compute_vqa_accuracy` / :func:`load_vqa_accuracy`: the official VQA accuracy
  (``hf_mmattn.tasks.vqa.metrics``);
- :func:`compute_caption_metrics` / :func:`load_caption_metrics` / :func:`python_ptb_tokenize`:
  BLEU-1..4, METEOR, ROUGE-L, CIDEr-D (``hf_mmattn.tasks.captioning.metrics``);
- :func:`compute_retrieval_metrics` / :func:`compute_retrieval_metrics_folds` /
  :func:`load_retrieval_metrics`: R@K and median rank of image–text retrieval, both ways, with
  the COCO 1K (5 folds) and 5K protocols (``hf_mmattn.tasks.matching.metrics``);
- :func:`compute_translation_metrics` / :func:`load_translation_metrics` / :func:`bleu_by_length`:
  sacreBLEU's BLEU and chrF, and BLEU by source length (``hf_mmattn.tasks.translation.metrics``).
"""

_FAMILY_METRICS = {
    "compute_vqa_accuracy": "hf_mmattn.tasks.vqa.metrics",
    "load_vqa_accuracy": "hf_mmattn.tasks.vqa.metrics",
    "compute_caption_metrics": "hf_mmattn.tasks.captioning.metrics",
    "load_caption_metrics": "hf_mmattn.tasks.captioning.metrics",
    "python_ptb_tokenize": "hf_mmattn.tasks.captioning.metrics",
    "compute_retrieval_metrics": "hf_mmattn.tasks.matching.metrics",
    "compute_retrieval_metrics_folds": "hf_mmattn.tasks.matching.metrics",
    "load_retrieval_metrics": "hf_mmattn.tasks.matching.metrics",
    "compute_translation_metrics": "hf_mmattn.tasks.translation.metrics",
    "load_translation_metrics": "hf_mmattn.tasks.translation.metrics",
    "bleu_by_length": "hf_mmattn.tasks.translation.metrics",
}


def __getattr__(name):
    if name in _FAMILY_METRICS:
        import importlib

        return getattr(importlib.import_module(_FAMILY_METRICS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_FAMILY_METRICS)
