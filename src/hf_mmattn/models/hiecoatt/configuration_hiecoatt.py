"""Configuration of Hierarchical Question-Image Co-Attention (Lu et al., NeurIPS 2016)."""

from __future__ import annotations

from ...tasks.vqa.configuration import MMAttnVQAConfig

CO_ATTENTIONS = ("parallel", "alternating")
FORMS = ("paper", "code")
LEVELS = ("word", "phrase", "question")

# The authors' Lua Torch code (jiasenlu/HieCoAttenVQA, train.lua's default options and misc/):
# alternating co-attention (-co_atten_type Alternating), biased projections, the cuDNN n-gram
# windows, hidden size 512, a 2-layer LSTM (-rnn_layers 2), an h^s of 1024
# (misc/recursive_atten.lua), dropout 0.5, one linear softmax layer, 196 regions read from a
# feature file: VGG's 512-d (-feature_type VGG, the default) or ResNet's 2048-d (Residual). The
# code initialises with Torch7's defaults, which are PyTorch's for these layers.
HIECOATT_PRESETS: dict[str, dict] = {
    "hiecoattenvqa-vgg": dict(
        hidden_size=512, attention_hidden_size=512, co_attention="alternating", attention_form="code",
        phrase_windows="code", question_num_layers=2, answer_encoding_size=1024, dropout=0.5,
        answer_head="linear", image_encoder="features", image_feature_size=512,
    ),
}
HIECOATT_PRESETS["hiecoattenvqa-residual"] = dict(HIECOATT_PRESETS["hiecoattenvqa-vgg"], image_feature_size=2048)

# The tests' "tiny" sizes; "scratch-cnn": the examples' settings for 64x64 synthetic images with the
# scratch CNN (easy-VQA; the defaults are the papers' sizes for 448x448 VGG/ResNet features), used
# by run_vqa.py with --image_encoder scratch_cnn. On easy-VQA dropout slows these small models
# down and buys nothing (benchmarks/README.md).
HIECOATT_PRESETS["tiny"] = dict(
    hidden_size=8, attention_hidden_size=6, answer_encoding_size=10, answer_hidden_size=16,
)
HIECOATT_PRESETS["scratch-cnn"] = dict(
    hidden_size=64, attention_hidden_size=64, answer_encoding_size=128, question_num_layers=1,
    answer_head="linear", dropout=0.0,
)


class HieCoAttConfig(MMAttnVQAConfig):
    r"""
    Configuration of [`HieCoAttModel`] and [`HieCoAttForVisualQuestionAnswering`].

    Defaults follow the paper (section 4.2) and, where the paper gives no number, the authors'
    code (jiasenlu/HieCoAttenVQA, ``train.lua``): word embeddings and hidden layers of 512, an
    h^s of 1024 for VQA (512 for COCO-QA), dropout 0.5, a 2-layer question LSTM (the code's
    default), ResNet-152 regions (196 × 2048 at 448 × 448).
    ``HieCoAttConfig.from_preset(name, **overrides)`` gives the authors' code's settings where they
    differ from the paper (``HIECOATT_PRESETS``: ``"hiecoattenvqa-vgg"``, ``"hiecoattenvqa-residual"``).

    Args:
        hidden_size: d, the size of the word embedding, the phrase features, the question LSTM,
            the projected image regions and the recursive encodings h^w and h^p.
        attention_hidden_size: k, the size of the co-attention hidden layers ``H`` (``W_v``,
            ``W_q``, ``W_x``, ``W_g`` map to it).
        co_attention: ``"parallel"`` (eq. 3-5) or ``"alternating"`` (eq. 6).
        attention_form: ``"paper"``: the co-attention projections without biases, as in eq. 3-6;
            ``"code"``: each projection with a bias, as the Linear layers of the authors' code.
        phrase_windows: which words the n-gram convolution at word t covers. ``"paper"``:
            ``t .. t+s-1`` (eq. 1); ``"code"``: the windows of the authors' cuDNN convolutions
            (padding 1, cut to T): unigram ``t``, bigram ``t-1 .. t``, trigram ``t-1 .. t+1``.
        question_num_layers: layers of the question-level LSTM (2 in the authors' code; the
            paper does not say).
        answer_encoding_size: size of h^s, the vector the answer classifier reads (eq. 7): 1024
            for VQA, 512 for COCO-QA.
        image_feature_size: D of precomputed region features: 2048 for ResNet res5c (the paper's
            best model), 512 for VGG-19 pool5.

    The vocabulary, image input (``image_encoder`` ...) and answer head (``answer_head``,
    ``answer_hidden_size``, ``dropout``) fields are those of [`MMAttnVQAConfig`]. With
    ``answer_head="linear"`` the classifier is the paper's ``p = softmax(W_h h^s)``. ``dropout``
    (0.5 "on each layer", section 4.2) applies where the authors' code puts it: the word and phrase
    features, the projected regions, between LSTM layers and on the LSTM's output (the
    question-level features), the co-attention hidden layers, the inputs of the recursive encoder
    and of the classifier.
    """

    model_type = "mmattn_hiecoatt"

    hidden_size: int = 512
    attention_hidden_size: int = 512
    co_attention: str = "parallel"
    attention_form: str = "paper"
    phrase_windows: str = "paper"
    question_num_layers: int = 2
    answer_encoding_size: int = 1024
    image_feature_size: int = 2048

    presets = HIECOATT_PRESETS
    display_name = "HieCoAtt"

    def __post_init__(self, **kwargs):
        if self.co_attention not in CO_ATTENTIONS:
            raise ValueError(f"co_attention must be one of {CO_ATTENTIONS}, got {self.co_attention!r}")
        for name in ("attention_form", "phrase_windows"):
            if getattr(self, name) not in FORMS:
                raise ValueError(f"{name} must be one of {FORMS}, got {getattr(self, name)!r}")
        for name in ("hidden_size", "attention_hidden_size", "question_num_layers", "answer_encoding_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        super().__post_init__(**kwargs)


    def attention_titles(self, count: int) -> list[str]:
        """``outputs.attentions`` holds one image map per level of the question hierarchy."""
        if count == len(LEVELS):
            return [f"{level} level" for level in LEVELS]
        return super().attention_titles(count)


__all__ = ["HIECOATT_PRESETS", "HieCoAttConfig"]
