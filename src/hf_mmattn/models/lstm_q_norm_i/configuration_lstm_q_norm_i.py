"""Configuration of the "deeper LSTM Q + norm I" VQA baseline (Antol et al., ICCV 2015)."""

from __future__ import annotations

from ...configuration_vqa import MMAttnVQAConfig


class LstmQNormIConfig(MMAttnVQAConfig):
    r"""
    Configuration of [`LstmQNormIModel`] and [`LstmQNormIForVisualQuestionAnswering`].

    Defaults follow GT-Vision-Lab/VQA_LSTM_CNN: a 200-d word embedding with tanh, a 2-layer
    LSTM of 512 whose final cell and hidden states of both layers form a 2048-d question
    vector, an L2-normalised 4096-d image vector (VGG fc7), both mapped to 1024 and multiplied.

    Args:
        word_embedding_size: size of the word embedding (the paper's Linear(V→200) on one-hots).
        question_hidden_size / question_num_layers: the LSTM.
        fusion_hidden_size: common size of the element-wise product (1024).
        normalize_image: L2-normalise the image vector ("norm I").
        image_encoder: ``"features"`` by default, for the paper's precomputed fc7 vectors (N = 1);
            grids from pixels or region features are averaged over (real) regions into one vector.
        image_feature_size: 4096, VGG fc7.

    The vocabulary, image input and answer head fields are those of [`MMAttnVQAConfig`]; the
    paper's ``dropout`` of 0.5 applies to the embedding, before each fusion layer and before the
    classifier.
    """

    model_type = "mmattn_lstm_q_norm_i"

    word_embedding_size: int = 200
    question_hidden_size: int = 512
    question_num_layers: int = 2
    fusion_hidden_size: int = 1024
    normalize_image: bool = True
    image_encoder: str = "features"
    image_feature_size: int = 4096

    @property
    def question_vector_size(self) -> int:
        """[c; h] of every LSTM layer: 2 x layers x hidden (2048 for the paper's sizes)."""
        return 2 * self.question_num_layers * self.question_hidden_size


__all__ = ["LstmQNormIConfig"]
