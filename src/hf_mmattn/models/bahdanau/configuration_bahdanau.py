"""Configuration of RNNsearch, Bahdanau, Cho and Bengio's attention-based translator (ICLR 2015)."""

from __future__ import annotations

from ...tasks.translation.configuration import MMAttnTranslationConfig

BAHDANAU_ATTENTIONS = ("additive", "none")
OUTPUT_LAYERS = ("maxout", "linear")
READOUT_STATES = ("current", "previous")

# The tests' "tiny" sizes; "numbers": the examples' and the benchmark's sizes for the generated
# English → German number words (hf_mmattn.data.generate_number_translation); "paper": appendix A.2.
BAHDANAU_PRESETS: dict[str, dict] = {}
BAHDANAU_PRESETS["tiny"] = dict(
    source_vocab_size=23, vocab_size=19, embedding_size=6, encoder_hidden_size=5, hidden_size=7, attention_size=9, maxout_size=4
)
BAHDANAU_PRESETS["numbers"] = dict(
    embedding_size=64, encoder_hidden_size=64, hidden_size=128, attention_size=128, maxout_size=64, dropout=0.1
)
BAHDANAU_PRESETS["rnnencdec"] = dict(BAHDANAU_PRESETS["numbers"], attention="none")
BAHDANAU_PRESETS["paper"] = dict(
    source_vocab_size=30000, vocab_size=30000, embedding_size=620, encoder_hidden_size=1000, hidden_size=1000,
    attention_size=1000, maxout_size=500, dropout=0.5,
)


class BahdanauConfig(MMAttnTranslationConfig):
    r"""
    Configuration of [`BahdanauForConditionalGeneration`] (RNNsearch).

    Defaults follow the paper (appendix A.2): 620-d embeddings, a bidirectional GRU encoder of 1000
    units per direction, a GRU decoder of 1000 units, an alignment model of 1000 hidden units and
    a maxout deep output of 500 units.

    Args:
        encoder_hidden_size: GRU units of each encoder direction (the annotations h_j are twice as large).
        attention_size: n', the hidden units of the alignment model v_aᵀ tanh(W_a s_{i-1} + U_a h_j).
        attention: ``"additive"`` (RNNsearch) or ``"none"``: RNNencdec, the encoder-decoder the paper
            compares against, whose every step reads the same context c = [→h_T; ←h_1] (the two
            directions' final states) instead of an attended c_i.
        output_layer: ``"maxout"``, the deep output t_i = maxout(U_o s + V_o E y_{i-1} + C_o c_i)
            (appendix A.2.2) before W_o; ``"linear"``: the word classifier reads s_i directly.
        maxout_size: l, the maxout units.
        readout_state: the decoder state the deep output reads: ``"current"`` s_i (section 3.1, eq.
            4, and the released GroundHog / dl4mt code) or ``"previous"`` s_{i-1} (appendix A.2.2
            as printed).

    ``dropout`` acts on the embeddings and on the deep output t_i (GroundHog's dropout before W_o).
    The vocabularies and special tokens are those of [`MMAttnTranslationConfig`].
    """

    model_type = "mmattn_bahdanau"

    embedding_size: int = 620
    encoder_hidden_size: int = 1000
    hidden_size: int = 1000
    attention_size: int = 1000
    attention: str = "additive"
    output_layer: str = "maxout"
    maxout_size: int = 500
    readout_state: str = "current"

    presets = BAHDANAU_PRESETS
    display_name = "Bahdanau"

    def __post_init__(self, **kwargs):
        for name, allowed in (("attention", BAHDANAU_ATTENTIONS), ("output_layer", OUTPUT_LAYERS), ("readout_state", READOUT_STATES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("embedding_size", "encoder_hidden_size", "hidden_size", "attention_size", "maxout_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        super().__post_init__(**kwargs)


__all__ = ["BAHDANAU_ATTENTIONS", "BAHDANAU_PRESETS", "OUTPUT_LAYERS", "READOUT_STATES", "BahdanauConfig"]
