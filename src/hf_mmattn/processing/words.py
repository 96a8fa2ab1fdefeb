"""The word-level tokenizers of the package (questions and captions): ``tokenizers`` WordLevel
over NFKC-normalised, lower-cased text split into words and punctuation, wrapped in a
``PreTrainedTokenizerFast`` that saves with the checkpoint."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast


def _normalizer() -> normalizers.Normalizer:
    return normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])


def word_vocabulary(
    texts: Iterable[str], special_tokens: Sequence[str], min_count: int = 1, normalizer: normalizers.Normalizer | None = None
) -> dict[str, int]:
    """Word → id: ``special_tokens`` first (ids 0, 1, ...), then the words of ``texts`` seen at
    least ``min_count`` times, sorted. ``normalizer``: the tokenizer's (default: NFKC, lower case)."""
    normalizer, pre_tokenizer = normalizer or _normalizer(), pre_tokenizers.Whitespace()
    counts = Counter()
    for text in texts:
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    words = sorted(word for word, count in counts.items() if count >= min_count and word not in special_tokens)
    return {token: index for index, token in enumerate([*special_tokens, *words])}


def word_level_tokenizer(
    vocab: dict[str, int], *, unk_token: str, normalizer: normalizers.Normalizer | None = None, **tokenizer_kwargs
) -> PreTrainedTokenizerFast:
    """A ``PreTrainedTokenizerFast`` over ``vocab`` with the package's normalisation (or
    ``normalizer``) and word splitting; ``tokenizer_kwargs`` (special tokens, ``model_max_length``,
    padding side...) go to the wrapper."""
    tokenizer = Tokenizer(WordLevel(dict(vocab), unk_token=unk_token))
    tokenizer.normalizer = normalizer or _normalizer()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token=unk_token, **tokenizer_kwargs)


def check_text(text: str, what: str) -> None:
    """Refuses a string that is not valid Unicode (a lone surrogate such as ``"\\ud800"``, left by
    decoding bytes with ``errors="surrogateescape"`` or by a JSON file that splits an emoji), which
    the ``tokenizers`` library rejects with an unrelated type error."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{what} {text[:60]!r} is not valid Unicode text ({error.reason} at character {error.start}): "
            "decode it again with errors='replace', or remove that character"
        ) from None


def unknown_words(tokenizer: PreTrainedTokenizerFast, text: str) -> list[str]:
    """The words of ``text``, as ``tokenizer`` normalises and splits them, outside its vocabulary."""
    backend = tokenizer.backend_tokenizer
    words = backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(text))
    vocab = tokenizer.get_vocab()
    return [word for word, _ in words if word not in vocab]
