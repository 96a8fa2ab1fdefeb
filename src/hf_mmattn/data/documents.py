"""Document classification data for Hierarchical Attention Networks (Yang et al., NAACL 2016):
loaders of the paper's datasets in their common released formats, and a generated task whose
label is decided by one or two sentences hidden among distractors.

Every loader returns a ``DatasetDict`` with the columns ``text`` (the document, its sentences
as in the source, punctuation included) and ``label`` (a ``ClassLabel``; class index ``k`` of
the source files is label ``k - 1``), with the source's splits: ``"train"`` and ``"test"``,
plus ``"validation"`` where the source has one (or where a single file is split by the
deterministic rule of :func:`load_yelp`). A newline in ``text`` is a sentence (or field)
boundary: the text-classification tokenizer turns every run of line breaks into a
sentence-end token. Files are read as UTF-8, whole, into memory.

Formats read:

* **Zhang et al. 2015 CSV** (Character-level ConvNets, NIPS 2015: ``yelp_review_full_csv``,
  ``yelp_review_polarity_csv``, ``amazon_review_full_csv``, ``amazon_review_polarity_csv``,
  ``yahoo_answers_csv``): a directory with ``train.csv`` and ``test.csv`` (and, for Yahoo,
  ``classes.txt``: one class name a line, class 1 first). No header; one row a line; every
  field in double quotes, a double quote inside a field written ``""`` (sometimes ``\\""``)
  and a line break written as the two characters ``\\n``::

      "5","Great tacos.\\nThe salsa is ""homemade"", they say."          Yelp: class, review
      "2","Works well","Bought it for my dad.\\nHe loves it."            Amazon: class, title, review
      "3","Is coffee bad for you?","","Not in moderation."            Yahoo: class, title, content, answer

  ``\\n`` becomes a newline and ``\\"`` a double quote; the text fields of a row are joined
  with ``"\\n"``, empty fields left out.
* **Yelp Dataset Challenge JSON lines** (``review.json`` / ``yelp_academic_dataset_review.json``;
  Yelp 2013 and 2014 of Tang et al. 2015 are subsets of it): one JSON object a line with at
  least ``"stars"`` (1 to 5, an integer or an integral float) and ``"text"``; blank lines are
  skipped, other keys ignored.
* **Tang et al. 2015 ``.ss`` files** (the IMDB reviews of Diao et al. 2014 and Yelp 2013/2014
  as HAN used them: ``imdb.train.txt.ss``, ``imdb.dev.txt.ss``, ``imdb.test.txt.ss``,
  ``yelp-2013-seg-20-20.train.ss``, ...): one review a line, four fields separated by two tabs,
  ``user_id\\t\\tproduct_id\\t\\trating\\t\\treview``, the review tokenised and lower-cased, its
  sentences separated by ``<sssss>``. The sentences (stripped, empty ones dropped) are joined
  with ``"\\n"``; user and product are not kept. The split of a file is the dot-separated part
  of its name that is ``train``, ``dev`` / ``valid`` / ``validation`` or ``test``.

A malformed row (wrong number of fields, a class that is not an integer of the dataset's
range, invalid JSON, an unbalanced quote) raises ``ValueError`` naming the file and line; a
missing file or directory raises ``FileNotFoundError``.

The generated task, :func:`generate_deciding_sentence_documents`, is described in its docstring.
"""

import csv
import json
import os
import random
import re

from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value

from .files import require_dir, require_file

YAHOO_ANSWERS_CLASSES = (
    "Society & Culture", "Science & Mathematics", "Health", "Education & Reference", "Computers & Internet",
    "Sports", "Business & Finance", "Entertainment & Music", "Family & Relationships", "Politics & Government",
)
STARS_5 = tuple(str(stars) for stars in range(1, 6))
STARS_10 = tuple(str(stars) for stars in range(1, 11))
POLARITY = ("negative", "positive")  # Zhang et al.: class 1 = stars 1-2, class 2 = stars 3-4 (Yelp) / 4-5 (Amazon)

