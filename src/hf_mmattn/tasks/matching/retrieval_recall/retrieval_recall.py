"""Image-text retrieval recall as a local `evaluate` metric: ``evaluate.load(<path of this folder>)``,
or ``hf_mmattn.tasks.matching.metrics.load_retrieval_metrics()``. The maths is
:func:`hf_mmattn.tasks.matching.metrics.compute_retrieval_metrics` (and ``..._folds``).

`evaluate` wants one prediction and one reference per example, so an example is an image: its
prediction is its row of the (num_images, num_texts) similarity matrix (its score for every text)
and its reference the column indices of its captions in that row."""

import datasets
import evaluate

from hf_mmattn.tasks.matching.metrics import (
    compute_retrieval_metrics,
    compute_retrieval_metrics_folds,
    text_image_from_caption_columns,
)

_DESCRIPTION = """\
Image-text retrieval metrics as reported on Flickr30K and COCO (VSE++, SCAN): recall R@K in
percent of the image queries (image to text: hit when ANY of the image's captions is among its K
best-scoring texts) and of the caption queries (text to image: hit when the caption's image is
among its K best-scoring images), median and mean rank (1-based, "Med r" = floor(median of the
0-based ranks) + 1) in both directions, and rsum, the sum of all recalls. Ties are broken by
index, as a stable descending sort does. With num_folds=5 on the 5000 COCO test images the
metrics are averaged over 5 folds of 1000 images (the "COCO 1K" protocol); without, they are
computed on all images at once ("COCO 5K", Flickr30K 1K).
"""

_CITATION = """\
@inproceedings{faghri2018vse,
  title={{VSE++}: Improving Visual-Semantic Embeddings with Hard Negatives},
  author={Faghri, Fartash and Fleet, David J. and Kiros, Jamie Ryan and Fidler, Sanja},
  booktitle={BMVC},
  year={2018}
}
@inproceedings{lee2018stacked,
  title={Stacked Cross Attention for Image-Text Matching},
  author={Lee, Kuang-Huei and Chen, Xi and Hua, Gang and Hu, Houdong and He, Xiaodong},
  booktitle={ECCV},
  year={2018}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[list[float]]`): one row per image: the image's similarity score for
        every text (all rows the same length, num_texts), higher = more similar.
    references (`list[list[int]]`): per image, the column indices (into its row) of its
        captions; every column belongs to exactly one image, every image has at least one.
    num_folds (`int`, optional): None (default) scores all images at once; k splits the images
        into k consecutive folds of equal size, each with its own captions, and averages the
        metrics over them (5 on the COCO 5K test images: the "COCO 1K" protocol).
    recall_at (`tuple[int]`, optional): the K of the recalls R@K, default (1, 5, 10).
Returns:
    image_to_text_r1, image_to_text_r5, image_to_text_r10 (`float`): recalls in percent (0-100).
    image_to_text_median_rank, image_to_text_mean_rank (`float`): 1-based ranks (1 = top).
    text_to_image_r1, ..., text_to_image_mean_rank (`float`): the same for caption queries.
    rsum (`float`): the sum of the recalls of both directions.
    num_images, num_texts (`int`): the numbers of images and texts scored.
    num_folds (`int`), folds (`list[dict]`): only with num_folds: the per-fold results.
Examples:
    >>> from hf_mmattn.tasks.matching.metrics import load_retrieval_metrics
    >>> metric = load_retrieval_metrics()
    >>> result = metric.compute(predictions=[[0.9, 0.1], [0.2, 0.8]], references=[[0], [1]])
    >>> result["image_to_text_r1"], result["text_to_image_r1"], result["rsum"]
    (100.0, 100.0, 600.0)
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RetrievalRecall(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Value("float64")),
                "references": datasets.Sequence(datasets.Value("int64")),
            }),
            reference_urls=["https://github.com/fartashf/vsepp", "https://github.com/kuanghuei/SCAN"],
        )

    def _compute(self, predictions, references, num_folds=None, recall_at=(1, 5, 10)):
        if not predictions:
            raise ValueError("no predictions: retrieval needs at least one image (one similarity row per image)")
        num_texts = len(predictions[0])
        for image, row in enumerate(predictions):
            if len(row) != num_texts:
                raise ValueError(
                    f"predictions[{image}] scores {len(row)} texts but predictions[0] scores {num_texts}; "
                    "every image's row must score all texts"
                )
        text_image = text_image_from_caption_columns(references, num_texts)
        if num_folds is None:
            return compute_retrieval_metrics(predictions, text_image, recall_at=recall_at)
        return compute_retrieval_metrics_folds(predictions, text_image, num_folds=num_folds, recall_at=recall_at)
