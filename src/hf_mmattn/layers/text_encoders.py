"""Text encoders: a question or a caption, word ids to vectors.

* [`RNNTextEncoder`]: word embedding, then an LSTM (Hochreiter & Schmidhuber 1997) or GRU (Cho et
  al. 2014) over the words, run packed so that padding never enters the recurrence::

      x_t = act(W_e w_t),   h_t = RNN(x_t, h_{t-1}),   text vector h_T (each text's own last word)

  SAN's LSTM question model (Yang et al. 2016, section 3.2.1: x_t = W_e q_t, v_Q = h_T); the
  "deeper LSTM Q" of the VQA baseline (Antol et al. 2015, section 5: two layers, tanh on the
  embeddings, the model concatenating each layer's final [c; h] from ``TextEncoding.state``);
  the GRU of MLB and MUTAN; the bidirectional LSTM of r-DAN (Nam et al. 2017, section 3.1:
  u_t = h_t^→ + h_t^←); the bidirectional GRU word encoder of HAN (Yang et al. 2016, section 2.2,
  eq. 3-4: h_it = [h_it^→; h_it^←], the two directions concatenated).
* [`CNNTextEncoder`]: SAN's CNN question model (Yang et al. 2016, section 3.2, eq. 7-10).

Both return a [`TextEncoding`]. Their names before they were named for text, not questions
(``LSTMQuestionEncoder``, ``CNNQuestionEncoder``, ``QuestionEncoding``), stay as aliases.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .masking import run_packed_rnn


class TextEncoding(NamedTuple):
    """What a text encoder returns.

    last_hidden: the text vector ``(batch, hidden)`` (the top layer's state after the last
        real word; for a bidirectional RNN the sum of both directions' final states).
    word_states: the top layer's output at every word ``(batch, words, hidden)``, zero on
        padding (for bidirectional RNNs the forward and backward outputs summed), or ``None``.
    state: the RNN's final state of every layer: ``(h_n, c_n)`` for an LSTM, ``h_n`` for a GRU.
    """

    last_hidden: torch.Tensor
    word_states: torch.Tensor | None = None
    state: tuple[torch.Tensor, torch.Tensor] | torch.Tensor | None = None


class RNNTextEncoder(nn.Module):
    """Word embedding → (optional tanh) → LSTM or GRU over a text (a question, a caption);
    padding-aware through packing. ``bidirectional=True`` merges the forward and backward outputs at
    each word: summed (``bidirectional_merge="sum"``, the text encoder of DAN, Nam et al. 2017,
    section 4.1) or concatenated (``"concat"``, HAN's word encoder, Yang et al. 2016, eq. 4; the
    output size is then twice ``hidden_size``). Returns a [`TextEncoding`].

    ``dropout`` acts on the word embeddings (before the activation); ``rnn_dropout`` between
    stacked RNN layers (``nn.LSTM``'s own inter-layer dropout, on every layer's outputs but the
    last; ignored with one layer).
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        hidden_size: int,
        num_layers: int = 1,
        pad_token_id: int = 0,
        embedding_activation: str | None = None,
        dropout: float = 0.0,
        rnn_type: str = "lstm",
        bidirectional: bool = False,
        rnn_dropout: float = 0.0,
        bidirectional_merge: str = "sum",
    ):
        super().__init__()
        if bidirectional_merge not in ("sum", "concat"):
            raise ValueError(f"bidirectional_merge must be 'sum' or 'concat', got {bidirectional_merge!r}")
        if rnn_type not in ("lstm", "gru"):
            raise ValueError(f"rnn_type must be 'lstm' or 'gru', got {rnn_type!r}")
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=pad_token_id)
        self.embedding_activation = nn.Tanh() if embedding_activation == "tanh" else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        rnn_class = nn.LSTM if rnn_type == "lstm" else nn.GRU
        self.lstm = rnn_class(
            embedding_size, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=bidirectional,
            dropout=rnn_dropout if num_layers > 1 else 0.0,
        )
        self.bidirectional = bidirectional
        self.concatenate_directions = bidirectional and bidirectional_merge == "concat"
        self.output_size = 2 * hidden_size if self.concatenate_directions else hidden_size

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TextEncoding:
        embedded = self.embedding_activation(self.dropout(self.embedding(input_ids)))
        word_states, state = run_packed_rnn(self.lstm, embedded, attention_mask)
        h_n = state[0] if isinstance(state, tuple) else state
        if self.concatenate_directions:
            last_hidden = torch.cat([h_n[-2], h_n[-1]], dim=-1)
        elif self.bidirectional:
            word_states = word_states.unflatten(-1, (2, -1)).sum(dim=-2)
            last_hidden = h_n[-2] + h_n[-1]
        else:
            last_hidden = h_n[-1]
        return TextEncoding(last_hidden, word_states, state)


