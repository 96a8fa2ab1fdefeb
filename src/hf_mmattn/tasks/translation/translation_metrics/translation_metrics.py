"""Translation metrics (sacreBLEU corpus BLEU and chrF, with their signatures) as a local `evaluate`
metric: ``evaluate.load(<path of this folder>)``, or
``hf_mmattn.tasks.translation.metrics.load_translation_metrics()``. The scoring is
:func:`hf_mmattn.tasks.translation.metrics.compute_translation_metrics`."""

import datasets
import evaluate

from hf_mmattn.tasks.translation.metrics import compute_translation_metrics

_DESCRIPTION = """\
Corpus BLEU (Papineni et al., 2002) and chrF (Popović, 2015) computed by sacreBLEU (Post, 2018,
"A Call for Clarity in Reporting BLEU Scores") on detokenised translations, with sacreBLEU's
signatures so that the scores can be reproduced. BLEU: 4-gram, brevity penalty against the closest
reference length, exp smoothing, the chosen tokenizer (13a by default, the WMT standard). chrF:
chrF2 (character 6-grams, beta 2). Each sentence may have several references, in varying number
(the signatures then say nrefs:var). An empty translation is scored (it lowers the brevity penalty).
Scores are in [0, 100].
"""

_CITATION = """\
@inproceedings{post-2018-call,
  title={A Call for Clarity in Reporting {BLEU} Scores},
  author={Post, Matt},
  booktitle={Proceedings of the Third Conference on Machine Translation: Research Papers},
  pages={186--191},
  year={2018}
}
@inproceedings{popovic-2015-chrf,
  title={chr{F}: character n-gram {F}-score for automatic {MT} evaluation},
  author={Popovi{\\'c}, Maja},
  booktitle={Proceedings of the Tenth Workshop on Statistical Machine Translation},
  pages={392--395},
  year={2015}
}
@inproceedings{papineni-etal-2002-bleu,
  title={{B}leu: a Method for Automatic Evaluation of Machine Translation},
  author={Papineni, Kishore and Roukos, Salim and Ward, Todd and Zhu, Wei-Jing},
  booktitle={Proceedings of the 40th Annual Meeting of the Association for Computational Linguistics},
  pages={311--318},
  year={2002}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): the translation of each source sentence (may be "").
    references (`list[list[str]]`): the reference translations of each source sentence (one or more).
    tokenize (`str`, default "13a"): sacreBLEU's tokenizer for BLEU ("13a", "intl", "char", "zh", "none", ...).
    lowercase (`bool`, default False): lower-case before scoring (BLEU and chrF).
Returns:
    bleu (`float`): corpus BLEU, in [0, 100].
    chrf (`float`): corpus chrF2, in [0, 100].
    bleu_precisions (`list[float]`): the 1- to 4-gram precisions, in percent.
    brevity_penalty (`float`), length_ratio (`float`): BLEU's brevity penalty and hypothesis/reference length ratio.
    hypothesis_length, reference_length (`int`): the lengths in tokens behind them.
    num_sentences (`int`): number of sentences scored.
    bleu_signature, chrf_signature (`str`): sacreBLEU's signatures, to report with the scores.
Examples:
    >>> from hf_mmattn.tasks.translation.metrics import load_translation_metrics
    >>> metric = load_translation_metrics()
    >>> result = metric.compute(predictions=["the cat sat on the mat"], references=[["the cat sat on the mat"]])
    >>> round(result["bleu"], 6), round(result["chrf"], 6)
    (100.0, 100.0)
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class TranslationMetrics(evaluate.Metric):
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
            reference_urls=["https://github.com/mjpost/sacrebleu", "https://aclanthology.org/W18-6319/"],
        )

    def _compute(self, predictions, references, tokenize="13a", lowercase=False):
        return compute_translation_metrics(predictions, references, tokenize=tokenize, lowercase=lowercase)
