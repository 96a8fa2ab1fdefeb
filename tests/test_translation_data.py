"""Tests of the translation data of hf_mmattn.data: the parallel-corpus loaders on hand-written
excerpts in the released formats (tests/fixtures/translation: Multi30k, WMT SGML, IWSLT XML and
train.tags, ManyThings' fra.txt, a gzipped file) and the generated number-words task (German
segmentation, agreement with num2words, determinism, disjoint splits, length spread)."""

from __future__ import annotations

import gzip
import logging
import re
import shutil
from pathlib import Path

import pytest
from num2words import num2words

from hf_mmattn.data.number_words import (
    GERMAN_NUMBER_MORPHEMES,
    NUMBER_SEPARATOR,
    english_number_tokens,
    english_number_words,
    generate_number_translation,
    german_number_tokens,
    german_number_words,
    number_sentence_pair,
    segment_german_number,
)
from hf_mmattn.data.translation import (
    load_iwslt_train_tags,
    load_iwslt_xml,
    load_multi30k,
    load_parallel_text,
    load_sgml,
    load_tatoeba,
    load_wmt_iwslt_pair,
)

FIXTURES = Path(__file__).parent / "fixtures" / "translation"
MULTI30K = FIXTURES / "multi30k"
WMT_SOURCE = FIXTURES / "wmt" / "newstest2014-deen-src.de.sgm"
WMT_REFERENCE = FIXTURES / "wmt" / "newstest2014-deen-ref.en.sgm"
IWSLT_XML_DE = FIXTURES / "iwslt" / "IWSLT14.TED.dev2010.de-en.de.xml"
IWSLT_XML_EN = FIXTURES / "iwslt" / "IWSLT14.TED.dev2010.de-en.en.xml"
TRAIN_TAGS_DE = FIXTURES / "iwslt" / "train.tags.de-en.de"
TRAIN_TAGS_EN = FIXTURES / "iwslt" / "train.tags.de-en.en"
FRA_TXT = FIXTURES / "tatoeba" / "fra.txt"

MULTI30K_TRAIN = [
    ("Two young, White males are outside near many bushes.",
     "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche."),
    ("Several men in hard hats are operating a giant pulley system.",
     "Mehrere Männer mit Schutzhelmen bedienen ein Antriebsradsystem."),
    ("A little girl climbing into a wooden playhouse.", "Ein kleines Mädchen klettert in ein Spielhaus aus Holz."),
]
MULTI30K_VALIDATION = [
    ("A group of men are loading cotton onto a truck", "Eine Gruppe von Männern lädt Baumwolle auf einen Lastwagen"),
    ("A man sleeping in a green room on a couch.", "Ein Mann schläft in einem grünen Raum auf einem Sofa."),
    ("A boy wearing headphones sits on a woman's shoulders.", "Ein Junge mit Kopfhörern sitzt auf den Schultern einer Frau."),
]
MULTI30K_TEST = [
    ("A man in an orange hat starring at something.", "Ein Mann mit einem orangefarbenen Hut, der etwas anstarrt."),
    ("A Boston Terrier is running on lush green grass in front of a white fence.",
     "Ein Boston Terrier läuft über saftig-grünes Gras vor einem weißen Zaun."),
    ("A girl in karate uniform breaking a stick with a front kick.",
     "Ein Mädchen in einem Karateanzug bricht einen Stock mit einem Tritt."),
]


def _pairs(dataset) -> list[tuple[str, str]]:
    return list(zip(dataset["source"], dataset["target"]))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


# --- plain parallel text ----------------------------------------------------------------------

def test_parallel_text_reads_aligned_lines_plain_and_gzipped():
    assert _pairs(load_parallel_text(MULTI30K / "train.en", MULTI30K / "train.de")) == MULTI30K_TRAIN
    assert _pairs(load_parallel_text(MULTI30K / "val.en", MULTI30K / "val.de.gz")) == MULTI30K_VALIDATION


