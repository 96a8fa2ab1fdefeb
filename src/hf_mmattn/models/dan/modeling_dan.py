"""Dual Attention Networks for Multimodal Reasoning and Matching: r-DAN, the reasoning model.

Nam, Ha, Kim, CVPR 2017 (https://arxiv.org/abs/1611.00471), section 3.2. A joint memory of
the image and the question steers a visual attention over the regions and a textual attention
over the words; each of the K steps adds the product of what the two attentions found to the
memory, and the final memory is classified into an answer.
"""

from __future__ import annotations

import torch
from torch import nn

from ...layers.dual_attention import DualAttentionStep
from ...layers.heads import AnswerClassifier
from ...layers.image_encoders import ImageEncoder
from ...layers.masking import masked_mean
from ...layers.text_encoders import RNNTextEncoder
from ...tasks.vqa.modeling import MMAttnForVisualQuestionAnswering, MMAttnVQAPreTrainedModel, VQAModelOutput, check_vqa_inputs
from .configuration_dan import DanConfig


class DanPreTrainedModel(MMAttnVQAPreTrainedModel):
    config_class = DanConfig


class DanModel(DanPreTrainedModel):
    """Bi-LSTM text encoder, image encoder and K dual attention steps (r-DAN)::

        u_t   = h_t^forward + h_t^backward                     (section 3.1)
        v^(0) = tanh(P^(0) mean_n v_n),   u^(0) = mean_t u_t
        m^(0) = v^(0) ⊙ u^(0)
        v^(k), u^(k) = DualAttentionStep_k(regions, words, m^(k-1))     k = 1..K
        m^(k) = m^(k-1) + v^(k) ⊙ u^(k)

    Returns ``m^(K)`` as ``pooled_output``, the visual attention of each step as ``attentions``
    and the textual attention of each step as ``question_attentions``.
    """

    def __init__(self, config: DanConfig):
        super().__init__(config)
        self.question_encoder = RNNTextEncoder(
            config.vocab_size, config.word_embedding_size, config.question_hidden_size, pad_token_id=config.pad_token_id, bidirectional=True
        )
        self.image_encoder = ImageEncoder(config)
        region_size = self.image_encoder.output_size
        self.initial_visual_projection = nn.Sequential(nn.Linear(region_size, config.hidden_size), nn.Tanh())  # tanh(P^(0) ·)
        self.steps = nn.ModuleList(
            DualAttentionStep(region_size, config.hidden_size, config.attention_hidden_size, config.dropout) for _ in range(config.num_steps)
        )
        self.post_init()

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

        words = self.question_encoder(input_ids, attention_mask).word_states  # u_t, zero on padding
        regions, region_mask, grid_size = self.image_encoder(pixel_values, image_features, image_attention_mask)
        visual = self.initial_visual_projection(masked_mean(regions, region_mask))
        if image_index is not None:
            regions, visual = regions[image_index], visual[image_index]
            region_mask = region_mask[image_index] if region_mask is not None else None
        textual = masked_mean(words, attention_mask)
        memory = visual * textual

        visual_attentions, textual_attentions = [], []
        for step in self.steps:
            attended = step(regions, words, memory, memory, region_mask, attention_mask)
            memory = memory + attended.visual * attended.textual
            visual_attentions.append(attended.visual_attention)
            textual_attentions.append(attended.textual_attention)

        output = VQAModelOutput(
            pooled_output=memory,
            image_embeds=regions,
            question_embeds=textual,
            attentions=tuple(visual_attentions) if output_attentions else None,
            image_grid_size=grid_size,
            question_attentions=tuple(textual_attentions) if output_attentions else None,
        )
        return output if return_dict else output.to_tuple()


class DanForVisualQuestionAnswering(MMAttnForVisualQuestionAnswering, DanPreTrainedModel):
    """r-DAN with its answer classifier ``p_ans = softmax(W_ans m^(K))`` (section 3.2), or an MLP."""

    def __init__(self, config: DanConfig):
        super().__init__(config)
        self.model = DanModel(config)
        self.classifier = AnswerClassifier(
            config.hidden_size, config.num_labels, config.answer_head, config.answer_hidden_size, config.dropout
        )
        self.post_init()


__all__ = ["DanPreTrainedModel", "DanModel", "DanForVisualQuestionAnswering"]