_SPLIT_NAMES = {"train": "train", "dev": "validation", "valid": "validation", "validation": "validation", "test": "test"}
_ESCAPE = re.compile(r'\\(n|")')
_SENTENCE_SEPARATOR = "<sssss>"


def _features(names) -> Features:
    return Features({"text": Value("string"), "label": ClassLabel(names=list(names))})


def _dataset_dict(splits: dict[str, tuple[list[int], list[str]]], names) -> DatasetDict:
    features = _features(names)
    return DatasetDict({
        split: Dataset.from_dict({"text": texts, "label": labels}, features=features, split=split)
        for split, (labels, texts) in splits.items()
    })


def _unescape(field: str) -> str:
    return _ESCAPE.sub(lambda match: "\n" if match.group(1) == "n" else '"', field)


def _class_index(value: str, path: str, line: int, max_class: int) -> int:
    try:
        index = int(value.strip())
    except ValueError:
        raise ValueError(f"{path}, line {line}: class {value!r} is not an integer (expected 1 to {max_class})") from None
    if not 1 <= index <= max_class:
        raise ValueError(f"{path}, line {line}: class {index} is outside 1 to {max_class}")
    return index


# --- Zhang et al. 2015 CSV ------------------------------------------------------------------

def _read_zhang_csv(path: str, text_fields: int, max_class: int, layout: str) -> tuple[list[int], list[str]]:
    """(0-based labels, texts) of a Zhang et al. CSV file of ``1 + text_fields`` columns."""
    labels, texts = [], []
    with open(path, encoding="utf-8", newline="") as file:
        reader = csv.reader(file, strict=True)
        line = 1
        try:
            for row in reader:
                if row:  # a blank line is not a row
                    if len(row) != 1 + text_fields:
                        raise ValueError(f"{path}, line {line}: {len(row)} fields, expected {1 + text_fields} "
                                         f"({layout}); a double quote inside a field must be written \"\"")
                    labels.append(_class_index(row[0], path, line, max_class) - 1)
                    texts.append("\n".join(text for text in (_unescape(f).strip() for f in row[1:]) if text))
                line = reader.line_num + 1
        except csv.Error as error:
            raise ValueError(f"{path}, line {line}: not a valid CSV row ({error}); fields are in double quotes, "
                             "a double quote inside one written \"\"") from None
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}, line {line}: not UTF-8 text ({error.reason})") from None
    return labels, texts


def _read_classes_txt(path: str) -> list[str]:
    with open(path, encoding="utf-8") as file:
        names = [line.strip() for line in file if line.strip()]
    if not names:
        raise ValueError(f"{path} lists no class names (expected one name a line, class 1 first)")
    if len(set(names)) != len(names):
        raise ValueError(f"{path} lists a class name twice: {names}")
    return names


def _check_num_classes(num_classes: int | None, choices: dict[int, tuple[str, ...]], dataset: str) -> None:
    if num_classes is not None and (isinstance(num_classes, bool) or num_classes not in choices):
        raise ValueError(f"num_classes must be None or one of {sorted(choices)} for {dataset}, got {num_classes!r}")


def _declared_names(directory: str, num_classes: int | None, choices: dict[int, tuple[str, ...]]) -> tuple[str, ...] | None:
    """The class names of a Zhang et al. directory before reading it: ``classes.txt``, else
    ``num_classes``, else the directory's name ("polarity": the fewest classes, "full": the most);
    None when nothing tells."""
    classes_txt = os.path.join(directory, "classes.txt")
    if os.path.isfile(classes_txt):
        names = tuple(_read_classes_txt(classes_txt))
        if num_classes is not None and num_classes != len(names):
            raise ValueError(f"num_classes={num_classes} but {classes_txt} lists {len(names)} classes")
        return names
    if num_classes is not None:
        return choices[num_classes]
    base = os.path.basename(os.path.normpath(directory)).lower()
    if "polarity" in base:
        return choices[min(choices)]
    if "full" in base:
        return choices[max(choices)]
    return None


