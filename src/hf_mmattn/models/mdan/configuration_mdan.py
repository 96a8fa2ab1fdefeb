"""Configuration of the matching Dual Attention Network, m-DAN (Nam, Ha, Kim, CVPR 2017)."""

from __future__ import annotations

from ...tasks.matching.configuration import MMAttnMatchingConfig

# The tests' "tiny" sizes; "scratch-cnn": the examples' settings for the 64x64 shapes-captions
# scenes with the scratch CNN (the defaults are the paper's sizes for 448x448 ResNet-152 features),
# used by run_matching.py with --image_encoder scratch_cnn; "mean-pooling": the same encoders with
# no attention step (K = 0, S = v^(0)·u^(0)), the baseline the benchmarks compare m-DAN with.
# The examples' loss sums the hinges over every negative with VSE++'s margin 0.2: on
# shapes-captions a one-object sentence is true of many scenes, so the hardest negative of a
# batch is often a false one; in a pilot (2,000 training images, 78 steps) "max" reached text→image
# R@1 25.6 against 48.8 for "sum" (benchmarks/README.md).
MDAN_PRESETS: dict[str, dict] = {}
MDAN_PRESETS["tiny"] = dict(word_embedding_size=8, text_hidden_size=6, attention_hidden_size=5, num_steps=2, margin=0.2)
MDAN_PRESETS["scratch-cnn"] = dict(
    word_embedding_size=64, text_hidden_size=128, attention_hidden_size=128, num_steps=2, margin=0.2, ranking_loss="sum",
)
MDAN_PRESETS["mean-pooling"] = dict(MDAN_PRESETS["scratch-cnn"], num_steps=0)


class MDanConfig(MMAttnMatchingConfig):
    r"""
    Configuration of [`MDanModel`].

    Defaults follow the paper's matching model (section 4.3): ResNet-152 res5c regions (196 × 2048
    at 448 × 448), a bidirectional LSTM whose forward and backward states are summed (section
    3.1), 512 units in every hidden layer, K = 2 attention steps with their own weights, the
    bidirectional ranking loss summed over the negatives with margin m = 100 (the similarities
    are unnormalised dot products; the value is our reading of the paper's implementation
    details, not checked against its text: see the model card).

    Args:
        word_embedding_size: word embedding size.
        text_hidden_size: bi-LSTM hidden size; the common size d of the word vectors ``u_t``, the
            attended vectors ``v^(k)``, ``u^(k)`` and both memories.
        attention_hidden_size: size of the attention layer ``h_n = tanh(W_v v_n) ⊙ tanh(W_{v,m} m_v)``.
        num_steps: the number of attention steps K; 0 leaves the mean-pooled ``v^(0)``, ``u^(0)``
            alone (the no-attention baseline).
        image_feature_size: D of precomputed region features (2048 for ResNet-152 res5c).

    The vocabulary, loss (``ranking_loss``, ``margin``), ``dropout`` (on the inputs of every
    attention layer) and image input fields are those of [`MMAttnMatchingConfig`].
    """

    model_type = "mmattn_mdan"

    word_embedding_size: int = 512
    text_hidden_size: int = 512
    attention_hidden_size: int = 512
    num_steps: int = 2
    image_feature_size: int = 2048
    margin: float = 100.0

    presets = MDAN_PRESETS
    display_name = "m-DAN"

    def __post_init__(self, **kwargs):
        if not isinstance(self.num_steps, int) or self.num_steps < 0:
            raise ValueError(f"num_steps must be a non-negative integer (0: no attention), got {self.num_steps!r}")
        for name in ("word_embedding_size", "text_hidden_size", "attention_hidden_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        super().__post_init__(**kwargs)

    @property
    def hidden_size(self) -> int:
        """d, the common size of the word vectors, the attended vectors and the memories."""
        return self.text_hidden_size

    @property
    def projection_dim(self) -> int:
        """The size of the final embeddings: the K + 1 step embeddings of size d, concatenated."""
        return (self.num_steps + 1) * self.text_hidden_size


__all__ = ["MDAN_PRESETS", "MDanConfig"]