def test_parallel_text_ends_lines_at_newline_only(tmp_path):
    # \u2028, \x0c and a lone \r are line breaks to str.splitlines but not to the corpus; \r\n endings and a BOM are removed
    source = _write(tmp_path / "s.en", "\ufeffone\u2028line\r\nform\x0cfeed\r\n")
    target = _write(tmp_path / "t.de", "eine Zeile\nSeiten\rvorschub\n")
    assert _pairs(load_parallel_text(source, target)) == [("one\u2028line", "eine Zeile"), ("form\x0cfeed", "Seiten\rvorschub")]
    gzipped = tmp_path / "t.de.data"  # gzip is recognised by its content, not its name
    gzipped.write_bytes(gzip.compress("eine Zeile\nSeitenvorschub".encode("utf-8")))
    assert load_parallel_text(source, gzipped)["target"] == ["eine Zeile", "Seitenvorschub"]


def test_parallel_text_line_count_mismatch_names_files_and_counts(tmp_path):
    source = _write(tmp_path / "a.en", "one\ntwo\nthree\n")
    target = _write(tmp_path / "a.de", "eins\nzwei\n")
    message = f"{source} has 3 and {target} has 2"
    with pytest.raises(ValueError, match=re.escape(message)):
        load_parallel_text(source, target)
    with pytest.raises(FileNotFoundError, match="target file not found"):
        load_parallel_text(source, tmp_path / "missing.de")


def test_parallel_text_drops_pairs_with_an_empty_side(tmp_path, caplog):
    source = _write(tmp_path / "b.en", "Hello.\n\n  \nBye.\nYes.\n")
    target = _write(tmp_path / "b.de", "Hallo.\nLeer.\n\nTschüss.\n   \n")
    with caplog.at_level(logging.INFO, logger="hf_mmattn.data.translation"):
        data = load_parallel_text(source, target)
    assert _pairs(data) == [("Hello.", "Hallo."), ("Bye.", "Tschüss.")]
    assert "dropped 3 of 5 pairs with an empty side (the first at line 2)" in caplog.text
    kept = load_parallel_text(source, target, drop_empty=False)
    assert _pairs(kept) == [("Hello.", "Hallo."), ("", "Leer."), ("", ""), ("Bye.", "Tschüss."), ("Yes.", "")]


def test_parallel_text_not_utf8_names_the_line(tmp_path):
    source = _write(tmp_path / "c.en", "fine\nalso fine\n")
    target = tmp_path / "c.de"
    target.write_bytes(b"gut\nSch\xf6n\n")
    with pytest.raises(ValueError, match=re.escape(f"{target}, line 2: not UTF-8 text")):
        load_parallel_text(source, target)


# --- Multi30k ---------------------------------------------------------------------------------

def test_multi30k_reads_its_splits():
    data = load_multi30k(MULTI30K)
    assert list(data) == ["train", "validation", "test"]
    assert _pairs(data["train"]) == MULTI30K_TRAIN
    assert _pairs(data["validation"]) == MULTI30K_VALIDATION  # val.de.gz
    assert _pairs(data["test"]) == MULTI30K_TEST
    reverse = load_multi30k(MULTI30K, source_language="de", target_language="en")
    assert _pairs(reverse["test"]) == [(target, source) for source, target in MULTI30K_TEST]


def test_multi30k_wmt16_names_and_missing_files(tmp_path):
    for name in ("train.en", "train.de", "test2016.en", "test2016.de"):
        shutil.copy(MULTI30K / name.replace("test2016", "test_2016_flickr"), tmp_path / name)
    data = load_multi30k(tmp_path)
    assert list(data) == ["train", "test"]
    assert _pairs(data["test"]) == MULTI30K_TEST
    shutil.copy(MULTI30K / "val.en", tmp_path / "val.en")
    with pytest.raises(FileNotFoundError, match=re.escape("val.de (or .gz) not found")):
        load_multi30k(tmp_path)
    (tmp_path / "val.en").unlink()
    (tmp_path / "train.de").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape("train.de (or .gz) not found")):
        load_multi30k(tmp_path)
    (tmp_path / "train.en").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape("expected train.en and train.de (or train.en.gz and train.de.gz)")):
        load_multi30k(tmp_path)
    with pytest.raises(ValueError, match="both 'en'"):
        load_multi30k(MULTI30K, "en", "en")