CNN_WINDOWS = ("wide", "narrow")


class CNNTextEncoder(nn.Module):
    """Convolutional text model: SAN's CNN question model (Yang et al. 2016, section 3.2,
    eq. 7-10).

    Unigram, bigram and trigram convolutions over the word embeddings, tanh, max-pooled over
    the text (padding excluded), concatenated: ``h = [h_1; h_2; h_3]``::

        h_{c,t} = tanh(W_c x_{t:t+c-1} + b_c)          (eq. 8)
        h̃_c = max_t h_{c,t},   h = [h̃_1; h̃_2; h̃_3]     (eq. 9-10)

    ``windows`` says which windows the max runs over, for a question of T words:

    * ``"wide"``: every window that holds at least one word, the question zero-padded by c-1 on
      both sides (``T + c - 1`` windows, the first and last ones partly outside the question);
    * ``"narrow"``: eq. 8's ``h_{c,1} .. h_{c,T-c+1}``, the windows inside the question; a question
      shorter than c words keeps one window, its words followed by zeros.

    The two read the same parameters, so a checkpoint loads under either.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        kernel_sizes: list[int] | tuple[int, ...],
        channels: list[int] | tuple[int, ...],
        pad_token_id: int = 0,
        windows: str = "wide",
    ):
        super().__init__()
        if len(kernel_sizes) != len(channels):
            raise ValueError("question_cnn_kernel_sizes and question_cnn_channels must have the same length")
        if windows not in CNN_WINDOWS:
            raise ValueError(f"question_cnn_windows must be one of {CNN_WINDOWS}, got {windows!r}")
        self.windows = windows
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=pad_token_id)
        self.convolutions = nn.ModuleList(
            nn.Conv1d(embedding_size, out_channels, kernel_size, padding=kernel_size - 1 if windows == "wide" else 0)
            for kernel_size, out_channels in zip(kernel_sizes, channels, strict=True)
        )
        self.output_size = sum(channels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TextEncoding:
        # Zero past the last word, whatever ids the padding holds: windows reaching past it read zeros.
        embedded = self.embedding(input_ids) * attention_mask.unsqueeze(-1).to(self.embedding.weight.dtype)
        embedded = embedded.transpose(1, 2)  # (batch, embedding, words)
        lengths = attention_mask.sum(dim=1)
        pooled = []
        for convolution in self.convolutions:
            kernel_size = convolution.kernel_size[0]
            if self.windows == "wide":
                # padding=k-1 on both sides: output t covers words t-k+1..t, so a window is valid
                # when it touches at least one real word, i.e. t < length + k - 1.
                features = torch.tanh(convolution(embedded))
                window_count = lengths + kernel_size - 1
            else:
                # k-1 zeros on the right: output t covers words t..t+k-1, valid inside the question
                # (t < length - k + 1), and at least the first window.
                features = torch.tanh(convolution(F.pad(embedded, (0, kernel_size - 1))))
                window_count = (lengths - kernel_size + 1).clamp(min=1)
            positions = torch.arange(features.shape[-1], device=features.device)
            valid = positions.unsqueeze(0) < window_count.unsqueeze(1)
            features = features.masked_fill(~valid.unsqueeze(1), torch.finfo(features.dtype).min)
            pooled.append(features.max(dim=-1).values)
        return TextEncoding(torch.cat(pooled, dim=-1))


# The names of these encoders before they were named for any text, kept for existing code.
QuestionEncoding = TextEncoding
LSTMQuestionEncoder = RNNTextEncoder
CNNQuestionEncoder = CNNTextEncoder


__all__ = [
    "CNN_WINDOWS",
    "CNNQuestionEncoder",
    "CNNTextEncoder",
    "LSTMQuestionEncoder",
    "QuestionEncoding",
    "RNNTextEncoder",
    "TextEncoding",
]