def _inferred_names(labels: list[int], choices: dict[int, tuple[str, ...]]) -> tuple[str, ...]:
    """The fewest classes of ``choices`` that hold every (0-based) label."""
    seen = 1 + max(labels, default=0)
    return choices[next(count for count in sorted(choices) if seen <= count)]


def _load_zhang_dir(directory, text_fields: int, choices: dict[int, tuple[str, ...]], dataset: str, layout: str,
                    num_classes: int | None) -> DatasetDict:
    directory = require_dir(directory, dataset)
    _check_num_classes(num_classes, choices, dataset)
    names = _declared_names(directory, num_classes, choices)
    max_class = max(choices) if names is None else len(names)
    splits = {}
    for split in ("train", "test"):
        path = os.path.join(directory, f"{split}.csv")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{dataset} {split} file not found: {path} (expected Zhang et al.'s train.csv and test.csv)")
        labels, texts = _read_zhang_csv(path, text_fields, max_class, layout)
        splits[split] = (labels, texts)
    if names is None:
        names = _inferred_names([label for labels, _ in splits.values() for label in labels], choices)
    return _dataset_dict(splits, names)


# --- Tang et al. 2015 .ss files -------------------------------------------------------------

def _read_ss(path: str, num_classes: int) -> tuple[list[int], list[str]]:
    labels, texts = [], []
    with open(path, encoding="utf-8", newline="") as file:
        line = 0
        try:
            for line, row in enumerate(file, start=1):
                row = row.rstrip("\r\n")
                if not row.strip():
                    continue
                fields = row.split("\t\t")
                if len(fields) != 4:
                    raise ValueError(f"{path}, line {line}: {len(fields)} fields, expected 4 separated by two tabs "
                                     "(user_id, product_id, rating, review)")
                labels.append(_class_index(fields[2], path, line, num_classes) - 1)
                sentences = (sentence.strip() for sentence in fields[3].split(_SENTENCE_SEPARATOR))
                texts.append("\n".join(sentence for sentence in sentences if sentence))
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}, line {line + 1}: not UTF-8 text ({error.reason})") from None
    return labels, texts


def _ss_split(path: str) -> str | None:
    parts = os.path.basename(path).lower().split(".")
    found = {_SPLIT_NAMES[part] for part in parts if part in _SPLIT_NAMES}
    return found.pop() if len(found) == 1 else None


def _load_ss(path, num_classes: int, prefix: str, dataset: str) -> DatasetDict:
    """A ``.ss`` file (one split, named from the file) or a directory of them (one per split;
    files starting with ``prefix`` preferred when others are there too)."""
    path = os.fspath(path)
    if os.path.isfile(path):
        split = _ss_split(path)
        if split is None:
            raise ValueError(f"cannot tell the split of {path}: its name has none of train, dev, valid, "
                             "validation, test as a dot-separated part (e.g. imdb.train.txt.ss)")
        return _dataset_dict({split: _read_ss(path, num_classes)}, STARS_5 if num_classes == 5 else STARS_10)
    directory = require_dir(path, dataset)
    files = sorted(name for name in os.listdir(directory) if name.endswith(".ss") and _ss_split(name))
    if any(name.lower().startswith(prefix) for name in files):
        files = [name for name in files if name.lower().startswith(prefix)]
    by_split: dict[str, list[str]] = {}
    for name in files:
        by_split.setdefault(_ss_split(name), []).append(name)
    if not by_split:
        raise FileNotFoundError(f"no {dataset} .ss files in {directory} (expected e.g. {prefix}.train.txt.ss, "
                                f"{prefix}.dev.txt.ss, {prefix}.test.txt.ss)")
    for split, names in by_split.items():
        if len(names) > 1:
            raise ValueError(f"{directory} holds several {split} files {names}: put each dataset in its own directory "
                             "or pass one file")
    order = [split for split in ("train", "validation", "test") if split in by_split]
    splits = {split: _read_ss(os.path.join(directory, by_split[split][0]), num_classes) for split in order}
    return _dataset_dict(splits, STARS_5 if num_classes == 5 else STARS_10)


