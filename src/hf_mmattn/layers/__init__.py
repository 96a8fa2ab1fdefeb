"""The building blocks of the models, one concept a file, each file citing its paper(s) and
equation(s)::

    masking               masked softmax and mean, right-padding check, packed RNN runs, sequence packing
    image_encoders        image regions from pixels (scratch CNN, transformers backbone) or features
    text_encoders         text vectors from word ids: LSTM / GRU (RNNTextEncoder), SAN's CNN
    stacked_attention     SAN's attention hop (Yang et al. 2016)
    glimpse_attention     multi-glimpse attention of MCB, MLB and MUTAN
    dual_attention        r-DAN's visual and textual attention step (Nam et al. 2017)
    coattention           HieCoAtt's parallel and alternating co-attention (Lu et al. 2016)
    additive_attention    additive attention (Bahdanau et al. 2015; Show, Attend and Tell's f_att)
    bilinear_attention    BAN's bilinear attention maps and bilinear pooling (Kim et al. 2018)
    counting              the counting module of Zhang et al. 2018
    weight_norm           weight-normed linear layers (Salimans & Kingma 2016, as in BAN's code)
    modular_coattention   MCAN's multi-head attention, SA / SGA layers, AttFlat, its LayerNorm forms
    fusion                bilinear fusions: low-rank (MLB), compact (MCB), MUTAN, Tucker
    image_pooling         a feature map pooled into one vector: average, bilinear (B-CNN), Tensor Sketch, Random Maclaurin
    heads                 answer classifiers
    initialization        the initialisation rule of every layer type
    recurrent_generation  the generate() cache of the recurrent captioners

Layers import nothing from ``models/`` or ``tasks/``. ``attention``, ``encoders`` (and the
counting and weight-norm names of ``bilinear_attention``, the answer classifier of ``fusion``, the
packing of ``modular_coattention``) still provide the names they held before this layout.
"""

from .additive_attention import AdditiveAttention, additive_attention_scores
from .bilinear_attention import BilinearAttentionMap, BilinearPooling
from .coattention import AlternatingCoAttention, CoAttentionOutput, GuidedAttention, ParallelCoAttention
from .counting import CountingModule, PiecewiseLinear, box_iou, grid_boxes
from .dual_attention import DualAttentionOutput, DualAttentionStep
from .fusion import (
    BlockDiagonalLinear,
    CompactBilinearPooling,
    ElementwiseProductFusion,
    LowRankBilinearFusion,
    MutanFusion,
    TuckerFusion,
    normalize_bilinear,
    scale_initialization,
    signed_sqrt,
)
from .glimpse_attention import MultiGlimpseAttention
from .heads import AnswerClassifier
from .image_encoders import IMAGE_ENCODERS, ImageEncoder, ScratchCNN
from .image_pooling import (
    POOLINGS,
    AveragePooling,
    FullBilinearPooling,
    OrderlessPooling,
    RandomMaclaurinPooling,
    TensorSketchPooling,
    build_pooling,
)
from .initialization import init_module
from .masking import SequencePacking, is_right_padded, masked_mean, masked_softmax, run_packed_rnn
from .modular_coattention import (
    AttentionalReduction,
    GuidedAttentionLayer,
    MultiHeadAttention,
    PositionWiseFeedForward,
    ReleasedLayerNorm,
    SelfAttentionLayer,
    make_layer_norm,
)
from .recurrent_generation import RecurrentStateCache
from .stacked_attention import StackedAttentionHop
from .text_encoders import CNNTextEncoder, RNNTextEncoder, TextEncoding
from .weight_norm import WeightNormFC, WeightNormLinear

__all__ = [
    "IMAGE_ENCODERS",
    "POOLINGS",
    "AdditiveAttention",
    "AlternatingCoAttention",
    "AnswerClassifier",
    "AttentionalReduction",
    "AveragePooling",
    "BilinearAttentionMap",
    "BilinearPooling",
    "BlockDiagonalLinear",
    "CNNTextEncoder",
    "CoAttentionOutput",
    "CompactBilinearPooling",
    "CountingModule",
    "DualAttentionOutput",
    "DualAttentionStep",
    "ElementwiseProductFusion",
    "FullBilinearPooling",
    "GuidedAttention",
    "GuidedAttentionLayer",
    "ImageEncoder",
    "LowRankBilinearFusion",
    "MultiGlimpseAttention",
    "MultiHeadAttention",
    "MutanFusion",
    "OrderlessPooling",
    "ParallelCoAttention",
    "PiecewiseLinear",
    "PositionWiseFeedForward",
    "RNNTextEncoder",
    "RandomMaclaurinPooling",
    "RecurrentStateCache",
    "ReleasedLayerNorm",
    "ScratchCNN",
    "SelfAttentionLayer",
    "SequencePacking",
    "StackedAttentionHop",
    "TensorSketchPooling",
    "TextEncoding",
    "TuckerFusion",
    "WeightNormFC",
    "WeightNormLinear",
    "additive_attention_scores",
    "box_iou",
    "build_pooling",
    "grid_boxes",
    "init_module",
    "is_right_padded",
    "make_layer_norm",
    "masked_mean",
    "masked_softmax",
    "normalize_bilinear",
    "run_packed_rnn",
    "scale_initialization",
    "signed_sqrt",
]
