"""Maxout: the maximum over groups of linear units.

Goodfellow, Warde-Farley, Mirza, Courville, Bengio, *Maxout Networks*, ICML 2013, eq. (1); the
deep output of Bahdanau et al. 2015 (appendix A.2.2) with pools of two::

    t̃_i = U_o s_i + V_o E y_{i-1} + C_o c_i              (2l units)
    t_i = [max{t̃_{i,2j-1}, t̃_{i,2j}}]_{j=1..l}          (l units)
"""

from __future__ import annotations

import torch
from torch import nn


class Maxout(nn.Module):
    """A linear map to ``out_features * pool_size`` units, then the maximum of each group of
    ``pool_size`` consecutive units (t̃_{2j-1}, t̃_{2j} for pools of two)."""

    def __init__(self, in_features: int, out_features: int, pool_size: int = 2, bias: bool = True):
        super().__init__()
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, got {pool_size}")
        self.pool_size = pool_size
        self.linear = nn.Linear(in_features, out_features * pool_size, bias=bias)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.linear(inputs).unflatten(-1, (-1, self.pool_size)).amax(dim=-1)

    def extra_repr(self) -> str:
        return f"pool_size={self.pool_size}"


__all__ = ["Maxout"]