# --- Yelp -----------------------------------------------------------------------------------

def _read_yelp_json(path: str) -> tuple[list[int], list[str]]:
    labels, texts = [], []
    with open(path, encoding="utf-8") as file:
        line = 0
        try:
            for line, row in enumerate(file, start=1):
                if not row.strip():
                    continue
                try:
                    review = json.loads(row)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}, line {line}: not valid JSON ({error}); expected one review object a line") from None
                if not isinstance(review, dict) or "stars" not in review or "text" not in review:
                    raise ValueError(f"{path}, line {line}: expected an object with 'stars' and 'text', got "
                                     f"{row.strip()[:80]!r}")
                stars, text = review["stars"], review["text"]
                if isinstance(stars, bool) or not isinstance(stars, (int, float)) or stars != int(stars) or not 1 <= stars <= 5:
                    raise ValueError(f"{path}, line {line}: stars {stars!r} is not an integer from 1 to 5")
                if not isinstance(text, str):
                    raise ValueError(f"{path}, line {line}: text is {type(text).__name__}, not a string")  # noqa: TRY004
                labels.append(int(stars) - 1)
                texts.append(text.strip())
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}, line {line + 1}: not UTF-8 text ({error.reason})") from None
    return labels, texts


def _split_by_rule(labels: list[int], texts: list[str], val_fraction: float, test_fraction: float,
                   seed: int) -> dict[str, tuple[list[int], list[str]]]:
    count = len(labels)
    order = list(range(count))
    random.Random(f"hf-mmattn/document-split/{seed}").shuffle(order)
    num_test, num_val = round(test_fraction * count), round(val_fraction * count)
    parts = {"test": order[:num_test], "validation": order[num_test:num_test + num_val], "train": order[num_test + num_val:]}
    wanted = ["train"] + (["validation"] if val_fraction > 0 else []) + (["test"] if test_fraction > 0 else [])
    return {split: ([labels[i] for i in sorted(parts[split])], [texts[i] for i in sorted(parts[split])]) for split in wanted}


def _starts_with_brace(path: str) -> bool:
    with open(path, encoding="utf-8", errors="replace") as file:
        for row in file:
            if row.strip():
                return row.lstrip().startswith("{")
    return False


