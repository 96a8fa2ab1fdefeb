"""The visual and textual attentions of the Dual Attention Networks, one step k at a time.

Nam, Ha, Kim, *Dual Attention Networks for Multimodal Reasoning and Matching*, CVPR 2017
(https://arxiv.org/abs/1611.00471), section 3.2 (r-DAN; m-DAN, section 3.3, uses the same two
attentions): a memory guides an attention over the image regions and one over the words (the
equations of [`DualAttentionStep`]). Shapes: regions ``(batch, regions, region_size)``, words
``(batch, words, text_size)``, memories ``(batch, text_size)``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .fusion import LowRankBilinearFusion
from .glimpse_attention import MultiGlimpseAttention


class DualAttentionOutput(NamedTuple):
    """What one [`DualAttentionStep`] returns: the attended vectors ``v^(k)`` and ``u^(k)``
    ``(batch, text_size)`` and the weights ``α_v`` ``(batch, regions)`` and ``α_u`` ``(batch, words)``."""

    visual: torch.Tensor
    textual: torch.Tensor
    visual_attention: torch.Tensor
    textual_attention: torch.Tensor


class DualAttentionStep(nn.Module):
    """One step k of the visual and textual attention of the Dual Attention Networks.

    Nam, Ha, Kim, *Dual Attention Networks for Multimodal Reasoning and Matching*, CVPR 2017,
    section 3.2 (r-DAN; m-DAN, section 3.3, uses the same two attentions)::

        h_{v,n} = tanh(W_v v_n) ⊙ tanh(W_{v,m} m_v)       visual attention
        α_{v,n} = softmax_n(W_{v,h} h_{v,n})
        v^(k)   = tanh(P^(k) Σ_n α_{v,n} v_n)
        h_{u,t} = tanh(W_u u_t) ⊙ tanh(W_{u,m} m_u)       textual attention
        α_{u,t} = softmax_t(W_{u,h} h_{u,t})               (padding words get 0)
        u^(k)   = Σ_t α_{u,t} u_t

    r-DAN guides both attentions with its joint memory (``m_v = m_u = m^(k-1)``); m-DAN with a
    visual and a textual memory of its own. Each attention is a one-glimpse
    [`MultiGlimpseAttention`] over a tanh [`LowRankBilinearFusion`] of the memory with every
    region (word); ``dropout`` applies to the fusion's inputs. ``v^(k)`` lives in the text space
    (``text_size``) so that it can be multiplied with ``u^(k)``.
    """

    def __init__(self, region_size: int, text_size: int, attention_size: int, dropout: float = 0.0):
        super().__init__()
        self.visual_attention = MultiGlimpseAttention(
            LowRankBilinearFusion(text_size, region_size, attention_size, dropout=dropout, activation="tanh"), attention_size, num_glimpses=1
        )
        self.visual_projection = nn.Sequential(nn.Linear(region_size, text_size), nn.Tanh())  # tanh(P^(k) ·)
        self.textual_attention = MultiGlimpseAttention(
            LowRankBilinearFusion(text_size, text_size, attention_size, dropout=dropout, activation="tanh"), attention_size, num_glimpses=1
        )

    def attend_visual(self, regions: torch.Tensor, memory: torch.Tensor, region_mask: torch.Tensor | None = None):
        """The visual attention alone: ``(v^(k), α_v)`` (m-DAN runs it without any text)."""
        # The fusion takes the memory in its "question" slot: tanh(W_{v,m} m) ⊙ tanh(W_v v_n).
        attended_regions, visual_attention = self.visual_attention(regions, memory, region_mask)
        return self.visual_projection(attended_regions.squeeze(1)), visual_attention.squeeze(1)

    def attend_textual(self, words: torch.Tensor, memory: torch.Tensor, word_mask: torch.Tensor | None = None):
        """The textual attention alone: ``(u^(k), α_u)`` (m-DAN runs it without any image)."""
        textual, textual_attention = self.textual_attention(words, memory, word_mask)
        return textual.squeeze(1), textual_attention.squeeze(1)

    def forward(
        self,
        regions: torch.Tensor,
        words: torch.Tensor,
        visual_memory: torch.Tensor,
        textual_memory: torch.Tensor,
        region_mask: torch.Tensor | None = None,
        word_mask: torch.Tensor | None = None,
    ) -> DualAttentionOutput:
        visual, visual_attention = self.attend_visual(regions, visual_memory, region_mask)
        textual, textual_attention = self.attend_textual(words, textual_memory, word_mask)
        return DualAttentionOutput(visual, textual, visual_attention, textual_attention)


__all__ = ["DualAttentionOutput", "DualAttentionStep"]