# --- WMT SGML ---------------------------------------------------------------------------------

def test_sgml_segments_with_ids_entities_and_bare_ampersands():
    source = load_sgml(WMT_SOURCE)
    assert source["document_id"] == ["1012-bbc", "1012-bbc", "1017-rp", "1017-rp"]
    assert source["segment_id"] == ["1", "2", "1", "2"]  # <seg id=1> unquoted in the second document
    assert source["text"] == [
        "Gutach: Noch mehr Sicherheit für Fußgänger",
        "Sie stehen keine 100 Meter voneinander entfernt: Am Dienstag ist in Gutach die neue B 33-Fußgängerampel am "
        "Dorfparkplatz in Betrieb genommen worden.",
        "Der Umsatz von AT&T stieg um 5 %.",
        'Er sagte: "Forschung & Entwicklung bleiben <wichtig>."',
    ]


def test_wmt_pair_matches_segments_by_document_and_id(tmp_path):
    data = load_wmt_iwslt_pair(WMT_SOURCE, WMT_REFERENCE)
    assert data["target"] == [
        "Gutach: Increased safety for pedestrians",
        "They are not even 100 metres apart: On Tuesday, the new B 33 pedestrian lights in Dorfparkplatz in Gutach "
        "became operational.",
        "AT&T's revenue rose by 5%.",
        'He said: "Research & development remain <important>."',
    ]
    assert data["source"] == load_sgml(WMT_SOURCE)["text"]
    # the reference's documents in another order: still paired by (docid, id)
    reference = WMT_REFERENCE.read_text(encoding="utf-8")
    first, second = reference.index('<doc sysid="ref" docid="1012-bbc"'), reference.index('<doc sysid="ref" docid="1017-rp"')
    end = reference.index("</refset>")
    reordered = _write(tmp_path / "reordered.en.sgm", reference[:first] + reference[second:end] + reference[first:second] + "</refset>\n")
    assert load_wmt_iwslt_pair(WMT_SOURCE, reordered)["target"] == data["target"]


def test_wmt_pair_with_a_missing_segment_names_it(tmp_path):
    reference = WMT_REFERENCE.read_text(encoding="utf-8").replace("<seg id=1>AT&T's revenue rose by 5%.</seg>\n", "")
    shorter = _write(tmp_path / "short.en.sgm", reference)
    message = (f"{WMT_SOURCE} has 4 segments and {shorter} has 3; {WMT_SOURCE}, line 12: segment '1' of document '1017-rp' "
               f"has no counterpart in {shorter}")
    with pytest.raises(ValueError, match=re.escape(message)):
        load_wmt_iwslt_pair(WMT_SOURCE, shorter)


def test_sgml_malformed_files(tmp_path):
    unclosed = _write(tmp_path / "bad.sgm", '<srcset>\n<doc docid="a">\n<seg id="1">one</seg>\n<seg id="2">two\n</doc>\n')
    with pytest.raises(ValueError, match=re.escape(f"{unclosed}, line 4: <seg> without </seg>")):
        load_sgml(unclosed)
    twice = _write(tmp_path / "twice.sgm", '<srcset>\n<doc docid="a">\n<seg id="1">one</seg>\n<seg id="1">two</seg>\n</doc>\n')
    with pytest.raises(ValueError, match=re.escape(f"{twice}, line 4: segment id '1' occurs twice in document 'a' (also at line 3)")):
        load_sgml(twice)
    empty = _write(tmp_path / "empty.sgm", "<srcset>\n</srcset>\n")
    with pytest.raises(ValueError, match="holds no <seg> elements"):
        load_sgml(empty)


