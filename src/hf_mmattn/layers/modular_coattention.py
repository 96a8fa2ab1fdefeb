"""Building blocks of the Modular Co-Attention Network (MCAN).

Yu, Yu, Cui, Tao, Tian, *Deep Modular Co-Attention Networks for Visual Question Answering*,
CVPR 2019 (https://arxiv.org/abs/1906.10770), section 3, and the authors' code
(MILVLG/mcan-vqa ``core/model/{mca,net,net_utils}.py``; MILVLG/openvqa ``openvqa/models/mcan``):

* [`MultiHeadAttention`]: scaled dot-product attention with h heads (eq. 1-2);
* [`PositionWiseFeedForward`]: FC(4d)-ReLU-Dropout-FC(d) (section 3.1);
* [`SelfAttentionLayer`] (the SA unit) and [`GuidedAttentionLayer`] (SA followed by the GA unit,
  "SGA" in the code): each sub-layer adds its output to its input and normalises,
  ``LayerNorm(x + Dropout(f(x)))`` (post-norm);
* [`ReleasedLayerNorm`]: the LayerNorm of the released code, which is not ``nn.LayerNorm``;
* [`AttentionalReduction`]: the attentional reduction model ("AttFlat", section 3.3, eq. 8).

Shapes: sequences ``(batch, length, hidden)``; key masks ``(batch, length)`` bool, True for real
positions. The attention implementation (``"sdpa"`` or ``"eager"``) is read from
``config._attn_implementation`` at every call, so ``model.set_attn_implementation(...)`` switches
it on a built model. Padded positions are skipped with [`~hf_mmattn.layers.masking.SequencePacking`]
(still importable from here).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .masking import SequencePacking, key_padding_mask

_key_mask = key_padding_mask  # its name here before layers/masking.py

LAYER_NORM_FORMS = ("paper", "code")


# --- normalisation -----------------------------------------------------------------------------

class _ReleasedLayerNormFunction(torch.autograd.Function):
    """``a * (x - mean) / (std + eps) + b`` with the unbiased std, in two passes over ``x`` forward
    and two backward, built on the fused kernels of ``nn.LayerNorm``.

    Write n0 = (x - mean) * r for the standard normalisation, r = 1 / sqrt(var + tiny) (biased
    variance; ``tiny`` only keeps a constant row finite). With D features the unbiased std is
    s = sqrt(D / (D-1)) / r, so the released normalisation is n = n0 * f per row with
    f = 1 / (sqrt(D / (D-1)) + eps * r). Forward: the fused kernel gives a * n0 and (mean, r);
    one ``addcmul`` gives b + (a * n0) * f.

    Backward: for y = a * n + b and g = dL/dy,
    dx = f r [g a - mean(g a) - n0 * f * sum(g a n0) / sqrt(D (D-1))]. The fused backward kernel of
    ``nn.LayerNorm``, called with a per-row rstd ρ and a per-row scaled gradient k g, returns
    k ρ [g a - mean(g a)] - k ρ³ c sum(g a c) / D with c = x - mean; it matches dx with
    ρ² = r² f sqrt(D / (D-1)) and k = f r / ρ, and its weight gradient sum(k g ρ c) is then exactly
    sum(g n) = dL/da.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        size = x.shape[-1]
        scaled, mean, rstd = torch.native_layer_norm(x, (size,), weight, None, 1e-30)
        factor = 1.0 / (math.sqrt(size / (size - 1)) + eps * rstd)
        ctx.save_for_backward(x, weight, mean, rstd, factor)
        # explicit expands: a broadcast addcmul takes a slow path on the CPU
        return torch.addcmul(bias.expand_as(scaled), scaled, factor.expand_as(scaled))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output):
        x, weight, mean, rstd, factor = ctx.saved_tensors
        size = x.shape[-1]
        kernel_rstd = rstd * torch.sqrt(factor * math.sqrt(size / (size - 1)))
        grad_scale = factor * rstd / kernel_rstd
        grad_x, grad_weight, _ = torch.ops.aten.native_layer_norm_backward(
            grad_output * grad_scale, x, (size,), mean, kernel_rstd, weight, None,
            [ctx.needs_input_grad[0], ctx.needs_input_grad[1], False],
        )
        grad_bias = grad_output.sum(dim=tuple(range(grad_output.dim() - 1))) if ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias, None


