"""Caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D) as a local `evaluate` metric:
``evaluate.load(<path of this folder>)``, or ``hf_mmattn.metrics.load_caption_metrics()``. The
scoring is :func:`hf_mmattn.metrics.compute_caption_metrics` (pycocoevalcap's scorers)."""

import datasets
import evaluate

from hf_mmattn.tasks.captioning.metrics import compute_caption_metrics

_DESCRIPTION = """\
The COCO caption evaluation (Chen et al., 2015) with its standard scorers from pycocoevalcap:
captions are tokenised with Stanford PTBTokenizer (lower-cased, punctuation dropped), then
scored with corpus BLEU-1..4 (Papineni et al., 2002), METEOR 1.5 (Denkowski and Lavie, 2014),
ROUGE-L (Lin, 2004) and CIDEr-D (Vedantam et al., 2015). The tokenizer and METEOR need Java:
without it the captions are tokenised by a pure-Python equivalent ("tokenizer": "python") and
METEOR is None with "meteor_skipped_reason" saying why. Scores are on pycocoevalcap's scales
(fractions in [0, 1], CIDEr-D in [0, 10]). CIDEr-D takes its document frequencies from the
references given, so it is 0 for a single image.
"""

_CITATION = """\
@article{chen2015microsoft,
  title={Microsoft {COCO} Captions: Data Collection and Evaluation Server},
  author={Chen, Xinlei and Fang, Hao and Lin, Tsung-Yi and Vedantam, Ramakrishna and Gupta, Saurabh
          and Doll{\\'a}r, Piotr and Zitnick, C. Lawrence},
  journal={arXiv preprint arXiv:1504.00325},
  year={2015}
}
@inproceedings{vedantam2015cider,
  title={{CIDEr}: Consensus-based Image Description Evaluation},
  author={Vedantam, Ramakrishna and Zitnick, C. Lawrence and Parikh, Devi},
  booktitle={CVPR},
  year={2015}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): the generated caption of each image.
    references (`list[list[str]]`): the reference captions of each image (5 for COCO).
Returns:
    bleu_1, bleu_2, bleu_3, bleu_4 (`float`): corpus BLEU, in [0, 1].
    meteor (`float` or `None`): METEOR 1.5, in [0, 1]; None when Java is missing.
    rouge_l (`float`): ROUGE-L F-measure (beta 1.2), in [0, 1].
    cider_d (`float`): CIDEr-D, in [0, 10].
    num_images (`int`): number of images scored.
    tokenizer (`str`): "ptb" (Stanford PTBTokenizer) or "python" (the fallback without Java).
    tokenizer_fallback_reason, meteor_skipped_reason (`str` or `None`): why a fallback was used.
Examples:
    >>> from hf_mmattn.metrics import load_caption_metrics
    >>> metric = load_caption_metrics()
    >>> result = metric.compute(predictions=["a red circle above a blue square"],
    ...                         references=[["a red circle above a blue square"]])
    >>> round(result["bleu_1"], 6), round(result["rouge_l"], 6)
    (1.0, 1.0)
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CaptionMetrics(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Value("string"),
                "references": datasets.Sequence(datasets.Value("string")),
            }),
            reference_urls=["https://github.com/salaniz/pycocoevalcap", "https://github.com/tylin/coco-caption"],
        )

    def _compute(self, predictions, references):
        return compute_caption_metrics(predictions, references)
