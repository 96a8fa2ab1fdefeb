"""Show and Tell: A Neural Image Caption Generator (Vinyals, Toshev, Bengio, Erhan, CVPR 2015).

Section 3.1::

    x_{-1} = W_I CNN(I)                   the image, fed once, before the first word (eq. 10)
    x_t    = W_e S_t,   t ∈ {0 … N-1}      S_0 is the start word (eq. 11)
    p_{t+1} = LSTM(x_t)                   softmax over the words (eq. 12)

trained to maximise Σ_t log p_t(S_t) (eq. 13). CNN(I) is the image's pooled feature vector: the
mean of the backbone's last feature map (the paper takes GoogLeNet's last hidden layer).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import GenerationMixin

from ...layers.masking import is_right_padded, masked_mean, run_packed_rnn
from ...layers.recurrent_generation import RecurrentStateCache
from ...tasks.captioning.modeling import DecodedWords, MMAttnCaptioningPreTrainedModel, keep_state_at_padding
from .configuration_show_tell import ShowTellConfig


class ShowTellForConditionalGeneration(MMAttnCaptioningPreTrainedModel, GenerationMixin):
    config_class = ShowTellConfig

    def __init__(self, config: ShowTellConfig):
        super().__init__(config)
        self.image_embedding = nn.Linear(self.image_encoder.output_size, config.embedding_size)
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.lstm = nn.LSTM(config.embedding_size, config.hidden_size, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.word_classifier = nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def start(self, regions: torch.Tensor, region_mask: torch.Tensor | None) -> RecurrentStateCache:
        """Runs the LSTM on x_{-1} = W_I CNN(I) from a zero state (eq. 10)."""
        image_input = self.dropout(self.image_embedding(masked_mean(regions, region_mask)))
        _, (hidden, cell) = self.lstm(image_input.unsqueeze(1))
        return RecurrentStateCache({"hidden": hidden[0], "cell": cell[0]})

    def decode(self, input_ids, attention_mask, cache: RecurrentStateCache) -> DecodedWords:
        """x_t = W_e S_t through the LSTM (eq. 11-12). Right-padded captions (training) run as one
        packed sequence; a prompt with padding on the left steps word by word, the state passing
        over the padding unchanged."""
        word_inputs = self.dropout(self.embedding(input_ids))
        state = (cache["hidden"].unsqueeze(0).contiguous(), cache["cell"].unsqueeze(0).contiguous())
        if bool(attention_mask.all()):  # generation steps, unpadded captions: no packing needed
            outputs, (hidden, cell) = self.lstm(word_inputs, state)
        elif is_right_padded(attention_mask) and bool(attention_mask.any(dim=1).all()):
            outputs, (hidden, cell) = run_packed_rnn(self.lstm, word_inputs, attention_mask, initial_state=state)
        else:
            hidden, cell = state
            steps = []
            for t in range(input_ids.shape[1]):
                step_output, (new_hidden, new_cell) = self.lstm(word_inputs[:, t : t + 1], (hidden, cell))
                step_mask = attention_mask[:, t]
                hidden = keep_state_at_padding(step_mask, new_hidden[0], hidden[0]).unsqueeze(0)
                cell = keep_state_at_padding(step_mask, new_cell[0], cell[0]).unsqueeze(0)
                steps.append(step_output[:, 0])
            outputs = torch.stack(steps, dim=1)
        cache["hidden"], cache["cell"] = hidden[0], cell[0]
        return DecodedWords(logits=self.word_classifier(self.dropout(outputs)), hidden_states=(word_inputs, outputs))


__all__ = ["ShowTellForConditionalGeneration"]
