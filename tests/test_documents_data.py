"""Tests of the document classification data of hf_mmattn.data: the loaders of HAN's datasets in
their released formats (Zhang et al.'s CSV, Yelp's JSON lines, Tang et al.'s ``<sssss>`` files;
tiny fixtures written in tmp_path) and the generated deciding-sentence documents (determinism,
balance, the deciding sentences, label words spread evenly so a bag of words cannot work)."""

import json
import re
from collections import Counter

import numpy as np
import pytest

from hf_mmattn.data import (
    DECIDING_SENTENCE_CLASSES,
    generate_deciding_sentence_documents,
    load_amazon_reviews,
    load_imdb_reviews,
    load_yahoo_answers,
    load_yelp,
)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _rows(split):
    return list(zip(split["label"], split["text"], strict=True))


# --- Zhang et al. CSV: Yelp ---------------------------------------------------------------------

YELP_TRAIN = (
    '"5","Great tacos.\\nThe salsa is ""homemade"", they say."\n'
    '"1","Cold food.\\n\\nNever again!"\n'
    '"3","He said \\""fine\\"" and left."\n'
)
YELP_TEST = '"2","Slow, but friendly."\n"4","Good, solid place."\n'


def test_yelp_csv_unescapes_newlines_and_quotes(tmp_path):
    directory = tmp_path / "yelp_review_full_csv"
    _write(directory / "train.csv", YELP_TRAIN)
    _write(directory / "test.csv", YELP_TEST)
    data = load_yelp(directory)
    assert list(data) == ["train", "test"]
    assert data["train"].features["label"].names == ["1", "2", "3", "4", "5"]
    assert _rows(data["train"]) == [
        (4, 'Great tacos.\nThe salsa is "homemade", they say.'),
        (0, "Cold food.\n\nNever again!"),
        (2, 'He said "fine" and left.'),
    ]
    assert _rows(data["test"]) == [(1, "Slow, but friendly."), (3, "Good, solid place.")]


def test_yelp_csv_polarity_names_and_num_classes(tmp_path):
    polarity = tmp_path / "yelp_review_polarity_csv"
    _write(polarity / "train.csv", '"1","Bad."\n"2","Nice."\n')
    _write(polarity / "test.csv", '"2","Fine."\n')
    assert load_yelp(polarity)["train"].features["label"].names == ["negative", "positive"]
    # a directory without a telling name: the largest class decides, num_classes overrides
    other = tmp_path / "reviews"
    _write(other / "train.csv", '"1","Bad."\n"2","Nice."\n')
    _write(other / "test.csv", '"1","Meh."\n')
    assert load_yelp(other)["test"].features["label"].names == ["negative", "positive"]
    assert load_yelp(other, num_classes=5)["test"].features["label"].names == ["1", "2", "3", "4", "5"]
    with pytest.raises(ValueError, match="num_classes"):
        load_yelp(other, num_classes=3)
    _write(other / "test.csv", '"1","Meh."\n"3","Meh."\n')
    with pytest.raises(ValueError, match=re.escape("test.csv, line 2: class 3 is outside 1 to 2")):
        load_yelp(other, num_classes=2)
    assert load_yelp(other)["test"].features["label"].names == ["1", "2", "3", "4", "5"]
    _write(polarity / "test.csv", '"3","Meh."\n')  # the directory's name says polarity
    with pytest.raises(ValueError, match=re.escape("test.csv, line 1: class 3 is outside 1 to 2")):
        load_yelp(polarity)
    # a single CSV file is split by the rule, its classes read as those of a directory
    single = load_yelp(other / "train.csv", val_fraction=0, test_fraction=0.5)
    assert single["train"].features["label"].names == ["negative", "positive"]
    assert sorted(_rows(single["train"]) + _rows(single["test"])) == [(0, "Bad."), (1, "Nice.")]


@pytest.mark.parametrize(("row", "problem"), [
    ('"7","Too many stars."', "class 7 is outside 1 to 5"),
    ('"x","Not a class."', "class 'x' is not an integer"),
    ('"2","One","Too many fields."', "3 fields, expected 2"),
    ('"2","an "unescaped" quote"', "not a valid CSV row"),
])
def test_yelp_csv_malformed_row_names_file_and_line(tmp_path, row, problem):
    directory = tmp_path / "yelp_review_full_csv"
    _write(directory / "train.csv", YELP_TRAIN + row + "\n" + '"1","After it."\n')
    _write(directory / "test.csv", YELP_TEST)
    with pytest.raises(ValueError, match=re.escape(f"train.csv, line 4: {problem}")):
        load_yelp(directory)