class ReleasedLayerNorm(nn.Module):
    """The LayerNorm of the released MCAN code (mcan-vqa ``net_utils.LayerNorm``, OpenVQA
    ``ops/layer_norm.py``, parameters ``a_2`` / ``b_2`` there)::

        y = weight * (x - mean(x)) / (std(x) + eps) + bias

    with the *unbiased* standard deviation and ``eps`` added to the std, where ``nn.LayerNorm``
    computes ``(x - mean) / sqrt(var_biased + eps)``. The two differ by a factor sqrt(D / (D-1))
    and in where eps acts, enough to change the answers of converted weights: converted
    checkpoints use this form, models trained here use ``nn.LayerNorm`` (the paper's) by default.
    Computed with the fused LayerNorm kernels (see ``_ReleasedLayerNormFunction``), not the
    original's six element-wise passes.
    """

    def __init__(self, size: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size))
        self.bias = nn.Parameter(torch.zeros(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        if dtype != self.weight.dtype:  # autocast: normalise in the parameters' precision
            x = x.to(self.weight.dtype)
        return _ReleasedLayerNormFunction.apply(x, self.weight, self.bias, self.eps).to(dtype)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"


def make_layer_norm(size: int, form: str = "paper", eps: float = 1e-6) -> nn.Module:
    """``form="paper"``: ``nn.LayerNorm`` (Ba et al. 2016, as the paper says); ``form="code"``:
    [`ReleasedLayerNorm`], the variant the released weights were trained with."""
    if form == "paper":
        return nn.LayerNorm(size, eps=eps)
    if form == "code":
        return ReleasedLayerNorm(size, eps=eps)
    raise ValueError(f"layer_norm_form must be one of {LAYER_NORM_FORMS}, got {form!r}")


# --- attention ---------------------------------------------------------------------------------

class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention (MCAN eq. 1-2; Vaswani et al. 2017)::

        f = A(q, K, V) = softmax(q Kᵀ / sqrt(d)) V                          (eq. 1)
        MA(Q, K, V) = [head_1, ..., head_h] W^o,
            head_j = A(Q W_j^Q, K W_j^K, V W_j^V)                          (eq. 2)

    with d = hidden / h per head, dropout on the attention weights in training (the released
    code's ``MHAtt.att``) and padded keys given zero weight. For self-attention (``guided=False``)
    the queries, keys and values of X come from one fused projection ``query_key_value``
    (W^Q, W^K, W^V stacked: one matrix product instead of three); for guided attention
    (``guided=True``, the GA unit) the queries come from X through ``query`` and the keys and
    values from Y through ``key_value``, computed once per call. ``output`` is W^o.

    ``config._attn_implementation``: ``"sdpa"`` runs
    ``torch.nn.functional.scaled_dot_product_attention`` and returns no weights; ``"eager"``
    writes the softmax out and also returns the weights ``(batch, heads, queries, keys)`` (after
    dropout, as transformers' eager attention does).
    """

    def __init__(self, config, guided: bool = False):
        super().__init__()
        hidden = config.hidden_size
        if hidden % config.num_attention_heads:
            raise ValueError(f"hidden_size ({hidden}) must be divisible by num_attention_heads ({config.num_attention_heads})")
        self.config = config
        self.guided = guided
        self.num_heads = config.num_attention_heads
        self.head_size = hidden // config.num_attention_heads
        self.dropout = config.dropout
        if guided:
            self.query = nn.Linear(hidden, hidden)
            self.key_value = nn.Linear(hidden, 2 * hidden)
        else:
            self.query_key_value = nn.Linear(hidden, 3 * hidden)
        self.output = nn.Linear(hidden, hidden)

    def _heads(self, projected: torch.Tensor, parts: int) -> tuple[torch.Tensor, ...]:
        """(batch, length, parts * hidden) -> ``parts`` views (batch, heads, length, head_size)."""
        batch, length, _ = projected.shape
        return projected.view(batch, length, parts, self.num_heads, self.head_size).permute(2, 0, 3, 1, 4).unbind(0)

    def forward(
        self,
        x: torch.Tensor,
        key_mask: torch.Tensor | None = None,
        guide: torch.Tensor | None = None,
        packing: SequencePacking | None = None,
        guide_packing: SequencePacking | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attends from ``x`` (batch, queries, hidden) over ``x`` itself, or over ``guide``
        (batch, keys, hidden) when the layer is guided; ``key_mask`` (batch, keys) marks the real
        keys. With ``packing``, ``x`` holds only the real rows (total, hidden) (see
        [`SequencePacking`]; ``key_mask`` of self-attention is then ``packing.mask``) and so does
        the output; with ``guide_packing`` the guide holds only its real rows (``key_mask`` is then
        ``guide_packing.mask``). Returns the output and the weights (eager; over packed positions)
        or None."""
        if self.guided:
            queries = self.query(x)
            (query,) = self._heads(packing.pad(queries) if packing is not None else queries, 1)
            keys_values = self.key_value(guide)
            key, value = self._heads(guide_packing.pad(keys_values) if guide_packing is not None else keys_values, 2)
        else:
            projected = self.query_key_value(x)
            query, key, value = self._heads(packing.pad(projected) if packing is not None else projected, 3)
        mask = key_padding_mask(key_mask)
        dropout = self.dropout if self.training else 0.0
        if self.config._attn_implementation == "eager":
            scores = torch.matmul(query, key.transpose(-2, -1)) * (self.head_size**-0.5)
            if mask is not None:
                scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
            weights = F.dropout(torch.softmax(scores, dim=-1), dropout, self.training)
            attended = torch.matmul(weights, value)
        else:
            weights = None
            attended = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout)
        batch, _, length, _ = attended.shape
        attended = attended.transpose(1, 2).reshape(batch, length, -1)
        return self.output(packing.unpad(attended) if packing is not None else attended), weights


class PositionWiseFeedForward(nn.Module):
    """The feed-forward layer of the SA and GA units (MCAN section 3.1): FC(4d) - ReLU -
    Dropout - FC(d), applied to every position."""

    def __init__(self, hidden_size: int, intermediate_size: int, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(hidden_size, intermediate_size)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(intermediate_size, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(torch.relu_(self.fc1(x))))


class SelfAttentionLayer(nn.Module):
    """The self-attention (SA) unit (MCAN section 3.1, Fig. 2a), post-norm residuals::

        X' = LayerNorm(X + Dropout(MA(X, X, X)))
        Z  = LayerNorm(X' + Dropout(FFN(X')))
    """

    def __init__(self, config):
        super().__init__()
        self.attention = MultiHeadAttention(config)
        self.attention_dropout = nn.Dropout(config.dropout)
        self.attention_norm = make_layer_norm(config.hidden_size, config.layer_norm_form, config.layer_norm_eps)
        self.feed_forward = PositionWiseFeedForward(config.hidden_size, config.intermediate_size, config.dropout)
        self.feed_forward_dropout = nn.Dropout(config.dropout)
        self.feed_forward_norm = make_layer_norm(config.hidden_size, config.layer_norm_form, config.layer_norm_eps)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, packing: SequencePacking | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns the new X and the self-attention weights (eager attention) or None. With
        ``packing``, X holds the real rows only (total, hidden) and ``mask`` is ``packing.mask``."""
        attended, weights = self.attention(x, mask, packing=packing)
        x = self.attention_norm(x + self.attention_dropout(attended))
        x = self.feed_forward_norm(x + self.feed_forward_dropout(self.feed_forward(x)))
        return x, weights


class GuidedAttentionLayer(nn.Module):
    """Self-attention then guided attention on X, guided by Y (the SA and GA units stacked, "SGA"
    in the released code; MCAN section 3.1, Fig. 2b and 3)::

        X'  = LayerNorm(X + Dropout(MA(X, X, X)))
        X'' = LayerNorm(X' + Dropout(MA(X', Y, Y)))       (queries from X, keys and values from Y)
        Z   = LayerNorm(X'' + Dropout(FFN(X'')))
    """

    def __init__(self, config):
        super().__init__()
        self.self_attention = MultiHeadAttention(config)
        self.self_attention_dropout = nn.Dropout(config.dropout)
        self.self_attention_norm = make_layer_norm(config.hidden_size, config.layer_norm_form, config.layer_norm_eps)
        self.guided_attention = MultiHeadAttention(config, guided=True)
        self.guided_attention_dropout = nn.Dropout(config.dropout)
        self.guided_attention_norm = make_layer_norm(config.hidden_size, config.layer_norm_form, config.layer_norm_eps)
        self.feed_forward = PositionWiseFeedForward(config.hidden_size, config.intermediate_size, config.dropout)
        self.feed_forward_dropout = nn.Dropout(config.dropout)
        self.feed_forward_norm = make_layer_norm(config.hidden_size, config.layer_norm_form, config.layer_norm_eps)

    def forward(
        self,
        x: torch.Tensor,
        guide: torch.Tensor,
        x_mask: torch.Tensor | None,
        guide_mask: torch.Tensor | None,
        packing: SequencePacking | None = None,
        guide_packing: SequencePacking | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Returns the new X, its self-attention weights and its guided-attention weights
        (queries X, keys Y) with eager attention, or Nones. With ``packing``, X holds the real
        rows only (total, hidden) and ``x_mask`` is ``packing.mask``; with ``guide_packing``, Y holds
        its real rows only and ``guide_mask`` is ``guide_packing.mask``."""
        attended, self_weights = self.self_attention(x, x_mask, packing=packing)
        x = self.self_attention_norm(x + self.self_attention_dropout(attended))
        attended, guided_weights = self.guided_attention(x, guide_mask, guide=guide, packing=packing, guide_packing=guide_packing)
        x = self.guided_attention_norm(x + self.guided_attention_dropout(attended))
        x = self.feed_forward_norm(x + self.feed_forward_dropout(self.feed_forward(x)))
        return x, self_weights, guided_weights


# --- attentional reduction ---------------------------------------------------------------------

class AttentionalReduction(nn.Module):
    """Attentional reduction of a sequence to one vector ("AttFlat"; MCAN section 3.3, eq. 8)::

        α = softmax_i(MLP(x_i))                   MLP = FC(hidden) - ReLU - Dropout - FC(G)
        x̃ = W_m [Σ_i α_i1 x_i; ...; Σ_i α_iG x_i]     one weighted sum per glimpse g, merged

    Padded positions get zero weight. The paper uses G = 1 glimpse; the released code makes G a
    setting (``FLAT_GLIMPSES``) and merges the glimpses with ``linear_merge`` (here ``merge``).
    """

    def __init__(self, hidden_size: int, mlp_size: int, num_glimpses: int, output_size: int, dropout: float):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(hidden_size, mlp_size), nn.ReLU(), nn.Dropout(dropout), nn.Linear(mlp_size, num_glimpses)
        )
        self.merge = nn.Linear(hidden_size * num_glimpses, output_size)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, packing: SequencePacking | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns x̃ (batch, output_size) and the weights α (batch, glimpses, length). With
        ``packing``, ``x`` holds the real rows (total, hidden), ``mask`` is ``packing.mask`` and
        α is over the packed positions."""
        scores = self.mlp(x)
        if packing is not None:
            scores, x = packing.pad(scores), packing.pad(x)
        scores = scores.transpose(1, 2)  # (batch, glimpses, length)
        if mask is not None:
            scores = scores.masked_fill(~mask[:, None, :], torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        pooled = torch.bmm(weights, x)  # (batch, glimpses, hidden)
        return self.merge(pooled.flatten(1)), weights


__all__ = [
    "LAYER_NORM_FORMS",
    "SequencePacking",
    "ReleasedLayerNorm",
    "make_layer_norm",
    "MultiHeadAttention",
    "PositionWiseFeedForward",
    "SelfAttentionLayer",
    "GuidedAttentionLayer",
    "AttentionalReduction",
]
