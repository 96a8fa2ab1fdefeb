"""Neural Machine Translation by Jointly Learning to Align and Translate (Bahdanau, Cho, Bengio,
ICLR 2015): RNNsearch.

A bidirectional GRU reads the source; each annotation is both directions' states,
h_j = [→h_j; ←h_j] (section 3.2). The decoder is a GRU whose state s_i reads the previous word and
a context c_i computed afresh from s_{i-1} at every step (section 3.1, appendix A.1.2, A.2.2)::

    s_0 = tanh(W_s ←h_1)
    e_ij = v_aᵀ tanh(W_a s_{i-1} + U_a h_j),   α_ij = softmax_j(e_ij)     (eq. 6)
    c_i = Σ_j α_ij h_j                                                     (eq. 5)
    s_i = GRU(s_{i-1}, [E y_{i-1}; c_i])                                   (eq. 4; A.2.2)
    t_i = maxout(U_o s_i + V_o E y_{i-1} + C_o c_i),   p(y_i) ∝ exp(y_iᵀ W_o t_i)

The alignment model is [`~hf_mmattn.layers.additive_attention.AdditiveAttention`] (no biases,
as in eq. 6), the deep output [`~hf_mmattn.layers.maxout.Maxout`]. ``attention="none"`` is
RNNencdec: c_i = c = [→h_T; ←h_1] at every step. The GRU is PyTorch's, whose reset gate acts
after U's product (r ∘ (U s + b)), where the paper's acts before it (U (r ∘ s)); see the card.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import GenerationMixin

from ...layers.additive_attention import AdditiveAttention
from ...layers.maxout import Maxout
from ...layers.recurrent_generation import RecurrentStateCache
from ...tasks.translation.modeling import DecodedTarget, MMAttnTranslationPreTrainedModel, TranslationEncoder, TranslationEncoderOutput
from .configuration_bahdanau import BahdanauConfig


class BahdanauDecoder(nn.Module):
    """Target word embedding E, s_0's W_s, the alignment model, the GRU and the deep output."""

    def __init__(self, config: BahdanauConfig):
        super().__init__()
        self.config = config
        annotation_size = 2 * config.encoder_hidden_size
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.dropout = nn.Dropout(config.dropout)
        self.initial_state = nn.Linear(config.encoder_hidden_size, config.hidden_size)  # W_s
        if config.attention == "additive":
            self.attention = AdditiveAttention(
                annotation_size, config.hidden_size, config.attention_size, key_bias=False, query_bias=False, score_bias=False
            )
        self.rnn = nn.GRU(config.embedding_size + annotation_size, config.hidden_size, batch_first=True)
        if config.output_layer == "maxout":
            self.readout = Maxout(config.hidden_size + config.embedding_size + annotation_size, config.maxout_size)  # U_o, V_o, C_o

    def forward(self, decoder_input_ids: torch.Tensor, cache: RecurrentStateCache) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The word classifier's inputs ``(batch, T, size)`` (t_i, or s_i) and the alignments α_i."""
        embedded = self.dropout(self.embedding(decoder_input_ids))
        previous = cache["hidden"]  # s_{i-1}
        alignments = None
        if self.config.attention == "none":
            contexts = cache["context"].unsqueeze(1).expand(-1, embedded.shape[1], -1)
            states, last = self.rnn(torch.cat([embedded, contexts], dim=-1), previous.unsqueeze(0))
            previous_states = torch.cat([previous.unsqueeze(1), states[:, :-1]], dim=1)
            cache["hidden"] = last[0]
        else:
            states, previous_states, context_steps, alignment_steps = [], [], [], []
            for i in range(embedded.shape[1]):
                weights = self.attention(previous, cache["projected_annotations"], cache["source_mask"])  # α_i
                context = torch.bmm(weights.unsqueeze(1), cache["annotations"])[:, 0]  # c_i
                _, state = self.rnn(torch.cat([embedded[:, i], context], dim=-1).unsqueeze(1), previous.unsqueeze(0))
                previous_states.append(previous)
                previous = state[0]
                states.append(previous)
                context_steps.append(context)
                alignment_steps.append(weights)
            cache["hidden"] = previous
            states, previous_states = torch.stack(states, dim=1), torch.stack(previous_states, dim=1)
            contexts, alignments = torch.stack(context_steps, dim=1), torch.stack(alignment_steps, dim=1)
        if self.config.output_layer == "linear":
            return self.dropout(states), alignments
        readout_states = states if self.config.readout_state == "current" else previous_states
        return self.dropout(self.readout(torch.cat([readout_states, embedded, contexts], dim=-1))), alignments


class BahdanauForConditionalGeneration(MMAttnTranslationPreTrainedModel, GenerationMixin):
    config_class = BahdanauConfig

    def __init__(self, config: BahdanauConfig):
        super().__init__(config)
        self.encoder = TranslationEncoder(config, "gru", config.encoder_hidden_size, bidirectional=True)
        self.decoder = BahdanauDecoder(config)
        output_size = config.maxout_size if config.output_layer == "maxout" else config.hidden_size
        self.word_classifier = nn.Linear(output_size, config.vocab_size)  # W_o
        self.post_init()

    def start(self, encoded: TranslationEncoderOutput, source_mask: torch.Tensor) -> RecurrentStateCache:
        """s_0 = tanh(W_s ←h_1) (the backward GRU's final state, read at the first word); the
        annotations' part of the scores, U_a h_j, is computed once (appendix A.1.2)."""
        size = self.config.encoder_hidden_size
        final = encoded.final_hidden[:, -1]  # [→h_T; ←h_1]
        tensors = {"hidden": torch.tanh(self.decoder.initial_state(final[:, size:]))}
        if self.config.attention == "none":
            tensors["context"] = final
        else:
            annotations = encoded.last_hidden_state
            tensors.update(
                annotations=annotations, projected_annotations=self.decoder.attention.project_keys(annotations), source_mask=source_mask
            )
        return RecurrentStateCache(tensors)

    def decode(self, decoder_input_ids: torch.Tensor, cache: RecurrentStateCache) -> DecodedTarget:
        features, alignments = self.decoder(decoder_input_ids, cache)
        return DecodedTarget(self.word_classifier(features), alignments)


__all__ = ["BahdanauDecoder", "BahdanauForConditionalGeneration"]
