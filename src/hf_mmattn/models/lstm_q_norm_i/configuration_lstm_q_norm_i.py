"""Configuration of the "deeper LSTM Q + norm I" VQA baseline (Antol et al., ICCV 2015)."""

from __future__ import annotations

from ...tasks.vqa.configuration import MMAttnVQAConfig

INITIALIZATIONS = ("pytorch", "released")

# The released Lua Torch code (GT-Vision-Lab/VQA_LSTM_CNN, train.lua and misc/): its default
# options (-input_encoding_size 200, -rnn_size 512, -rnn_layer 2, -common_embedding_size 1024,
# -img_norm 1), 4096-d VGG fc7 vectors from a feature file, dropout 0.5 on the embedding, between
# the LSTM layers, on both fusion inputs and before the classifier, every parameter from
# U(-0.08, 0.08).
LSTM_Q_NORM_I_PRESETS: dict[str, dict] = {
    "vqa-lstm-cnn": dict(
        word_embedding_size=200, question_hidden_size=512, question_num_layers=2, fusion_hidden_size=1024,
        normalize_image=True, image_encoder="features", image_feature_size=4096, answer_head="linear",
        dropout=0.5, lstm_dropout=0.5, initialization="released",
    ),
}

# The tests' "tiny" sizes; "scratch-cnn": the examples' settings for 64x64 synthetic images with the
# scratch CNN (easy-VQA; the defaults are the papers' sizes for 448x448 VGG/ResNet features), used
# by run_vqa.py with --image_encoder scratch_cnn. On easy-VQA dropout slows these small models
# down and buys nothing (benchmarks/README.md).
LSTM_Q_NORM_I_PRESETS["tiny"] = dict(
    word_embedding_size=8, question_hidden_size=6, question_num_layers=2, fusion_hidden_size=12, answer_hidden_size=16,
)
LSTM_Q_NORM_I_PRESETS["scratch-cnn"] = dict(
    word_embedding_size=32, question_hidden_size=128, fusion_hidden_size=256,
    answer_head="mlp", answer_hidden_size=256, dropout=0.0, normalize_image=False,
)


class LstmQNormIConfig(MMAttnVQAConfig):
    r"""
    Configuration of [`LstmQNormIModel`] and [`LstmQNormIForVisualQuestionAnswering`].

    Defaults follow GT-Vision-Lab/VQA_LSTM_CNN: a 200-d word embedding with tanh, a 2-layer
    LSTM of 512 whose final cell and hidden states of both layers form a 2048-d question
    vector, an L2-normalised 4096-d image vector (VGG fc7), both mapped to 1024 and multiplied.
    ``LstmQNormIConfig.from_preset("vqa-lstm-cnn", **overrides)`` gives the released code's
    settings, its initialisation included (``LSTM_Q_NORM_I_PRESETS``).

    Args:
        word_embedding_size: size of the word embedding (the paper's Linear(V→200) on one-hots).
        question_hidden_size / question_num_layers: the LSTM.
        fusion_hidden_size: common size of the element-wise product (1024).
        normalize_image: L2-normalise the image vector ("norm I").
        image_encoder: ``"features"`` by default, for the paper's precomputed fc7 vectors (N = 1);
            grids from pixels or region features are averaged over (real) regions into one vector.
        image_feature_size: 4096, VGG fc7.
        lstm_dropout: dropout between the LSTM layers (on the outputs of every layer but the last,
            ``misc/LSTM.lua``); ``None`` (the default): ``dropout``.
        initialization: ``"pytorch"``: PyTorch's default initialisation of every layer;
            ``"released"``: the released code's, every parameter (weights and biases of the word
            embedding, the LSTM, the fusion and the classifier) from U(-0.08, 0.08) (train.lua:
            ``embedding_w_q:uniform(-0.08, 0.08)``, the same for the encoder and the multimodal
            net). The image encoder (absent from the released code, which reads fixed fc7
            vectors) keeps PyTorch's default either way.

    The vocabulary, image input and answer head fields are those of [`MMAttnVQAConfig`]; the
    paper's ``dropout`` of 0.5 applies to the embedding, before each fusion layer and before the
    classifier, as in the released code, and between the LSTM layers unless ``lstm_dropout`` is set.
    """

    model_type = "mmattn_lstm_q_norm_i"

    word_embedding_size: int = 200
    question_hidden_size: int = 512
    question_num_layers: int = 2
    fusion_hidden_size: int = 1024
    normalize_image: bool = True
    image_encoder: str = "features"
    image_feature_size: int = 4096
    lstm_dropout: float | None = None
    initialization: str = "pytorch"

    presets = LSTM_Q_NORM_I_PRESETS
    display_name = "deeper LSTM Q + norm I"

    def __post_init__(self, **kwargs):
        if self.initialization not in INITIALIZATIONS:
            raise ValueError(f"initialization must be one of {INITIALIZATIONS}, got {self.initialization!r}")
        if self.lstm_dropout is not None and not 0.0 <= self.lstm_dropout <= 1.0:
            raise ValueError(f"lstm_dropout must be a probability in [0, 1] (or None for `dropout`), got {self.lstm_dropout}")
        super().__post_init__(**kwargs)


    @property
    def question_vector_size(self) -> int:
        """[c; h] of every LSTM layer: 2 x layers x hidden (2048 for the paper's sizes)."""
        return 2 * self.question_num_layers * self.question_hidden_size


__all__ = ["LSTM_Q_NORM_I_PRESETS", "LstmQNormIConfig"]
