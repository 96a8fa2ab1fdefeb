"""MUTAN: Multimodal Tucker fusion with attention for visual question answering.

Ben-Younes, Cadene, Cord, Thome, *MUTAN: Multimodal Tucker Fusion for Visual Question
Answering*, ICCV 2017 (https://arxiv.org/abs/1705.06676), and the released code
(Cadene/vqa.pytorch, ``vqa/models/att.py`` MutanAtt, ``vqa/models/fusion.py``). A Tucker fusion
(eq. 2-5) projects both inputs with tanh and mixes them through a core tensor; MUTAN constrains
each slice of the core to rank R (eq. 8-9, [`MutanFusion`]). It is used twice:

    q = GRU(question)                                          the last hidden state
    α_g = softmax_n(W_g MUTAN_att(q, v_n) + b_g)                g = 1..G
    v̂ = [W_v,1 Σ_n α_1n v_n; ...; W_v,G Σ_n α_Gn v_n]           each glimpse embedded (then tanh)
    z = MUTAN(q, v̂)                                            pooled_output (t_o)
    p(answer) = softmax(W_o z + b_o)                            the classifier

where MUTAN(q, v) = Σ_r (W_q^r tanh(W_q q)) ∘ (W_v^r tanh(W_v v)); the per-glimpse embeddings
are the answer fusion's (block-diagonal) ``W_v``. ``fusion="tucker"`` uses the full core
([`TuckerFusion`]) in both places.
"""

from __future__ import annotations

from torch import nn

from ...layers.fusion import MutanFusion, TuckerFusion
from ...layers.glimpse_attention import MultiGlimpseAttention
from ...layers.heads import AnswerClassifier
from ...layers.image_encoders import ImageEncoder
from ...layers.text_encoders import RNNTextEncoder
from ...tasks.vqa.modeling import MMAttnForVisualQuestionAnswering, MMAttnVQAPreTrainedModel
from ..mlb.modeling_mlb import GlimpseFusionMixin
from .configuration_mutan import MutanConfig


def build_fusion(config: MutanConfig, image_size: int, projected_size: int, fused_size: int, rank: int, **image_side) -> nn.Module:
    """The fusion ``config.fusion`` names, from q (``question_hidden_size``) and an image vector of
    ``image_size``; ``image_side`` holds ``image_projected_size`` / ``image_blocks``."""
    settings = dict(
        dropout=config.dropout,
        projection_activation=config.fusion_projection_activation,
        factor_init_gain=config.factor_init_gain,
        output_activation=config.fusion_output_activation,
        **image_side,
    )
    if config.fusion == "mutan":
        return MutanFusion(config.question_hidden_size, image_size, projected_size, fused_size, rank, **settings)
    return TuckerFusion(config.question_hidden_size, image_size, projected_size, fused_size, **settings)


class MutanPreTrainedModel(MMAttnVQAPreTrainedModel):
    config_class = MutanConfig


class MutanModel(GlimpseFusionMixin, MutanPreTrainedModel):
    """Question GRU, image regions, MUTAN attention with G glimpses and the answer MUTAN; returns
    the fused vector ``z`` (t_o) as ``pooled_output`` and the G attention maps. The forward is
    MLB's ([`GlimpseFusionMixin`], models/mlb/modeling_mlb.py): MUTAN keeps MLB's attention
    model and changes the fusions."""

    def __init__(self, config: MutanConfig):
        super().__init__(config)
        self.question_encoder = RNNTextEncoder(
            config.vocab_size,
            config.word_embedding_size,
            config.question_hidden_size,
            pad_token_id=config.pad_token_id,
            rnn_type="gru",
        )
        self.image_encoder = ImageEncoder(config)
        region_size = self.image_encoder.output_size

        # The code's conv_v_att / linear_q_att (+ tanh) are the fusion's W_v / W_q; dropout on the
        # fused vectors, then a 1x1 convolution (a Linear per region) to G scores.
        self.attention = MultiGlimpseAttention(
            build_fusion(config, region_size, config.attention_projected_size, config.attention_fused_size, config.attention_rank),
            fused_size=config.attention_fused_size,
            num_glimpses=config.num_glimpses,
            dropout=config.dropout,
        )
        # The code's list_linear_v_fusion / linear_q_fusion (+ tanh) are this fusion's W_v / W_q.
        self.answer_fusion = build_fusion(
            config,
            config.num_glimpses * region_size,
            config.question_projected_size,
            config.fused_size,
            config.rank,
            image_projected_size=config.num_glimpses * config.glimpse_projected_size,
            image_blocks=config.num_glimpses if config.glimpse_projection == "per_glimpse" else 1,
        )
        self.post_init()


class MutanForVisualQuestionAnswering(MMAttnForVisualQuestionAnswering, MutanPreTrainedModel):
    """MUTAN with its answer classifier, the output factor ``W_o`` of the answer fusion: dropout,
    then a linear layer from z (t_o) to the answers (softmax), or an MLP."""

    def __init__(self, config: MutanConfig):
        super().__init__(config)
        self.model = MutanModel(config)
        self.classifier = AnswerClassifier(
            config.fused_size, config.num_labels, config.answer_head, config.answer_hidden_size, config.dropout
        )
        self.post_init()


__all__ = ["MutanPreTrainedModel", "MutanModel", "MutanForVisualQuestionAnswering"]
