"""Configuration of the Stacked Attention Network (Yang et al., CVPR 2016)."""

from __future__ import annotations

from ...configuration_vqa import MMAttnVQAConfig


class SanConfig(MMAttnVQAConfig):
    r"""
    Configuration of [`SanModel`] and [`SanForVisualQuestionAnswering`].

    Defaults follow the paper (section 4.3 and the released code): 500-d word embeddings, LSTM
    question model with 1024 hidden units that fixes the common size d, attention size 512 (k),
    two hops, VGG pool5-style 512-d regions.

    Args:
        word_embedding_size: word embedding size.
        question_encoder: ``"lstm"`` (section 3.1) or ``"cnn"`` (section 3.2).
        question_hidden_size: LSTM hidden size; it is the common size d of question and regions.
        question_cnn_kernel_sizes / question_cnn_channels: n-gram widths and channel counts of the
            CNN question model; with it, d is the sum of the channels.
        num_hops: number of stacked attention layers K (the paper uses 1 or 2).
        attention_hidden_size: k, the size of the attention MLP.
        attention_form: ``"paper"`` (eq. 15-16) or ``"code"`` (zcyang/imageqa-san: tanh on each
            projection and on the score). See [`StackedAttentionHop`].
        image_feature_size: D of precomputed region features (512 for VGG pool5).

    The vocabulary, image input (``image_encoder`` ...) and answer head (``answer_head``,
    ``answer_hidden_size``, ``dropout``) fields are those of [`MMAttnVQAConfig`]; SAN's
    ``dropout`` applies to the regions, the attention MLP and the answer head.
    """

    model_type = "mmattn_san"

    word_embedding_size: int = 500
    question_encoder: str = "lstm"
    question_hidden_size: int = 1024
    question_cnn_kernel_sizes: list[int] | tuple[int, ...] = (1, 2, 3)
    question_cnn_channels: list[int] | tuple[int, ...] = (256, 512, 512)
    num_hops: int = 2
    attention_hidden_size: int = 512
    attention_form: str = "paper"
    image_feature_size: int = 512

    def __post_init__(self, **kwargs):
        if self.question_encoder not in ("lstm", "cnn"):
            raise ValueError(f"question_encoder must be 'lstm' or 'cnn', got {self.question_encoder!r}")
        if self.num_hops < 1:
            raise ValueError(f"num_hops must be at least 1, got {self.num_hops}")
        super().__post_init__(**kwargs)

    @property
    def hidden_size(self) -> int:
        """d, the common size of the question vector and the image regions."""
        if self.question_encoder == "cnn":
            return sum(self.question_cnn_channels)
        return self.question_hidden_size


__all__ = ["SanConfig"]