def load_yelp(path_or_dir, *, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0,
              num_classes: int | None = None) -> DatasetDict:
    """Yelp reviews: Zhang et al.'s CSV (Yelp 2015 in HAN's paper), the Yelp Dataset Challenge
    JSON lines (Yelp 2013 / 2014 come from it) or Tang et al.'s ``.ss`` files of Yelp 2013 / 2014
    (formats in the module docstring). ``path_or_dir`` is one of:

    * a directory with ``train.csv`` and ``test.csv`` (``yelp_review_full_csv`` or
      ``yelp_review_polarity_csv``): splits ``"train"`` and ``"test"``;
    * a directory of ``.ss`` files (``yelp-2013-seg-20-20.train.ss``, ``.dev.ss``, ``.test.ss``):
      their splits (``dev`` is ``"validation"``), labels ``"1"`` to ``"5"``; a single ``.ss``
      file gives its one split;
    * a JSON lines file (or a directory holding ``review.json`` or
      ``yelp_academic_dataset_review.json``), or a single Zhang et al. CSV file: split by the rule
      below, labels ``"1"`` to ``"5"`` (JSON) or as for the CSV directory.

    Rule for a single file (HAN's 80/10/10 by default): the reviews are shuffled with
    ``random.Random(f"hf-mmattn/document-split/{seed}")``; the first
    ``round(test_fraction * n)`` are ``"test"``, the next ``round(val_fraction * n)``
    ``"validation"``, the rest ``"train"``, each split in file order. The assignment depends
    only on ``seed`` and the number of reviews ``n`` (the same on every run, machine and Python
    hash seed). A split whose fraction is 0 is left out.

    Labels of the CSV: 5 classes ``"1"`` to ``"5"`` (stars, ``yelp_review_full_csv``) or 2,
    ``"negative"`` and ``"positive"`` (``yelp_review_polarity_csv``: stars 1-2 and 3-4);
    ``num_classes`` (5 or 2) says which, else the directory's name (containing "polarity" or
    "full"), else the largest class in the files (2 or less: polarity).
    """
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be a number in [0, 1), got {val_fraction!r}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be a number in [0, 1), got {test_fraction!r}")
    if val_fraction + test_fraction >= 1:
        raise ValueError(f"val_fraction + test_fraction must be below 1 (some reviews must be left to train on), "
                         f"got {val_fraction} + {test_fraction}")
    choices = {2: POLARITY, 5: STARS_5}
    _check_num_classes(num_classes, choices, "Yelp")
    path = os.fspath(path_or_dir)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "train.csv")) or os.path.isfile(os.path.join(path, "test.csv")):
            return _load_zhang_dir(path, 1, choices, "Yelp", "class, review", num_classes)
        if any(name.endswith(".ss") for name in os.listdir(path)):
            return _load_ss(path, 5, "yelp", "Yelp")
        jsons = [name for name in ("review.json", "yelp_academic_dataset_review.json") if os.path.isfile(os.path.join(path, name))]
        if len(jsons) != 1:
            raise FileNotFoundError(
                f"{path} holds no Yelp data: expected train.csv and test.csv (Zhang et al.), .ss files (Tang et al.) or "
                "exactly one of review.json, yelp_academic_dataset_review.json (Yelp Dataset Challenge)")
        path = os.path.join(path, jsons[0])
    path = require_file(path, "Yelp")
    if path.endswith(".ss"):
        return _load_ss(path, 5, "yelp", "Yelp")
    if _starts_with_brace(path):
        labels, texts = _read_yelp_json(path)
        names = STARS_5
    else:
        names = _declared_names(os.path.dirname(os.path.abspath(path)), num_classes, choices)
        labels, texts = _read_zhang_csv(path, 1, max(choices) if names is None else len(names), "class, review")
        names = names or _inferred_names(labels, choices)
    return _dataset_dict(_split_by_rule(labels, texts, val_fraction, test_fraction, seed), names)


def load_imdb_reviews(path) -> DatasetDict:
    """The IMDB reviews of Diao et al. (KDD 2014) as Tang et al. (EMNLP 2015) released them and
    HAN used them: 10 classes, labels ``"1"`` to ``"10"`` (stars). ``path`` is a directory with
    ``imdb.train.txt.ss``, ``imdb.dev.txt.ss`` and ``imdb.test.txt.ss`` (splits ``"train"``,
    ``"validation"``, ``"test"``; files named ``imdb*`` are preferred when the directory holds
    other ``.ss`` files too), or one such file (its one split). Sentences (``<sssss>`` in the
    file) are separated by ``"\\n"`` in ``text``, each as the file has it (tokenised,
    lower-cased, usually ending with its punctuation token).
    """
    return _load_ss(path, 10, "imdb", "IMDB")


def load_yahoo_answers(directory) -> DatasetDict:
    """Yahoo! Answers topic classification, Zhang et al.'s ``yahoo_answers_csv``: ``train.csv``
    (1,400,000 rows) and ``test.csv`` (60,000), columns class (1 to 10), question title,
    question content, best answer; ``text`` is the non-empty ones of the three joined with
    ``"\\n"``. Class names from ``classes.txt`` when the directory has it, else
    :data:`YAHOO_ANSWERS_CLASSES` (the names of Zhang et al.'s ``classes.txt``).
    """
    directory = require_dir(directory, "Yahoo Answers")
    return _load_zhang_dir(directory, 3, {10: YAHOO_ANSWERS_CLASSES}, "Yahoo Answers",
                           "class, question title, question content, best answer", None)