def test_missing_files_raise_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_yelp(tmp_path / "nowhere")
    directory = tmp_path / "yelp_review_full_csv"
    _write(directory / "train.csv", YELP_TRAIN)
    with pytest.raises(FileNotFoundError, match="test.csv"):
        load_yelp(directory)
    with pytest.raises(FileNotFoundError, match="holds no Yelp data"):
        load_yelp(tmp_path)
    for loader in (load_imdb_reviews, load_yahoo_answers, load_amazon_reviews):
        with pytest.raises(FileNotFoundError):
            loader(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="IMDB"):
        load_imdb_reviews(tmp_path)


# --- Yelp Dataset Challenge JSON lines ----------------------------------------------------------

def _yelp_json(path, count=40):
    lines = [json.dumps({"review_id": f"r{i}", "stars": float(1 + i % 5) if i % 2 else 1 + i % 5,
                         "text": f"Review {i}.\nSecond line \"quoted\".", "useful": 0}) for i in range(count)]
    return _write(path, "\n".join(lines[:10] + [""] + lines[10:]) + "\n")


def test_yelp_json_lines_split_by_a_deterministic_rule(tmp_path):
    path = _yelp_json(tmp_path / "review.json")
    data = load_yelp(path, val_fraction=0.1, test_fraction=0.2, seed=0)
    assert {name: len(split) for name, split in data.items()} == {"train": 28, "validation": 4, "test": 8}
    assert data["train"].features["label"].names == ["1", "2", "3", "4", "5"]
    numbers = {name: [int(re.match(r"Review (\d+)\.", text).group(1)) for text in split["text"]] for name, split in data.items()}
    assert sorted(number for values in numbers.values() for number in values) == list(range(40))
    assert all(values == sorted(values) for values in numbers.values())  # file order within a split
    for name, split in data.items():
        assert split["label"] == [number % 5 for number in numbers[name]]
    assert data["train"][0]["text"] == f'Review {numbers["train"][0]}.\nSecond line "quoted".'
    # the same arguments give the same split, another seed another one; a directory finds review.json
    again = load_yelp(tmp_path, val_fraction=0.1, test_fraction=0.2, seed=0)
    assert all(again[name]["text"] == data[name]["text"] for name in data)
    assert load_yelp(path, val_fraction=0.1, test_fraction=0.2, seed=1)["test"]["text"] != data["test"]["text"]
    assert list(load_yelp(path, val_fraction=0, test_fraction=0.5)) == ["train", "test"]
    with pytest.raises(ValueError, match="below 1"):
        load_yelp(path, val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="val_fraction"):
        load_yelp(path, val_fraction=-0.1)


@pytest.mark.parametrize(("line", "problem"), [
    ('{"stars": 4, "text": "ok"', "not valid JSON"),
    ('{"stars": 4}', "expected an object with 'stars' and 'text'"),
    ('{"stars": 4.5, "text": "half"}', "stars 4.5 is not an integer from 1 to 5"),
    ('{"stars": 0, "text": "zero"}', "stars 0 is not an integer from 1 to 5"),
])
def test_yelp_json_malformed_line(tmp_path, line, problem):
    path = _write(tmp_path / "yelp_academic_dataset_review.json", '{"stars": 5, "text": "a"}\n\n' + line + "\n")
    with pytest.raises(ValueError, match=re.escape(f"yelp_academic_dataset_review.json, line 3: {problem}")):
        load_yelp(path)


# --- Tang et al. .ss files: IMDB, Yelp 2013/2014 ------------------------------------------------

IMDB_TRAIN = (
    "u1\t\tm1\t\t10\t\ta great film . <sssss> the cast shines ! <sssss> see it .\n"
    "u2\t\tm2\t\t1\t\twhat a waste .<sssss>no plot<sssss>  <sssss> awful acting .\n"
)


def _imdb_dir(directory):
    _write(directory / "imdb.train.txt.ss", IMDB_TRAIN)
    _write(directory / "imdb.dev.txt.ss", "u3\t\tm1\t\t7\t\tfine . <sssss> long though .\n")
    _write(directory / "imdb.test.txt.ss", "u4\t\tm3\t\t4\t\tmeh .\n\n")
    return directory


