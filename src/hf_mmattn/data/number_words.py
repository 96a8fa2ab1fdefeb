"""A generated translation task that needs alignment and reordering: English number words to
German number words, written out by ``num2words`` (the ``translation`` extra), offline and
deterministic.

A sentence is 1 to ``max_numbers`` numbers separated by ``;`` (:data:`NUMBER_SEPARATOR`, on
both sides; it occurs in no number). Tokens are separated by single spaces:

* English (source): ``num2words(n)`` with its commas removed and each hyphen its own token,
  321 → ``three hundred and twenty - one``, 1100 → ``one thousand one hundred``;
* German (target): ``num2words(n, lang="de")``, a compound (``dreihunderteinundzwanzig``),
  split into its morphemes by :func:`segment_german_number`, 321 → ``drei hundert ein und
  zwanzig``, 17 → ``sieb zehn``, 1_000_000 → ``eine Million``.

So a model has to reorder (``twenty - one`` → ``ein und zwanzig``: units before tens), drop
(English ``and`` after ``hundred`` has no German counterpart), split (``seventeen`` → ``sieb
zehn``) and pick forms by context (``one`` is ``ein``, ``eins`` or ``eine``). The numbers of a
sentence are drawn with spread magnitudes (a number of digits uniformly from 1 to that of
``max_value``, then the number uniformly among those), so source lengths range from one token
(``seven``) to several dozen, and BLEU by source length can show a fixed-vector
encoder-decoder degrading on long sentences.

German morphemes (:data:`GERMAN_NUMBER_MORPHEMES`): the units (``ein``, ``eins``, ``eine``,
``zwei`` ... ``neun``; ``sech`` and ``sieb`` as in ``sechzehn`` and ``siebzehn``), ``zehn``,
``elf``, ``zwölf``, the tens ``zwanzig`` ... ``neunzig``, ``hundert``, ``tausend``, ``und``,
``Million``, ``Millionen`` and ``null``. The segmentation is greedy longest match, so
``sechsundsechzig`` is ``sechs und sechzig`` and ``achtzehn`` is ``acht zehn``; a word it
cannot cover raises ``ValueError`` (every generated number is segmented, so a spelling of
``num2words`` outside the set cannot go unnoticed).

One correction of ``num2words``: it writes a thousands group ending in 01 from 101 on (101 000
to 101 999, 201 000 to 201 999, ...) with ``eins``, ``einhunderteinstausend``; German, and
``num2words`` itself for 1 000 (``eintausend``), writes ``ein``: ``einhunderteintausend``
(:func:`german_number_words`). Millions are left as ``num2words`` writes them
(``einhunderteins Millionen``).

The words of a number are those of ``num2words``, composed from its words for the three-digit
groups (millions, thousands, the rest) by ``num2words``' own rules: the same strings as
``num2words(n)`` for every ``n`` below 10**9 (checked for every 7th number below 10**6 and a
sample above with num2words 0.5.13 and 0.5.14, and by the tests), with ``num2words`` called
for at most 2 000 groups instead of twice a number (it takes about 0.3 ms a call): the
defaults take a few seconds.

The defaults (``generate_number_translation()``: 20 000 / 1 000 / 1 000 sentences,
``max_numbers=5``, ``max_value=999_999``, seed 0; all 22 000 sentences), measured: source
length in tokens (separators included) min 1, median 21, mean 22.0, max 63, 10th / 90th
percentile 8 / 38; target length min 1, median 19, mean 19.6, max 53. Vocabulary: 32 English
tokens (one ... nineteen, twenty ... ninety, hundred, thousand, and, ``-``, ``;``) and 27
German (ein, eins, zwei ... neun, sech, sieb, zehn, elf, zwölf, zwanzig ... neunzig, hundert,
tausend, und, ``;``; ``eine``, ``Million``, ``Millionen`` only come with ``max_value`` of a
million or more).
"""

from __future__ import annotations

import functools
import random
import re

from datasets import Dataset, DatasetDict, Features, List, Value

__all__ = [
    "GERMAN_NUMBER_MORPHEMES",
    "NUMBER_SEPARATOR",
    "NUMBER_TRANSLATION_FEATURES",
    "english_number_tokens",
    "english_number_words",
    "generate_number_translation",
    "german_number_tokens",
    "german_number_words",
    "number_sentence_pair",
    "segment_german_number",
]

NUMBER_SEPARATOR = ";"
"""The token between two numbers of a sentence, in English and in German."""