# --- IWSLT ------------------------------------------------------------------------------------

def test_iwslt_xml_skips_talk_metadata():
    german = load_iwslt_xml(IWSLT_XML_DE)
    assert german["text"] == ["Hinter mir ist ein Bild eines Feuerwehrmanns.", 'Er sagte: "Schuhe & Socken".',
                              "Ich fange mit meinem Lieblingsthema an."]
    assert german["document_id"] == ["535", "535", "531"]
    assert german["segment_id"] == ["1", "2", "1"]
    assert _pairs(load_wmt_iwslt_pair(IWSLT_XML_DE, IWSLT_XML_EN)) == [
        ("Hinter mir ist ein Bild eines Feuerwehrmanns.", "Behind me is a picture of a firefighter."),
        ('Er sagte: "Schuhe & Socken".', 'He said: "shoes & socks".'),
        ("Ich fange mit meinem Lieblingsthema an.", "I'll start with my favorite subject."),
    ]


def test_iwslt_train_tags_skip_metadata_lines():
    german = load_iwslt_train_tags(TRAIN_TAGS_DE)
    assert german["text"] == [
        "David Gallo: Das ist Bill Lange. Ich bin Dave Gallo.",
        "Wir werden Ihnen einige Geschichten über das Meer in Videoform erzählen.",
        "",
        "Vielen Dank, Chris.",
        "Ich bin von diesem Tisch & dieser Konferenz sehr bewegt.",
    ]
    assert german["document_id"] == ["1", "1", "1", "2", "2"]
    assert german["segment_id"] == ["1", "2", "3", "1", "2"]
    titled = load_iwslt_train_tags(TRAIN_TAGS_EN, keep_titles=True)["text"]
    assert titled[:3] == ["David Gallo on life in the deep oceans",
                          "TED Talk Subtitles and Transcript: David Gallo shows footage of deep-sea creatures.",
                          "David Gallo: This is Bill Lange. I'm Dave Gallo."]
    assert len(titled) == 9


def test_iwslt_train_tags_pair_drops_the_empty_pair(tmp_path):
    data = load_wmt_iwslt_pair(TRAIN_TAGS_DE, TRAIN_TAGS_EN)
    assert _pairs(data) == [
        ("David Gallo: Das ist Bill Lange. Ich bin Dave Gallo.", "David Gallo: This is Bill Lange. I'm Dave Gallo."),
        ("Wir werden Ihnen einige Geschichten über das Meer in Videoform erzählen.",
         "And we're going to tell you some stories from the sea here in video."),
        ("Vielen Dank, Chris.", "Thank you so much, Chris."),
        ("Ich bin von diesem Tisch & dieser Konferenz sehr bewegt.", "I have been blown away by this table & this conference."),
    ]
    assert len(load_wmt_iwslt_pair(TRAIN_TAGS_DE, TRAIN_TAGS_EN, drop_empty=False)) == 5
    # talk 1 one sentence short in English: the second talk starts a line early
    english = TRAIN_TAGS_EN.read_text(encoding="utf-8").replace("(Applause)\n", "")
    shorter = _write(tmp_path / "train.tags.de-en.en", english)
    message = (f"{TRAIN_TAGS_DE} has 5 segments and {shorter} has 4; sentence 3 is sentence 3 of talk '1' at {TRAIN_TAGS_DE}, "
               f"line 9, but sentence 1 of talk '2' at {shorter}, line 17")
    with pytest.raises(ValueError, match=re.escape(message)):
        load_wmt_iwslt_pair(TRAIN_TAGS_DE, shorter)


