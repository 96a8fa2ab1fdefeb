"""Configuration of Luong et al.'s attention-based translator (EMNLP 2015)."""

from __future__ import annotations

from ...tasks.translation.configuration import MMAttnTranslationConfig

LUONG_ATTENTIONS = ("none", "dot", "general", "concat")

# The tests' "tiny" sizes; "numbers": the examples' and the benchmark's sizes for the generated
# English → German number words (hf_mmattn.data.generate_number_translation); "paper": section 4.1.
LUONG_PRESETS: dict[str, dict] = {}
LUONG_PRESETS["tiny"] = dict(source_vocab_size=23, vocab_size=19, embedding_size=6, hidden_size=8, num_layers=2)
LUONG_PRESETS["numbers"] = dict(embedding_size=64, hidden_size=128, num_layers=1, dropout=0.1)
LUONG_PRESETS["paper"] = dict(
    source_vocab_size=50000, vocab_size=50000, embedding_size=1000, hidden_size=1000, num_layers=4, dropout=0.2
)


class LuongConfig(MMAttnTranslationConfig):
    r"""
    Configuration of [`LuongForConditionalGeneration`].

    Defaults follow the paper (section 4.1): stacked LSTMs of 4 layers and 1000 cells, 1000-d
    embeddings, global attention with the ``general`` score and input feeding.

    Args:
        num_layers: LSTM layers of the encoder and of the decoder (the decoder starts from the
            encoder's last state of each layer).
        encoder_bidirectional: a bidirectional encoder of ``hidden_size // 2`` cells per direction,
            the directions concatenated (OpenNMT-py's ``brnn``; the paper's encoder is
            unidirectional).
        attention: ``"dot"``, ``"general"``, ``"concat"`` (section 3.1, eq. 8), or ``"none"``: the
            encoder-decoder without attention (Sutskever et al. 2014), the paper's baseline.
        attention_size: hidden units of the ``concat`` score (``hidden_size`` by default).
        attention_window: D of local attention with predicted positions, "local-p" (section 3.2:
            a window of 2D + 1 source words around p_t = S · sigmoid(v_pᵀ tanh(W_p h_t)), weighted
            by a Gaussian of σ = D/2; the paper's D is 10); ``None``: global attention.
        input_feeding: feed h̃_{t-1} to the decoder with the word at step t (section 3.3).

    The vocabularies, special tokens, ``embedding_size``, ``hidden_size`` and ``dropout`` (on the
    embeddings, between LSTM layers and on h̃_t) are those of [`MMAttnTranslationConfig`].
    """

    model_type = "mmattn_luong"

    embedding_size: int = 1000
    hidden_size: int = 1000
    num_layers: int = 4
    encoder_bidirectional: bool = False
    attention: str = "general"
    attention_size: int | None = None
    attention_window: int | None = None
    input_feeding: bool = True

    presets = LUONG_PRESETS
    display_name = "Luong"

    def __post_init__(self, **kwargs):
        if self.attention not in LUONG_ATTENTIONS:
            raise ValueError(f"attention must be one of {LUONG_ATTENTIONS}, got {self.attention!r}")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {self.num_layers}")
        if self.encoder_bidirectional and self.hidden_size % 2:
            raise ValueError(
                f"a bidirectional encoder splits hidden_size between its two directions: it must be even, got {self.hidden_size}"
            )
        if self.attention_window is not None and (self.attention == "none" or self.attention_window < 1):
            raise ValueError(f"attention_window (local-p attention's D) must be a positive integer with an attention; got "
                             f"{self.attention_window!r} with attention={self.attention!r}")
        if self.input_feeding and self.attention == "none":
            raise ValueError("input_feeding feeds the attentional state h̃_t back: it needs an attention (attention='none' has none)")
        super().__post_init__(**kwargs)


__all__ = ["LUONG_ATTENTIONS", "LUONG_PRESETS", "LuongConfig"]
