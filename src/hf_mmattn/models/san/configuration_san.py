"""Configuration of the Stacked Attention Network (Yang et al., CVPR 2016)."""

from __future__ import annotations

from ...tasks.vqa.configuration import MMAttnVQAConfig
from ...layers.text_encoders import CNN_WINDOWS

INITIALIZATIONS = ("pytorch", "released")

# The released Theano code (zcyang/imageqa-san, ``src/san_att_lstm_twolayer.py`` and
# ``src/san_att_conv_twolayer.py``, the options at their top): 2 hops of the code's attention form,
# 500-d word embeddings, 196 VGG pool5 regions of 512 read from a feature file, one linear softmax
# layer over the answers, dropout 0.5 before it only (``combined_mlp_drop_0``; ``sent_drop``,
# ``use_attention_drop`` and ``use_before_attention_drop`` are off), its uniform initialisation.
SAN_PRESETS: dict[str, dict] = {
    "imageqa-san": dict(
        word_embedding_size=500, question_encoder="lstm", question_hidden_size=1024, num_hops=2,
        attention_hidden_size=512, attention_form="code", image_encoder="features", image_feature_size=512,
        answer_head="linear", dropout=0.5, region_dropout=0.0, attention_dropout=0.0, classifier_dropout=0.5,
        initialization="released",
    ),
}
SAN_PRESETS["imageqa-san-cnn"] = dict(
    SAN_PRESETS["imageqa-san"], question_encoder="cnn", question_cnn_kernel_sizes=[1, 2, 3],
    question_cnn_channels=[256, 512, 512], question_cnn_windows="narrow",
)

# The tests' "tiny" sizes; "scratch-cnn": the examples' settings for 64x64 synthetic images with the
# scratch CNN (easy-VQA; the defaults are the papers' sizes for 448x448 VGG/ResNet features), used
# by run_vqa.py with --image_encoder scratch_cnn. On easy-VQA dropout slows these small models
# down and buys nothing (benchmarks/README.md).
SAN_PRESETS["tiny"] = dict(
    word_embedding_size=8, question_hidden_size=12, attention_hidden_size=10, num_hops=2, answer_hidden_size=16,
)
SAN_PRESETS["scratch-cnn"] = dict(
    word_embedding_size=32, question_hidden_size=128, attention_hidden_size=64,
    answer_head="mlp", answer_hidden_size=256, dropout=0.0,
)


class SanConfig(MMAttnVQAConfig):
    r"""
    Configuration of [`SanModel`] and [`SanForVisualQuestionAnswering`].

    Defaults follow the paper (section 4.3 and the released code): 500-d word embeddings, LSTM
    question model with 1024 hidden units that fixes the common size d, attention size 512 (k),
    two hops, VGG pool5-style 512-d regions. ``SanConfig.from_preset(name, **overrides)`` gives
    the released code's settings (``SAN_PRESETS``: ``"imageqa-san"``, ``"imageqa-san-cnn"``).

    Args:
        word_embedding_size: word embedding size.
        question_encoder: ``"lstm"`` (section 3.1) or ``"cnn"`` (section 3.2).
        question_hidden_size: LSTM hidden size; it is the common size d of question and regions.
        question_cnn_kernel_sizes / question_cnn_channels: n-gram widths and channel counts of the
            CNN question model; with it, d is the sum of the channels.
        question_cnn_windows: the n-gram windows the CNN question model max-pools over:
            ``"wide"`` (every window holding a word, the question zero-padded by c-1 on both
            sides) or ``"narrow"`` (eq. 8: the windows inside the question). See
            [`~hf_mmattn.layers.encoders.CNNQuestionEncoder`].
        num_hops: number of stacked attention layers K (the paper uses 1 or 2).
        attention_hidden_size: k, the size of the attention MLP.
        attention_form: ``"paper"`` (eq. 15-16) or ``"code"`` (zcyang/imageqa-san: tanh on each
            projection and on the score). See [`StackedAttentionHop`].
        image_feature_size: D of precomputed region features (512 for VGG pool5).
        region_dropout: dropout on the image regions before their projection v_I = tanh(W_I f_I + b_I).
        attention_dropout: dropout on every hop's h_A, before the score W_P h_A + b_P.
        classifier_dropout: dropout before the answer classifier (and before its hidden layer
            with ``answer_head="mlp"``).
        initialization: ``"pytorch"``: PyTorch's default initialisation of every layer;
            ``"released"``: the released code's (``init_type='uniform'``, ``range=0.01``): every
            weight of the projections, hops, classifier, LSTM and CNN question model from
            U(-0.01, 0.01), their biases 0 but the LSTM's forget gate bias 1 (``forget_bias``), the
            word embeddings from U(-0.5, 0.5). The image encoder (absent from the released code,
            which reads fixed VGG features) keeps PyTorch's default either way.

    The vocabulary, image input (``image_encoder`` ...) and answer head (``answer_head``,
    ``answer_hidden_size``, ``dropout``) fields are those of [`MMAttnVQAConfig`]. ``dropout`` is
    the rate of each of ``region_dropout``, ``attention_dropout`` and ``classifier_dropout`` left
    at ``None``, which is what configs saved before these three fields existed hold: they build
    the model they built, with one rate on the regions, every hop and the classifier.
    """

    model_type = "mmattn_san"

    word_embedding_size: int = 500
    question_encoder: str = "lstm"
    question_hidden_size: int = 1024
    question_cnn_kernel_sizes: list[int] | tuple[int, ...] = (1, 2, 3)
    question_cnn_channels: list[int] | tuple[int, ...] = (256, 512, 512)
    question_cnn_windows: str = "wide"
    num_hops: int = 2
    attention_hidden_size: int = 512
    attention_form: str = "paper"
    image_feature_size: int = 512
    region_dropout: float | None = None
    attention_dropout: float | None = None
    classifier_dropout: float | None = None
    initialization: str = "pytorch"

    presets = SAN_PRESETS
    display_name = "SAN"

    def __post_init__(self, **kwargs):
        if self.question_encoder not in ("lstm", "cnn"):
            raise ValueError(f"question_encoder must be 'lstm' or 'cnn', got {self.question_encoder!r}")
        if self.question_cnn_windows not in CNN_WINDOWS:
            raise ValueError(f"question_cnn_windows must be one of {CNN_WINDOWS}, got {self.question_cnn_windows!r}")
        if self.num_hops < 1:
            raise ValueError(f"num_hops must be at least 1, got {self.num_hops}")
        if self.initialization not in INITIALIZATIONS:
            raise ValueError(f"initialization must be one of {INITIALIZATIONS}, got {self.initialization!r}")
        for name in ("region_dropout", "attention_dropout", "classifier_dropout"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1] (or None for `dropout`), got {value}")
        super().__post_init__(**kwargs)


    def dropout_rate(self, place: str) -> float:
        """The dropout probability at ``place`` (``"region"``, ``"attention"`` or ``"classifier"``):
        its own field, or ``dropout`` where that field is ``None``."""
        value = getattr(self, f"{place}_dropout")
        return self.dropout if value is None else value

    @property
    def hidden_size(self) -> int:
        """d, the common size of the question vector and the image regions."""
        if self.question_encoder == "cnn":
            return sum(self.question_cnn_channels)
        return self.question_hidden_size


__all__ = ["SAN_PRESETS", "SanConfig"]