def load_amazon_reviews(directory, *, num_classes: int | None = None) -> DatasetDict:
    """Amazon reviews, Zhang et al.'s ``amazon_review_full_csv`` (5 classes, ``"1"`` to ``"5"``
    stars) or ``amazon_review_polarity_csv`` (``"negative"``: stars 1-2, ``"positive"``: 4-5):
    ``train.csv`` and ``test.csv``, columns class, review title, review text; ``text`` is the
    non-empty ones of title and review joined with ``"\\n"``. Which of the two: ``num_classes``
    (5 or 2; it must agree with a ``classes.txt``), else ``classes.txt``, else the directory's
    name ("polarity" / "full"), else the largest class in the files (2 or less: polarity).
    """
    return _load_zhang_dir(directory, 2, {2: POLARITY, 5: STARS_5}, "Amazon reviews", "class, title, review",
                           num_classes)


# --- the generated deciding-sentence task ---------------------------------------------------

DECIDING_SENTENCE_CLASSES = ("terrible", "poor", "good", "excellent")
"""The classes of :func:`generate_deciding_sentence_documents`; each is also its label word."""

DECIDING_TEMPLATES = (
    "overall i would rate it {w}.",
    "all in all, my verdict is {w}.",
    "in the end i found the whole experience {w}.",
    "to sum up, this place is {w}.",
    "my own overall rating is {w}.",
    "all things considered, i would call it {w}.",
)
"""The writer's overall verdict: the sentences that decide the label (``{w}``: the label word)."""

# Distractors: ``{w}`` a label word, ``{p}`` someone else, ``{a}`` / ``{b}`` two different aspects,
# ``{c}`` a companion, ``{f}`` a dish, ``{n}`` a number. Label words only ever stand in a
# ``{w}`` slot; no distractor is an instance of a deciding template.
DISTRACTOR_TEMPLATES = {
    0: (
        "we arrived around {n} on a {d}.",
        "i came here with {c}.",
        "we ordered the {f} first.",
        "we waited about {m} minutes for a table.",
        "the {f} came out quickly.",
        "we sat near the window.",
        "it was raining when we got there.",
        "{p} recommended this place to us.",
    ),
    1: (
        "{p} said the {a} was {w}.",
        "{p} thought the {a} was {w}.",
        "the online reviews called the {a} {w}.",
        "i expected the {a} to be {w}.",
        "last year the {a} was apparently {w}.",
        "{p} would rate it {w}.",
        "the overall rating of {p} was {w}.",
        "the place next door is supposedly {w}.",
    ),
    2: (
        "{p} found the {a} {w} and the {b} {w}.",
        "the reviews said the {a} was {w} but the {b} was {w}.",
        "{p} expected the {a} to be {w} and the {b} {w}.",
    ),
}
_PEOPLE = ("my friend", "my sister", "a coworker", "my neighbour", "the couple next to us", "my brother", "a local critic")
_COMPANIONS = ("my sister", "two friends", "my parents", "a coworker", "my kids")
_ASPECTS = ("parking", "service", "dessert", "music", "staff", "bread", "coffee", "decor", "menu", "patio", "lighting", "soup")
_DISHES = ("soup", "salad", "pasta", "bread", "dessert", "fish", "chicken")
_TIMES = ("six", "seven", "eight", "noon")
_DAYS = ("monday", "tuesday", "friday", "saturday", "sunday")
_MINUTES = ("ten", "twenty", "thirty", "forty")
# Label-word slots of a distractor sentence: 0, 1 or 2 with these weights.
_SLOT_WEIGHTS = (0.35, 0.5, 0.15)