def test_imdb_sentences_become_lines(tmp_path):
    data = load_imdb_reviews(_imdb_dir(tmp_path / "imdb"))
    assert list(data) == ["train", "validation", "test"]
    assert data["train"].features["label"].names == [str(stars) for stars in range(1, 11)]
    assert _rows(data["train"]) == [
        (9, "a great film .\nthe cast shines !\nsee it ."),
        (0, "what a waste .\nno plot\nawful acting ."),
    ]
    assert _rows(data["validation"]) == [(6, "fine .\nlong though .")]
    assert _rows(data["test"]) == [(3, "meh .")]
    single = load_imdb_reviews(tmp_path / "imdb" / "imdb.dev.txt.ss")
    assert list(single) == ["validation"] and _rows(single["validation"]) == _rows(data["validation"])


@pytest.mark.parametrize(("row", "problem"), [
    ("u9\t\tm9\t\t8 stars, no review", "3 fields, expected 4"),
    ("u9\tm9\t8\tsingle tabs", "1 fields, expected 4"),
    ("u9\t\tm9\t\t11\t\ttoo high .", "class 11 is outside 1 to 10"),
])
def test_imdb_malformed_row_names_file_and_line(tmp_path, row, problem):
    directory = _imdb_dir(tmp_path / "imdb")
    _write(directory / "imdb.train.txt.ss", IMDB_TRAIN + row + "\n")
    with pytest.raises(ValueError, match=re.escape(f"imdb.train.txt.ss, line 3: {problem}")):
        load_imdb_reviews(directory)


def test_yelp_ss_files_of_tang_et_al(tmp_path):
    directory = tmp_path / "yelp-2013"
    _write(directory / "yelp-2013-seg-20-20.train.ss", "u\t\tb\t\t5\t\tyum . <sssss> go !\n")
    _write(directory / "yelp-2013-seg-20-20.dev.ss", "u\t\tb\t\t2\t\tmeh .\n")
    _write(directory / "yelp-2013-seg-20-20.test.ss", "u\t\tb\t\t1\t\tbad .\n")
    data = load_yelp(directory)
    assert list(data) == ["train", "validation", "test"]
    assert data["train"].features["label"].names == ["1", "2", "3", "4", "5"]
    assert _rows(data["train"]) == [(4, "yum .\ngo !")]
    _write(directory / "yelp-2013-seg-20-20.test.ss", "u\t\tb\t\t6\t\ttoo many stars .\n")
    with pytest.raises(ValueError, match=r"test\.ss, line 1: class 6 is outside 1 to 5"):
        load_yelp(directory)


# --- Zhang et al. CSV: Yahoo Answers, Amazon ----------------------------------------------------

YAHOO_TRAIN = (
    '"3","Is coffee bad for you?","","Not in moderation.\\nSee a doctor."\n'
    '"6","Who won?","The ""big"" game","We did."\n'
)


def test_yahoo_answers_joins_fields_and_reads_classes_txt(tmp_path):
    directory = tmp_path / "yahoo_answers_csv"
    _write(directory / "train.csv", YAHOO_TRAIN)
    _write(directory / "test.csv", '"10","Vote?","When is it","In May."\n')
    data = load_yahoo_answers(directory)
    names = data["train"].features["label"].names
    assert names[0] == "Society & Culture" and names[9] == "Politics & Government" and len(names) == 10
    assert _rows(data["train"]) == [
        (2, "Is coffee bad for you?\nNot in moderation.\nSee a doctor."),
        (5, 'Who won?\nThe "big" game\nWe did.'),
    ]
    assert _rows(data["test"]) == [(9, "Vote?\nWhen is it\nIn May.")]
    _write(directory / "classes.txt", "\n".join(f"topic {i}" for i in range(1, 11)) + "\n")
    assert load_yahoo_answers(directory)["test"].features["label"].names[9] == "topic 10"
    _write(directory / "train.csv", YAHOO_TRAIN + '"3","Only a title","No answer"\n')
    with pytest.raises(ValueError, match=re.escape("train.csv, line 3: 3 fields, expected 4")):
        load_yahoo_answers(directory)


