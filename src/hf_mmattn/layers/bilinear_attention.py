"""Bilinear attention networks (BAN): the bilinear attention maps and the bilinear pooling.

Kim, Jun, Zhang, *Bilinear Attention Networks*, NeurIPS 2018 (https://arxiv.org/abs/1805.07932),
section 3, and the authors' code (jnhwkim/ban-vqa: ``fc.py``, ``bc.py``, ``attention.py``). Its
weight-normed layers are in ``layers/weight_norm.py`` and the counting module it uses in
``layers/counting.py`` (both still importable from here).

The paper writes the question as X (ρ words, columns X_i) and the image as Y (φ objects, columns
Y_j). The code, and these layers, take the image regions ``v`` (batch, regions, D_v) and the
question's word states ``q`` (batch, words, D_q) and return maps laid out (regions, words).
"""

from __future__ import annotations

import torch
from torch import nn

from .counting import CountingModule, PiecewiseLinear, box_iou, grid_boxes
from .weight_norm import WeightNormFC, WeightNormLinear


def joint_mask(region_mask: torch.Tensor | None, word_mask: torch.Tensor | None) -> torch.Tensor | None:
    """(batch, 1, regions, words) mask of the (region, word) pairs where both are real, or None."""
    if region_mask is None and word_mask is None:
        return None
    if word_mask is None:
        return region_mask.bool()[:, None, :, None]
    if region_mask is None:
        return word_mask.bool()[:, None, None, :]
    return region_mask.bool()[:, None, :, None] & word_mask.bool()[:, None, None, :]


