"""Bilinear attention networks (BAN) and the counting module it uses.

Kim, Jun, Zhang, *Bilinear Attention Networks*, NeurIPS 2018 (https://arxiv.org/abs/1805.07932),
section 3, and the authors' code (jnhwkim/ban-vqa: ``fc.py``, ``bc.py``, ``attention.py``); the
counting module of Zhang, Hare, Prügel-Bennett, *Learning to Count Objects in Natural Images for
Visual Question Answering*, ICLR 2018 (https://openreview.net/forum?id=B12Js_yRb), section 4, as
in Cyanogenoid/vqa-counting's ``counting.py``, which ban-vqa copies.

The paper writes the question as X (ρ words, columns X_i) and the image as Y (φ objects, columns
Y_j). The code, and these layers, take the image regions ``v`` (batch, regions, D_v) and the
question's word states ``q`` (batch, words, D_q) and return maps laid out (regions, words).
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


class PiecewiseLinear(nn.Module):
    """A monotone piecewise-linear map of [0, 1] onto [0, 1] with ``num_pieces`` equal pieces
    (Zhang et al. 2018, section 4.1, the functions f_1..f_8): the slope of piece p is
    |w_p| / Σ|w| (so f(0) = 0 and f(1) = 1); ``weight[0]`` stays 0 (its gradient is 0)."""

    def __init__(self, num_pieces: int = 16):
        super().__init__()
        self.num_pieces = num_pieces
        weight = torch.ones(num_pieces + 1)
        weight[0] = 0
        self.weight = nn.Parameter(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        slopes = self.weight.abs()
        slopes = slopes / slopes.sum()
        cumulative = slopes.cumsum(dim=0)
        scaled = self.num_pieces * x
        piece = scaled.long()  # the piece x lies on (inputs are in [0, 1])
        fraction = scaled.frac()
        return cumulative[piece.clamp(max=self.num_pieces)] + fraction * slopes[(piece + 1).clamp(max=self.num_pieces)]


def box_iou(boxes: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every pair of boxes ``(batch, n, 4)`` given as (x1, y1, x2, y2);
    returns ``(batch, n, n)``. Degenerate boxes have area 0 (1e-12 keeps 0/0 at 0)."""
    top_left = torch.maximum(boxes[:, :, None, :2], boxes[:, None, :, :2])
    bottom_right = torch.minimum(boxes[:, :, None, 2:], boxes[:, None, :, 2:])
    intersection = (bottom_right - top_left).clamp(min=0).prod(dim=-1)
    area = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0).prod(dim=-1)
    return intersection / (area[:, :, None] + area[:, None, :] - intersection + 1e-12)


