"""Global attention with Luong's score functions, and the attentional hidden state.

Luong, Pham, Manning, *Effective Approaches to Attention-based Neural Machine Translation*,
EMNLP 2015 (https://arxiv.org/abs/1508.04025), section 3.1. The decoder's top-layer state h_t
queries every source state h̄_s::

    score(h_t, h̄_s) = h_tᵀ h̄_s                        dot
                     = h_tᵀ W_a h̄_s                    general
                     = v_aᵀ tanh(W_a [h_t; h̄_s])       concat                  (eq. 8)
    a_t(s) = exp(score(h_t, h̄_s)) / Σ_s' exp(score(h_t, h̄_s'))              (eq. 7)
    c_t = Σ_s a_t(s) h̄_s

and the attentional hidden state (section 3, eq. 5), which predicts the word and, with input
feeding (section 3.3), is fed to the next step::

    h̃_t = tanh(W_c [c_t; h_t])

Local attention (section 3.2, "local-p") looks at a window of 2D + 1 source words around a
position it predicts, and weights the window's alignment by a Gaussian centred there (σ = D/2)::

    p_t = S · sigmoid(v_pᵀ tanh(W_p h_t))                          (eq. 9; S the source length)
    a_t(s) = align(h_t, h̄_s) exp(-(s - p_t)² / (2σ²)),  s ∈ [p_t - D, p_t + D]     (eq. 10)

align being eq. 7 over the window's words; the weights then sum to less than 1.

The part of each score that does not depend on h_t (W_a h̄_s; the key half of concat's W_a) is
computed once per sentence (:meth:`LuongAttention.project_keys`). The concat score is the
additive attention of Bahdanau et al. with no biases: [`~hf_mmattn.layers.additive_attention.
AdditiveAttention`] (its W_a split into the query's and the keys' halves).
"""

from __future__ import annotations

import torch
from torch import nn

from .additive_attention import AdditiveAttention
from .masking import masked_softmax

LUONG_SCORES = ("dot", "general", "concat")


class LuongAttention(nn.Module):
    """Luong et al.'s global attention (eq. 7-8) over ``keys`` (the source states h̄_s) for one
    or several queries (decoder states h_t)::

        projected = attention.project_keys(keys)                        once per sentence
        weights, context = attention(queries, projected, keys, mask)    a_t, c_t

    ``score``: ``"dot"`` (``query_size == key_size``, no parameter), ``"general"`` (W_a, the
    ``projection`` of the keys: ``(query_size, key_size)``) or ``"concat"`` (v_a, W_a:
    ``attention_size`` hidden units, ``query_size`` by default). ``window``: D of local-p
    attention (W_p: ``position_projection``, v_p: ``position_score``); ``None`` for global attention.
    """

    def __init__(self, query_size: int, key_size: int, score: str = "general", attention_size: int | None = None,
                 window: int | None = None):
        super().__init__()
        if score not in LUONG_SCORES:
            raise ValueError(f"score must be one of {LUONG_SCORES}, got {score!r}")
        if score == "dot" and query_size != key_size:
            raise ValueError(f"the dot score needs queries and keys of one size; got {query_size} and {key_size}")
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
            raise ValueError(f"window must be a positive integer (D of local-p attention) or None, got {window!r}")
        self.score = score
        self.window = window
        if window is not None:
            self.position_projection = nn.Linear(query_size, query_size, bias=False)  # W_p
            self.position_score = nn.Linear(query_size, 1, bias=False)  # v_p
        if score == "general":
            self.projection = nn.Linear(key_size, query_size, bias=False)  # W_a
        elif score == "concat":
            self.additive = AdditiveAttention(
                key_size, query_size, attention_size or query_size, key_bias=False, query_bias=False, score_bias=False
            )

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """``(batch, keys, key_size)`` → what the scores read of the keys: h̄_s (dot), W_a h̄_s
        (general), the keys' half of W_a [h_t; h̄_s] (concat)."""
        if self.score == "general":
            return self.projection(keys)
        if self.score == "concat":
            return self.additive.project_keys(keys)
        return keys

    def scores(self, queries: torch.Tensor, projected_keys: torch.Tensor) -> torch.Tensor:
        """score(h_t, h̄_s) ``(batch, steps, keys)`` of ``queries`` ``(batch, steps, query_size)``."""
        if self.score == "concat":
            hidden = projected_keys.unsqueeze(1) + self.additive.query_projection(queries).unsqueeze(2)
            return self.additive.score(torch.tanh(hidden)).squeeze(-1)
        return queries @ projected_keys.transpose(1, 2)

    def forward(
        self, queries: torch.Tensor, projected_keys: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The weights a_t ``(batch, steps, keys)`` (zero on padded keys, where ``mask`` is 0, and
        outside the window of local attention) and the contexts c_t ``(batch, steps, key_size)``."""
        if mask is None:
            mask = torch.ones(keys.shape[:2], dtype=torch.bool, device=keys.device)
        mask = mask.bool().unsqueeze(1)
        if self.window is None:
            weights = masked_softmax(self.scores(queries, projected_keys), mask)
            return weights, weights @ keys
        lengths = mask.sum(dim=-1, keepdim=True).to(queries.dtype)  # S, (batch, 1, 1)
        centres = lengths * torch.sigmoid(self.position_score(torch.tanh(self.position_projection(queries))))  # p_t, (batch, steps, 1)
        distances = torch.arange(keys.shape[1], device=keys.device, dtype=queries.dtype) - centres  # s - p_t
        in_window = mask & (distances.abs() <= self.window)
        sigma = self.window / 2
        weights = masked_softmax(self.scores(queries, projected_keys), in_window) * torch.exp(-distances.square() / (2 * sigma**2))
        weights = weights * in_window
        return weights, weights @ keys

    def extra_repr(self) -> str:
        return f"score={self.score!r}" + (f", window={self.window}" if self.window is not None else "")


__all__ = ["LUONG_SCORES", "LuongAttention"]
