"""Effective Approaches to Attention-based Neural Machine Translation (Luong, Pham, Manning,
EMNLP 2015).

Stacked LSTMs encode the source into h̄_1 … h̄_S and, from the encoder's last state of each
layer, decode the target; the top decoder layer's state h_t attends over the source (section
3.1, eq. 7-8, [`~hf_mmattn.layers.luong_attention.LuongAttention`])::

    a_t = softmax(score(h_t, h̄_s)),   c_t = Σ_s a_t(s) h̄_s
    h̃_t = tanh(W_c [c_t; h_t])                                  (eq. 5)
    p(y_t | y_<t, x) = softmax(W_s h̃_t)                          (eq. 6)

With ``attention_window`` D, the attention is local-p (section 3.2): a Gaussian-weighted window
of 2D + 1 source words around a predicted position p_t. With input feeding (section 3.3),
h̃_{t-1} is concatenated with the word embedding of step t (h̃_0 = 0), so each step waits for
the previous one's attention; without it, the LSTM runs over the whole target at once and
attention follows. ``attention="none"``: h̃_t = h_t, the
encoder-decoder of Sutskever et al. 2014.

The layout is OpenNMT-py's RNN translator (``-global_attention general|dot -input_feed 1``),
whose checkpoints ``convert_luong.py`` converts; W_s has a bias, as there.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import GenerationMixin

from ...layers.luong_attention import LuongAttention
from ...layers.recurrent_generation import RecurrentStateCache
from ...tasks.translation.modeling import DecodedTarget, MMAttnTranslationPreTrainedModel, TranslationEncoder, TranslationEncoderOutput
from .configuration_luong import LuongConfig


class LuongDecoder(nn.Module):
    """Target word embedding, the stacked LSTM (its input widened by h̃_{t-1} with input
    feeding), the attention and W_c."""

    def __init__(self, config: LuongConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.dropout = nn.Dropout(config.dropout)
        input_size = config.embedding_size + (config.hidden_size if config.input_feeding else 0)
        self.rnn = nn.LSTM(
            input_size, config.hidden_size, num_layers=config.num_layers, batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        if config.attention != "none":
            self.attention = LuongAttention(
                config.hidden_size, config.hidden_size, config.attention, config.attention_size, window=config.attention_window
            )
            self.attentional_layer = nn.Linear(2 * config.hidden_size, config.hidden_size, bias=False)  # W_c

    def attend(self, states: torch.Tensor, cache: RecurrentStateCache) -> tuple[torch.Tensor, torch.Tensor]:
        """h̃_t = tanh(W_c [c_t; h_t]) and a_t for decoder states ``(batch, steps, hidden)``."""
        weights, context = self.attention(states, cache["projected_annotations"], cache["annotations"], cache["source_mask"])
        return torch.tanh(self.attentional_layer(torch.cat([context, states], dim=-1))), weights

    def forward(self, decoder_input_ids: torch.Tensor, cache: RecurrentStateCache) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The attentional states h̃_t ``(batch, T, hidden)`` (after dropout) and the alignments."""
        embedded = self.dropout(self.embedding(decoder_input_ids))
        state = (cache["hidden"].transpose(0, 1).contiguous(), cache["cell"].transpose(0, 1).contiguous())
        weights = None
        if self.config.attention == "none":
            outputs, state = self.rnn(embedded, state)
            attentional = self.dropout(outputs)
        elif not self.config.input_feeding:
            outputs, state = self.rnn(embedded, state)
            attentional, weights = self.attend(outputs, cache)
            attentional = self.dropout(attentional)
        else:
            input_feed, steps, step_weights = cache["input_feed"], [], []
            for t in range(embedded.shape[1]):
                output, state = self.rnn(torch.cat([embedded[:, t], input_feed], dim=-1).unsqueeze(1), state)
                attentional_t, weights_t = self.attend(output, cache)
                input_feed = self.dropout(attentional_t[:, 0])  # h̃_t, fed to step t + 1 (OpenNMT-py feeds it after dropout)
                steps.append(input_feed)
                step_weights.append(weights_t[:, 0])
            cache["input_feed"] = input_feed
            attentional, weights = torch.stack(steps, dim=1), torch.stack(step_weights, dim=1)
        cache["hidden"], cache["cell"] = state[0].transpose(0, 1), state[1].transpose(0, 1)
        return attentional, weights


class LuongForConditionalGeneration(MMAttnTranslationPreTrainedModel, GenerationMixin):
    config_class = LuongConfig

    def __init__(self, config: LuongConfig):
        super().__init__(config)
        directions = 2 if config.encoder_bidirectional else 1
        self.encoder = TranslationEncoder(
            config, "lstm", config.hidden_size // directions, config.num_layers, bidirectional=config.encoder_bidirectional
        )
        self.decoder = LuongDecoder(config)
        self.word_classifier = nn.Linear(config.hidden_size, config.vocab_size)  # W_s
        self.post_init()

    def start(self, encoded: TranslationEncoderOutput, source_mask: torch.Tensor) -> RecurrentStateCache:
        """The decoder starts from the encoder's last (h, c) of each layer (both directions'
        concatenated), h̃_0 = 0; the keys' part of the scores is computed once."""
        annotations = encoded.last_hidden_state
        tensors = {"hidden": encoded.final_hidden, "cell": encoded.final_cell}
        if self.config.attention != "none":
            tensors.update(
                annotations=annotations,
                projected_annotations=self.decoder.attention.project_keys(annotations),
                source_mask=source_mask,
            )
        if self.config.input_feeding:
            tensors["input_feed"] = annotations.new_zeros(annotations.shape[0], self.config.hidden_size)
        return RecurrentStateCache(tensors)

    def decode(self, decoder_input_ids: torch.Tensor, cache: RecurrentStateCache) -> DecodedTarget:
        attentional, alignments = self.decoder(decoder_input_ids, cache)
        return DecodedTarget(self.word_classifier(attentional), alignments)


__all__ = ["LuongDecoder", "LuongForConditionalGeneration"]
