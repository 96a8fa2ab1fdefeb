"""Multimodal Compact Bilinear pooling with attention for visual question answering.

Fukui, Park, Yang, Rohrbach, Darrell, Rohrbach, *Multimodal Compact Bilinear Pooling for Visual
Question Answering and Visual Grounding*, EMNLP 2016 (https://arxiv.org/abs/1606.01847),
section 3.3 and Fig. 3 ("MCB + Att."), and the released Caffe code (akirafukui/vqa-mcb). MCB
(section 3.1, [`CompactBilinearPooling`]) approximates the outer product of two vectors by the
circular convolution of their count sketches, computed with FFTs. It is used twice:

    q = [h_1; h_2]                                       final states of the two LSTMs
    f_n = L2(signed_sqrt(MCB(q, v_n)))                   the question tiled over the regions
    α_g = softmax_n(W_g ReLU(W_1 f_n + b_1) + b_g)        1x1 convs of 512 and of G; g = 1..G
    v̂ = [Σ_n α_1n v_n; ...; Σ_n α_Gn v_n]                the G glimpses concatenated
    z = L2(signed_sqrt(MCB(q, v̂)))                       pooled_output
    p(answer) = softmax(W z + b)                          the classifier
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...layers.fusion import CompactBilinearPooling, signed_sqrt
from ...layers.glimpse_attention import MultiGlimpseAttention
from ...layers.heads import AnswerClassifier
from ...layers.image_encoders import ImageEncoder
from ...layers.text_encoders import RNNTextEncoder
from ...tasks.vqa.modeling import MMAttnForVisualQuestionAnswering, MMAttnVQAPreTrainedModel, VQAModelOutput, check_vqa_inputs
from .configuration_mcb import McbConfig


def normalize_regions(regions: torch.Tensor, region_mask: torch.Tensor | None, mode: str) -> torch.Tensor:
    """L2-normalise the image regions ``(images, regions, dim)``: ``"tensor"`` divides each
    image's grid by one norm over all its regions and channels (the released code), ``"region"``
    each region by its own norm. Padded regions are zeroed first, so they count in no norm (and,
    MCB being bilinear, give an all-zero fused vector in the attention)."""
    if region_mask is not None:
        regions = regions * region_mask.unsqueeze(-1).to(regions.dtype)
    if mode == "region":
        return F.normalize(regions, p=2, dim=-1)
    if mode == "tensor":
        return F.normalize(regions.flatten(1), p=2, dim=-1).view_as(regions)
    return regions


class GridNormalizedCompactBilinearPooling(CompactBilinearPooling):
    """The attention MCB of the released code: MCB of the question with every region, signed
    square root, then ONE L2 normalisation over all regions' pooled vectors together (Caffe's
    L2Normalize layer normalises a sample's whole d x 14 x 14 blob). Same sketch buffers as
    [`CompactBilinearPooling`], so checkpoints of either form share their keys."""

    def __init__(self, question_size: int, image_size: int, output_size: int, seed: int = 0):
        super().__init__(question_size, image_size, output_size, seed=seed, normalize=False)

    def forward(self, question: torch.Tensor, image: torch.Tensor, image_index: torch.Tensor | None = None) -> torch.Tensor:
        pooled = super().forward(question, image, image_index)  # (batch, regions, d)
        return F.normalize(signed_sqrt(pooled.float()).flatten(1), p=2, dim=-1).view_as(pooled).to(pooled.dtype)


class McbPreTrainedModel(MMAttnVQAPreTrainedModel):
    config_class = McbConfig
    # config.initialization="released": akirafukui/vqa-mcb train/multi_att_2_glove/train_att_bc.py:
    # Embed and both LSTMs weight_filler uniform(-0.08, 0.08), the LSTMs' bias_filler constant 0;
    # att_conv1, att_conv2 and the prediction InnerProduct weight_filler xavier (Caffe: U(±√(3/fan_in)))
    # and the default bias_filler, constant 0. See _init_weights.
    _released_initialization = {"weight": "xavier", "bias": 0.0, "rnn_weight": 0.08, "rnn_bias": 0.0, "embedding": 0.08}


class McbModel(McbPreTrainedModel):
    """Question LSTMs, image regions, MCB attention with G glimpses and the answer MCB; returns the
    normalised answer MCB vector ``z`` as ``pooled_output`` and the G attention maps."""

    def __init__(self, config: McbConfig):
        super().__init__(config)
        self.question_encoder = RNNTextEncoder(
            config.vocab_size,
            config.word_embedding_size,
            config.question_hidden_size,
            num_layers=config.question_num_layers,
            pad_token_id=config.pad_token_id,
            embedding_activation="tanh",
        )
        # The code's dropout between the stacked LSTMs is nn.LSTM's own inter-layer dropout.
        self.question_encoder.lstm.dropout = config.question_dropout
        self.question_dropout = nn.Dropout(config.question_dropout)
        self.image_encoder = ImageEncoder(config)
        region_size = self.image_encoder.output_size

        mcb_class = CompactBilinearPooling if config.attention_normalization == "region" else GridNormalizedCompactBilinearPooling
        self.attention = MultiGlimpseAttention(
            mcb_class(config.question_vector_size, region_size, config.mcb_output_size, seed=config.sketch_seed),
            fused_size=config.mcb_output_size,
            num_glimpses=config.num_glimpses,
            hidden_size=config.attention_hidden_size,
            dropout=config.dropout,
        )
        self.answer_fusion = CompactBilinearPooling(
            config.question_vector_size, config.num_glimpses * region_size, config.mcb_output_size, seed=config.sketch_seed + 1
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

        final_hidden, _ = self.question_encoder(input_ids, attention_mask).state  # (layers, batch, hidden)
        question = self.question_dropout(torch.cat(tuple(final_hidden), dim=-1))  # [h_1; h_2]

        regions, region_mask, grid_size = self.image_encoder(pixel_values, image_features, image_attention_mask)
        regions = normalize_regions(regions, region_mask, self.config.image_normalization)
        # With image_index the attention MCB sketches and transforms each image once.
        glimpses, attention = self.attention(regions, question, region_mask, image_index)  # (batch, G, dim), (batch, G, regions)
        pooled = self.answer_fusion(question, glimpses.flatten(1))

        output = VQAModelOutput(
            pooled_output=pooled,
            image_embeds=regions[image_index] if image_index is not None else regions,
            question_embeds=question,
            attentions=tuple(attention.unbind(1)) if output_attentions else None,
            image_grid_size=grid_size,
        )
        return output if return_dict else output.to_tuple()


class McbForVisualQuestionAnswering(MMAttnForVisualQuestionAnswering, McbPreTrainedModel):
    """MCB + attention with its answer classifier: dropout, then a fully connected layer from the
    d-dimensional MCB vector to the answers (softmax), or an MLP."""

    def __init__(self, config: McbConfig):
        super().__init__(config)
        self.model = McbModel(config)
        self.classifier = AnswerClassifier(
            config.mcb_output_size, config.num_labels, config.answer_head, config.answer_hidden_size, config.dropout
        )
        self.post_init()


__all__ = ["McbPreTrainedModel", "McbModel", "McbForVisualQuestionAnswering"]
