"""Configuration of Multimodal Compact Bilinear pooling with attention (Fukui et al., EMNLP 2016)."""

from __future__ import annotations

from ...tasks.vqa.configuration import MMAttnVQAConfig

NORMALIZATIONS = ("tensor", "region", "none")
INITIALIZATIONS = ("pytorch", "released")

# The released Caffe model (akirafukui/vqa-mcb, train/multi_att_2_glove/train_att_bc.py, qlstm()):
# 300-d embedding, two LSTMs of 1024, dropout 0.3 on each LSTM's outputs and 0.1 after each MCB,
# d = 16000, a 512-unit attention convolution and 2 glimpses, one L2 normalisation over the
# attention MCB's whole map and over each image's grid (the code's), 14x14x2048 res5c features
# read from files, one InnerProduct to the answers, Caffe's fillers. The fixed GloVe vectors it
# concatenates to the learned embedding are not implemented (model card).
MCB_PRESETS: dict[str, dict] = {
    "vqa-mcb": dict(
        word_embedding_size=300, question_hidden_size=1024, question_num_layers=2, question_dropout=0.3,
        mcb_output_size=16000, attention_hidden_size=512, num_glimpses=2, image_normalization="tensor",
        attention_normalization="tensor", dropout=0.1, image_encoder="features", image_feature_size=2048,
        answer_head="linear", initialization="released",
    ),
}

# The tests' "tiny" sizes; "scratch-cnn": the examples' settings for 64x64 synthetic images with the
# scratch CNN (easy-VQA; the defaults are the papers' sizes for 448x448 VGG/ResNet features), used
# by run_vqa.py with --image_encoder scratch_cnn. On easy-VQA dropout slows these small models
# down and buys nothing (benchmarks/README.md).
MCB_PRESETS["tiny"] = dict(
    word_embedding_size=8, question_hidden_size=6, mcb_output_size=16, attention_hidden_size=5, num_glimpses=2, answer_hidden_size=16,
)
MCB_PRESETS["scratch-cnn"] = dict(  # the code's one L2 norm over the attention map: shapes learned 2 epochs sooner than per region
    word_embedding_size=32, question_hidden_size=128, mcb_output_size=512, attention_hidden_size=64,
    attention_normalization="tensor", answer_head="mlp", answer_hidden_size=256, dropout=0.0, question_dropout=0.0,
)


class McbConfig(MMAttnVQAConfig):
    r"""
    Configuration of [`McbModel`] and [`McbForVisualQuestionAnswering`].

    Defaults follow the paper's "MCB + Att." model (section 3.3, Fig. 3) and its released Caffe
    code (akirafukui/vqa-mcb, ``train/multi_att_2_glove``): a 300-d word embedding with tanh, two
    stacked LSTMs of 1024 whose final hidden states form a 2048-d question vector, ResNet-152
    res5c regions (14x14x2048), MCB of d=16000 for the attention (then a 1x1 conv of 512 + ReLU and
    a 1x1 conv to 2 glimpses) and again for the answer, 3000 answers.
    ``McbConfig.from_preset("vqa-mcb", **overrides)`` gives the released code's settings where
    they differ (``MCB_PRESETS``: its normalisation of the attention map, its initialisation).

    Args:
        word_embedding_size: size of the learned word embedding (tanh applied after it).
        question_hidden_size / question_num_layers: the stacked LSTMs; the question vector is the
            concatenation of every layer's final hidden state (``question_vector_size``).
        question_dropout: dropout on the output of each LSTM layer (between the layers and on the
            final states), 0.3 in the code.
        mcb_output_size: d, the output size of both MCB layers.
        attention_hidden_size: channels of the first 1x1 convolution of the attention (512).
        num_glimpses: G, the number of attention maps; their attended vectors are concatenated.
        image_normalization: L2 normalisation of the image regions before anything else:
            ``"tensor"`` one norm over the whole grid (all regions x channels), as the code does
            (``t_ivec / sqrt(sum(t_ivec**2))`` on the 2048x14x14 array); ``"region"`` each region
            over its channels; ``"none"``.
        attention_normalization: where the signed square root + L2 normalisation after the
            attention MCB normalises: ``"region"`` (the paper: MCB pools the question with each grid
            location's feature, and each pooled vector is normalised as MCB outputs are) or
            ``"tensor"`` (the code: Caffe's L2Normalize layer divides the whole d x 14 x 14 blob of
            a sample by one norm).
        sketch_seed: seed of the count-sketch hashes and signs; the attention MCB draws from
            ``sketch_seed``, the answer MCB from ``sketch_seed + 1``. The drawn sketches are saved
            with the weights, so a checkpoint does not depend on this value.
        image_feature_size: D of precomputed region features (2048 for res5c).
        initialization: ``"pytorch"``: PyTorch's default initialisation of every layer;
            ``"released"``: the Caffe fillers of the released code: the word embedding and the
            LSTMs' weights from U(-0.08, 0.08) (``weight_filler=dict(type='uniform', ...)``), the
            LSTMs' biases 0 (``bias_filler`` constant 0), the attention convolutions and the
            classifier from Caffe's ``xavier`` filler, U(±√(3/fan_in)), with Caffe's default zero
            bias. The image encoder (absent from the released code, which reads fixed ResNet
            features) keeps PyTorch's default either way.

    The vocabulary, image input and answer head fields are those of [`MMAttnVQAConfig`];
    ``dropout`` (0.1 in the code) applies after each MCB: before the attention's first
    convolution and before the answer classifier.
    """

    model_type = "mmattn_mcb"

    word_embedding_size: int = 300
    question_hidden_size: int = 1024
    question_num_layers: int = 2
    question_dropout: float = 0.3
    mcb_output_size: int = 16000
    attention_hidden_size: int = 512
    num_glimpses: int = 2
    image_normalization: str = "tensor"
    attention_normalization: str = "region"
    sketch_seed: int = 0
    dropout: float = 0.1
    image_feature_size: int = 2048
    initialization: str = "pytorch"

    presets = MCB_PRESETS
    display_name = "MCB"

    def __post_init__(self, **kwargs):
        if self.image_normalization not in NORMALIZATIONS:
            raise ValueError(f"image_normalization must be one of {NORMALIZATIONS}, got {self.image_normalization!r}")
        if self.attention_normalization not in ("region", "tensor"):
            raise ValueError(f"attention_normalization must be 'region' or 'tensor', got {self.attention_normalization!r}")
        if self.initialization not in INITIALIZATIONS:
            raise ValueError(f"initialization must be one of {INITIALIZATIONS}, got {self.initialization!r}")
        for name in ("mcb_output_size", "num_glimpses", "question_num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        super().__post_init__(**kwargs)


    @property
    def question_vector_size(self) -> int:
        """The final hidden states of all LSTM layers concatenated (2 x 1024 = 2048)."""
        return self.question_num_layers * self.question_hidden_size


__all__ = ["MCB_PRESETS", "McbConfig"]
