"""VQA answers: the official normalisation, soft scores and answer vocabularies.

Three things every VQA model of this package needs from its answers:

1. :func:`normalize_answer` - the answer normalisation of the official VQA evaluation
   (Antol et al., ICCV 2015; Goyal et al., CVPR 2017), ``vqaEval.py`` of
   https://github.com/GT-Vision-Lab/VQA (``processPunctuation`` then
   ``processDigitArticle``, as on its master branch since 2021). Predictions, references
   and the answer vocabulary all go through it, so that "Two", "two." and "2" are one
   answer.
2. :func:`vqa_soft_score` - the soft target ``min(1, 0.3 * count)`` of the bottom-up
   attention VQA models (Teney et al., CVPR 2018; Anderson et al., CVPR 2018) and BAN
   (Kim et al., NeurIPS 2018), trained with binary cross-entropy.
3. :func:`build_answer_vocabulary` - the classifier's answer set, most frequent first.
"""

import re
from collections import Counter
from collections.abc import Iterable

import torch

# --- the tables of the official vqaEval.py -------------------------------------------------

# Punctuation that is removed (when it touches a space, or when the answer contains a
# digit-comma-digit like "1,000") or else replaced by a space ("t-shirt" -> "t shirt").
# Periods are handled separately (see _PERIOD).
_PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-",
                ">", "<", "@", "`", ",", "?", "!")

# The official ``commaStrip``: a comma between two digits. The official vqaEval.py is Python 2
# code whose patterns are compiled without re.UNICODE, so its ``\d`` is an ASCII digit only
# (Python 3's ``\d`` would also match "٣"): hence re.ASCII here and below.
_COMMA_BETWEEN_DIGITS = re.compile(r"(\d)(,)(\d)", re.ASCII)

# The official ``periodStrip`` is r"(?!<=\d)(\.)(?!\d)": its first group was meant as a
# look-behind but is a look-ahead that can never fail in front of a ".", so the pattern
# removes every period that is not followed by a digit ("3.5" keeps its period, "dog." and
# "a.b" lose theirs).
_PERIOD = re.compile(r"\.(?!\d)", re.ASCII)
# The official code passes ``re.UNICODE`` (== 32) in the position of ``count`` of
# ``Pattern.sub``, so at most 32 periods are removed from one answer.
_PERIOD_MAX_REMOVALS = int(re.UNICODE)

_NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
                 "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}

_ARTICLES = frozenset({"a", "an", "the"})

# The official contractions map, entry for entry. It is applied after lower-casing, so the
# entries with a capital "I" never fire; they are kept so the table stays the official one.
_CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've",
    "couldnt": "couldn't", "couldn'tve": "couldn't've", "couldnt've": "couldn't've",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're",
    "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've",
    "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
    "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll",
    "youre": "you're", "youve": "you've",
}


def _process_punctuation(text: str) -> str:
    """``processPunctuation`` of the official evaluation."""
    # The official test looks at the text as it came in, not as it is being rewritten.
    remove_outright = _COMMA_BETWEEN_DIGITS.search(text) is not None
    out = text
    for mark in _PUNCTUATION:
        if remove_outright or mark + " " in text or " " + mark in text:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD.sub("", out, count=_PERIOD_MAX_REMOVALS)


def _process_digit_article(text: str) -> str:
    """``processDigitArticle`` of the official evaluation: lower case, number words to
    digits, articles dropped, apostrophe-less contractions restored."""
    words = []
    for word in text.lower().split():
        word = _NUMBER_WORDS.get(word, word)
        if word not in _ARTICLES:
            words.append(_CONTRACTIONS.get(word, word))
    return " ".join(words)


def normalize_answer(answer: str) -> str:
    """Normalise an answer exactly as the official VQA evaluation does.

    Newlines and tabs become spaces and the ends are stripped, then punctuation is handled
    (``processPunctuation``) and finally case, number words, articles and contractions
    (``processDigitArticle``)::

        >>> [normalize_answer(a) for a in ["Two", "the dog.", "dont", "yes!", "1,000", "3.5"]]
        ['2', 'dog', "don't", 'yes', '1000', '3.5']

    Some behaviours of the official code are kept on purpose, because matching it is the
    point: ``"t-shirt"`` becomes ``"t shirt"``, ``"none"`` becomes ``"0"``, apostrophes and
    colons are left alone (``"don't"`` stays ``"don't"``).
    """
    if not isinstance(answer, str):
        raise TypeError(f"normalize_answer expects a str, got {type(answer).__name__}: {answer!r}")
    text = answer.replace("\n", " ").replace("\t", " ").strip()
    return _process_digit_article(_process_punctuation(text))


