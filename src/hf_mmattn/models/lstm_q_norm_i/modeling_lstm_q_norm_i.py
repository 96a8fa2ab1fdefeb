"""The "deeper LSTM Q + norm I" baseline of the VQA dataset paper.

Antol, Agrawal, Lu, Mitchell, Batra, Zitnick, Parikh, *VQA: Visual Question Answering*,
ICCV 2015 (https://arxiv.org/abs/1505.00468), section 5, and GT-Vision-Lab/VQA_LSTM_CNN. The
question is the final [c; h] of a 2-layer LSTM, the image one L2-normalised vector; both are
mapped to a common space with tanh and multiplied element-wise; a softmax picks the answer.
The model has no attention, so ``attentions`` is always ``None``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...layers.fusion import ElementwiseProductFusion
from ...layers.heads import AnswerClassifier
from ...layers.image_encoders import ImageEncoder
from ...layers.text_encoders import RNNTextEncoder
from ...tasks.vqa.modeling import MMAttnForVisualQuestionAnswering, MMAttnVQAPreTrainedModel, VQAModelOutput, check_vqa_inputs
from .configuration_lstm_q_norm_i import LstmQNormIConfig


class LstmQNormIPreTrainedModel(MMAttnVQAPreTrainedModel):
    config_class = LstmQNormIConfig
    # config.initialization="released": GT-Vision-Lab/VQA_LSTM_CNN train.lua draws the flattened
    # parameters of the embedding net, the LSTM and the multimodal net (weights and biases) from
    # U(-0.08, 0.08) ("embedding_w_q:uniform(-0.08, 0.08)" and the two lines after it). See _init_weights.
    _released_initialization = {"weight": 0.08, "bias": 0.08, "rnn_weight": 0.08, "rnn_bias": 0.08, "embedding": 0.08}


class LstmQNormIModel(LstmQNormIPreTrainedModel):
    """The question LSTM, the image vector and their fusion; returns the fused vector as
    ``pooled_output``. Dropout as in the released code: on the word embeddings (before the tanh),
    between the LSTM layers (``lstm_dropout``), on both inputs of the fusion; the head adds one
    before the classifier."""

    def __init__(self, config: LstmQNormIConfig):
        super().__init__(config)
        self.question_encoder = RNNTextEncoder(
            config.vocab_size,
            config.word_embedding_size,
            config.question_hidden_size,
            num_layers=config.question_num_layers,
            pad_token_id=config.pad_token_id,
            embedding_activation="tanh",
            dropout=config.dropout,
            rnn_dropout=config.dropout if config.lstm_dropout is None else config.lstm_dropout,
        )
        self.image_encoder = ImageEncoder(config)
        self.fusion = ElementwiseProductFusion(
            config.question_vector_size, self.image_encoder.output_size, config.fusion_hidden_size, config.dropout
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
            For each question, the row of `pixel_values` / `image_features` holding its image.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        attention_mask = check_vqa_inputs(
            self.config, input_ids, attention_mask, pixel_values, image_features, image_attention_mask, image_index,
            output_hidden_states=output_hidden_states,
        )

        h_n, c_n = self.question_encoder(input_ids, attention_mask).state
        # [c_1; h_1; c_2; h_2]: final cell and hidden state of each layer.
        question = torch.cat([state for layer in zip(c_n, h_n) for state in layer], dim=-1)

        regions, region_mask, _ = self.image_encoder(pixel_values, image_features, image_attention_mask)
        if region_mask is None:
            image = regions.mean(dim=1)
        else:
            weights = region_mask.to(regions.dtype).unsqueeze(-1)
            image = (regions * weights).sum(dim=1) / weights.sum(dim=1)
        if self.config.normalize_image:
            image = F.normalize(image, p=2, dim=-1)
        if image_index is not None:
            image = image[image_index]

        fused = self.fusion(question, image)
        output = VQAModelOutput(pooled_output=fused, image_embeds=image, question_embeds=question)
        return output if return_dict else output.to_tuple()


class LstmQNormIForVisualQuestionAnswering(MMAttnForVisualQuestionAnswering, LstmQNormIPreTrainedModel):
    """The baseline with its answer classifier (a softmax over answers, or an MLP)."""

    def __init__(self, config: LstmQNormIConfig):
        super().__init__(config)
        self.model = LstmQNormIModel(config)
        self.classifier = AnswerClassifier(
            config.fusion_hidden_size, config.num_labels, config.answer_head, config.answer_hidden_size, config.dropout
        )
        self.post_init()


__all__ = ["LstmQNormIPreTrainedModel", "LstmQNormIModel", "LstmQNormIForVisualQuestionAnswering"]
