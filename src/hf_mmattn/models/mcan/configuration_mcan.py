"""Configuration of the Modular Co-Attention Network (Yu et al., CVPR 2019)."""

from __future__ import annotations

from ...tasks.vqa.configuration import MMAttnVQAConfig
from ...layers.modular_coattention import LAYER_NORM_FORMS

LAYOUTS = ("encoder_decoder", "stacking")

# The two sizes of the paper (section 4.2) and of the released configurations (mcan-vqa
# cfgs/{small,large}_model.yml, OpenVQA configs/vqa/mcan_{small,large}.yml).
MCAN_PRESETS = {
    "mcan-small": dict(
        hidden_size=512, intermediate_size=2048, num_attention_heads=8, num_layers=6,
        attflat_hidden_size=512, attflat_glimpses=1, fused_size=1024, dropout=0.1,
    ),
    "mcan-large": dict(
        hidden_size=1024, intermediate_size=4096, num_attention_heads=8, num_layers=6,
        attflat_hidden_size=512, attflat_glimpses=1, fused_size=2048, dropout=0.1,
    ),
}

# The tests' "tiny" sizes; "scratch-cnn": the examples' settings for 64x64 synthetic images with the
# scratch CNN (easy-VQA; the defaults are the papers' sizes for 448x448 VGG/ResNet features), used
# by run_vqa.py with --image_encoder scratch_cnn. On easy-VQA dropout slows these small models
# down and buys nothing (benchmarks/README.md).
MCAN_PRESETS["tiny"] = dict(
    word_embedding_size=5, hidden_size=8, intermediate_size=16, num_attention_heads=2, num_layers=2, attflat_hidden_size=6,
    attflat_glimpses=2, fused_size=10, dropout=0.0, answer_hidden_size=16,
)
MCAN_PRESETS["scratch-cnn"] = dict(  # a fourth CNN block (4x4 grid): each region sees a whole shape,
        # and 16 regions train 2x faster than 64. The MLP head learns the yes/no questions by epoch 4
        # (the paper's linear head: epoch 6). Train with --learning_rate 3e-4 and 1,000 warm-up steps
    word_embedding_size=32, hidden_size=64, intermediate_size=128, num_attention_heads=4, num_layers=2,
    attflat_hidden_size=64, fused_size=128, dropout=0.0, scratch_cnn_channels=[32, 64, 128, 128],
    answer_head="mlp", answer_hidden_size=128,
)


class McanConfig(MMAttnVQAConfig):
    r"""
    Configuration of [`McanModel`] and [`McanForVisualQuestionAnswering`]. The defaults are
    MCAN-small (``McanConfig.from_preset("mcan-small")``): Yu et al. 2019, section 4.2, and the
    released code (MILVLG/mcan-vqa, MILVLG/openvqa).

    Args:
        word_embedding_size: the word embedding (300, GloVe in the paper).
        hidden_size: d, the size of the LSTM, of every attention layer and of the projected regions.
        intermediate_size: the hidden layer of the feed-forward layers (4d).
        num_attention_heads: h (8); d must be divisible by h.
        num_layers: L, the number of SA layers on the question and of SGA layers on the image (6).
        layout: ``"encoder_decoder"`` (the paper's best: L SA layers on the question, then L SGA
            layers on the image, all guided by the *last* question layer) or ``"stacking"`` (SGA
            layer l is guided by the output of SA layer l).
        attflat_hidden_size: the hidden layer of the attentional reductions' MLP (``FLAT_MLP_SIZE``).
        attflat_glimpses: glimpses of each attentional reduction (``FLAT_GLIMPSES``, 1).
        fused_size: d_z, the size of each reduced modality and of their sum (``FLAT_OUT_SIZE``).
        dropout: on the attention weights, on every residual branch, inside the feed-forward and
            AttFlat MLPs (0.1), where the released code puts it.
        layer_norm_form: ``"paper"`` (``nn.LayerNorm``) or ``"code"`` (the released code's
            LayerNorm: unbiased std, eps added to the std; converted checkpoints need it).
        layer_norm_eps: eps of every LayerNorm (the released code's 1e-6).
        mask_all_zero_regions: also treat regions whose feature vector is all zero as padding, as
            the released code derives its region mask (its features are zero-padded to 100).
        use_box_features: OpenVQA's ``USE_BBOX_FEAT``: each region's box (x1, y1, x2, y2, area),
            read from ``image_boxes``, goes through ``Linear(5, box_feature_size)`` and is
            concatenated to the region feature before the projection to d.
        box_feature_size: ``BBOXFEAT_EMB_SIZE`` (2048).
        image_feature_size: D of the precomputed region features (2048 bottom-up features).

    The vocabulary, image input and answer head fields are those of [`MMAttnVQAConfig`]; the
    model reads precomputed region features by default (``image_encoder="features"``).
    ``answer_head="linear"`` is the paper's classifier over LayerNorm(z); ``"mlp"`` puts a ReLU
    hidden layer between. The attention implementation is chosen as in transformers:
    ``from_pretrained(..., attn_implementation="eager")`` returns every layer's attention maps.
    """

    model_type = "mmattn_mcan"

    word_embedding_size: int = 300
    hidden_size: int = 512
    intermediate_size: int = 2048
    num_attention_heads: int = 8
    num_layers: int = 6
    layout: str = "encoder_decoder"
    attflat_hidden_size: int = 512
    attflat_glimpses: int = 1
    fused_size: int = 1024
    dropout: float = 0.1
    layer_norm_form: str = "paper"
    layer_norm_eps: float = 1e-6
    mask_all_zero_regions: bool = False
    use_box_features: bool = False
    box_feature_size: int = 2048
    image_encoder: str = "features"
    image_feature_size: int = 2048

    attention_step_name = "glimpse"

    presets = MCAN_PRESETS
    display_name = "MCAN"

    def __post_init__(self, **kwargs):
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.layer_norm_form not in LAYER_NORM_FORMS:
            raise ValueError(f"layer_norm_form must be one of {LAYER_NORM_FORMS}, got {self.layer_norm_form!r}")
        for name in ("hidden_size", "intermediate_size", "num_attention_heads", "num_layers", "attflat_hidden_size",
                     "attflat_glimpses", "fused_size", "word_embedding_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads ({self.num_attention_heads})"
            )
        if self.use_box_features and self.image_encoder != "features":
            raise ValueError("use_box_features needs region features (image_encoder='features') and their image_boxes")
        super().__post_init__(**kwargs)


__all__ = ["MCAN_PRESETS", "McanConfig"]
