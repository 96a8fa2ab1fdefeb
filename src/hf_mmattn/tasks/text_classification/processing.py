"""The text classification family's tokenizer: a word-level tokenizer (``tokenizers`` WordLevel)
whose output transformers' own ``text-classification`` pipeline passes straight to the model:
flat ``input_ids`` / ``attention_mask``, the sentences marked by their end tokens (the model
splits them, `split_into_sentences`). Line breaks become the token "¶", so that a document whose
sentences are lines (IMDB's ``<sssss>`` files, loaded with one sentence per line) keeps them."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, normalizers
from transformers import PreTrainedTokenizerFast

from ...processing.words import word_level_tokenizer, word_vocabulary

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
LINE_BREAK = "¶"
# Tokens made only of these characters end a sentence: ".", "!", "?", "?!", "...", "¶".
SENTENCE_END_CHARACTERS = frozenset(".!?" + LINE_BREAK)


def document_normalizer() -> normalizers.Normalizer:
    """NFKC, every run of line breaks (with the spaces around it) to " ¶ ", lower case."""
    return normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(r"\s*\n[\s\n]*"), f" {LINE_BREAK} "), normalizers.Lowercase()])


def build_document_tokenizer(documents: Iterable[str], min_count: int = 1, max_length: int = 100_000) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over the words of ``documents``: text normalised by
    :func:`document_normalizer`, split into words and punctuation; words seen fewer than
    ``min_count`` times map to ``[UNK]`` (id 1), ``[PAD]`` is id 0; ".", "!", "?" and "¶" are
    always in the vocabulary. ``max_length``: the tokens ``truncation=True`` keeps (the model's
    own limits are ``config.max_sentences`` and ``config.max_sentence_length``). Returns
    ``input_ids`` and ``attention_mask`` only, padded on the right."""
    vocab = word_vocabulary(documents, [PAD_TOKEN, UNK_TOKEN], min_count, normalizer=document_normalizer())
    for token in (".", "!", "?", LINE_BREAK):
        vocab.setdefault(token, len(vocab))
    return word_level_tokenizer(
        vocab, unk_token=UNK_TOKEN, normalizer=document_normalizer(), pad_token=PAD_TOKEN, model_max_length=max_length,
        padding_side="right", model_input_names=["input_ids", "attention_mask"],
    )


def sentence_end_token_ids(tokenizer: PreTrainedTokenizerFast) -> list[int]:
    """The ids of the tokens of ``tokenizer``'s vocabulary that end a sentence (made only of
    ".", "!", "?" and "¶"), for ``config.sentence_end_token_ids``."""
    return sorted(i for token, i in tokenizer.get_vocab().items() if token and set(token) <= SENTENCE_END_CHARACTERS)


__all__ = ["LINE_BREAK", "PAD_TOKEN", "UNK_TOKEN", "build_document_tokenizer", "document_normalizer", "sentence_end_token_ids"]
