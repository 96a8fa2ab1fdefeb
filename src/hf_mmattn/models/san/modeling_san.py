"""Stacked Attention Networks for Image Question Answering.

Yang, He, Gao, Deng, Smola, CVPR 2016 (https://arxiv.org/abs/1511.02274). The question (LSTM
or CNN) queries the image regions K times; each hop attends over the regions and adds the
attended image vector to the query (eq. 14-19); the final query is classified (eq. 20).
"""

from __future__ import annotations

import torch
from torch import nn

from ...layers.heads import AnswerClassifier
from ...layers.image_encoders import ImageEncoder
from ...layers.stacked_attention import StackedAttentionHop
from ...layers.text_encoders import CNNTextEncoder, RNNTextEncoder
from ...tasks.vqa.modeling import MMAttnForVisualQuestionAnswering, MMAttnVQAPreTrainedModel, VQAModelOutput, check_vqa_inputs
from .configuration_san import SanConfig


class SanPreTrainedModel(MMAttnVQAPreTrainedModel):
    config_class = SanConfig
    # config.initialization="released": zcyang/imageqa-san, src/san_att_lstm_twolayer.py (options
    # 'init_type' = 'uniform', 'range' = 0.01, 'forget_bias' = 1.0) and
    # src/san_att_lstm_twolayer_theano.py: init_weight (U(-range, range)) for every weight matrix,
    # init_fflayer (biases 0), init_lstm_layer (bias 0, forget gate slice forget_bias),
    # init_params (w_emb from U(-0.5, 0.5), "the same initialization as BOW"). See _init_weights.
    _released_initialization = {"weight": 0.01, "bias": 0.0, "rnn_weight": 0.01, "rnn_bias": 0.0, "forget_bias": 1.0, "embedding": 0.5}


class SanModel(SanPreTrainedModel):
    """Question encoder, image encoder and the stack of attention hops; returns the final query
    ``u_K`` as ``pooled_output`` and one attention map per hop.

    Dropout (each rate from [`SanConfig`]): ``region_dropout`` on the regions f_I before their
    projection, ``attention_dropout`` on each hop's h_A; the head adds ``classifier_dropout``
    before the classifier, the only one the released code uses."""

    def __init__(self, config: SanConfig):
        super().__init__(config)
        if config.question_encoder == "lstm":
            self.question_encoder = RNNTextEncoder(
                config.vocab_size, config.word_embedding_size, config.question_hidden_size, pad_token_id=config.pad_token_id
            )
        else:
            self.question_encoder = CNNTextEncoder(
                config.vocab_size,
                config.word_embedding_size,
                config.question_cnn_kernel_sizes,
                config.question_cnn_channels,
                pad_token_id=config.pad_token_id,
                windows=config.question_cnn_windows,
            )
        self.image_encoder = ImageEncoder(config)
        # v_I = tanh(W_I f_I + b_I), eq. 2: regions projected to the question's size d.
        self.image_projection = nn.Sequential(nn.Linear(self.image_encoder.output_size, config.hidden_size), nn.Tanh())
        self.region_dropout = nn.Dropout(config.dropout_rate("region"))
        self.hops = nn.ModuleList(
            StackedAttentionHop(config.hidden_size, config.attention_hidden_size, config.attention_form, config.dropout_rate("attention"))
            for _ in range(config.num_hops)
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

        question = self.question_encoder(input_ids, attention_mask).last_hidden
        regions, region_mask, grid_size = self.image_encoder(pixel_values, image_features, image_attention_mask)
        regions = self.image_projection(self.region_dropout(regions))
        if image_index is not None:
            regions = regions[image_index]
            region_mask = region_mask[image_index] if region_mask is not None else None

        query = question
        attentions = []
        for hop in self.hops:
            query, attention = hop(regions, query, region_mask)
            attentions.append(attention)

        output = VQAModelOutput(
            pooled_output=query,
            image_embeds=regions,
            question_embeds=question,
            attentions=tuple(attentions) if output_attentions else None,
            image_grid_size=grid_size,
        )
        return output if return_dict else output.to_tuple()


class SanForVisualQuestionAnswering(MMAttnForVisualQuestionAnswering, SanPreTrainedModel):
    """SAN with its answer classifier: ``p_ans = softmax(W_u u_K + b_u)`` (eq. 20), or an MLP."""

    def __init__(self, config: SanConfig):
        super().__init__(config)
        self.model = SanModel(config)
        self.classifier = AnswerClassifier(
            config.hidden_size, config.num_labels, config.answer_head, config.answer_hidden_size, config.dropout_rate("classifier")
        )
        self.post_init()


__all__ = ["SanPreTrainedModel", "SanModel", "SanForVisualQuestionAnswering"]