class BilinearAttentionMap(nn.Module):
    """G bilinear attention maps over every (region, word) pair: BAN section 3, the bilinear
    attention map A := softmax(((1·pᵀ) ∘ XᵀU) VᵀY), its element form, its multiple-glimpse form
    A_g and the non-linear variant σ of the same section (ban-vqa ``BiAttention`` / ``BCNet``)::

        A_g = softmax( ((1 · p_gᵀ) ∘ σ(Xᵀ U)) · σ(Vᵀ Y) )      i.e.
        logit_g[j, i] = p_gᵀ (σ(Uᵀ X_i) ∘ σ(Vᵀ Y_j)) + b_g        word i, region j

    σ is ReLU, U and V are weight-normed projections to ``hidden_size * rank_factor`` (the code's
    ``h_dim * k``, k = 3), p_g is row g of a (G, hidden · k) matrix weight-normed as a whole
    (``h_mat``) and b_g a bias per glimpse (``h_bias``). Dropout ``dropout`` precedes both
    projections and ``attention_dropout`` acts on the projected regions (ban-vqa's BCNet with
    ``dropout=[.2, .5]``). The softmax runs over regions × words jointly; masked pairs (padded
    regions, and padded words when ``word_mask`` is given) get exactly zero weight.

    Returns the masked logits ``(batch, G, regions, words)`` (masked pairs hold the dtype's
    minimum, which the counting module reads as "no object") and the maps ``A_g`` (same shape).
    """

    def __init__(
        self,
        region_size: int,
        question_size: int,
        hidden_size: int,
        num_glimpses: int,
        rank_factor: int = 3,
        dropout: float = 0.2,
        attention_dropout: float = 0.5,
    ):
        super().__init__()
        self.num_glimpses = num_glimpses
        inner_size = hidden_size * rank_factor
        self.region_projection = WeightNormFC(region_size, inner_size, "relu", dropout)
        self.question_projection = WeightNormFC(question_size, inner_size, "relu", dropout)
        self.attention_dropout = nn.Dropout(attention_dropout)
        # p_g for every glimpse, weight-normed as one tensor: P = g · V / ‖V‖.
        self.glimpse_weight_direction = nn.Parameter(torch.empty(num_glimpses, inner_size))
        self.glimpse_weight_scale = nn.Parameter(torch.empty(()))
        self.glimpse_bias = nn.Parameter(torch.empty(num_glimpses))
        with torch.no_grad():
            self.glimpse_weight_direction.normal_()
            self.glimpse_weight_scale.copy_(self.glimpse_weight_direction.norm())
            self.glimpse_bias.normal_()

    @property
    def glimpse_weight(self) -> torch.Tensor:
        return self.glimpse_weight_direction * (self.glimpse_weight_scale / self.glimpse_weight_direction.norm())

    def forward(
        self,
        regions: torch.Tensor,
        words: torch.Tensor,
        region_mask: torch.Tensor | None = None,
        word_mask: torch.Tensor | None = None,
        projected_regions: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``projected_regions``: σ(Vᵀ Y) computed beforehand (the model computes every region
        projection in one matrix product when dropout is off); ``regions`` are not read then."""
        if projected_regions is None:
            projected_regions = self.region_projection(regions)
        projected_regions = self.attention_dropout(projected_regions)  # (batch, regions, hk)
        projected_words = self.question_projection(words)  # (batch, words, hk)
        batch, num_regions, num_words = projected_regions.shape[0], projected_regions.shape[1], projected_words.shape[1]
        # (1 · p_gᵀ) ∘ σ(Xᵀ U) for every glimpse at once, then one product with the regions:
        # (batch, G·words, hk) @ (batch, hk, regions) -> (batch, G, words, regions).
        weighted_words = projected_words.unsqueeze(1) * self.glimpse_weight[None, :, None, :]
        logits = torch.bmm(weighted_words.flatten(1, 2), projected_regions.transpose(1, 2))
        logits = logits.view(batch, self.num_glimpses, num_words, num_regions).transpose(2, 3)
        logits = logits + self.glimpse_bias[None, :, None, None]
        mask = joint_mask(region_mask, word_mask)
        if mask is not None:
            logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
        attention = torch.softmax(logits.flatten(2), dim=-1).view_as(logits)
        return logits, attention


class BilinearPooling(nn.Module):
    """The joint representation of one glimpse, ``f = BAN(X, Y; A)``: BAN section 3, the
    equations of f'_k and f = Pᵀf', with σ and the sum pooling of the same section (ban-vqa
    ``BCNet.forward_with_weights``)::

        f'_k = σ(Xᵀ U')_kᵀ · A · σ(Yᵀ V')_k = Σ_i Σ_j A_{i,j} σ(U'_kᵀ X_i) σ(V'_kᵀ Y_j)
        f    = P ᵀ f'       with P the sum-pooling of each ``rank_factor`` consecutive units

    U', V' are weight-normed projections (ReLU) to ``hidden_size * rank_factor``; ban-vqa uses
    rank factor 1 here (``BCNet(..., k=1)``: no pooling), OpenVQA 3 (``AvgPool1d(3) * 3``, a sum).
    Returns f ``(batch, hidden_size)``.
    """

    def __init__(self, region_size: int, question_size: int, hidden_size: int, rank_factor: int = 1, dropout: float = 0.2):
        super().__init__()
        self.rank_factor = rank_factor
        self.region_projection = WeightNormFC(region_size, hidden_size * rank_factor, "relu", dropout)
        self.question_projection = WeightNormFC(question_size, hidden_size * rank_factor, "relu", dropout)

    def forward(
        self,
        regions: torch.Tensor,
        words: torch.Tensor,
        attention: torch.Tensor,
        projected_regions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``attention``: one map A ``(batch, regions, words)``; ``projected_regions``: σ(Yᵀ V')
        computed beforehand (``regions`` are not read then)."""
        if projected_regions is None:
            projected_regions = self.region_projection(regions)
        projected_words = self.question_projection(words)  # (batch, words, hk)
        # Σ_j A_{i,j} σ(V'ᵀ Y_j) for every word i, then Σ_i with σ(U'ᵀ X_i): (batch, hk).
        attended = torch.bmm(attention.transpose(1, 2), projected_regions)  # (batch, words, hk)
        joint = (attended * projected_words).sum(dim=1)
        if self.rank_factor > 1:
            joint = joint.unflatten(-1, (-1, self.rank_factor)).sum(dim=-1)
        return joint


__all__ = [
    "BilinearAttentionMap",
    "BilinearPooling",
    "CountingModule",
    "PiecewiseLinear",
    "WeightNormFC",
    "WeightNormLinear",
    "box_iou",
    "grid_boxes",
    "joint_mask",
]
