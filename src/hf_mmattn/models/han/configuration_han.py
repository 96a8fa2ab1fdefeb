"""Configuration of the Hierarchical Attention Network, HAN (Yang et al., NAACL 2016)."""

from __future__ import annotations

from ...tasks.text_classification.configuration import MMAttnTextClassificationConfig

DOCUMENT_ENCODERS = ("hierarchical", "flat", "mean")

# The tests' "tiny" sizes; "generated": the examples' sizes for the generated deciding-sentence
# documents (hf_mmattn.data.generate_deciding_sentence_documents), the paper's architecture at a
# smaller embedding; "flat-gru" and "mean-pooling": the baselines of the benchmarks at the same
# sizes, one bi-GRU with one attention over all the words of the document, and the mean of the
# word embeddings.
HAN_PRESETS: dict[str, dict] = {}
HAN_PRESETS["tiny"] = dict(word_embedding_size=8, word_hidden_size=5, sentence_hidden_size=4, word_attention_size=6, sentence_attention_size=5)
HAN_PRESETS["generated"] = dict(word_embedding_size=64, word_hidden_size=50, sentence_hidden_size=50, word_attention_size=100,
                                sentence_attention_size=100)
HAN_PRESETS["flat-gru"] = dict(HAN_PRESETS["generated"], document_encoder="flat")
HAN_PRESETS["mean-pooling"] = dict(HAN_PRESETS["generated"], document_encoder="mean")


class HanConfig(MMAttnTextClassificationConfig):
    r"""
    Configuration of [`HanModel`] and [`HanForSequenceClassification`].

    Defaults follow the paper (section 3.3): 200-d word embeddings, bidirectional GRUs of 50 units
    per direction at both levels (annotations of 100), word and sentence context vectors of 100.

    Args:
        word_embedding_size: word embedding size.
        word_hidden_size / sentence_hidden_size: GRU units per direction of the word and the
            sentence encoder (the annotations h_it, h_i are twice as large).
        word_attention_size / sentence_attention_size: size of u_it = tanh(W_w h_it + b_w) and of
            the context vector u_w (u_i and u_s for sentences).
        document_encoder: ``"hierarchical"`` (HAN), or the baselines ``"flat"`` (one bi-GRU and one
            attention over all the words of the document, no sentences) and ``"mean"`` (the mean of
            the word embeddings).

    The vocabulary, sentence end tokens, size limits, ``dropout`` (before the classifier) and labels
    are those of [`MMAttnTextClassificationConfig`].
    """

    model_type = "mmattn_han"

    word_embedding_size: int = 200
    word_hidden_size: int = 50
    sentence_hidden_size: int = 50
    word_attention_size: int = 100
    sentence_attention_size: int = 100
    document_encoder: str = "hierarchical"

    presets = HAN_PRESETS
    display_name = "HAN"

    def __post_init__(self, **kwargs):
        if self.document_encoder not in DOCUMENT_ENCODERS:
            raise ValueError(f"document_encoder must be one of {DOCUMENT_ENCODERS}, got {self.document_encoder!r}")
        for name in ("word_embedding_size", "word_hidden_size", "sentence_hidden_size", "word_attention_size", "sentence_attention_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        super().__post_init__(**kwargs)

    @property
    def hidden_size(self) -> int:
        """The size of the document vector the classifier reads."""
        if self.document_encoder == "mean":
            return self.word_embedding_size
        if self.document_encoder == "flat":
            return 2 * self.word_hidden_size
        return 2 * self.sentence_hidden_size


__all__ = ["DOCUMENT_ENCODERS", "HAN_PRESETS", "HanConfig"]
