"""Modular Co-Attention Networks (MCAN) for visual question answering.

Yu, Yu, Cui, Tao, Tian, *Deep Modular Co-Attention Networks for Visual Question Answering*,
CVPR 2019 (https://arxiv.org/abs/1906.10770), and the authors' code (MILVLG/mcan-vqa, whose model
OpenVQA's ``openvqa/models/mcan`` repeats). The building blocks are in
``layers/modular_coattention.py``; the model (section 3.3, Fig. 4):

    Y = LSTM(embedding(question))                      (words, d): every LSTM output
    X = W_img regions                                  (regions, d): projected region features
    encoder-decoder:  Y ← SA_l(Y) for l = 1..L;  then  X ← SGA_l(X, Y) for l = 1..L
    stacking:         for l = 1..L:  Y ← SA_l(Y);  X ← SGA_l(X, Y)
    ỹ = AttFlat(Y),  x̃ = AttFlat(X)                   attentional reductions (eq. 8)
    z = LayerNorm(ỹ + x̃)                              pooled_output is ỹ + x̃
    s = sigmoid(W_z z)                                 answer scores (BCE over the answers)

SGA_l(X, Y) is self-attention on X, then attention from X to Y, then a feed-forward layer, each
with a post-norm residual. Padded words and regions are masked out of every attention.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.utils import logging

from ...layers.image_encoders import ImageEncoder
from ...layers.masking import SequencePacking
from ...layers.modular_coattention import (
    AttentionalReduction,
    GuidedAttentionLayer,
    SelfAttentionLayer,
    make_layer_norm,
)
from ...tasks.vqa.modeling import (
    MMAttnForVisualQuestionAnswering,
    MMAttnVQAPreTrainedModel,
    VQAModelOutput,
    VQAOutput,
    check_vqa_inputs,
)
from .configuration_mcan import McanConfig

logger = logging.get_logger(__name__)


@dataclass
class McanModelOutput(VQAModelOutput):
    """[`VQAModelOutput`] plus MCAN's own tensors.

    attentions: with ``output_attentions=True``, the image AttFlat weights, one map per glimpse,
        each ``(batch, regions)``; question_attentions: the question AttFlat weights
        ``(batch, words)``.
    image_embeds: the projected regions X before the first layer, ``(batch, regions, d)``.
    question_hidden_states / image_hidden_states: Y and X after the last layer,
        ``(batch, words, d)`` and ``(batch, regions, d)``. Padded words and regions are computed
        by no layer (see ``SequencePacking``): their rows are zero.
    question_self_attentions / image_self_attentions / image_guided_attentions: with
        ``output_attentions=True`` and eager attention, one tensor per layer:
        ``(batch, heads, words, words)``, ``(batch, heads, regions, regions)`` and
        ``(batch, heads, regions, words)`` (queries X, keys Y).
    """

    question_hidden_states: torch.FloatTensor | None = None
    image_hidden_states: torch.FloatTensor | None = None
    question_self_attentions: tuple[torch.FloatTensor, ...] | None = None
    image_self_attentions: tuple[torch.FloatTensor, ...] | None = None
    image_guided_attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class McanVQAOutput(VQAOutput):
    """[`VQAOutput`] plus the per-layer attention maps of [`McanModelOutput`] (eager attention)."""

    question_self_attentions: tuple[torch.FloatTensor, ...] | None = None
    image_self_attentions: tuple[torch.FloatTensor, ...] | None = None
    image_guided_attentions: tuple[torch.FloatTensor, ...] | None = None


class McanPreTrainedModel(MMAttnVQAPreTrainedModel):
    config_class = McanConfig
    _supports_sdpa = True


class McanQuestionEncoder(nn.Module):
    """Word embedding (300-d, GloVe-initialisable: copy the vectors into ``embedding.weight``)
    and one LSTM layer of d units; returns the LSTM output at every word, (batch, words, d).

    The LSTM runs over the padded batch as the released code does: with right padding the outputs
    at the real words do not depend on the padding, and the padded positions are masked out of
    every attention downstream."""

    def __init__(self, config: McanConfig):
        super().__init__()
        self.embedding = nn.Embedding(config.vocab_size, config.word_embedding_size, padding_idx=config.pad_token_id)
        self.lstm = nn.LSTM(config.word_embedding_size, config.hidden_size, batch_first=True)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.lstm(self.embedding(input_ids))[0]


class McanModel(McanPreTrainedModel):
    """Question LSTM, region projection, the L co-attention layers (encoder-decoder or stacking)
    and the two attentional reductions; returns ``pooled_output = ỹ + x̃`` (batch, d_z)."""

    def __init__(self, config: McanConfig):
        super().__init__(config)
        self.question_encoder = McanQuestionEncoder(config)
        self.image_encoder = ImageEncoder(config)
        region_size = self.image_encoder.output_size
        if config.use_box_features:
            # OpenVQA adapter: box (x1, y1, x2, y2, area) -> Linear(5, box_feature_size), concatenated.
            self.box_projection = nn.Linear(5, config.box_feature_size)
            region_size += config.box_feature_size
        self.image_projection = nn.Linear(region_size, config.hidden_size)
        self.question_layers = nn.ModuleList(SelfAttentionLayer(self.config) for _ in range(config.num_layers))
        self.image_layers = nn.ModuleList(GuidedAttentionLayer(self.config) for _ in range(config.num_layers))
        reduction = (config.hidden_size, config.attflat_hidden_size, config.attflat_glimpses, config.fused_size, config.dropout)
        self.question_reduction = AttentionalReduction(*reduction)
        self.image_reduction = AttentionalReduction(*reduction)
        self.post_init()

    def _regions(self, pixel_values, image_features, image_attention_mask, image_index, image_boxes):
        """The projected regions of each question, their mask and the grid size.

        Returns ``(regions, region_mask, packing, grid_size)``: without padding, regions
        (batch, regions, d) and a mask or None; with padded regions, only the real ones
        (total, d), their ``SequencePacking`` and its mask (batch, longest). Each image is
        projected once, then shared by its questions through ``image_index``."""
        regions, region_mask, grid_size = self.image_encoder(pixel_values, image_features, image_attention_mask)
        region_mask = region_mask.bool() if region_mask is not None else None
        if self.config.mask_all_zero_regions and self.image_encoder.kind == "features":
            nonzero = image_features.any(dim=-1)
            region_mask = nonzero if region_mask is None else region_mask & nonzero
            if not region_mask.any(dim=1).all():
                raise ValueError("an image has no regions: every feature vector of it is zero or masked (mask_all_zero_regions=True)")
        if self.config.use_box_features:
            if image_boxes is None:
                raise ValueError("this model reads region boxes (use_box_features=True): pass image_boxes (batch, regions, 4)")
            area = (image_boxes[..., 2] - image_boxes[..., 0]) * (image_boxes[..., 3] - image_boxes[..., 1])
            boxes = self.box_projection(torch.cat([image_boxes, area.unsqueeze(-1)], dim=-1).to(regions.dtype))
            regions = torch.cat([regions, boxes], dim=-1)
        if image_index is not None:  # each image projected once, then shared by its questions
            regions = self.image_projection(regions)[image_index]
            region_mask = region_mask[image_index] if region_mask is not None else None
        packing = SequencePacking.if_padded(region_mask)
        if packing is not None:  # every position-wise layer runs on the real regions only
            regions, region_mask = packing.pack(regions), packing.mask
        if image_index is None:  # projected after packing: the real rows only
            regions = self.image_projection(regions)
        return regions, region_mask, packing, grid_size

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        pixel_values: torch.FloatTensor | None = None,
        image_features: torch.FloatTensor | None = None,
        image_attention_mask: torch.LongTensor | None = None,
        image_index: torch.LongTensor | None = None,
        image_boxes: torch.FloatTensor | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> McanModelOutput | tuple:
        r"""
        image_index (`torch.LongTensor` of shape `(batch,)`, *optional*):
            For each question, the row of `pixel_values` / `image_features` holding its image, so
            several questions share one encoded image. Without it, question i reads image i.
        image_boxes (`torch.FloatTensor` of shape `(images, regions, 4)`, *optional*):
            (x1, y1, x2, y2) of each region normalised to [0, 1]; read when
            `config.use_box_features`, ignored otherwise.
        """
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        attention_mask = check_vqa_inputs(
            self.config, input_ids, attention_mask, pixel_values, image_features, image_attention_mask, image_index, image_boxes,
            output_hidden_states=output_hidden_states,
        )
        eager = self.config._attn_implementation == "eager"
        if output_attentions and not eager:
            logger.warning_once(
                "MCAN with attn_implementation='sdpa' returns the AttFlat maps but not the attention maps of its layers; "
                "load the model with attn_implementation='eager' (or call model.set_attn_implementation('eager')) for those."
            )
        layer_maps = output_attentions and eager

        question_mask = attention_mask.bool()
        question = self.question_encoder(input_ids)
        # Padded words, like padded regions, are computed by no layer after the LSTM.
        words = SequencePacking.if_padded(question_mask)
        if words is not None:
            question, question_mask = words.pack(question), words.mask
        regions, region_mask, packing, grid_size = self._regions(
            pixel_values, image_features, image_attention_mask, image_index, image_boxes
        )
        projected_regions = regions

        question_self, image_self, image_guided = [], [], []
        if self.config.layout == "encoder_decoder":
            for layer in self.question_layers:
                question, weights = layer(question, question_mask, words)
                question_self.append(weights)
            for layer in self.image_layers:
                regions, self_weights, guided_weights = layer(regions, question, region_mask, question_mask, packing, words)
                image_self.append(self_weights)
                image_guided.append(guided_weights)
        else:
            for question_layer, image_layer in zip(self.question_layers, self.image_layers):
                question, weights = question_layer(question, question_mask, words)
                regions, self_weights, guided_weights = image_layer(regions, question, region_mask, question_mask, packing, words)
                question_self.append(weights)
                image_self.append(self_weights)
                image_guided.append(guided_weights)

        question_vector, question_weights = self.question_reduction(question, question_mask, words)
        if words is not None:  # back to the words as given, zero at the padding
            question = words.unpack(question)
            question_weights = words.to_positions(question_weights, dim=2)
            if layer_maps:
                question_self = [words.to_positions(words.to_positions(w, dim=2), dim=3) for w in question_self]
                image_guided = [words.to_positions(w, dim=3) for w in image_guided]
        image_vector, image_weights = self.image_reduction(regions, region_mask, packing)
        if packing is not None:  # back to the regions as given, zero at the padding
            regions, projected_regions = packing.unpack(regions), packing.unpack(projected_regions)
            image_weights = packing.to_positions(image_weights, dim=2)
            if layer_maps:
                image_self = [packing.to_positions(packing.to_positions(w, dim=2), dim=3) for w in image_self]
                image_guided = [packing.to_positions(w, dim=2) for w in image_guided]

        output = McanModelOutput(
            pooled_output=question_vector + image_vector,
            image_embeds=projected_regions,
            question_embeds=question_vector,
            attentions=tuple(image_weights.unbind(1)) if output_attentions else None,
            image_grid_size=grid_size,
            question_attentions=tuple(question_weights.unbind(1)) if output_attentions else None,
            question_hidden_states=question,
            image_hidden_states=regions,
            question_self_attentions=tuple(question_self) if layer_maps else None,
            image_self_attentions=tuple(image_self) if layer_maps else None,
            image_guided_attentions=tuple(image_guided) if layer_maps else None,
        )
        return output if return_dict else output.to_tuple()


class McanAnswerHead(nn.Module):
    """z = LayerNorm(ỹ + x̃), then a linear classifier over the answers (the paper's; the
    released code's ``proj_norm`` and ``proj``), or with ``answer_head="mlp"`` an MLP."""

    def __init__(self, config: McanConfig):
        super().__init__()
        self.norm = make_layer_norm(config.fused_size, config.layer_norm_form, config.layer_norm_eps)
        if config.answer_head == "linear":
            self.proj = nn.Linear(config.fused_size, config.num_labels)
        elif config.answer_head == "mlp":
            self.proj = nn.Sequential(
                nn.Linear(config.fused_size, config.answer_hidden_size),
                nn.ReLU(),
                nn.Dropout(config.dropout),
                nn.Linear(config.answer_hidden_size, config.num_labels),
            )
        else:
            raise ValueError(f"answer head must be 'linear' or 'mlp', got {config.answer_head!r}")

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.proj(self.norm(pooled))


class McanForVisualQuestionAnswering(MMAttnForVisualQuestionAnswering, McanPreTrainedModel):
    """MCAN with its answer head: logits ``W_z LayerNorm(ỹ + x̃)``. mcan-vqa applies a sigmoid
    inside its model (BCELoss); here the logits come out and soft-score labels train them with
    sigmoid BCE (``vqa_loss``), the same function. With eager attention the per-layer maps of
    [`McanModelOutput`] come out too ([`McanVQAOutput`])."""

    output_class = McanVQAOutput

    def __init__(self, config: McanConfig):
        super().__init__(config)
        self.model = McanModel(config)
        self.classifier = McanAnswerHead(config)
        self.post_init()


__all__ = [
    "McanModelOutput",
    "McanVQAOutput",
    "McanPreTrainedModel",
    "McanModel",
    "McanForVisualQuestionAnswering",
]
