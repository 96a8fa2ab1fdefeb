"""Masking and packing: how every layer keeps padding out of what it computes.

A mask is ``(batch, positions)`` with 1 (True) for a real position and 0 for padding. The papers
write their reductions over the real positions only; these functions are those reductions:

* [`masked_softmax`]: attention weights over the real positions, ``α_i = exp(e_i) / Σ_{j real}
  exp(e_j)`` and exactly 0 elsewhere (e.g. SAN eq. 16, Yang et al. 2016; Show, Attend and Tell
  eq. 5, Xu et al. 2015; the key mask of scaled dot-product attention, Vaswani et al. 2017 eq. 1);
* [`masked_mean`]: the mean over the real positions, ``(1/N) Σ_{n real} v_n`` (r-DAN's
  ``v^(0)`` and ``u^(0)``, Nam et al. 2017 section 3.2; Show, Attend and Tell's
  ``f_init(1/L Σ_i a_i)``, Xu et al. 2015 section 3.1.2);
* [`is_right_padded`] and [`run_packed_rnn`]: an RNN over right-padded sequences run as packed
  sequences, so ``h_t`` is computed for the real words only and the final state is each
  sequence's own (PyTorch's ``pack_padded_sequence``);
* [`SequencePacking`]: the real rows of a padded batch packed into one matrix, so that the
  position-wise layers of MCAN (Yu et al. 2019, section 3.1) run on them only;
* [`key_padding_mask`]: a key mask laid out to broadcast over heads and queries.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None, dim: int = -1) -> torch.Tensor:
    """Softmax over ``dim`` that gives exactly zero weight to positions where ``mask`` is 0.

    A row whose mask is all zero would have no valid position; callers reject such inputs before
    they get here (an empty question or an image without regions), so this never divides by zero.
    """
    if mask is not None:
        scores = scores.masked_fill(~mask.bool(), torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=dim)


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values`` ``(batch, positions, dim)`` over the positions where ``mask`` is 1 (all
    positions without a mask): DAN's ``v^(0)`` and ``u^(0)`` average the real regions and words."""
    if mask is None:
        return values.mean(dim=1)
    mask = mask.to(values.dtype).unsqueeze(-1)
    return (values * mask).sum(dim=1) / mask.sum(dim=1)


def key_padding_mask(mask: torch.Tensor | None) -> torch.Tensor | None:
    """(batch, keys) bool -> (batch, 1, 1, keys), broadcast over heads and queries."""
    return None if mask is None else mask[:, None, None, :]


def is_right_padded(attention_mask: torch.Tensor) -> bool:
    """Whether every row of ``attention_mask`` is its 1s (the words) followed by its 0s, the
    layout :func:`run_packed_rnn` reads."""
    lengths = attention_mask.sum(dim=1)
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return torch.equal(attention_mask.bool(), positions.unsqueeze(0) < lengths.unsqueeze(1))


def run_packed_rnn(rnn: nn.LSTM | nn.GRU, inputs: torch.Tensor, attention_mask: torch.Tensor, initial_state=None):
    """Runs ``rnn`` (batch_first) over right-padded sequences as packed sequences, so padding
    never enters the recurrence, from ``initial_state`` (zeros when ``None``). Returns the outputs
    ``(batch, words, dirs * hidden)``, zero at padding, and the final state taken at each
    sequence's own last word."""
    lengths = attention_mask.sum(dim=1).cpu()
    packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
    outputs, state = rnn(packed, initial_state)
    outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=inputs.shape[1])
    return outputs, state


class SequencePacking:
    """The real positions of a padded batch, so that the position-wise layers (projections,
    feed-forward, LayerNorm, dropout, residuals: most of the work) run on them only.

    Region features are zero-padded to a fixed count (100 in the released MCAN code, which holds
    10 to 100 real regions); every layer of the released code still computes the padded rows,
    whose results are then masked out of every attention and of the reduction. Here the real rows
    of the batch are packed into one ``(total, dim)`` matrix; only attention needs the batch
    layout, so it scatters its queries (and self-attention keys and values) into ``(batch,
    longest, dim)``, real positions first, and gathers its output back. Attention and the
    attentional reduction do not depend on the order of the positions, so the real positions'
    results are those of the padded computation.

    ``mask``: (batch, length) bool, True at real positions (any pattern; at least one per row).
    """

    def __init__(self, mask: torch.Tensor):
        self.batch, self.length = mask.shape
        lengths = mask.sum(dim=1)
        self.longest = int(lengths.max())
        #: (batch, longest) key mask of the packed layout: the first lengths[b] positions are real.
        self.mask = torch.arange(self.longest, device=mask.device) < lengths[:, None]
        self.source_index = mask.flatten().nonzero().squeeze(1)  # rows of (batch * length)
        self.padded_index = self.mask.flatten().nonzero().squeeze(1)  # rows of (batch * longest)
        # Original position of each packed position; padding points at a spare slot ``length``.
        positions = torch.full((self.batch, self.longest), self.length, dtype=torch.long, device=mask.device)
        self.positions = positions.masked_scatter(self.mask, mask.nonzero()[:, 1])

    @classmethod
    def if_padded(cls, mask: torch.Tensor | None) -> SequencePacking | None:
        """The packing of ``mask``, or ``None`` when it has no padding (nothing to skip)."""
        return None if mask is None or bool(mask.all()) else cls(mask)

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, length, ...) -> (total, ...): the real rows."""
        return x.flatten(0, 1).index_select(0, self.source_index)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """(total, ...) -> (batch, length, ...), zero at the padding."""
        full = x.new_zeros(self.batch * self.length, *x.shape[1:]).index_copy(0, self.source_index, x)
        return full.view(self.batch, self.length, *x.shape[1:])

    def pad(self, x: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
        """(total, ...) -> (batch, longest, ...), real rows first, ``fill`` after."""
        padded = x.new_full((self.batch * self.longest, *x.shape[1:]), fill).index_copy(0, self.padded_index, x)
        return padded.view(self.batch, self.longest, *x.shape[1:])

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, longest, ...) -> (total, ...)."""
        return x.flatten(0, 1).index_select(0, self.padded_index)

    def to_positions(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        """Moves dimension ``dim`` of ``x`` (batch first), indexed by packed position, back to the
        original positions (length), with zeros at the padding: for attention maps."""
        dim = dim % x.dim()
        shape = [self.batch] + [1] * (x.dim() - 1)
        shape[dim] = self.longest
        index = self.positions.view(shape).expand_as(x)
        full_shape = list(x.shape)
        full_shape[dim] = self.length + 1
        return x.new_zeros(full_shape).scatter_(dim, index, x).narrow(dim, 0, self.length)


__all__ = ["SequencePacking", "is_right_padded", "key_padding_mask", "masked_mean", "masked_softmax", "run_packed_rnn"]