def test_amazon_reviews_full_and_polarity(tmp_path):
    full = tmp_path / "amazon_review_full_csv"
    _write(full / "train.csv", '"2","Works well","Bought it for my dad.\\nHe loves it."\n"5","","No title."\n')
    _write(full / "test.csv", '"1","Broke","After a day, it ""died""."\n')
    data = load_amazon_reviews(full)
    assert data["train"].features["label"].names == ["1", "2", "3", "4", "5"]
    assert _rows(data["train"]) == [(1, "Works well\nBought it for my dad.\nHe loves it."), (4, "No title.")]
    assert _rows(data["test"]) == [(0, 'Broke\nAfter a day, it "died".')]
    polarity = tmp_path / "amazon_review_polarity_csv"
    _write(polarity / "train.csv", '"2","Good","Yes."\n')
    _write(polarity / "test.csv", '"1","Bad","No."\n')
    assert load_amazon_reviews(polarity)["test"].features["label"].names == ["negative", "positive"]
    assert load_amazon_reviews(polarity, num_classes=5)["test"].features["label"].names == ["1", "2", "3", "4", "5"]
    _write(polarity / "test.csv", '"1","Bad","No."\n"3","Fine","Ok."\n')
    with pytest.raises(ValueError, match=re.escape("test.csv, line 2: class 3 is outside 1 to 2")):
        load_amazon_reviews(polarity, num_classes=2)


# --- the generated deciding-sentence documents ----------------------------------------------

# The writer's overall verdict, written out independently of the module's templates.
VERDICT = re.compile(
    r"^(?:overall i would rate it|all in all, my verdict is|in the end i found the whole experience|to sum up, this place is"
    r"|my own overall rating is|all things considered, i would call it) (\w+)\.$")


@pytest.fixture(scope="module")
def documents():
    return generate_deciding_sentence_documents(num_train=1200, num_val=40, num_test=200, seed=0)


def test_generated_splits_columns_and_text(documents):
    assert {name: len(split) for name, split in documents.items()} == {"train": 1200, "validation": 40, "test": 200}
    assert documents["train"].features["label"].names == list(DECIDING_SENTENCE_CLASSES) == [
        "terrible", "poor", "good", "excellent"]
    for row in documents["test"]:
        assert row["text"] == " ".join(row["sentences"])
        assert all(sentence.endswith(".") and sentence == sentence.lower() for sentence in row["sentences"])
    lengths = [len(sentences) for sentences in documents["train"]["sentences"]]
    assert min(lengths) == 5 and max(lengths) == 30
    assert all(count > 15 for count in Counter(lengths).values())  # spread over 5-30


def test_generated_is_deterministic(documents):
    again = generate_deciding_sentence_documents(num_train=1200, num_val=40, num_test=200, seed=0)
    for name in documents:
        assert again[name].to_dict() == documents[name].to_dict()
    other = generate_deciding_sentence_documents(num_train=1200, num_val=40, num_test=200, seed=1)
    assert sum(a != b for a, b in zip(other["train"]["text"], documents["train"]["text"], strict=True)) > 1190
    assert documents["validation"]["text"] != documents["test"]["text"][:40]
    smaller = generate_deciding_sentence_documents(num_train=9, num_val=40, num_test=0, seed=0)
    assert smaller["train"].to_dict() == documents["train"].select(range(9)).to_dict()
    assert smaller["validation"].to_dict() == documents["validation"].to_dict()
    assert len(smaller["test"]) == 0


def test_generated_labels_are_balanced(documents):
    assert Counter(documents["train"]["label"]) == {label: 300 for label in range(4)}
    assert Counter(documents["test"]["label"]) == {label: 50 for label in range(4)}
    # every block of 4 consecutive documents holds each class once
    labels = documents["train"]["label"]
    assert all(sorted(labels[i:i + 4]) == [0, 1, 2, 3] for i in range(0, 1200, 4))