def test_pair_format_from_content_and_mismatched_formats(tmp_path):
    source = _write(tmp_path / "source.txt", IWSLT_XML_DE.read_text(encoding="utf-8"))
    target = _write(tmp_path / "target.txt", IWSLT_XML_EN.read_text(encoding="utf-8"))
    assert load_wmt_iwslt_pair(source, target)["target"][0] == "Behind me is a picture of a firefighter."
    with pytest.raises(ValueError, match=re.escape(f"{WMT_SOURCE} is sgml but {target} is xml")):
        load_wmt_iwslt_pair(WMT_SOURCE, target)
    plain = _write(tmp_path / "plain.txt", "Just a sentence.\n")
    with pytest.raises(ValueError, match="for plain text use load_parallel_text"):
        load_wmt_iwslt_pair(plain, plain)


# --- ManyThings / Tatoeba ---------------------------------------------------------------------

FRA_PAIRS = [("Go.", "Va !"), ("Hi.", "Salut !"), ("Run!", "Cours\u202f!"), ("Run!", "Courez\u202f!"), ("Who?", "Qui ?"),
             ("Wow!", "Ça alors !")]


def test_tatoeba_reads_pairs_and_ignores_the_attribution(tmp_path):
    assert _pairs(load_tatoeba(FRA_TXT)) == FRA_PAIRS
    assert _pairs(load_tatoeba(FRA_TXT, reverse=True)) == [(french, english) for english, french in FRA_PAIRS]
    challenge = _write(tmp_path / "test.txt", "eng\tfra\tI'm home.\tJe suis chez moi.\n\neng\tfra\tHello!\tBonjour !\n")
    assert _pairs(load_tatoeba(challenge, 2, 3)) == [("I'm home.", "Je suis chez moi."), ("Hello!", "Bonjour !")]


def test_tatoeba_malformed_line_names_the_line(tmp_path):
    bad = _write(tmp_path / "fra.txt", "Go.\tVa !\tCC-BY 2.0\n\nHi. Salut !\n")
    with pytest.raises(ValueError, match=re.escape(f"{bad}, line 3: 1 tab-separated column(s), expected at least 2")):
        load_tatoeba(bad)
    with pytest.raises(ValueError, match="source_column and target_column are both 1"):
        load_tatoeba(FRA_TXT, 1, 1)


# --- number words -----------------------------------------------------------------------------

GERMAN_SEGMENTATIONS = {
    7: "sieben",
    12: "zwölf",
    13: "drei zehn",
    16: "sech zehn",
    17: "sieb zehn",
    21: "ein und zwanzig",
    30: "dreißig",
    66: "sechs und sechzig",
    70: "siebzig",
    77: "sieben und siebzig",
    99: "neun und neunzig",
    100: "ein hundert",
    101: "ein hundert eins",
    111: "ein hundert elf",
    321: "drei hundert ein und zwanzig",
    1000: "ein tausend",
    1001: "ein tausend eins",
    16_017: "sech zehn tausend sieb zehn",
    101_000: "ein hundert ein tausend",
    999_999: "neun hundert neun und neunzig tausend neun hundert neun und neunzig",
    1_000_000: "eine Million",
    1_000_001: "eine Million eins",
    2_000_000: "zwei Millionen",
    2_500_000: "zwei Millionen fünf hundert tausend",
}
ENGLISH_TOKENS = {
    7: "seven",
    21: "twenty - one",
    101: "one hundred and one",
    321: "three hundred and twenty - one",
    1100: "one thousand one hundred",
    101_000: "one hundred and one thousand",
    999_999: "nine hundred and ninety - nine thousand nine hundred and ninety - nine",
    3_000_021: "three million and twenty - one",
}


@pytest.mark.parametrize("number, morphemes", sorted(GERMAN_SEGMENTATIONS.items()))
def test_german_segmentation(number, morphemes):
    assert " ".join(german_number_tokens(number)) == morphemes


def test_english_tokens():
    assert {number: " ".join(english_number_tokens(number)) for number in ENGLISH_TOKENS} == ENGLISH_TOKENS


