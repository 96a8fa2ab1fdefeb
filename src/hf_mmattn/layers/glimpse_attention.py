"""Multi-glimpse attention: G attention maps over the image regions, each scored from a fusion of
the question with every region.

The attention of MCB (Fukui et al., EMNLP 2016, section 3.2, Fig. 3), MLB (Kim et al., ICLR
2017, section 4, eq. 9-10) and MUTAN (Ben-Younes et al., ICCV 2017, section 4.2); r-DAN's visual
and textual attentions are one-glimpse instances of it (``layers/dual_attention.py``)::

    f_n = Fusion(q, v_n),   α_g = softmax_n(P_gᵀ MLP(f_n)),   v̂_g = Σ_n α_{g,n} v_n

Shapes: regions ``(batch, regions, dim)``, question ``(batch, question_size)``, masks with 1 for
real regions and 0 for padding.
"""

from __future__ import annotations

import torch
from torch import nn

from .masking import masked_softmax


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
            # MCB's 1x1 conv of 512 + ReLU feeds the score conv directly (no dropout between).
            layers += [nn.Linear(fused_size, hidden_size), nn.ReLU()]
        layers.append(nn.Linear(hidden_size or fused_size, num_glimpses))
        self.score = nn.Sequential(*layers)

    def forward(
        self,
        image_regions: torch.Tensor,
        question: torch.Tensor,
        region_mask: torch.Tensor | None = None,
        image_index: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``image_index`` (optional; only for a fusion that takes it, e.g. MCB): the row of
        ``image_regions`` / ``region_mask`` (one per image) each question reads."""
        if image_index is None:
            fused = self.fusion(question.unsqueeze(1), image_regions)  # (batch, regions, fused)
        else:
            fused = self.fusion(question.unsqueeze(1), image_regions, image_index=image_index)
            image_regions = image_regions[image_index]
            region_mask = region_mask[image_index] if region_mask is not None else None
        scores = self.score(fused).transpose(1, 2)  # (batch, glimpses, regions)
        attention = masked_softmax(scores, region_mask.unsqueeze(1) if region_mask is not None else None)
        return torch.bmm(attention, image_regions), attention


__all__ = ["MultiGlimpseAttention"]