def test_deciding_sentences_hold_the_verdict_and_only_they_do(documents):
    counts = Counter()
    for row in documents["train"]:
        deciding, sentences = row["deciding_sentences"], row["sentences"]
        assert deciding == sorted(set(deciding)) and len(deciding) in (1, 2)
        assert all(0 <= index < len(sentences) for index in deciding)
        for index, sentence in enumerate(sentences):
            match = VERDICT.match(sentence)
            if index in deciding:
                assert match is not None, sentence
                assert match.group(1) == DECIDING_SENTENCE_CLASSES[row["label"]]
            else:
                assert match is None, sentence
        if len(deciding) == 2:
            assert sentences[deciding[0]] != sentences[deciding[1]]  # two different verdicts that agree
        counts[len(deciding)] += 1
    assert 0.18 < counts[2] / len(documents["train"]) < 0.32
    positions = Counter(min(2, index * 3 // len(row["sentences"])) for row in documents["train"]
                        for index in row["deciding_sentences"])
    assert all(count > 350 for count in positions.values())  # deciding sentences anywhere in the document


def _words(text):
    return re.findall(r"\w+|[^\w\s]+", text)


def test_label_words_are_spread_evenly_across_classes(documents):
    """The label words occur in every class, as often in each (the counts of each word in a
    document do not depend on the label): only a word's sentence decides."""
    split = documents["train"]
    per_class = {label: Counter() for label in range(4)}
    in_distractors = {label: Counter() for label in range(4)}
    for row in split:
        counts = Counter(_words(row["text"]))
        per_class[row["label"]].update(counts)
        for index, sentence in enumerate(row["sentences"]):
            if index not in row["deciding_sentences"]:
                in_distractors[row["label"]].update(w for w in _words(sentence) if w in DECIDING_SENTENCE_CLASSES)
        # every label word occurs at least once per deciding sentence, deciding sentences included
        assert all(counts[word] >= len(row["deciding_sentences"]) for word in DECIDING_SENTENCE_CLASSES)
    for word in DECIDING_SENTENCE_CLASSES:
        means = [per_class[label][word] / 300 for label in range(4)]
        assert max(means) / min(means) < 1.15, (word, means)
        assert all(in_distractors[label][word] > 500 for label in range(4)), word
    vocabulary = set().union(*per_class.values())
    assert all(all(per_class[label][word] > 0 for label in range(4)) for word in vocabulary)


def test_a_bag_of_words_cannot_tell_the_classes_apart(documents):
    """Nearest class mean of the mean-pooled one-hot words: chance, where reading the deciding
    sentence is always right."""
    vocabulary = sorted({word for text in documents["train"]["text"] for word in _words(text)})
    index = {word: i for i, word in enumerate(vocabulary)}

    def bag(split):
        features = np.zeros((len(split), len(vocabulary)))
        for row, text in enumerate(split["text"]):
            for word in _words(text):
                features[row, index[word]] += 1
            features[row] /= features[row].sum()
        return features

    train, test = bag(documents["train"]), bag(documents["test"])
    train_labels, test_labels = np.array(documents["train"]["label"]), np.array(documents["test"]["label"])
    means = np.stack([train[train_labels == label].mean(0) for label in range(4)])
    scale = train.std(0) + 1e-9
    predicted = (((test[:, None, :] - means[None]) / scale) ** 2).sum(-1).argmin(1)
    assert (predicted == test_labels).mean() < 0.4
    oracle = [DECIDING_SENTENCE_CLASSES.index(VERDICT.match(row["sentences"][row["deciding_sentences"][0]]).group(1))
              for row in documents["test"]]
    assert (np.array(oracle) == test_labels).all()


def test_generated_lengths_follow_the_arguments():
    data = generate_deciding_sentence_documents(num_train=200, num_val=0, num_test=0, seed=3, min_sentences=3,
                                                max_sentences=4, two_deciding_fraction=1.0)
    lengths = [len(sentences) for sentences in data["train"]["sentences"]]
    assert set(lengths) == {3, 4}
    assert all(len(deciding) == 1 for deciding in data["train"]["deciding_sentences"])  # two need 5 sentences
    data = generate_deciding_sentence_documents(num_train=100, num_val=0, num_test=0, min_sentences=6, max_sentences=6,
                                                two_deciding_fraction=1.0)
    assert all(len(deciding) == 2 for deciding in data["train"]["deciding_sentences"])
    assert all(len(sentences) == 6 for sentences in data["train"]["sentences"])


@pytest.mark.parametrize("kwargs", [
    {"num_train": -1}, {"num_val": 1.5}, {"num_test": True}, {"min_sentences": 2}, {"min_sentences": 8, "max_sentences": 7},
    {"max_sentences": "30"}, {"two_deciding_fraction": 1.5}, {"two_deciding_fraction": -0.1},
])
def test_generated_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs)) if "max_sentences" not in kwargs else "max_sentences"):
        generate_deciding_sentence_documents(**kwargs)
