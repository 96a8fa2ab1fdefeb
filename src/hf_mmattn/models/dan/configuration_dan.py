"""Configuration of the reasoning Dual Attention Network, r-DAN (Nam, Ha, Kim, CVPR 2017)."""

from __future__ import annotations

from ...tasks.vqa.configuration import MMAttnVQAConfig

# The tests' "tiny" sizes; "scratch-cnn": the examples' settings for 64x64 synthetic images with the
# scratch CNN (easy-VQA; the defaults are the papers' sizes for 448x448 VGG/ResNet features), used
# by run_vqa.py with --image_encoder scratch_cnn. On easy-VQA dropout slows these small models
# down and buys nothing (benchmarks/README.md).
DAN_PRESETS: dict[str, dict] = {}
DAN_PRESETS["tiny"] = dict(
    word_embedding_size=8, question_hidden_size=6, attention_hidden_size=5, num_steps=2, answer_hidden_size=16,
)
DAN_PRESETS["scratch-cnn"] = dict(
    word_embedding_size=32, question_hidden_size=128, attention_hidden_size=64,
    answer_head="mlp", answer_hidden_size=256, dropout=0.0,
)


class DanConfig(MMAttnVQAConfig):
    r"""
    Configuration of [`DanModel`] and [`DanForVisualQuestionAnswering`].

    Defaults follow the paper's VQA model: ResNet-152 res5c regions (196 × 2048 at 448 × 448), a
    bidirectional LSTM whose forward and backward states are summed (section 3.1), 512 units in
    every hidden layer, K = 2 attention steps with their own weights.

    Args:
        word_embedding_size: word embedding size (512, as every other layer).
        question_hidden_size: bi-LSTM hidden size; it is the common size d of the word vectors
            ``u_t``, the attended vectors ``v^(k)``, ``u^(k)`` and the memory ``m^(k)``.
        attention_hidden_size: size of the attention layer ``h_n = tanh(W_v v_n) ⊙ tanh(W_m m)``.
        num_steps: number of attention steps K (the paper uses 2).
        image_feature_size: D of precomputed region features (2048 for ResNet-152 res5c).

    The vocabulary, image input (``image_encoder`` ...) and answer head (``answer_head``,
    ``answer_hidden_size``, ``dropout``) fields are those of [`MMAttnVQAConfig`]; DAN's ``dropout``
    applies to the inputs of every attention layer (memory, regions, words) and of the answer head.
    """

    model_type = "mmattn_dan"

    word_embedding_size: int = 512
    question_hidden_size: int = 512
    attention_hidden_size: int = 512
    num_steps: int = 2
    image_feature_size: int = 2048

    presets = DAN_PRESETS
    display_name = "r-DAN"

    def __post_init__(self, **kwargs):
        if self.num_steps < 1:
            raise ValueError(f"num_steps must be at least 1, got {self.num_steps}")
        for name in ("word_embedding_size", "question_hidden_size", "attention_hidden_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        super().__post_init__(**kwargs)

    @property
    def hidden_size(self) -> int:
        """d, the common size of the word vectors, the attended vectors and the memory."""
        return self.question_hidden_size


__all__ = ["DAN_PRESETS", "DanConfig"]
