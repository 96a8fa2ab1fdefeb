"""Configuration of the "deeper LSTM Q + norm I" VQA baseline (Antol et al., ICCV 2015)."""

from __future__ import annotations

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec


class LstmQNormIConfig(PreTrainedConfig):
    r"""
    Configuration of [`LstmQNormIModel`] and [`LstmQNormIForVisualQuestionAnswering`].

    Defaults follow GT-Vision-Lab/VQA_LSTM_CNN: a 200-d word embedding with tanh, a 2-layer
    LSTM of 512 whose final cell and hidden states of both layers form a 2048-d question
    vector, an L2-normalised 4096-d image vector (VGG fc7), both mapped to 1024 and multiplied.

    Args:
        vocab_size / pad_token_id: the processor's word vocabulary.
        word_embedding_size: size of the word embedding (the paper's Linear(V→200) on one-hots).
        question_hidden_size / question_num_layers: the LSTM.
        fusion_hidden_size: common size of the element-wise product (1024).
        normalize_image: L2-normalise the image vector ("norm I").
        answer_head / answer_hidden_size: ``"linear"`` (the paper) or ``"mlp"``.
        dropout: 0.5 in the paper, on the embedding, before each fusion layer and the classifier.
        image_encoder, num_channels, scratch_cnn_channels, backbone_config, freeze_backbone,
            image_feature_size: the image input, as in every VQA model of the package. Grids from
            pixels or region features are averaged over (real) regions into one image vector.
    """

    model_type = "mmattn_lstm_q_norm_i"
    sub_configs_defaults = {"backbone_config": SubConfigSpec(AutoConfig, model_type="resnet", optional=True)}

    vocab_size: int = 10000
    pad_token_id: int | None = 0
    word_embedding_size: int = 200
    question_hidden_size: int = 512
    question_num_layers: int = 2
    fusion_hidden_size: int = 1024
    normalize_image: bool = True
    answer_head: str = "linear"
    answer_hidden_size: int = 1024
    dropout: float = 0.5
    image_encoder: str = "features"
    num_channels: int = 3
    scratch_cnn_channels: list[int] | tuple[int, ...] = (32, 64, 128)
    backbone_config: dict | PreTrainedConfig | None = None
    freeze_backbone: bool = True
    image_feature_size: int = 4096
    initializer_range: float = 0.02

    @property
    def question_vector_size(self) -> int:
        """[c; h] of every LSTM layer: 2 x layers x hidden (2048 for the paper's sizes)."""
        return 2 * self.question_num_layers * self.question_hidden_size


__all__ = ["LstmQNormIConfig"]
