"""Hierarchical Attention Networks for Document Classification (Yang, Yang, Dyer, He, Smola, Hovy,
NAACL 2016, https://aclanthology.org/N16-1174/), section 2. A bidirectional GRU reads each
sentence's words and an attention with a learned context vector pools them into a sentence
vector; a second bidirectional GRU reads the sentence vectors and a second attention pools them
into the document vector, which a softmax layer classifies.
"""

from __future__ import annotations

import torch
from torch import nn

from ...layers.additive_attention import AdditiveAttention
from ...layers.masking import masked_mean, run_packed_rnn
from ...layers.text_encoders import RNNTextEncoder
from ...tasks.text_classification.modeling import (
    DocumentModelOutput,
    MMAttnForSequenceClassification,
    MMAttnTextClassificationPreTrainedModel,
    check_document_inputs,
    split_into_sentences,
)
from .configuration_han import HanConfig


class HanPreTrainedModel(MMAttnTextClassificationPreTrainedModel):
    config_class = HanConfig


class HanModel(HanPreTrainedModel):
    """The document encoder of HAN (section 2.2)::

        x_it = W_e w_it,   h_it = [GRU→(x_it); GRU←(x_it)]                  word encoder (eq. 1-4)
        u_it = tanh(W_w h_it + b_w),   α_it = softmax_t(u_itᵀ u_w),   s_i = Σ_t α_it h_it    (eq. 5-7)
        h_i  = [GRU→(s_i); GRU←(s_i)]                                       sentence encoder (eq. 8-9)
        u_i  = tanh(W_s h_i + b_s),    α_i  = softmax_i(u_iᵀ u_s),    v = Σ_i α_i h_i        (eq. 10)

    Padding is masked at both levels: padded words and padded sentences get exactly zero weight
    and never enter a GRU (several public ports let them in). Both attentions are the shared
    additive attention with a context vector ([`~hf_mmattn.layers.additive_attention.AdditiveAttention`]
    with no query: ``key_projection`` is W, ``score`` is the context vector).
    ``config.document_encoder="flat"`` runs the word encoder and one attention over all the words
    of the document; ``"mean"`` averages the word embeddings (the baselines).
    """

    def __init__(self, config: HanConfig):
        super().__init__(config)
        self.word_encoder = RNNTextEncoder(
            config.vocab_size, config.word_embedding_size, config.word_hidden_size, pad_token_id=config.pad_token_id,
            rnn_type="gru", bidirectional=True, bidirectional_merge="concat",
        )
        word_size = self.word_encoder.output_size
        if config.document_encoder != "mean":
            self.word_attention = AdditiveAttention(word_size, None, config.word_attention_size, key_bias=True, score_bias=False)
        if config.document_encoder == "hierarchical":
            self.sentence_encoder = nn.GRU(word_size, config.sentence_hidden_size, batch_first=True, bidirectional=True)
            self.sentence_attention = AdditiveAttention(
                2 * config.sentence_hidden_size, None, config.sentence_attention_size, key_bias=True, score_bias=False
            )
        self.post_init()

    def _attend_words(self, input_ids, word_mask):
        words = self.word_encoder(input_ids, word_mask).word_states  # h_it, zero on padding
        weights = self.word_attention(None, self.word_attention.project_keys(words), word_mask)  # α_it
        return (weights.unsqueeze(-1) * words).sum(dim=1), weights, words

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> DocumentModelOutput | tuple:
        r"""
        input_ids / attention_mask (`(batch, tokens)`): flat right-padded documents; the model
            splits them into sentences at `config.sentence_end_token_ids`.
        """
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        attention_mask = check_document_inputs(self.config, input_ids, attention_mask, output_hidden_states)
        config = self.config
        if config.document_encoder == "mean":
            document = masked_mean(self.word_encoder.embedding(input_ids), attention_mask)
            output = DocumentModelOutput(pooler_output=document)
            return output if return_dict else output.to_tuple()
        if config.document_encoder == "flat":
            document, weights, words = self._attend_words(input_ids, attention_mask)
            output = DocumentModelOutput(pooler_output=document, last_hidden_state=words,
                                         attentions=(weights,) if output_attentions else None)
            return output if return_dict else output.to_tuple()

        sentences = split_into_sentences(input_ids, attention_mask, config.sentence_end_token_ids, config.pad_token_id,
                                         config.max_sentences, config.max_sentence_length)
        real = sentences.sentence_mask.bool()
        # Every real sentence of the batch through the word level at once, then back in place.
        sentence_vectors, word_weights, _ = self._attend_words(sentences.input_ids[real], sentences.word_mask[real])
        batch, num_sentences, num_words = sentences.input_ids.shape
        in_place = sentence_vectors.new_zeros(batch, num_sentences, sentence_vectors.shape[-1])
        in_place[real] = sentence_vectors
        annotations, _ = run_packed_rnn(self.sentence_encoder, in_place, sentences.sentence_mask)  # h_i, zero on padding
        sentence_weights = self.sentence_attention(None, self.sentence_attention.project_keys(annotations), sentences.sentence_mask)
        document = (sentence_weights.unsqueeze(-1) * annotations).sum(dim=1)
        attentions = None
        if output_attentions:
            word_attention = word_weights.new_zeros(batch, num_sentences, num_words)
            word_attention[real] = word_weights
            attentions = (word_attention, sentence_weights)
        output = DocumentModelOutput(pooler_output=document, last_hidden_state=annotations, attentions=attentions)
        return output if return_dict else output.to_tuple()


class HanForSequenceClassification(MMAttnForSequenceClassification, HanPreTrainedModel):
    """HAN with its classifier ``p = softmax(W_c v + b_c)`` (eq. 11), trained with the negative log
    likelihood of the correct label (eq. 12): transformers' ``SequenceClassifierOutput``; with
    ``output_attentions=True`` its ``attentions`` are (word attention ``(batch, sentences, words)``,
    sentence attention ``(batch, sentences)``)."""

    def __init__(self, config: HanConfig):
        super().__init__(config)
        self.model = HanModel(config)
        self._build_classifier(config.hidden_size)
        self.post_init()


__all__ = ["HanForSequenceClassification", "HanModel", "HanPreTrainedModel"]