GERMAN_NUMBER_MORPHEMES = (
    "null", "ein", "eins", "eine", "zwei", "drei", "vier", "fünf", "sech", "sechs", "sieb", "sieben", "acht", "neun",
    "zehn", "elf", "zwölf",
    "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig", "achtzig", "neunzig",
    "hundert", "tausend", "und", "Million", "Millionen",
)
"""The closed set of morphemes of German number words below 10**9, as ``num2words`` spells them."""

MAX_VALUE_LIMIT = 999_999_999

NUMBER_TRANSLATION_FEATURES = Features({
    "source": Value("string"),
    "target": Value("string"),
    "numbers": List(Value("int64")),
})

# An alternation tries its branches in order: longest first makes each match the longest morpheme there.
_MORPHEME = re.compile("|".join(re.escape(m) for m in sorted(GERMAN_NUMBER_MORPHEMES, key=len, reverse=True)))


def _num2words(number: int, lang: str) -> str:
    try:
        from num2words import num2words
    except ImportError as error:
        raise ImportError("the number-words task needs num2words: pip install 'hf-mmattn[translation]' "
                          "(or pip install num2words)") from error
    return num2words(number, lang=lang)


@functools.lru_cache(maxsize=None)
def _group_words(number: int, lang: str) -> str:
    return _num2words(number, lang)


def _check_number(number) -> int:
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= MAX_VALUE_LIMIT:
        raise ValueError(f"expected an integer from 0 to {MAX_VALUE_LIMIT:_}, got {number!r}")
    return number


def english_number_words(number: int) -> str:
    """``num2words(number)``: 321 → ``"three hundred and twenty-one"``, 1100 → ``"one thousand,
    one hundred"``; ``number`` from 0 to 999 999 999."""
    if _check_number(number) < 1000:
        return _group_words(number, "en")
    millions, thousands, rest = number // 1_000_000, number // 1000 % 1000, number % 1000
    parts = [f"{_group_words(millions, 'en')} million" if millions else "",
             f"{_group_words(thousands, 'en')} thousand" if thousands else ""]
    words = ", ".join(part for part in parts if part)
    if rest:
        words += (" and " if rest < 100 else ", ") + _group_words(rest, "en")
    return words


def german_number_words(number: int) -> str:
    """``num2words(number, lang="de")`` with its thousands ending in ``eins`` written ``ein``:
    321 → ``"dreihunderteinundzwanzig"``, 101 000 → ``"einhunderteintausend"`` (``num2words``:
    ``"einhunderteinstausend"``), 2 000 005 → ``"zwei Millionen fünf"``; ``number`` from 0 to
    999 999 999."""
    if _check_number(number) < 1000:
        return _group_words(number, "de")
    millions, thousands, rest = number // 1_000_000, number // 1000 % 1000, number % 1000
    below_million = ""
    if thousands:
        thousands_words = _group_words(thousands, "de")
        if thousands_words.endswith("eins"):
            thousands_words = thousands_words[:-1]
        below_million = thousands_words + "tausend"
    if rest:
        below_million += _group_words(rest, "de")
    if not millions:
        return below_million
    million_words = "eine Million" if millions == 1 else f"{_group_words(millions, 'de')} Millionen"
    return f"{million_words} {below_million}" if below_million else million_words


def segment_german_number(words: str) -> list[str]:
    """The morphemes of German number words (one or more space-separated words as
    :func:`german_number_words` writes them), by greedy longest match over
    :data:`GERMAN_NUMBER_MORPHEMES`: ``"dreihunderteinundzwanzig"`` → ``["drei", "hundert",
    "ein", "und", "zwanzig"]``. Joining the morphemes of each word gives the word back. Raises
    ``ValueError`` naming the word and what is left of it when no morpheme matches."""
    morphemes = []
    for word in words.split():
        position = 0
        while position < len(word):
            match = _MORPHEME.match(word, position)
            if match is None:
                raise ValueError(f"cannot segment the German number word {word!r}: {word[position:]!r} is left after "
                                 f"{word[:position]!r}, and no morpheme of GERMAN_NUMBER_MORPHEMES starts it")
            morphemes.append(match.group())
            position = match.end()
    return morphemes


def english_number_tokens(number: int) -> list[str]:
    """The source tokens of ``number``: 321 → ``["three", "hundred", "and", "twenty", "-", "one"]``."""
    return english_number_words(number).replace(",", "").replace("-", " - ").split()


def german_number_tokens(number: int) -> list[str]:
    """The target tokens of ``number``: 321 → ``["drei", "hundert", "ein", "und", "zwanzig"]``."""
    return segment_german_number(german_number_words(number))


