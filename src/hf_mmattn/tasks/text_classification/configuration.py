"""The text classification family's config fields: the word vocabulary, the tokens that end a
sentence (the models read a document as sentences of words) and the limits on a document's size,
on top of the named presets every config has (configuration_base.py)."""

from __future__ import annotations

from ...configuration_base import MMAttnConfig


class MMAttnTextClassificationConfig(MMAttnConfig):
    r"""
    Args:
        vocab_size / pad_token_id: the word vocabulary of the tokenizer.
        sentence_end_token_ids: the ids of the tokens that end a sentence (".", "!", "?", "...",
            and "¶", the tokenizer's mark of a line break); a sentence runs up to and including
            its last end token. Set from the tokenizer (`sentence_end_token_ids(tokenizer)`).
        max_sentences / max_sentence_length: a document with more sentences, or a sentence with
            more words, is cut to these with a warning; ``None``: no limit.
        dropout: dropout probability of the model (where each paper puts it).
        num_labels / id2label / label2id / problem_type: transformers' own fields; problem_type
            ``"single_label_classification"`` (softmax cross-entropy, the papers'),
            ``"multi_label_classification"`` or ``"regression"``.
    """

    vocab_size: int = 10000
    pad_token_id: int | None = 0
    sentence_end_token_ids: list[int] | tuple[int, ...] = ()
    max_sentences: int | None = None
    max_sentence_length: int | None = None
    dropout: float = 0.0

    def __post_init__(self, **kwargs):
        for name in ("max_sentences", "max_sentence_length"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None (no limit), got {value!r}")
        self.sentence_end_token_ids = [int(i) for i in self.sentence_end_token_ids]
        super().__post_init__(**kwargs)


__all__ = ["MMAttnTextClassificationConfig"]
