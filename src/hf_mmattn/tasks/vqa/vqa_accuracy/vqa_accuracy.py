"""VQA accuracy as a local `evaluate` metric: ``evaluate.load(<path of this folder>)``, or
``hf_mmattn.metrics.load_vqa_accuracy()``. The maths is :func:`hf_mmattn.metrics.compute_vqa_accuracy`."""

import datasets
import evaluate

from hf_mmattn.tasks.vqa.metrics import compute_vqa_accuracy

_DESCRIPTION = """\
The official VQA accuracy (Antol et al., ICCV 2015): a predicted answer scores
min(1, #humans who gave that answer / 3), averaged over the 10 leave-one-out subsets of 9 of
the 10 human answers; predictions and human answers are normalised as in the official
evaluation (punctuation, number words to digits, articles, contractions). With a single
reference answer the score is exact match. Reported in percent.
"""

_CITATION = """\
@inproceedings{antol2015vqa,
  title={{VQA}: Visual Question Answering},
  author={Antol, Stanislaw and Agrawal, Aishwarya and Lu, Jiasen and Mitchell, Margaret and
          Batra, Dhruv and Zitnick, C. Lawrence and Parikh, Devi},
  booktitle={ICCV},
  year={2015}
}
@inproceedings{goyal2017making,
  title={Making the {V} in {VQA} Matter: Elevating the Role of Image Understanding in Visual
         Question Answering},
  author={Goyal, Yash and Khot, Tejas and Summers-Stay, Douglas and Batra, Dhruv and Parikh, Devi},
  booktitle={CVPR},
  year={2017}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): the predicted answer of each question.
    references (`list[list[str]]`): the human answers of each question (10 for VQA v2).
    answer_types (`list[str]`, optional): the answer type of each question ("yes/no",
        "number", "other"); adds per-type accuracies.
Returns:
    vqa_accuracy (`float`): mean accuracy in percent (0-100).
    num_questions (`int`): number of questions scored.
    per_answer_type (`dict[str, float]`): accuracy in percent per answer type, only when
        `answer_types` is given.
Examples:
    >>> from hf_mmattn.metrics import load_vqa_accuracy
    >>> metric = load_vqa_accuracy()
    >>> metric.compute(predictions=["Two"], references=[["2"] * 10])
    {'vqa_accuracy': 100.0, 'num_questions': 1}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class VqaAccuracy(evaluate.Metric):
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
            reference_urls=["https://visualqa.org/evaluation.html", "https://github.com/GT-Vision-Lab/VQA"],
        )

    def _compute(self, predictions, references, answer_types=None):
        return compute_vqa_accuracy(predictions, references, answer_types=answer_types)