DECIDING_SENTENCE_FEATURES = Features({
    "text": Value("string"),
    "label": ClassLabel(names=list(DECIDING_SENTENCE_CLASSES)),
    "sentences": List(Value("string")),
    "deciding_sentences": List(Value("int32")),
})


def _fill(rng: random.Random, template: str, words: list[str]) -> str:
    """``template`` with its ``{w}`` slots taken from ``words`` in order, the rest at random."""
    a, b = rng.sample(_ASPECTS, 2)
    values = {"p": rng.choice(_PEOPLE), "a": a, "b": b, "c": rng.choice(_COMPANIONS), "f": rng.choice(_DISHES),
              "n": rng.choice(_TIMES), "d": rng.choice(_DAYS), "m": rng.choice(_MINUTES)}
    parts = template.split("{w}")
    if len(parts) - 1 != len(words):
        raise AssertionError(f"{template!r} has {len(parts) - 1} label slots, given {len(words)} words")
    text = parts[0].format(**values)
    for word, part in zip(words, parts[1:]):
        text += word + part.format(**values)
    return text


def _document(rng: random.Random, label: int, min_sentences: int, max_sentences: int,
              two_deciding_fraction: float) -> tuple[list[str], list[int]]:
    """(sentences, deciding sentence indices) of one document of class ``label``.

    Everything except which label word fills the deciding slots is drawn independently of
    ``label``, and the document's multiset of label words too: ``d`` copies of every label word
    (``d`` the number of deciding sentences) plus uniformly drawn ones for the other slots; the
    ``d`` copies of the label's word go to the deciding sentences, the rest to the distractors.
    """
    num_words = len(DECIDING_SENTENCE_CLASSES)
    length = rng.randint(min_sentences, max_sentences)
    deciding = 2 if length >= 5 and rng.random() < two_deciding_fraction else 1
    distractors = length - deciding
    slots = rng.choices((0, 1, 2), weights=_SLOT_WEIGHTS, k=distractors)
    # enough distractor slots for the other label words' d copies each: at least (num_words - 1) * d
    while sum(slots) < (num_words - 1) * deciding:
        i = rng.choice([i for i, k in enumerate(slots) if k < 2])
        slots[i] += 1
    total = sum(slots) + deciding
    multiset = [w for w in range(num_words) for _ in range(deciding)]
    multiset += [rng.randrange(num_words) for _ in range(total - len(multiset))]
    for _ in range(deciding):
        multiset.remove(label)
    rng.shuffle(multiset)
    positions = sorted(rng.sample(range(length), deciding))
    templates = rng.sample(DECIDING_TEMPLATES, deciding)
    word = DECIDING_SENTENCE_CLASSES[label]
    sentences, next_distractor, next_word = [], 0, 0
    for index in range(length):
        if index in positions:
            sentences.append(_fill(rng, templates[positions.index(index)], [word]))
            continue
        k = slots[next_distractor]
        next_distractor += 1
        words = [DECIDING_SENTENCE_CLASSES[w] for w in multiset[next_word:next_word + k]]
        next_word += k
        sentences.append(_fill(rng, rng.choice(DISTRACTOR_TEMPLATES[k]), words))
    return sentences, positions


def _generate_documents(split: str, size: int, seed: int, min_sentences: int, max_sentences: int,
                        two_deciding_fraction: float) -> Dataset:
    # A string seed is hashed with SHA-512 by `random`: the same on every run and machine.
    rng = random.Random(f"hf-mmattn/deciding-sentences/{seed}/{split}")
    num_classes = len(DECIDING_SENTENCE_CLASSES)
    columns = {"text": [], "label": [], "sentences": [], "deciding_sentences": []}
    labels: list[int] = []
    for _ in range(size):
        if not labels:  # every block of num_classes documents holds each class once
            labels = rng.sample(range(num_classes), num_classes)
        label = labels.pop()
        sentences, deciding = _document(rng, label, min_sentences, max_sentences, two_deciding_fraction)
        columns["text"].append(" ".join(sentences))
        columns["label"].append(label)
        columns["sentences"].append(sentences)
        columns["deciding_sentences"].append(deciding)
    return Dataset.from_dict(columns, features=DECIDING_SENTENCE_FEATURES, split=split)