def number_sentence_pair(numbers) -> tuple[str, str]:
    """(source, target) of a sentence of ``numbers``: ``[21, 7]`` → ``("twenty - one ; seven",
    "ein und zwanzig ; sieben")``."""
    if not numbers:
        raise ValueError("a sentence needs at least one number")
    separator = f" {NUMBER_SEPARATOR} "
    source = separator.join(" ".join(english_number_tokens(number)) for number in numbers)
    target = separator.join(" ".join(german_number_tokens(number)) for number in numbers)
    return source, target


def _draw_number(rng: random.Random, max_digits: int, max_value: int) -> int:
    digits = rng.randint(1, max_digits)
    return rng.randint(10 ** (digits - 1), min(10 ** digits - 1, max_value))


def _distinct_sentences(max_numbers: int, max_value: int) -> int:
    return sum(max_value ** count for count in range(1, max_numbers + 1))


def _generate_split(split: str, size: int, seed: int, max_numbers: int, max_value: int, taken: set[str]) -> Dataset:
    rng = random.Random(f"hf-mmattn/number-words/{seed}/{split}")
    max_digits = len(str(max_value))
    columns = {"source": [], "target": [], "numbers": []}
    attempts, max_attempts = 0, 100 * size + 10_000
    while len(columns["source"]) < size:
        attempts += 1
        if attempts > max_attempts:
            raise ValueError(f"drew {max_attempts} sentences for the {split} split but only {len(columns['source'])} of "
                             f"the {size} asked for are new: raise max_numbers ({max_numbers}) or max_value ({max_value}), "
                             "or ask for fewer sentences")
        numbers = [_draw_number(rng, max_digits, max_value) for _ in range(rng.randint(1, max_numbers))]
        source, target = number_sentence_pair(numbers)
        if source in taken:
            continue
        taken.add(source)
        columns["source"].append(source)
        columns["target"].append(target)
        columns["numbers"].append(numbers)
    return Dataset.from_dict(columns, features=NUMBER_TRANSLATION_FEATURES, split=split)


def generate_number_translation(num_train: int = 20_000, num_validation: int = 1_000, num_test: int = 1_000, seed: int = 0,
                                *, max_numbers: int = 5, max_value: int = 999_999) -> DatasetDict:
    """English number words to German number words (the task of the module docstring).

    A sentence holds 1 to ``max_numbers`` numbers (uniformly many), each drawn from 1 to
    ``max_value`` (at most 999 999 999) by first drawing its number of digits uniformly, then
    the number uniformly among those of that many digits (so ``seven`` is as likely as some
    six-digit number, and lengths spread).

    Returns a ``DatasetDict`` with ``"train"``, ``"validation"`` and ``"test"`` of
    ``num_train``, ``num_validation`` and ``num_test`` sentences; columns ``source`` (English
    tokens joined with spaces), ``target`` (German morphemes joined with spaces) and
    ``numbers`` (the integers of the sentence, in order).

    Every source sentence occurs once in the whole ``DatasetDict``: the splits are disjoint and
    hold no repeats. The test split is drawn first, then validation, then train, each from
    ``random.Random(f"hf-mmattn/number-words/{seed}/{split}")``; a sentence drawn already, for
    this split or an earlier one (it happens to short ones such as ``seven``), is skipped and
    another one drawn. So the test split depends only
    on ``seed``, ``max_numbers``, ``max_value`` and ``num_test`` (a smaller one is a prefix of
    a larger one), validation also on the test split, train on both. Only integer arithmetic
    and Python's seeded ``random`` are used: identical on every run, machine and Python hash
    seed (for a given spelling of ``num2words``, see the module docstring).
    """
    for name, value in (("num_train", num_train), ("num_validation", num_validation), ("num_test", num_test)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if isinstance(max_numbers, bool) or not isinstance(max_numbers, int) or max_numbers < 1:
        raise ValueError(f"max_numbers must be a positive integer, got {max_numbers!r}")
    if isinstance(max_value, bool) or not isinstance(max_value, int) or not 1 <= max_value <= MAX_VALUE_LIMIT:
        raise ValueError(f"max_value must be an integer from 1 to {MAX_VALUE_LIMIT:_}, got {max_value!r}")
    wanted = num_train + num_validation + num_test
    if wanted > _distinct_sentences(max_numbers, max_value):
        raise ValueError(f"{wanted} distinct sentences asked for, but only {_distinct_sentences(max_numbers, max_value)} "
                         f"exist with max_numbers={max_numbers} and max_value={max_value}")
    taken: set[str] = set()
    splits = {split: _generate_split(split, size, seed, max_numbers, max_value, taken)
              for split, size in (("test", num_test), ("validation", num_validation), ("train", num_train))}
    return DatasetDict({split: splits[split] for split in ("train", "validation", "test")})
