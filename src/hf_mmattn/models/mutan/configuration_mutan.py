"""Configuration of MUTAN: Multimodal Tucker fusion with attention (Ben-Younes et al., ICCV 2017)."""

from __future__ import annotations

from ...tasks.vqa.configuration import MMAttnVQAConfig

FUSIONS = ("mutan", "tucker")
GLIMPSE_PROJECTIONS = ("per_glimpse", "joint")
ACTIVATIONS = ("none", "tanh", "relu")

# The tests' "tiny" sizes; "scratch-cnn": the examples' settings for 64x64 synthetic images with the
# scratch CNN (easy-VQA; the defaults are the papers' sizes for 448x448 VGG/ResNet features), used
# by run_vqa.py with --image_encoder scratch_cnn. On easy-VQA dropout slows these small models
# down and buys nothing (benchmarks/README.md).
MUTAN_PRESETS: dict[str, dict] = {}
MUTAN_PRESETS["tiny"] = dict(
    word_embedding_size=8, question_hidden_size=6, num_glimpses=2, attention_projected_size=5, attention_fused_size=7,
    attention_rank=3, question_projected_size=4, glimpse_projected_size=3, fused_size=6, rank=2, answer_hidden_size=16,
)
MUTAN_PRESETS["scratch-cnn"] = dict(  # linear projections and a wider factor init: with the paper's tanh, or PyTorch's init, shapes stall
    word_embedding_size=32, question_hidden_size=128, attention_projected_size=64, attention_fused_size=64,
    question_projected_size=64, glimpse_projected_size=64, fused_size=128,
    fusion_projection_activation="none", factor_init_gain=3.0,
    answer_head="mlp", answer_hidden_size=256, dropout=0.0,
)


class MutanConfig(MMAttnVQAConfig):
    r"""
    Configuration of [`MutanModel`] and [`MutanForVisualQuestionAnswering`].

    Defaults follow the paper's MUTAN model with attention as configured in the
    released code (Cadene/vqa.pytorch, ``options/vqa/mutan_att_trainval.yaml``): a uni-directional
    GRU of 2400 over 620-d word embeddings (skip-thought vectors' sizes), ResNet-152 regions
    (14x14x2048), an attention MUTAN with t_q = t_v = 310, t_o = 510, R = 5 and 2 glimpses, an answer
    MUTAN with t_q = 310, t_v = 2 x 310 (each glimpse embedded separately), t_o = 510, R = 5, and
    dropout 0.5.

    Args:
        word_embedding_size / question_hidden_size: the question GRU; its last hidden state is q.
        fusion: ``"mutan"`` (the Tucker core constrained to rank R per output slice, eq. 8-9) or
            ``"tucker"`` (a full core tensor t_q x t_v x t_o, eq. 2-5), in both the attention and
            the answer fusion. A full core is large: 310 x 620 x 510 is 98M parameters.
        fusion_projection_activation: the function on the projected inputs q̃ = f(W_q q) and
            ṽ = f(W_v v) of both fusions: ``"tanh"`` (the paper, eq. 3, and vqa.pytorch) or ``"none"``
            (block.bootstrap's ``Mutan`` / ``Tucker``: linear projections). On easy-VQA from scratch,
            tanh left the shape questions at chance in every run; ``"none"`` with
            ``factor_init_gain=3`` learns them in one epoch (see the model card).
        fusion_output_activation: applied to the fused vector z of both fusions: ``"none"``
            (the paper's equations and vqa.pytorch's MUTAN configs), or ``"tanh"`` / ``"relu"``
            (vqa.pytorch's optional ``activation_mm``, any function of ``torch.nn.functional``).
        factor_init_gain: g in the initialisation U(±g/√fan_in) of the rank-R factor matrices
            W_q^r, W_v^r (the core for ``fusion="tucker"``) of both fusions. 1.0 is PyTorch's
            default, which the released code uses: each factor output then has a third of its
            input's variance, z (a product of two of them) starts near zero and, trained from
            scratch, the image encoder hardly learns through it. The easy-VQA preset uses 3.0 (see
            the model card). Only the initialisation changes; the equations are the paper's.
        attention_projected_size / attention_fused_size / attention_rank: t_q = t_v, t_o and R of
            the attention fusion.
        num_glimpses: G, the number of attention maps.
        question_projected_size: t_q of the answer fusion.
        glimpse_projected_size: the embedding size of each glimpse in the answer fusion; its t_v is
            G times this.
        glimpse_projection: ``"per_glimpse"`` (the code: one ``Linear(M, glimpse_projected_size)``
            per glimpse, i.e. a block-diagonal ``W_v``) or ``"joint"`` (one dense ``W_v`` over the
            concatenated glimpses).
        fused_size / rank: t_o and R of the answer fusion; the classifier reads its t_o vector.
        image_feature_size: D of precomputed region features (2048 for ResNet-152).

    The vocabulary, image input and answer head fields are those of [`MMAttnVQAConfig`];
    ``dropout`` acts where the code puts it: on q and the regions before the attention fusion's
    projections, on the fused vectors before the attention scores, on q and the glimpses before
    the answer fusion's projections, and before the classifier.
    """

    model_type = "mmattn_mutan"

    word_embedding_size: int = 620
    question_hidden_size: int = 2400
    fusion: str = "mutan"
    fusion_projection_activation: str = "tanh"
    fusion_output_activation: str = "none"
    factor_init_gain: float = 1.0
    attention_projected_size: int = 310
    attention_fused_size: int = 510
    attention_rank: int = 5
    num_glimpses: int = 2
    question_projected_size: int = 310
    glimpse_projected_size: int = 310
    glimpse_projection: str = "per_glimpse"
    fused_size: int = 510
    rank: int = 5
    image_feature_size: int = 2048

    presets = MUTAN_PRESETS
    display_name = "MUTAN"

    def __post_init__(self, **kwargs):
        for name, allowed in (
            ("fusion", FUSIONS),
            ("fusion_projection_activation", ACTIVATIONS),
            ("fusion_output_activation", ACTIVATIONS),
            ("glimpse_projection", GLIMPSE_PROJECTIONS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not self.factor_init_gain > 0:
            raise ValueError(f"factor_init_gain must be positive, got {self.factor_init_gain}")
        for name in (
            "attention_projected_size", "attention_fused_size", "attention_rank", "num_glimpses",
            "question_projected_size", "glimpse_projected_size", "fused_size", "rank",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        super().__post_init__(**kwargs)


__all__ = ["MUTAN_PRESETS", "MutanConfig"]