def generate_deciding_sentence_documents(num_train: int = 5000, num_val: int = 500, num_test: int = 1000, seed: int = 0,
                                         min_sentences: int = 5, max_sentences: int = 30,
                                         two_deciding_fraction: float = 0.25) -> DatasetDict:
    """Documents whose label only one or two of their sentences decide, hidden among distractors
    that use the same label words: a bag of words cannot tell the classes apart, a model that
    reads each sentence in context and attends to the right one can.

    Classes (:data:`DECIDING_SENTENCE_CLASSES`, balanced: every block of 4 consecutive documents
    holds each once): ``"terrible"``, ``"poor"``, ``"good"``, ``"excellent"``; each class's name
    is its label word. A document is a short restaurant review of ``min_sentences`` to
    ``max_sentences`` sentences (uniformly many), lower case, each ending with ".":

    * the deciding sentence(s): the writer's overall verdict, one of :data:`DECIDING_TEMPLATES`
      with the label's word, e.g. "overall i would rate it good."; a document of 5 sentences
      or more has two of them (different templates, the same word) with probability
      ``two_deciding_fraction``, else one; at uniformly drawn positions;
    * the distractors (:data:`DISTRACTOR_TEMPLATES`): sentences with 0, 1 or 2 label words
      (weights 0.35, 0.5, 0.15) in contexts that are not the writer's verdict: someone else's
      opinion ("my friend said the parking was terrible.", "my sister would rate it
      excellent."), expectations, hearsay, another place, or none at all ("we sat near the
      window.").

    No bag of words can separate the classes: the number of times each label word occurs in a
    document (deciding and distractor sentences together) is drawn independently of the label
    (``d`` of each, ``d`` the number of deciding sentences, plus the other slots filled
    uniformly), and so is every other choice (length, templates, positions, filler words);
    only which occurrences stand in a deciding sentence depends on the label. Reading the
    deciding sentence gives the label with certainty.

    Returns a ``DatasetDict`` with ``"train"``, ``"validation"`` and ``"test"`` of ``num_train``,
    ``num_val`` and ``num_test`` documents. Columns: ``text`` (the sentences joined with " "),
    ``label`` (``ClassLabel``), ``sentences`` and ``deciding_sentences`` (the 0-based indices of
    the deciding sentences in ``sentences``, ascending).

    Deterministic: a split depends only on ``seed``, its name, the other arguments and its own
    size (a smaller split is a prefix of a larger one), drawn from
    ``random.Random(f"hf-mmattn/deciding-sentences/{seed}/{split}")``; identical across runs,
    machines and Python hash seeds.
    """
    for name, value in (("num_train", num_train), ("num_val", num_val), ("num_test", num_test)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if isinstance(min_sentences, bool) or not isinstance(min_sentences, int) or min_sentences < 3:
        raise ValueError(f"min_sentences must be an integer of at least 3 (a deciding sentence and distractors holding "
                         f"the other label words), got {min_sentences!r}")
    if isinstance(max_sentences, bool) or not isinstance(max_sentences, int) or max_sentences < min_sentences:
        raise ValueError(f"max_sentences must be an integer no smaller than min_sentences={min_sentences}, got {max_sentences!r}")
    if isinstance(two_deciding_fraction, bool) or not isinstance(two_deciding_fraction, (int, float)) \
            or not 0 <= two_deciding_fraction <= 1:
        raise ValueError(f"two_deciding_fraction must be a number in [0, 1], got {two_deciding_fraction!r}")
    return DatasetDict({
        split: _generate_documents(split, size, seed, min_sentences, max_sentences, two_deciding_fraction)
        for split, size in (("train", num_train), ("validation", num_val), ("test", num_test))
    })
