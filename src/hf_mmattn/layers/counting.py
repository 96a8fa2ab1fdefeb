"""Differentiable counting of objects from attention weights and boxes.

Zhang, Hare, Prügel-Bennett, *Learning to Count Objects in Natural Images for Visual Question
Answering*, ICLR 2018 (https://openreview.net/forum?id=B12Js_yRb), section 4 (equations of
[`CountingModule`]), as in Cyanogenoid/vqa-counting's ``counting.py``, which the code of BAN
(Kim, Jun, Zhang, NeurIPS 2018, jnhwkim/ban-vqa) copies. Boxes are ``(x1, y1, x2, y2)``
normalised to [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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


__all__ = ["CountingModule", "PiecewiseLinear", "box_iou", "grid_boxes"]
