"""Configuration of Multimodal Low-rank Bilinear attention networks (Kim et al., ICLR 2017)."""

from __future__ import annotations

from ...tasks.vqa.configuration import MMAttnVQAConfig
from ...layers.fusion import ACTIVATIONS

GLIMPSE_PROJECTIONS = ("per_glimpse", "joint")

# The tests' "tiny" sizes; "scratch-cnn": the examples' settings for 64x64 synthetic images with the
# scratch CNN (easy-VQA; the defaults are the papers' sizes for 448x448 VGG/ResNet features), used
# by run_vqa.py with --image_encoder scratch_cnn. On easy-VQA dropout slows these small models
# down and buys nothing (benchmarks/README.md).
MLB_PRESETS: dict[str, dict] = {}
MLB_PRESETS["tiny"] = dict(
    word_embedding_size=8, question_hidden_size=6, joint_size=5, num_glimpses=2, answer_hidden_size=16,
)
MLB_PRESETS["scratch-cnn"] = dict(
    word_embedding_size=32, question_hidden_size=128, joint_size=64, num_glimpses=4, fusion_activation="relu",
    answer_head="mlp", answer_hidden_size=256, dropout=0.0,
)


class MlbConfig(MMAttnVQAConfig):
    r"""
    Configuration of [`MlbModel`] and [`MlbForVisualQuestionAnswering`].

    Defaults follow the paper (section 4, appendix) and the authors' code (jnhwkim/MulLowBiVQA,
    ``netdef/MLB.lua`` and ``train.lua``): a uni-directional GRU of 2400 over 620-d word embeddings
    (skip-thought vectors' sizes), ResNet-152 res5c regions (14x14x2048), joint size d = 1200,
    tanh as σ, two glimpses, dropout 0.5.

    Args:
        word_embedding_size / question_hidden_size: the question GRU; its last hidden state is q.
        joint_size: d, the size of the Hadamard product of the attention (and of each glimpse's
            embedding in the answer fusion).
        num_glimpses: G, the number of attention maps.
        glimpse_projection: how the answer fusion embeds the concatenated glimpses
            ``v̂ = [v̂_1; ...; v̂_G]`` into its ``G * d`` joint space: ``"per_glimpse"`` (the authors'
            code, and vqa.pytorch's MLBAtt) with one ``Linear(M, d)`` per glimpse, i.e. a
            block-diagonal ``V_v``; ``"joint"`` with one dense ``V_v`` over the concatenation, the
            paper's answer equation read literally (it gives ``V_v`` the shape ``GM x d`` and no
            block structure).
        fusion_activation: σ of both low-rank bilinear poolings: ``"tanh"`` (the paper and its
            code), ``"relu"`` (block.bootstrap.pytorch's MLB default) or ``"none"`` (the plain
            low-rank bilinear pooling of eq. 3).
        image_feature_size: D of precomputed region features (2048 for res5c).

    The vocabulary, image input and answer head fields are those of [`MMAttnVQAConfig`];
    ``dropout`` acts where the code puts it: on q and the regions before the attention's
    projections, on q and each glimpse before the answer fusion's projections, and before the
    classifier. The attention scores (the 1x1 convolution ``P_α``) read the Hadamard product
    without dropout or activation.
    """

    model_type = "mmattn_mlb"

    word_embedding_size: int = 620
    question_hidden_size: int = 2400
    joint_size: int = 1200
    num_glimpses: int = 2
    glimpse_projection: str = "per_glimpse"
    fusion_activation: str = "tanh"
    image_feature_size: int = 2048

    presets = MLB_PRESETS
    display_name = "MLB"

    def __post_init__(self, **kwargs):
        if self.glimpse_projection not in GLIMPSE_PROJECTIONS:
            raise ValueError(f"glimpse_projection must be one of {GLIMPSE_PROJECTIONS}, got {self.glimpse_projection!r}")
        if self.fusion_activation not in ACTIVATIONS:
            raise ValueError(f"fusion_activation must be one of {tuple(ACTIVATIONS)}, got {self.fusion_activation!r}")
        for name in ("joint_size", "num_glimpses"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        super().__post_init__(**kwargs)

    @property
    def answer_joint_size(self) -> int:
        """Size of the answer fusion's Hadamard product, which the classifier reads: G x d."""
        return self.num_glimpses * self.joint_size


__all__ = ["MLB_PRESETS", "MlbConfig"]