def official_evaluation_answers(prediction: str, answers: list[str]) -> tuple[str, list[str]]:
    """The prediction and human answers of one question exactly as the official ``vqaEval.py``
    (master since March 2021, commit a013f00 "Fixed processing answers bug") compares them.

    Newlines and tabs become spaces and the ends are stripped, always; the full normalisation
    (:func:`normalize_answer`) is applied to the answers and the prediction only when the
    stripped human answers are not all identical. So for a unanimous question the official
    evaluation matches the raw prediction: ``"Two"`` scores 0 against ten ``"2"``, which
    :func:`normalize_answer` on both sides would score 1. (Before 2021 the answers were given
    ``processPunctuation`` alone and the prediction always the full normalisation.)
    """
    def strip(text: str) -> str:
        return text.replace("\n", " ").replace("\t", " ").strip()

    prediction, answers = strip(prediction), [strip(answer) for answer in answers]
    if len(set(answers)) > 1:
        return normalize_answer(prediction), [normalize_answer(answer) for answer in answers]
    return prediction, answers


_SOFT_SCORES = (0.0, 0.3, 0.6, 0.9)


def vqa_soft_score(count: int) -> float:
    """Soft target of an answer given by ``count`` annotators: ``min(1, 0.3 * count)``.

    This is the target of the bottom-up attention VQA models (Teney et al., CVPR 2018,
    "Tips and tricks for visual question answering") and of BAN (Kim et al., NeurIPS 2018),
    trained with binary cross-entropy: counts 0, 1, 2, 3 and 4 or more give 0.0, 0.3, 0.6,
    0.9 and 1.0.

    With the 10 annotators of VQA it equals the official accuracy of predicting that answer.
    The official accuracy averages ``min(1, matches / 3)`` over the 10 leave-one-out subsets
    of 9 annotators; an answer given by ``c`` of the 10 leaves ``c - 1`` matches in the ``c``
    subsets that drop one of its annotators and ``c`` matches in the other ``10 - c``::

        (c * min(1, (c - 1) / 3) + (10 - c) * min(1, c / 3)) / 10  =  0.3, 0.6, 0.9, 1.0
                                                                      for c = 1, 2, 3, >= 4
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative int, got {count!r}")
    return _SOFT_SCORES[count] if count < len(_SOFT_SCORES) else 1.0


def build_answer_vocabulary(
    answer_lists: Iterable[list[str]], min_count: int = 1, max_answers: int | None = None
) -> list[str]:
    """The answer set of a VQA classifier: normalised answers seen at least ``min_count``
    times, most frequent first, ties in alphabetical order, at most ``max_answers`` of them.

    Every answer of every list counts once. The 3,129-answer vocabulary of VQA v2 used by
    the bottom-up attention models, BAN and MCAN keeps the answers that are the
    ``multiple_choice_answer`` of at least 9 questions of train + val: pass
    ``([a] for a in multiple_choice_answers)`` with ``min_count=9``.
    """
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    if max_answers is not None and max_answers < 1:
        raise ValueError(f"max_answers must be None or >= 1, got {max_answers}")
    counts = Counter(normalize_answer(answer) for answers in answer_lists for answer in answers)
    kept = sorted((answer for answer, n in counts.items() if n >= min_count),
                  key=lambda answer: (-counts[answer], answer))
    return kept if max_answers is None else kept[:max_answers]


def answers_to_soft_targets(answers: list[str], label2id: dict[str, int]) -> dict[int, float]:
    """Sparse soft target ``{label id: score}`` of one question.

    The answers are normalised and counted; each answer in ``label2id`` (whose keys are
    normalised answers, as :func:`build_answer_vocabulary` returns them) gets
    :func:`vqa_soft_score` of its count. A question with a single answer (easy-VQA, or the
    ``multiple_choice_answer`` alone) gets 1.0 for it. Answers that are not in the vocabulary
    are ignored, so a question whose answers are all out of vocabulary has an all-zero
    target, as in the bottom-up attention and BAN training code; an empty list (the test
    split) gives ``{}``.
    """
    counts = Counter(normalize_answer(answer) for answer in answers)
    if len(answers) == 1:
        return {label2id[answer]: 1.0 for answer in counts if answer in label2id}
    return {label2id[answer]: vqa_soft_score(n) for answer, n in counts.items() if answer in label2id}


def soft_target_tensor(
    batch_answers: list[list[str]], label2id: dict[str, int], num_labels: int
) -> torch.FloatTensor:
    """Dense soft targets ``(batch, num_labels)`` for a batch of answer lists, the ``labels``
    of the VQA models trained with binary cross-entropy (see :func:`answers_to_soft_targets`)."""
    targets = torch.zeros(len(batch_answers), num_labels, dtype=torch.float32)
    for row, answers in enumerate(batch_answers):
        for label_id, score in answers_to_soft_targets(answers, label2id).items():
            if not 0 <= label_id < num_labels:
                raise ValueError(
                    f"label2id maps an answer to id {label_id}, outside [0, {num_labels}); "
                    "num_labels must be the size of the answer vocabulary"
                )
            targets[row, label_id] = score
    return targets
