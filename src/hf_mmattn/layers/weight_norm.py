"""Weight normalisation over a whole weight matrix, as every linear layer of BAN's code has it.

Salimans, Kingma, *Weight Normalization: A Simple Reparameterization to Accelerate Training of
Deep Neural Networks*, NeurIPS 2016 (https://arxiv.org/abs/1602.07868), eq. (2), with the norm
taken over the whole matrix (``torch.nn.utils.weight_norm(..., dim=None)``) as in the code of
Kim, Jun, Zhang, *Bilinear Attention Networks*, NeurIPS 2018 (jnhwkim/ban-vqa, ``fc.py``)::

    W = g · V / ‖V‖_F          (g a scalar, ‖·‖_F the Frobenius norm)
    y = x Wᵀ + b
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class WeightNormLinear(nn.Module):
    """A linear layer with weight normalisation over the whole matrix (Salimans & Kingma 2016,
    ``torch.nn.utils.weight_norm(..., dim=None)`` as every linear layer of ban-vqa):

        W = g · V / ‖V‖_F          (g a scalar, ‖·‖_F the Frobenius norm)
        y = x Wᵀ + b

    The parameters are ``weight_scale`` (g, a 0-d tensor), ``weight_direction`` (V) and ``bias``: the
    original ``weight_g`` / ``weight_v`` names cannot be kept, as transformers 5 renames any key
    ending in them to ``parametrizations.weight.original0/1`` when it loads a checkpoint.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight_direction = nn.Parameter(torch.empty(out_features, in_features))
        self.weight_scale = nn.Parameter(torch.empty(()))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Linear's initialisation of V and b, and g = ‖V‖ (so that W = V at the start, as
        ``weight_norm`` does when it wraps an initialised layer)."""
        with torch.no_grad():
            nn.init.kaiming_uniform_(self.weight_direction, a=math.sqrt(5))
            self.weight_scale.copy_(self.weight_direction.norm())
            if self.bias is not None:
                bound = 1 / math.sqrt(self.in_features)
                nn.init.uniform_(self.bias, -bound, bound)

    @property
    def weight(self) -> torch.Tensor:
        return self.weight_direction * (self.weight_scale / self.weight_direction.norm())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class WeightNormFC(nn.Module):
    """ban-vqa's one-layer ``FCNet([in, out], act, dropout)``: dropout → weight-normed linear →
    activation (ReLU, or none for the question projections of the residual glimpses)."""

    def __init__(self, in_features: int, out_features: int, activation: str | None = "relu", dropout: float = 0.0):
        super().__init__()
        if activation not in ("relu", None):
            raise ValueError(f"activation must be 'relu' or None, got {activation!r}")
        self.dropout = nn.Dropout(dropout)
        self.linear = WeightNormLinear(in_features, out_features)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(self.dropout(x))
        return torch.relu(x) if self.activation == "relu" else x


__all__ = ["WeightNormFC", "WeightNormLinear"]
