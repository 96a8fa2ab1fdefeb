"""Attention building blocks shared by the VQA models.

Each block cites the paper and equation it implements. Shapes follow the package contract:
image regions ``(batch, num_regions, dim)``, question vectors ``(batch, dim)``, masks with 1 for
real positions and 0 for padding.
"""

from __future__ import annotations

import torch
from torch import nn


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None, dim: int = -1) -> torch.Tensor:
    """Softmax over ``dim`` that gives exactly zero weight to positions where ``mask`` is 0.

    A row whose mask is all zero would have no valid position; callers reject such inputs before
    they get here (an empty question or an image without regions), so this never divides by zero.
    """
    if mask is not None:
        scores = scores.masked_fill(~mask.bool(), torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=dim)


class StackedAttentionHop(nn.Module):
    """One attention layer ("hop") of the Stacked Attention Network.

    Yang, He, Gao, Deng, Smola, *Stacked Attention Networks for Image Question Answering*,
    CVPR 2016, equations (14)-(19):

    ``attention_form="paper"``::

        h_A = tanh(W_I V ⊕ (W_Q u + b_A))          (eq. 15; ⊕ adds the vector to every region)
        p_I = softmax(W_P h_A + b_P)               (eq. 16)
        ṽ   = Σ_i p_i v_i                          (eq. 17)
        u'  = ṽ + u                                (eq. 18)

    ``attention_form="code"`` follows the released Theano code (zcyang/imageqa-san), which applies
    the non-linearity to each projection separately and also squashes the score::

        h_A = tanh(W_I V + b_I) + tanh(W_Q u + b_Q)
        p_I = softmax(tanh(W_P h_A + b_P))
    """

    def __init__(self, hidden_size: int, attention_size: int, attention_form: str = "paper", dropout: float = 0.0):
        super().__init__()
        if attention_form not in ("paper", "code"):
            raise ValueError(f"attention_form must be 'paper' or 'code', got {attention_form!r}")
        self.attention_form = attention_form
        # The paper's W_I has no bias (b_A sits on the question side); the code has one on both.
        self.image_projection = nn.Linear(hidden_size, attention_size, bias=attention_form == "code")
        self.question_projection = nn.Linear(hidden_size, attention_size)
        self.score = nn.Linear(attention_size, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        image_regions: torch.Tensor,
        question: torch.Tensor,
        region_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the refined query ``u'`` (batch, hidden) and the attention ``p_I`` (batch, regions)."""
        image_part = self.image_projection(image_regions)
        question_part = self.question_projection(question).unsqueeze(1)
        if self.attention_form == "paper":
            joint = torch.tanh(image_part + question_part)
        else:
            joint = torch.tanh(image_part) + torch.tanh(question_part)
        scores = self.score(self.dropout(joint)).squeeze(-1)
        if self.attention_form == "code":
            scores = torch.tanh(scores)
        attention = masked_softmax(scores, region_mask)
        attended = torch.bmm(attention.unsqueeze(1), image_regions).squeeze(1)
        return attended + question, attention


class MultiGlimpseAttention(nn.Module):
    """Question-guided attention over image regions with ``G`` glimpses, each scored from a
    multimodal fusion of the question with the region.

    The form shared by MCB, MLB and MUTAN attention::

        f_n = Fusion(q, v_n)                          (the question tiled over the regions)
        α_g = softmax_n(P_g^T MLP(f_n))               (one score per glimpse; masked regions get 0)
        v̂_g = Σ_n α_{g,n} v_n

    * MCB (Fukui et al. 2016, section 3.2 and Fig. 3): ``Fusion`` = MCB → signed sqrt → L2; the
      scores come from a 1×1 conv of 512 units with ReLU, then a 1×1 conv to G (``hidden_size``).
    * MLB (Kim et al. 2017, eq. 9-10): ``Fusion`` = σ(U q) ∘ σ(V v_n), scored by ``P_α`` directly
      (``hidden_size=None``).
    * MUTAN (Ben-Younes et al. 2017, section 4.2): ``Fusion`` = the Tucker / MUTAN fusion, then
      a linear map to G.

    A 1×1 convolution over the grid is a Linear applied to every region, which is how it is written.
    Returns the glimpses ``(batch, G, dim)`` and the attention maps ``(batch, G, regions)``.
    """

    def __init__(self, fusion: nn.Module, fused_size: int, num_glimpses: int, hidden_size: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.fusion = fusion
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden_size:
            layers += [nn.Linear(fused_size, hidden_size), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(hidden_size or fused_size, num_glimpses))
        self.score = nn.Sequential(*layers)

    def forward(
        self,
        image_regions: torch.Tensor,
        question: torch.Tensor,
        region_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        fused = self.fusion(question.unsqueeze(1), image_regions)  # (batch, regions, fused)
        scores = self.score(fused).transpose(1, 2)  # (batch, glimpses, regions)
        attention = masked_softmax(scores, region_mask.unsqueeze(1) if region_mask is not None else None)
        return torch.bmm(attention, image_regions), attention