class CountingModule(nn.Module):
    """Differentiable counting from attention weights and boxes (Zhang, Hare, Prügel-Bennett,
    ICLR 2018, section 4; ``counting.py`` of Cyanogenoid/vqa-counting, as in ban-vqa).

    For the ``num_objects`` regions with the highest attention logits, a_i = sigmoid(logit_i)::

        A = a aᵀ, D = 1 - IoU                              relevancy and distance
        Ã = f_1(A) ∘ f_2(D)                                 intra-object deduplication
        s_i = Σ_j f_3(1 - |a_i - a_j|) Π_k f_3(1 - |X_ik - X_jk|),  X = f_4(A) ∘ f_5(D)
        C = Σ_{i,j} Ã_ij / (s_i s_j) + Σ_i f_1(a_i a_i) / s_i,  c = √C        inter-object dedup
        o = onehot_interp(c) · f_8(mean_i |f_6(a_i) - ½| + mean_ij |f_7(D_ij) - ½|)   confidence

    (f_1..f_8 are ``functions[0..7]``, [`PiecewiseLinear`] maps; the code's order is
    f[0] f[1] for Ã, f[3] f[4] for X, f[2] for s, f[5] f[6] f[7] for the confidence.)
    ``onehot_interp`` spreads c over the bins floor(c) and floor(c) + 1 of a
    ``num_objects + 1`` vector. Returns ``(batch, num_objects + 1)``.

    With fewer than ``num_objects`` regions, the missing ones count as regions with zero
    attention and an empty box at (0, 0, 0, 0), as ban-vqa's zero-padded regions are; callers
    should zero the boxes of padded regions, so that padding never changes the count.
    """

    NUM_FUNCTIONS = 8

    def __init__(self, num_objects: int = 10, num_pieces: int = 16):
        super().__init__()
        self.num_objects = num_objects
        self.functions = nn.ModuleList(PiecewiseLinear(num_pieces) for _ in range(self.NUM_FUNCTIONS))

    def forward(self, boxes: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """``boxes`` (batch, regions, 4) as (x1, y1, x2, y2); ``logits`` (batch, regions) attention
        logits (any real value; masked regions hold a very negative value)."""
        f = self.functions
        missing = self.num_objects - logits.shape[1]
        if missing > 0:
            logits = F.pad(logits, (0, missing), value=torch.finfo(logits.dtype).min)
            boxes = F.pad(boxes, (0, 0, 0, missing))
        logits, index = logits.topk(self.num_objects, dim=1, sorted=False)
        boxes = boxes.gather(1, index.unsqueeze(-1).expand(-1, -1, 4))
        attention = torch.sigmoid(logits)  # (batch, n)

        relevancy = attention[:, :, None] * attention[:, None, :]
        distance = 1 - box_iou(boxes)
        score = f[0](relevancy) * f[1](distance)

        # Inter-object deduplication: similarity of every pair of rows of X and of attentions.
        dedup_score = f[3](relevancy) * f[4](distance)
        score_diff = (dedup_score[:, :, :, None] - dedup_score[:, :, None, :]).abs()
        attention_diff = (attention[:, :, None] - attention[:, None, :]).abs()
        similarity = f[2](1 - score_diff).prod(dim=1) * f[2](1 - attention_diff)
        row_similarity = similarity.sum(dim=2)
        score = score / (row_similarity[:, :, None] * row_similarity[:, None, :])
        correction = f[0](attention * attention) / row_similarity
        count = score.sum(dim=2).sum(dim=1, keepdim=True) + correction.sum(dim=1, keepdim=True)
        count = (count + 1e-20).sqrt()
        one_hot = self.interpolated_one_hot(count)

        attention_confidence = (f[5](attention) - 0.5).abs()
        distance_confidence = (f[6](distance) - 0.5).abs()
        confidence = f[7](attention_confidence.mean(dim=1, keepdim=True) + distance_confidence.mean(dim=2).mean(dim=1, keepdim=True))
        return one_hot * confidence

    def interpolated_one_hot(self, count: torch.Tensor) -> torch.Tensor:
        """``count`` (batch, 1) ≥ 0 → (batch, num_objects + 1): with n = floor(c), weight 1 - frac(c)
        on bin n and frac(c) on bin n + 1 (both clamped to num_objects); 2.75 → [0, 0, .25, .75, 0...]."""
        count = count.clamp(min=0, max=self.num_objects)
        lower = count.detach().long()
        fraction = count.frac()
        bins = self.num_objects + 1
        lower_hot = F.one_hot(lower.squeeze(1).clamp(max=self.num_objects), bins).to(count.dtype)
        upper_hot = F.one_hot((lower.squeeze(1) + 1).clamp(max=self.num_objects), bins).to(count.dtype)
        return (1 - fraction) * lower_hot + fraction * upper_hot


def grid_boxes(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """The (x1, y1, x2, y2) box of every cell of a ``height x width`` grid in [0, 1], row-major
    (the order of ``feature_map.flatten(2)``): ``(height * width, 4)``. Lets the counting module
    read a CNN grid as regions."""
    rows = torch.arange(height, device=device, dtype=dtype)
    columns = torch.arange(width, device=device, dtype=dtype)
    y, x = torch.meshgrid(rows, columns, indexing="ij")
    return torch.stack([x / width, y / height, (x + 1) / width, (y + 1) / height], dim=-1).reshape(-1, 4)


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
