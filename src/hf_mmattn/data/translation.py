"""Loaders for parallel corpora in their released formats, for the translation models
(Bahdanau et al., ICLR 2015; Luong et al., EMNLP 2015). The pair loaders return a ``Dataset``
(or, for a folder of splits, a ``DatasetDict``) with the string columns ``source`` and
``target``; the one-file readers of segmented formats return ``text``, ``document_id`` and
``segment_id``.

Formats read:

* **Plain parallel text** (Europarl, News Commentary, the WMT training corpora, Multi30k):
  two files, one sentence a line, line ``i`` of one the translation of line ``i`` of the
  other. Lines end at ``\\n`` only: a ``\\r`` before it is removed, and other characters that
  Python's ``str.splitlines`` would take as line breaks (``\\u2028``, ``\\x0c``, ``\\x85``,
  found in real corpora) stay inside their line, as ``wc -l`` and the Moses scripts count.
* **WMT SGML test sets** (``newstest2014-deen-src.de.sgm``, ``newstest2014-deen-ref.en.sgm``;
  WMT used it until 2020)::

      <srcset setid="newstest2014" srclang="any">
      <doc sysid="ref" docid="1012-bbc" genre="news" origlang="en">
      <p>
      <seg id="1">India and Japan prime ministers meet in Tokyo</seg>

  Not valid XML: attributes may be unquoted (``<seg id=1>``) and ``&`` or ``<`` may stand
  bare in the text. Segment ids count from 1 in every document: a segment is identified by
  its document's ``docid`` and its ``id``.
* **IWSLT dev/test XML** (``IWSLT17.TED.tst2015.de-en.de.xml``, ``IWSLT14.TED.dev2010.de-en.en.xml``):
  ``<mteval>``, ``<srcset>`` / ``<refset>``, one ``<doc docid="535" ...>`` per talk with its
  ``<url>``, ``<talkid>``, ``<title>``, ``<description>`` ... elements, then
  ``<seg id="1"> Ich habe zwei Ideen. </seg>``, one a line.
* **IWSLT training files** (``train.tags.de-en.de``, ``train.tags.de-en.en``): one sentence a
  line, the talks one after the other, each introduced by metadata lines that start with a
  tag: ``<url>``, ``<keywords>``, ``<speaker>``, ``<talkid>``, ``<title>``,
  ``<description>``, ``<reviewer ...>``, ``<translator ...>``. The two files of a pair have
  the same lines, metadata included.
* **Multi30k task 1** (Elliott et al., 2016; github.com/multi30k/dataset, ``data/task1/raw``):
  plain parallel text, ``train.{en,de,fr,cs}`` (29 000 lines), ``val.*`` (1 014),
  ``test_2016_flickr.*`` (1 000; ``test2016.*`` in the WMT16 release), ``test_2017_flickr.*``,
  ``test_2017_mscoco.*``, ``test_2018_flickr.*``.
* **ManyThings / Tatoeba tab-separated pairs** (``fra.txt`` of manythings.org/anki, from
  tatoeba.org): ``Go.\\tVa !\\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM) &
  #1158250 (Wittydev)``, English first; the Tatoeba Challenge test files
  (``eng\\tfra\\tsource\\ttarget``) are read with ``source_column=2, target_column=3``.

Common rules: files are UTF-8 (a byte-order mark at the start is dropped), optionally
gzip-compressed (recognised by their content, whatever their name), read whole into memory.
Every sentence is stripped of surrounding white space; segments of SGML and XML also have
every run of white space inside them turned into one space (as sacreBLEU reads these sets).
XML entity references (``&amp;`` ``&lt;`` ``&gt;`` ``&quot;`` ``&apos;``, ``&#39;``,
``&#x27;``) are unescaped in SGML, XML and IWSLT training files; a bare ``&`` stays as it is.

Empty pairs: a training pair with an empty side (plain text, train.tags, Tatoeba) carries no
translation and is dropped (how many is logged at INFO); ``drop_empty=False`` keeps every
pair. Test sets in SGML or XML keep every segment by default, as they are scored segment by
segment.

Errors: a missing file raises ``FileNotFoundError``; files of a pair that do not match
(different line or segment counts, different segment ids), a malformed line or a file that is
not UTF-8 raise ``ValueError`` naming the file(s) and the line.
"""

