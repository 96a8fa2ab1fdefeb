"""The translation family's tokenizers and processor.

A translator has two vocabularies: the source tokenizer (``processor.tokenizer``, saved at the
root of the checkpoint, so ``AutoTokenizer`` loads it) and the target tokenizer
(``processor.target_tokenizer``, saved in the ``target_tokenizer/`` subfolder). Both are
``tokenizers`` models wrapped in ``PreTrainedTokenizerFast``, with ``<pad>`` 0, ``<unk>`` 1,
``<s>`` 2 (the decoder's start token) and ``</s>`` 3, the end token appended to every sentence:

* ``kind="word"``: one id per word (NFKC, split into words and punctuation), the words seen at
  least ``min_count`` times; the others are ``<unk>``;
* ``kind="bpe"``: subwords learned by byte-pair encoding (Sennrich et al. 2016) up to
  ``vocab_size`` entries, with ``▁`` marking the start of a word (so decoding restores the
  spaces); a word is never unknown unless it holds a character never seen in training.

``processor(text=sources, text_target=targets)`` gives ``input_ids`` / ``attention_mask`` (padded
on the right) and ``labels`` (padding -100), what the model trains on; ``processor.batch_decode``
turns generated ids back into target text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE, WordLevel
from tokenizers.trainers import BpeTrainer
from transformers import BatchEncoding, PreTrainedTokenizerFast, ProcessorMixin

from ...processing.words import check_text, unknown_words, word_level_tokenizer, word_vocabulary

logger = logging.getLogger(__name__)

TRANSLATION_SPECIAL_TOKENS = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
TOKENIZER_KINDS = ("word", "bpe")
DEFAULT_MAX_LENGTH = 256


def _normalizer(lowercase: bool) -> normalizers.Normalizer:
    return normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()] if lowercase else [normalizers.NFKC()])


def wrap_translation_tokenizer(tokenizer: Tokenizer, max_length: int = DEFAULT_MAX_LENGTH) -> PreTrainedTokenizerFast:
    """A ``PreTrainedTokenizerFast`` over a ``tokenizers`` model whose vocabulary holds the four
    special tokens: ``</s>`` appended to every sentence, right padding, ``max_length`` the length
    ``truncation=True`` cuts to (the end token included)."""
    vocab = tokenizer.get_vocab()
    missing = [token for token in TRANSLATION_SPECIAL_TOKENS.values() if token not in vocab]
    if missing:
        raise ValueError(f"the vocabulary lacks the special tokens {missing}")
    eos = TRANSLATION_SPECIAL_TOKENS["eos_token"]
    tokenizer.post_processor = processors.TemplateProcessing(single=f"$A {eos}", special_tokens=[(eos, vocab[eos])])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, model_max_length=max_length, padding_side="right",
        model_input_names=["input_ids", "attention_mask"], clean_up_tokenization_spaces=False, **TRANSLATION_SPECIAL_TOKENS,
    )


def build_translation_tokenizer(
    texts: Iterable[str],
    kind: str = "word",
    vocab_size: int = 8000,
    min_count: int = 1,
    lowercase: bool = False,
    max_length: int = DEFAULT_MAX_LENGTH,
) -> PreTrainedTokenizerFast:
    """A tokenizer of one language learned from ``texts`` (the training sentences of that side):
    word-level (``kind="word"``: words seen at least ``min_count`` times, sorted) or BPE
    (``kind="bpe"``: ``vocab_size`` entries, merges of pairs seen at least ``min_count`` times).
    ``lowercase`` folds case before everything else."""
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"kind must be one of {TOKENIZER_KINDS}, got {kind!r}")
    special_tokens = list(TRANSLATION_SPECIAL_TOKENS.values())
    if kind == "word":
        vocab = word_vocabulary(texts, special_tokens, min_count, normalizer=_normalizer(lowercase))
        backend = word_level_tokenizer(vocab, unk_token="<unk>", normalizer=_normalizer(lowercase)).backend_tokenizer
        return wrap_translation_tokenizer(backend, max_length)
    backend = Tokenizer(BPE(unk_token="<unk>"))
    backend.normalizer = _normalizer(lowercase)
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()])
    backend.decoder = decoders.Metaspace()
    trainer = BpeTrainer(vocab_size=vocab_size, min_frequency=min_count, special_tokens=special_tokens, show_progress=False)
    backend.train_from_iterator(list(texts), trainer)
    return wrap_translation_tokenizer(backend, max_length)


class TranslationProcessor(ProcessorMixin):
    """The source tokenizer (``tokenizer``) and the target tokenizer (``target_tokenizer``) of a
    translator. See the module docstring."""

    def __init__(self, tokenizer=None, target_tokenizer=None, **kwargs):
        super().__init__(tokenizer, target_tokenizer, **kwargs)

    @classmethod
    def from_texts(
        cls, sources: Iterable[str], targets: Iterable[str], kind: str = "word", vocab_size: int = 8000, min_count: int = 1,
        lowercase: bool = False, max_length: int = DEFAULT_MAX_LENGTH,
    ) -> TranslationProcessor:
        """A processor whose two vocabularies are learned from the training ``sources`` and
        ``targets`` (see :func:`build_translation_tokenizer`)."""
        settings = dict(kind=kind, vocab_size=vocab_size, min_count=min_count, lowercase=lowercase, max_length=max_length)
        return cls(build_translation_tokenizer(sources, **settings), build_translation_tokenizer(targets, **settings))

    @staticmethod
    def _sentences(text, what: str) -> list[str]:
        sentences = [text] if isinstance(text, str) else text
        if not isinstance(sentences, (list, tuple)) or len(sentences) == 0:
            raise TypeError(f"{what} must be a string or a non-empty list of strings; got {type(text).__name__}")
        for sentence in sentences:
            if not isinstance(sentence, str):
                raise TypeError(f"each {what} sentence must be a string; got {type(sentence).__name__}: {sentence!r}")
            check_text(sentence, f"the {what} sentence")
            if not sentence.strip():
                raise ValueError(f"an empty {what} sentence: there is nothing to translate")
        return list(sentences)

    def _encode(self, tokenizer, sentences: list[str], what: str, truncation: bool, max_length: int | None, return_tensors):
        encoded = tokenizer(sentences, padding=True, truncation=truncation, max_length=max_length, return_tensors=return_tensors)
        if not truncation:
            limit = max_length or tokenizer.model_max_length
            longest = encoded["input_ids"].shape[1]  # padded to the longest sentence
            if longest > limit:
                raise ValueError(
                    f"a {what} sentence has {longest} tokens, more than the tokenizer's limit of {limit}: pass truncation=True "
                    "to cut it (the translation of the rest is lost) or split the text into sentences"
                )
        return encoded

    def __call__(self, text=None, text_target=None, truncation: bool = False, max_length: int | None = None, return_tensors="pt"):
        """``input_ids`` / ``attention_mask`` of the source sentences ``text`` and, with
        ``text_target``, the ``labels`` of their translations (padding -100). Sentences longer
        than ``max_length`` tokens (the tokenizer's ``model_max_length`` by default) are refused
        unless ``truncation=True``. Unknown source words become ``<unk>`` (logged)."""
        if return_tensors != "pt":
            raise ValueError(f"the translators read torch tensors: return_tensors must be 'pt', got {return_tensors!r}")
        if text is None and text_target is None:
            raise ValueError("give text (the source sentences), text_target (their translations), or both")
        result = BatchEncoding(tensor_type=return_tensors)
        if text is not None:
            sources = self._sentences(text, "source")
            unknown = sorted({word for sentence in sources for word in self.source_unknown_words(sentence)})
            if unknown:
                logger.warning("source words outside the vocabulary, read as <unk>: %s", " ".join(unknown[:20]))
            result.update(self._encode(self.tokenizer, sources, "source", truncation, max_length, return_tensors))
        if text_target is not None:
            targets = self._sentences(text_target, "target")
            labels = self._encode(self.target_tokenizer, targets, "target", truncation, max_length, return_tensors)
            result["labels"] = labels["input_ids"].masked_fill(labels["attention_mask"] == 0, -100)
        return result

    def source_unknown_words(self, sentence: str) -> list[str]:
        """The words of a source sentence that the source vocabulary lacks (word-level
        tokenizers), or the characters no subword covers (BPE)."""
        if not isinstance(self.tokenizer.backend_tokenizer.model, WordLevel):
            encoding = self.tokenizer.backend_tokenizer.encode(sentence)
            unk = self.tokenizer.unk_token_id
            return [sentence[start:end] for token, (start, end) in zip(encoding.ids, encoding.offsets, strict=True) if token == unk]
        return unknown_words(self.tokenizer, sentence)

    def batch_decode(self, sequences, skip_special_tokens: bool = True, **kwargs) -> list[str]:
        """Target ids (generated) → target sentences."""
        return self.target_tokenizer.batch_decode(sequences, skip_special_tokens=skip_special_tokens, **kwargs)

    def decode(self, token_ids, skip_special_tokens: bool = True, **kwargs) -> str:
        return self.target_tokenizer.decode(token_ids, skip_special_tokens=skip_special_tokens, **kwargs)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask"]


__all__ = [
    "DEFAULT_MAX_LENGTH",
    "TOKENIZER_KINDS",
    "TRANSLATION_SPECIAL_TOKENS",
    "TranslationProcessor",
    "build_translation_tokenizer",
    "wrap_translation_tokenizer",
]