def test_words_are_num2words_and_segments_rejoin():
    numbers = [*range(0, 1200), *range(1200, 1_000_000, 997), *range(1_000_000, 999_999_999, 9_999_991), 101_000, 901_001]
    for number in numbers:
        assert english_number_words(number) == num2words(number)
        german = german_number_words(number)
        assert german == num2words(number, lang="de").replace("einstausend", "eintausend")
        morphemes = segment_german_number(german)
        assert set(morphemes) <= set(GERMAN_NUMBER_MORPHEMES)
        rejoined, remaining = [], list(morphemes)
        for word in german.split():
            part = ""
            while part != word:
                part += remaining.pop(0)
                assert word.startswith(part), (number, morphemes)
            rejoined.append(part)
        assert rejoined == german.split() and not remaining
    assert german_number_words(101_000) == "einhunderteintausend"


def test_segmentation_rejects_what_is_not_a_number_word():
    with pytest.raises(ValueError, match=re.escape("'zwanzigfach': 'fach' is left after 'zwanzig'")):
        segment_german_number("zwanzigfach")
    with pytest.raises(ValueError, match="integer from 0 to 999_999_999"):
        german_number_words(10**9)


def test_number_sentence_pair():
    assert number_sentence_pair([21, 7, 1100]) == (
        "twenty - one ; seven ; one thousand one hundred",
        "ein und zwanzig ; sieben ; ein tausend ein hundert",
    )


@pytest.fixture(scope="module")
def number_data():
    return generate_number_translation(400, 100, 100, seed=0)


def test_number_translation_is_deterministic(number_data):
    again = generate_number_translation(400, 100, 100, seed=0)
    for split in ("train", "validation", "test"):
        assert number_data[split].to_dict() == again[split].to_dict()
    # pinned: the same on every machine and Python version
    assert number_data["test"][0] == {"source": "seven thousand two hundred and ninety - four",
                                      "target": "sieben tausend zwei hundert vier und neunzig", "numbers": [7294]}
    assert number_data["train"]["numbers"][0] == [51, 90, 55002, 57, 50]
    smaller = generate_number_translation(10, 10, 20, seed=0)
    assert smaller["test"].to_dict() == number_data["test"][:20]  # the test split of a smaller call is a prefix
    other_seed = generate_number_translation(400, 100, 100, seed=1)
    assert other_seed["train"]["source"] != number_data["train"]["source"]


def test_number_translation_rows_and_disjoint_splits(number_data):
    assert {split: len(data) for split, data in number_data.items()} == {"train": 400, "validation": 100, "test": 100}
    sources = {split: data["source"] for split, data in number_data.items()}
    every_source = [source for split_sources in sources.values() for source in split_sources]
    assert len(set(every_source)) == len(every_source) == 600
    vocabulary = set(GERMAN_NUMBER_MORPHEMES) | {NUMBER_SEPARATOR}
    for data in number_data.values():
        for row in data:
            assert 1 <= len(row["numbers"]) <= 5 and all(1 <= number <= 999_999 for number in row["numbers"])
            assert (row["source"], row["target"]) == number_sentence_pair(row["numbers"])
            assert set(row["target"].split()) <= vocabulary


def test_number_translation_lengths_spread(number_data):
    lengths = sorted(len(source.split()) for source in number_data["train"]["source"])
    assert lengths[0] <= 3
    assert lengths[-1] >= 40
    assert lengths[-1] >= 10 * lengths[0]
    assert 10 <= lengths[len(lengths) // 2] <= 35
    digits = {len(str(number)) for numbers in number_data["train"]["numbers"] for number in numbers}
    assert digits == {1, 2, 3, 4, 5, 6}


def test_number_translation_arguments():
    with pytest.raises(ValueError, match="only 5 exist with max_numbers=1 and max_value=5"):
        generate_number_translation(4, 1, 1, max_numbers=1, max_value=5)
    with pytest.raises(ValueError, match="max_value must be an integer from 1 to 999_999_999"):
        generate_number_translation(1, 1, 1, max_value=10**9)
    small = generate_number_translation(3, 1, 1, max_numbers=1, max_value=5)
    assert sorted(number for data in small.values() for (number,) in data["numbers"]) == [1, 2, 3, 4, 5]