from __future__ import annotations

import codecs
import gzip
import logging
import os
import re
from typing import NamedTuple

from datasets import Dataset, DatasetDict, Features, Value

from .files import require_file

__all__ = [
    "MULTI30K_SPLITS",
    "PARALLEL_FEATURES",
    "SEGMENT_FEATURES",
    "load_iwslt_train_tags",
    "load_iwslt_xml",
    "load_multi30k",
    "load_parallel_text",
    "load_sgml",
    "load_tatoeba",
    "load_wmt_iwslt_pair",
]

logger = logging.getLogger(__name__)

PARALLEL_FEATURES = Features({"source": Value("string"), "target": Value("string")})
SEGMENT_FEATURES = Features({"text": Value("string"), "document_id": Value("string"), "segment_id": Value("string")})

MULTI30K_SPLITS = {
    "train": ("train",),
    "validation": ("val", "valid", "dev"),
    "test": ("test_2016_flickr", "test2016"),
    "test_2017_flickr": ("test_2017_flickr",),
    "test_2017_mscoco": ("test_2017_mscoco",),
    "test_2018_flickr": ("test_2018_flickr",),
}
"""Split name → the file stems it is read from (the first found), ``<stem>.<language>[.gz]``."""

_GZIP_MAGIC = b"\x1f\x8b"
_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|amp|lt|gt|quot|apos);")
_NAMED_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_WHITE_SPACE = re.compile(r"\s+")
_MARKUP = re.compile(r"<(doc|seg)\b([^>]*)>", re.IGNORECASE)
_SEGMENT_END = re.compile(r"</seg\s*>", re.IGNORECASE)
_SEGMENT_START = re.compile(r"<seg\b", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([A-Za-z_][\w.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_METADATA_LINE = re.compile(r"<(/?)([A-Za-z][\w-]*)\b[^>]*>")
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_KEPT_TITLE_TAGS = ("title", "description")


class _Segment(NamedTuple):
    document_id: str
    segment_id: str
    text: str
    line: int


# --- reading files -------------------------------------------------------------------------

def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as file:
        data = file.read()
    if data.startswith(_GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise ValueError(f"{path} starts like a gzip file but cannot be decompressed ({error})") from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    return data


def _read_lines(path: str) -> list[str]:
    """The lines of a (possibly gzipped) UTF-8 file, split at ``\\n`` only, without their
    ``\\r\\n`` / ``\\n``; no empty last line for a file that ends with a line break."""
    data = _read_bytes(path)
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    decoded = []
    for number, line in enumerate(lines, start=1):
        try:
            decoded.append(line.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}, line {number}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    return decoded


def _read_text(path: str) -> str:
    data = _read_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ValueError(f"{path}, line {line}: not UTF-8 text ({error.reason})") from None


def _unescape(text: str) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name[0] != "#":
            return _NAMED_ENTITIES[name]
        code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
        return chr(code) if 0 < code <= 0x10FFFF else match.group(0)
    return _ENTITY.sub(replace, text)


def _parallel_dataset(pairs: list[tuple[str, str, int]], drop_empty: bool, where: str) -> Dataset:
    """A source/target ``Dataset`` of (source, target, line) triples, pairs with an empty side
    dropped (and logged) when ``drop_empty``."""
    if drop_empty:
        kept = [pair for pair in pairs if pair[0] and pair[1]]
        dropped = len(pairs) - len(kept)
        if dropped:
            first = next(line for source, target, line in pairs if not (source and target))
            logger.info("%s: dropped %d of %d pairs with an empty side (the first at line %d)", where, dropped, len(pairs), first)
        pairs = kept
    return Dataset.from_dict({"source": [pair[0] for pair in pairs], "target": [pair[1] for pair in pairs]},
                             features=PARALLEL_FEATURES)


# --- plain parallel text -------------------------------------------------------------------

def _read_parallel_lines(source_path: str, target_path: str) -> list[tuple[str, str, int]]:
    source_lines, target_lines = _read_lines(source_path), _read_lines(target_path)
    if len(source_lines) != len(target_lines):
        raise ValueError(f"the files of a parallel corpus must have as many lines, but {source_path} has "
                         f"{len(source_lines)} and {target_path} has {len(target_lines)}")
    return [(source.strip(), target.strip(), number)
            for number, (source, target) in enumerate(zip(source_lines, target_lines), start=1)]


def load_parallel_text(source_path, target_path, *, drop_empty: bool = True) -> Dataset:
    """Two plain-text files aligned line by line (one sentence a line, ``.gz`` accepted), as
    ``Dataset`` with ``source`` (the lines of ``source_path``) and ``target``, stripped.

    Pairs where either side is empty or blank are dropped (a sentence without its translation
    teaches nothing; the count is logged at INFO); ``drop_empty=False`` keeps them all, so row
    ``i`` is line ``i + 1``. Raises ``ValueError`` naming both paths and counts when the files
    have different numbers of lines (``\\n`` only ends a line, see the module docstring).
    """
    source_path = require_file(source_path, "source")
    target_path = require_file(target_path, "target")
    pairs = _read_parallel_lines(source_path, target_path)
    return _parallel_dataset(pairs, drop_empty, f"{source_path} / {target_path}")


# --- WMT SGML and IWSLT XML ----------------------------------------------------------------

def _attributes(text: str) -> dict[str, str]:
    return {match.group(1).lower(): next(value for value in match.group(2, 3, 4) if value is not None)
            for match in _ATTRIBUTE.finditer(text)}


def _read_marked_segments(path: str, layout: str) -> list[_Segment]:
    """The ``<seg>`` elements of an SGML or XML file, with the ``docid`` of the ``<doc>`` they
    are in ("" outside any) and their ``id`` (their 1-based position in the document without)."""
    text = _read_text(path)
    segments: list[_Segment] = []
    keys: dict[tuple[str, str], int] = {}
    document_id, position_in_document = "", 0
    line, counted_to = 1, 0
    position = 0
    while True:
        match = _MARKUP.search(text, position)
        if match is None:
            break
        line += text.count("\n", counted_to, match.start())
        counted_to = match.start()
        attributes = _attributes(match.group(2))
        if match.group(1).lower() == "doc":
            document_id, position_in_document = attributes.get("docid", ""), 0
            position = match.end()
            continue
        end = _SEGMENT_END.search(text, match.end())
        if end is None:
            raise ValueError(f"{path}, line {line}: <seg> without </seg> ({layout})")
        nested = _SEGMENT_START.search(text, match.end(), end.start())
        if nested is not None:
            raise ValueError(f"{path}, line {line}: <seg> without </seg> before the next <seg> ({layout})")
        position_in_document += 1
        segment_id = attributes.get("id", str(position_in_document))
        key = (document_id, segment_id)
        if key in keys:
            raise ValueError(f"{path}, line {line}: segment id {segment_id!r} occurs twice in document {document_id!r} "
                             f"(also at line {keys[key]})")
        keys[key] = line
        content = _WHITE_SPACE.sub(" ", _unescape(text[match.end():end.start()])).strip()
        segments.append(_Segment(document_id, segment_id, content, line))
        position = end.end()
    if not segments:
        raise ValueError(f"{path} holds no <seg> elements: not {layout}")
    return segments


def _segment_dataset(segments: list[_Segment]) -> Dataset:
    return Dataset.from_dict({
        "text": [segment.text for segment in segments],
        "document_id": [segment.document_id for segment in segments],
        "segment_id": [segment.segment_id for segment in segments],
    }, features=SEGMENT_FEATURES)


_SGML_LAYOUT = 'a WMT SGML file (<doc docid="..."> ... <seg id="1">text</seg> ... </doc>)'
_XML_LAYOUT = 'an IWSLT XML file (<mteval> <doc docid="..."> ... <seg id="1"> text </seg> ... </doc>)'
_TRAIN_TAGS_LAYOUT = "an IWSLT train.tags file (metadata lines such as <talkid>1</talkid>, the other lines sentences)"


def load_sgml(path) -> Dataset:
    """The segments of one side of a WMT test set in SGML (``newstest2014-deen-src.de.sgm``;
    the format is in the module docstring), in file order: ``Dataset`` with ``text`` (the
    segment, entities unescaped, white space normalised), ``document_id`` (the ``docid`` of its
    ``<doc>``) and ``segment_id`` (its ``id``). Raises ``ValueError`` for a ``<seg>`` without
    ``</seg>``, an id twice in a document, or a file without segments."""
    return _segment_dataset(_read_marked_segments(require_file(path, "WMT SGML"), _SGML_LAYOUT))


def load_iwslt_xml(path) -> Dataset:
    """The segments of one side of an IWSLT dev or test set (``IWSLT17.TED.tst2015.de-en.de.xml``;
    the format is in the module docstring), in file order, columns as :func:`load_sgml`
    (``document_id``: the talk's ``docid``). The talks' metadata elements (``<url>``,
    ``<talkid>``, ``<title>``, ...) are not segments and are skipped."""
    return _segment_dataset(_read_marked_segments(require_file(path, "IWSLT XML"), _XML_LAYOUT))


# --- IWSLT train.tags ----------------------------------------------------------------------

def _read_train_tags(path: str, keep_titles: bool) -> list[_Segment]:
    segments = []
    document_id, position_in_document = "", 0
    for number, line in enumerate(_read_lines(path), start=1):
        stripped = line.strip()
        tag = _METADATA_LINE.match(stripped)
        if tag is not None:
            name, inner = tag.group(2).lower(), _TAG.sub("", stripped).strip()
            if name == "talkid":
                document_id, position_in_document = inner, 0
            if not (keep_titles and name in _KEPT_TITLE_TAGS and not tag.group(1)):
                continue
            stripped = inner
        position_in_document += 1
        segments.append(_Segment(document_id, str(position_in_document), _unescape(stripped).strip(), number))
    return segments


def load_iwslt_train_tags(path, *, keep_titles: bool = False) -> Dataset:
    """The sentences of one side of IWSLT training data (``train.tags.de-en.de``; the format is
    in the module docstring), in file order, columns as :func:`load_sgml`: ``text`` (the line,
    stripped, entities unescaped; empty lines are kept here, the pair loader drops them),
    ``document_id`` (the talk's ``<talkid>``) and ``segment_id`` (the sentence's 1-based
    position in its talk).

    A line that starts with a tag (``<url>``, ``<talkid>``, ``<keywords>``, ``<speaker>``,
    ``<title>``, ``<description>``, ``<reviewer ...>``, ``<translator ...>``, any ``<name>``)
    is metadata and skipped; with ``keep_titles=True`` the text of the ``<title>`` and
    ``<description>`` lines is kept as a sentence, as fairseq's ``prepare-iwslt14.sh`` does.
    """
    return _segment_dataset(_read_train_tags(require_file(path, "IWSLT train.tags"), keep_titles))


# --- pairs of segmented files --------------------------------------------------------------

def _detect_segment_format(path: str) -> str:
    name = os.path.basename(path).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".sgm", ".sgml")):
        return "sgml"
    if name.endswith(".xml"):
        return "xml"
    if "train.tags" in name:
        return "train_tags"
    first = next((line.strip() for line in _read_text(path)[:65536].split("\n") if line.strip()), "")
    lowered = first.lower()
    if lowered.startswith(("<?xml", "<mteval")):
        return "xml"
    if lowered.startswith(("<srcset", "<refset", "<tstset")):
        return "sgml"
    if lowered.startswith(("<url>", "<talkid>", "<keywords>", "<speaker>", "<title>", "<description>")):
        return "train_tags"
    raise ValueError(f"cannot tell the format of {path}: expected a WMT SGML file (.sgm, starting with <srcset> or "
                     "<refset>), an IWSLT XML file (.xml, starting with <?xml or <mteval>) or an IWSLT train.tags file; "
                     "for plain text use load_parallel_text")


def _match_segments(source_segments: list[_Segment], target_segments: list[_Segment], source_path: str, target_path: str,
                    by_id: bool) -> list[tuple[str, str, int]]:
    """(source, target, source line) of every segment; the two lists must hold the same
    (document, segment id) keys, in the same order, or (``by_id``: keys unique in each file)
    in any order."""
    source_keys = [(segment.document_id, segment.segment_id) for segment in source_segments]
    target_keys = [(segment.document_id, segment.segment_id) for segment in target_segments]
    if source_keys == target_keys:
        return [(source.text, target.text, source.line) for source, target in zip(source_segments, target_segments)]
    if by_id and len(source_keys) == len(target_keys) and set(source_keys) == set(target_keys):
        targets = dict(zip(target_keys, target_segments))
        return [(source.text, targets[key].text, source.line) for key, source in zip(source_keys, source_segments)]
    counts = f"{source_path} has {len(source_keys)} segments and {target_path} has {len(target_keys)}"
    if by_id:
        present_in_target, present_in_source = set(target_keys), set(source_keys)
        unmatched = next(((segment, source_path, target_path) for segment in source_segments
                          if (segment.document_id, segment.segment_id) not in present_in_target), None)
        unmatched = unmatched or next(((segment, target_path, source_path) for segment in target_segments
                                       if (segment.document_id, segment.segment_id) not in present_in_source), None)
        segment, path, other = unmatched
        raise ValueError(f"the files of a pair must hold the same segments, but {counts}; {path}, line {segment.line}: "
                         f"segment {segment.segment_id!r} of document {segment.document_id!r} has no counterpart in {other}")
    index = next((i for i, (s, t) in enumerate(zip(source_keys, target_keys)) if s != t), min(len(source_keys), len(target_keys)))
    if index == len(source_keys) or index == len(target_keys):
        longer, path = (target_segments, target_path) if index == len(source_keys) else (source_segments, source_path)
        raise ValueError(f"the files of a pair must hold the same sentences, but {counts}; the first without a counterpart "
                         f"is at {path}, line {longer[index].line}")
    source, target = source_segments[index], target_segments[index]
    raise ValueError(f"the files of a pair must hold the same sentences, but {counts}; sentence {index + 1} is sentence "
                     f"{source.segment_id} of talk {source.document_id!r} at {source_path}, line {source.line}, but sentence "
                     f"{target.segment_id} of talk {target.document_id!r} at {target_path}, line {target.line}")


def load_wmt_iwslt_pair(source_path, target_path, *, keep_titles: bool = False, drop_empty: bool | None = None) -> Dataset:
    """A source file and its reference (or translation) in the same segmented format, WMT
    SGML, IWSLT XML or IWSLT ``train.tags`` (told by the name: ``.sgm`` / ``.sgml``, ``.xml``,
    ``train.tags`` in it; else by the first line), as ``Dataset`` with ``source`` and
    ``target``, in the source file's order.

    The files must hold the same segments, else ``ValueError`` naming both files, their counts
    and the first segment without a counterpart, with its line. SGML and XML segments are
    matched by (``docid``, ``id``), in whatever order the target file has them; ``train.tags``
    sentences by position, the files having the same talks (``<talkid>``) with as many
    sentences each.

    ``drop_empty`` (default: ``True`` for ``train.tags``, ``False`` for the test sets in SGML
    and XML): drop pairs with an empty side. ``keep_titles``: see :func:`load_iwslt_train_tags`.
    """
    source_path = require_file(source_path, "source")
    target_path = require_file(target_path, "target")
    source_format, target_format = _detect_segment_format(source_path), _detect_segment_format(target_path)
    if source_format != target_format:
        raise ValueError(f"{source_path} is {source_format} but {target_path} is {target_format}: both files of a pair "
                         "must be in the same format")
    if source_format == "train_tags":
        source_segments = _read_train_tags(source_path, keep_titles)
        target_segments = _read_train_tags(target_path, keep_titles)
    else:
        layout = _SGML_LAYOUT if source_format == "sgml" else _XML_LAYOUT
        source_segments = _read_marked_segments(source_path, layout)
        target_segments = _read_marked_segments(target_path, layout)
    pairs = _match_segments(source_segments, target_segments, source_path, target_path, by_id=source_format != "train_tags")
    if drop_empty is None:
        drop_empty = source_format == "train_tags"
    return _parallel_dataset(pairs, drop_empty, f"{source_path} / {target_path}")


# --- Multi30k ------------------------------------------------------------------------------

def _find_language_file(data_dir: str, stem: str, language: str) -> str | None:
    for name in (f"{stem}.{language}", f"{stem}.{language}.gz"):
        if os.path.isfile(os.path.join(data_dir, name)):
            return os.path.join(data_dir, name)
    return None


def load_multi30k(data_dir, source_language: str = "en", target_language: str = "de", *,
                  drop_empty: bool = True) -> DatasetDict:
    """Multi30k task 1 (the format is in the module docstring) from a folder of its raw files,
    as ``DatasetDict`` of the splits found among :data:`MULTI30K_SPLITS`: ``"train"``
    (``train.<language>``), ``"validation"`` (``val.*``), ``"test"`` (``test_2016_flickr.*``
    or ``test2016.*``), and ``"test_2017_flickr"``, ``"test_2017_mscoco"``,
    ``"test_2018_flickr"`` where both languages' files are there; each file plain or ``.gz``.

    Raises ``FileNotFoundError`` when the train split is missing (listing the names looked
    for) or a split has its source file but not its target file (or the reverse), and the
    errors of :func:`load_parallel_text`.
    """
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"Multi30k directory not found: {data_dir}")
    for name, language in (("source_language", source_language), ("target_language", target_language)):
        if not isinstance(language, str) or not re.fullmatch(r"[a-z]{2,3}", language):
            raise ValueError(f"{name} must be a language code as in Multi30k's file names (en, de, fr, cs), got {language!r}")
    if source_language == target_language:
        raise ValueError(f"source_language and target_language are both {source_language!r}")
    splits = {}
    for split, stems in MULTI30K_SPLITS.items():
        for stem in stems:
            source = _find_language_file(data_dir, stem, source_language)
            target = _find_language_file(data_dir, stem, target_language)
            if source is None and target is None:
                continue
            if source is None or target is None:
                missing = f"{stem}.{source_language if source is None else target_language}"
                raise FileNotFoundError(f"{os.path.join(data_dir, missing)} (or .gz) not found, but "
                                        f"{source or target} is there: the {split} split needs both languages")
            pairs = _read_parallel_lines(source, target)
            splits[split] = _parallel_dataset(pairs, drop_empty, f"{source} / {target}")
            break
    if "train" not in splits:
        raise FileNotFoundError(f"no Multi30k train split in {data_dir}: expected train.{source_language} and "
                                f"train.{target_language} (or train.{source_language}.gz and train.{target_language}.gz), "
                                f"and for the other splits val.*, test_2016_flickr.* or test2016.*")
    return DatasetDict(splits)


# --- ManyThings / Tatoeba ------------------------------------------------------------------

def load_tatoeba(path, source_column: int = 0, target_column: int = 1, *, reverse: bool = False,
                 drop_empty: bool = True) -> Dataset:
    """Tab-separated sentence pairs, one a line: ManyThings' ``fra.txt`` / ``deu.txt``
    (English, the translation, the CC-BY attribution) or any Tatoeba-derived TSV (the format is
    in the module docstring), as ``Dataset`` with ``source`` (column ``source_column``,
    0-based) and ``target`` (column ``target_column``), stripped; other columns are ignored.
    ``reverse=True`` swaps the two (French → English from ``fra.txt``).

    Blank lines are skipped; a line with fewer columns than the two indices need raises
    ``ValueError`` naming the file and line; pairs with an empty side are dropped unless
    ``drop_empty=False``.
    """
    for name, column in (("source_column", source_column), ("target_column", target_column)):
        if isinstance(column, bool) or not isinstance(column, int) or column < 0:
            raise ValueError(f"{name} must be a non-negative integer (a 0-based column), got {column!r}")
    if source_column == target_column:
        raise ValueError(f"source_column and target_column are both {source_column}")
    path = require_file(path, "Tatoeba")
    needed = max(source_column, target_column) + 1
    pairs = []
    for number, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < needed:
            raise ValueError(f"{path}, line {number}: {len(fields)} tab-separated column(s), expected at least {needed} "
                             f"(source in column {source_column}, target in column {target_column}, counting from 0): "
                             f"{line[:80]!r}")
        source, target = fields[source_column].strip(), fields[target_column].strip()
        pairs.append((target, source, number) if reverse else (source, target, number))
    return _parallel_dataset(pairs, drop_empty, path)
