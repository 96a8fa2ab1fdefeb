"""Configuration of the Stacked Attention Network (Yang et al., CVPR 2016)."""

from __future__ import annotations

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec


class SanConfig(PreTrainedConfig):
    r"""
    Configuration of [`SanModel`] and [`SanForVisualQuestionAnswering`].

    Defaults follow the paper (section 4.3 and the released code): 500-d word embeddings, LSTM
    question model with 1024 hidden units that fixes the common size d, attention size 512 (k),
    two hops, VGG pool5-style 512-d regions.

    Args:
        vocab_size: size of the word vocabulary of the processor's tokenizer.
        pad_token_id: id of the padding token (its embedding stays zero).
        word_embedding_size: word embedding size.
        question_encoder: ``"lstm"`` (section 3.1) or ``"cnn"`` (section 3.2).
        question_hidden_size: LSTM hidden size; it is the common size d of question and regions.
        question_cnn_kernel_sizes / question_cnn_channels: n-gram widths and channel counts of the
            CNN question model; with it, d is the sum of the channels.
        num_hops: number of stacked attention layers K (the paper uses 1 or 2).
        attention_hidden_size: k, the size of the attention MLP.
        attention_form: ``"paper"`` (eq. 15-16) or ``"code"`` (zcyang/imageqa-san: tanh on each
            projection and on the score). See [`StackedAttentionHop`].
        answer_head: ``"linear"`` (eq. 20) or ``"mlp"`` (one ReLU hidden layer of
            ``answer_hidden_size``).
        dropout: dropout on the regions, the attention MLP and the answer head.
        image_encoder: ``"scratch_cnn"``, ``"backbone"`` or ``"features"`` (see layers/encoders.py).
        num_channels: image channels for pixel inputs.
        scratch_cnn_channels: channels of the scratch CNN blocks (each halves the resolution).
        backbone_config: config of a transformers backbone (dict or config, e.g. ResNetConfig with
            ``out_features=["stage4"]``) when ``image_encoder="backbone"``.
        freeze_backbone: keep the backbone fixed, as the paper's VGG features are.
        image_feature_size: dimension D of precomputed ``image_features`` (B, N, D).
    """

    model_type = "mmattn_san"
    sub_configs_defaults = {"backbone_config": SubConfigSpec(AutoConfig, model_type="resnet", optional=True)}

    vocab_size: int = 10000
    pad_token_id: int | None = 0
    word_embedding_size: int = 500
    question_encoder: str = "lstm"
    question_hidden_size: int = 1024
    question_cnn_kernel_sizes: list[int] | tuple[int, ...] = (1, 2, 3)
    question_cnn_channels: list[int] | tuple[int, ...] = (256, 512, 512)
    num_hops: int = 2
    attention_hidden_size: int = 512
    attention_form: str = "paper"
    answer_head: str = "linear"
    answer_hidden_size: int = 1024
    dropout: float = 0.5
    image_encoder: str = "backbone"
    num_channels: int = 3
    scratch_cnn_channels: list[int] | tuple[int, ...] = (32, 64, 128)
    backbone_config: dict | PreTrainedConfig | None = None
    freeze_backbone: bool = True
    image_feature_size: int = 512
    initializer_range: float = 0.02

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
