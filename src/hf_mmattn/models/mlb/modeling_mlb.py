"""Multimodal Low-rank Bilinear attention networks (MLB) for visual question answering.

Kim, On, Lim, Kim, Ha, Zhang, *Hadamard Product for Low-rank Bilinear Pooling*, ICLR 2017
(https://arxiv.org/abs/1610.04325), section 4, and the authors' Torch code
(jnhwkim/MulLowBiVQA, ``netdef/MLB.lua``). Low-rank bilinear pooling (section 3,
[`LowRankBilinearFusion`]) fuses the question with every image region to attend, then with the
attended glimpses to answer (section 4):

    q = GRU(question)                                          the last hidden state
    α_g = softmax_n(P_α,g^T (σ(U_q q) ∘ σ(V_F v_n)))           attention, g = 1..G
    v̂ = [Σ_n α_1n v_n; ...; Σ_n α_Gn v_n]                      the glimpses concatenated
    z = σ(W_q q) ∘ σ(V_v v̂)                                    pooled_output (G x d)
    p(answer) = softmax(P_o^T z)                               the classifier

σ is tanh. ``V_v`` embeds each glimpse with its own ``Linear(M, d)`` (a block-diagonal map, as
in the code) or, with ``glimpse_projection="joint"``, the whole concatenation densely.
"""

from __future__ import annotations

import torch

from ...layers.fusion import LowRankBilinearFusion
from ...layers.glimpse_attention import MultiGlimpseAttention
from ...layers.heads import AnswerClassifier
from ...layers.image_encoders import ImageEncoder
from ...layers.text_encoders import RNNTextEncoder
from ...tasks.vqa.modeling import MMAttnForVisualQuestionAnswering, MMAttnVQAPreTrainedModel, VQAModelOutput, check_vqa_inputs
from .configuration_mlb import MlbConfig


class MlbPreTrainedModel(MMAttnVQAPreTrainedModel):
    config_class = MlbConfig


class GlimpseFusionMixin:
    """The forward of a base model that attends to the image with G glimpses and fuses the question
    with them: MLB's (section 4), which MUTAN's base model shares with its own fusions::

        q = question_encoder(question).last_hidden
        α_g = attention(regions, q),   v̂ = [Σ_n α_1n v_n; ...; Σ_n α_Gn v_n]
        z = answer_fusion(q, v̂)                                    pooled_output

    The model builds ``question_encoder`` (a text encoder), ``image_encoder``, ``attention`` (a
    [`MultiGlimpseAttention`] whose fusion reads q and each region) and ``answer_fusion`` (q and
    the G glimpses concatenated); it returns ``z`` as ``pooled_output`` and the G maps."""

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        pixel_values: torch.FloatTensor | None = None,
        image_features: torch.FloatTensor | None = None,
        image_attention_mask: torch.LongTensor | None = None,
        image_index: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> VQAModelOutput | tuple:
        r"""
        image_index (`torch.LongTensor` of shape `(batch,)`, *optional*):
            For each question, the row of `pixel_values` / `image_features` holding its image, so
            several questions share one encoded image (the image encoder runs once per image).
            Without it, question i reads image i.
        """
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        attention_mask = check_vqa_inputs(
            self.config, input_ids, attention_mask, pixel_values, image_features, image_attention_mask, image_index,
            output_hidden_states=output_hidden_states,
        )

        question = self.question_encoder(input_ids, attention_mask).last_hidden
        regions, region_mask, grid_size = self.image_encoder(
            pixel_values, image_features, image_attention_mask, image_index
        )

        glimpses, attention = self.attention(regions, question, region_mask)  # (batch, G, dim), (batch, G, regions)
        pooled = self.answer_fusion(question, glimpses.flatten(1))

        output = VQAModelOutput(
            pooled_output=pooled,
            image_embeds=regions,
            question_embeds=question,
            attentions=tuple(attention.unbind(1)) if output_attentions else None,
            image_grid_size=grid_size,
        )
        return output if return_dict else output.to_tuple()


class MlbModel(GlimpseFusionMixin, MlbPreTrainedModel):
    """Question GRU, image regions, MLB attention with G glimpses and the answer MLB; returns the
    answer Hadamard product ``z`` (G x d) as ``pooled_output`` and the G attention maps (the
    forward of [`GlimpseFusionMixin`])."""

    def __init__(self, config: MlbConfig):
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

        # Attention: U_q, V_F (dropout → Linear → tanh on each side), then P_α as a Linear to G
        # scores read straight from the product (the code's 1x1 convolution, no dropout before it).
        self.attention = MultiGlimpseAttention(
            LowRankBilinearFusion(
                config.question_hidden_size, region_size, config.joint_size, config.dropout, config.fusion_activation
            ),
            fused_size=config.joint_size,
            num_glimpses=config.num_glimpses,
        )
        # Answer: W_q and V_v into G x d, V_v block-diagonal over the glimpses in the code.
        self.answer_fusion = LowRankBilinearFusion(
            config.question_hidden_size,
            config.num_glimpses * region_size,
            config.answer_joint_size,
            config.dropout,
            config.fusion_activation,
            image_blocks=config.num_glimpses if config.glimpse_projection == "per_glimpse" else 1,
        )
        self.post_init()


class MlbForVisualQuestionAnswering(MMAttnForVisualQuestionAnswering, MlbPreTrainedModel):
    """MLB with its answer classifier ``softmax(P_o^T z)``: dropout, then a linear layer from the
    G x d Hadamard product to the answers (``P_o``), or an MLP."""

    def __init__(self, config: MlbConfig):
        super().__init__(config)
        self.model = MlbModel(config)
        self.classifier = AnswerClassifier(
            config.answer_joint_size, config.num_labels, config.answer_head, config.answer_hidden_size, config.dropout
        )
        self.post_init()


__all__ = ["GlimpseFusionMixin", "MlbPreTrainedModel", "MlbModel", "MlbForVisualQuestionAnswering"]
