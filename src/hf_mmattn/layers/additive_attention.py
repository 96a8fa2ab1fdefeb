"""Additive attention: each key scored by a one-hidden-layer network of the key and the query.

Bahdanau, Cho, Bengio, *Neural Machine Translation by Jointly Learning to Align and Translate*,
ICLR 2015 (https://arxiv.org/abs/1409.0473), section 3.1, eq. (6), with the alignment model of
appendix A.1.2; the decoder state s_{i-1} queries the annotations h_j of the source words::

    e_ij = a(s_{i-1}, h_j) = v_aᵀ tanh(W_a s_{i-1} + U_a h_j)
    α_ij = exp(e_ij) / Σ_k exp(e_ik)                                  (eq. 6)

Xu, Ba, Kiros, Cho, Courville, Salakhutdinov, Zemel, Bengio, *Show, Attend and Tell: Neural
Image Caption Generation with Visual Attention*, ICML 2015 (https://arxiv.org/abs/1502.03044),
section 3.1.2, eq. (4)-(5); f_att is the same network (arctic-captions' form, with biases), the
LSTM state h_{t-1} querying the image annotations a_i::

    e_ti = f_att(a_i, h_{t-1}) = w · act(W_a a_i + W_h h_{t-1} + b) + b_w    (eq. 4)
    α_ti = exp(e_ti) / Σ_k exp(e_tk)                                       (eq. 5)

Yang, Yang, Dyer, He, Smola, Hovy, *Hierarchical Attention Networks for Document
Classification*, NAACL 2016, section 2.2, eq. (5)-(7) (and (8)-(10) for sentences): the same
network with no query, the score vector being the learned context vector u_w::

    u_it = tanh(W_w h_it + b_w),   α_it = exp(u_itᵀ u_w) / Σ_t exp(u_itᵀ u_w)

([`AdditiveAttention`] with ``query_size=None``: W_w, b_w are ``key_projection``, u_w is ``score``).

In the names of this module: keys (h_j, a_i), their projection (U_a, W_a; ``key_projection``),
query (s_{i-1}, h_{t-1}), its projection (W_a, W_h; ``query_projection``) and the score vector
(v_a, w; ``score``). The keys' projection does not depend on the query, so it is computed once
per sequence (``project_keys``) and reused at every decoding step, as Bahdanau et al. note in
A.1.2; each step projects the query only. Padded keys get exactly zero weight.

A model whose checkpoints name these three linear layers otherwise keeps its own layers and calls
[`additive_attention_scores`] with them (the computation of [`AdditiveAttention`], with no
module of its own, so no parameter moves).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .masking import masked_softmax

ADDITIVE_ATTENTION_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"tanh": torch.tanh, "relu": torch.relu}


def additive_attention_scores(
    projected_keys: torch.Tensor,
    projected_query: torch.Tensor | None,
    score_layer: nn.Module,
    activation: Callable[[torch.Tensor], torch.Tensor] = torch.tanh,
) -> torch.Tensor:
    """The scores ``e = score_layer(activation(projected_keys + projected_query))`` before the
    softmax, ``(..., keys)``.

    ``projected_keys`` ``(..., keys, attention_size)``: U_a h_j (or W_a a_i + b), computed once;
    ``projected_query`` ``(..., attention_size)``: W_a s_{i-1} (or W_h h_{t-1}), added to every key;
    ``None`` for attention with a learned context vector and no query (HAN);
    ``score_layer``: the map to one score (v_a, or w and b_w), e.g. ``nn.Linear(attention_size,
    1)``; ``activation``: tanh (both papers) or relu, a function or a module.
    """
    hidden = projected_keys if projected_query is None else projected_keys + projected_query.unsqueeze(-2)
    return score_layer(activation(hidden)).squeeze(-1)


class AdditiveAttention(nn.Module):
    """Additive attention over a set of keys, queried one step at a time (Bahdanau et al. 2015,
    eq. 6 and A.1.2; Xu et al. 2015, eq. 4-5; see the module docstring)::

        projected = attention.project_keys(keys)             U_a h_j: once per sequence
        weights = attention(query, projected, key_mask)      α: at each step, (batch, keys)

    ``activation``: ``"tanh"`` (both papers) or ``"relu"``. ``query_size=None``: no query, the
    score vector is a learned context vector (HAN's u_w, Yang et al. 2016; call with ``query=None``). The biases: ``key_bias`` is Show,
    Attend and Tell's b (on the keys' side, so it is computed once), ``query_bias`` one on the
    query's side, ``score_bias`` the score's b_w (a shift of every score, which the softmax
    ignores; kept for checkpoints that have it). Bahdanau et al.'s equations have none:
    ``key_bias=False, score_bias=False``.
    """

    def __init__(
        self,
        key_size: int,
        query_size: int | None,
        attention_size: int,
        activation: str = "tanh",
        key_bias: bool = True,
        query_bias: bool = False,
        score_bias: bool = True,
    ):
        super().__init__()
        if activation not in ADDITIVE_ATTENTION_ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ADDITIVE_ATTENTION_ACTIVATIONS)}, got {activation!r}")
        self.activation = activation
        self.key_projection = nn.Linear(key_size, attention_size, bias=key_bias)  # U_a, W_a (+ b)
        # W_a, W_h; none for a context-vector attention (HAN)
        self.query_projection = nn.Linear(query_size, attention_size, bias=query_bias) if query_size is not None else None
        self.score = nn.Linear(attention_size, 1, bias=score_bias)  # v_a, w (+ b_w)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """``(batch, keys, key_size)`` -> ``(batch, keys, attention_size)``: U_a h_j for every key,
        to pass to every step's forward."""
        return self.key_projection(keys)

    def scores(self, query: torch.Tensor | None, projected_keys: torch.Tensor) -> torch.Tensor:
        """The scores e ``(batch, keys)`` of ``query`` ``(batch, query_size)`` before the softmax."""
        if (query is None) != (self.query_projection is None):
            raise ValueError("this attention " + ("has no query: pass query=None" if query is not None else "needs a query"))
        projected_query = self.query_projection(query) if query is not None else None
        return additive_attention_scores(projected_keys, projected_query, self.score, ADDITIVE_ATTENTION_ACTIVATIONS[self.activation])

    def forward(self, query: torch.Tensor | None, projected_keys: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The weights α ``(batch, keys)`` of ``query`` over the keys (``projected_keys`` from
        :meth:`project_keys`), summing to 1 over the keys where ``mask`` is 1 and 0 elsewhere."""
        return masked_softmax(self.scores(query, projected_keys), mask)

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}"


__all__ = ["ADDITIVE_ATTENTION_ACTIVATIONS", "AdditiveAttention", "additive_attention_scores"]
