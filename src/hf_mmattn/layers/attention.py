"""Attention building blocks shared by the VQA models.

Each block cites the paper and equation it implements. Shapes follow the package contract:
image regions ``(batch, num_regions, dim)``, question vectors ``(batch, dim)``, masks with 1 for
real positions and 0 for padding.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .fusion import LowRankBilinearFusion
from .masking import masked_mean, masked_softmax  # noqa: F401 (masked_mean: importable from here)


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

    def forward(
        self,
        regions: torch.Tensor,
        words: torch.Tensor,
        visual_memory: torch.Tensor,
        textual_memory: torch.Tensor,
        region_mask: torch.Tensor | None = None,
        word_mask: torch.Tensor | None = None,
    ) -> DualAttentionOutput:
        # The fusion takes the memory in its "question" slot: tanh(W_{v,m} m) ⊙ tanh(W_v v_n).
        attended_regions, visual_attention = self.visual_attention(regions, visual_memory, region_mask)
        textual, textual_attention = self.textual_attention(words, textual_memory, word_mask)
        visual = self.visual_projection(attended_regions.squeeze(1))
        return DualAttentionOutput(visual, textual.squeeze(1), visual_attention.squeeze(1), textual_attention.squeeze(1))


class CoAttentionOutput(NamedTuple):
    """What a co-attention layer ([`ParallelCoAttention`], [`AlternatingCoAttention`]) returns:
    the attended question and image vectors ``q̂`` ``(batch, question_size)`` and ``v̂``
    ``(batch, image_size)``, and their weights ``a^q`` over the words ``(batch, words)`` and
    ``a^v`` over the regions ``(batch, regions)``."""

    attended_question: torch.Tensor
    attended_image: torch.Tensor
    question_attention: torch.Tensor
    image_attention: torch.Tensor


class ParallelCoAttention(nn.Module):
    """Parallel co-attention of the Hierarchical Co-Attention model: the image and the question
    attend to each other at once, through their affinity.

    Lu, Yang, Batra, Parikh, *Hierarchical Question-Image Co-Attention for Visual Question
    Answering*, NeurIPS 2016, section 3.3, equations (3)-(5), with the words ``Q = [q_1..q_T]``
    and regions ``V = [v_1..v_N]`` as columns::

        C   = tanh(Qᵀ W_b V)                                  (eq. 3, the T × N affinity)
        H^v = tanh(W_v V + (W_q Q) C),   H^q = tanh(W_q Q + (W_v V) Cᵀ)
        a^v = softmax(w_hvᵀ H^v),        a^q = softmax(w_hqᵀ H^q)          (eq. 4)
        v̂   = Σ_n a^v_n v_n,              q̂   = Σ_t a^q_t q_t                (eq. 5)

    Padding words (``word_mask`` 0) and masked regions (``region_mask`` 0) get exactly zero
    weight, and their affinities are set to 0 so that the sums over words in ``(W_q Q) C`` and
    over regions in ``(W_v V) Cᵀ`` run over real positions only: what is stored at a padded
    position never reaches the output.

    ``bias=False`` is the paper's equations; ``bias=True`` gives ``W_b``, ``W_v``, ``W_q`` (and
    the score vectors) a bias, as the Linear layers of the authors' code (jiasenlu/HieCoAttenVQA,
    ``attention.parallel_atten``) do. ``dropout`` applies to ``H^v`` and ``H^q`` before scoring,
    as in that code.
    """

    def __init__(self, question_size: int, image_size: int, attention_size: int, bias: bool = False, dropout: float = 0.0):
        super().__init__()
        self.affinity_projection = nn.Linear(image_size, question_size, bias=bias)  # W_b
        self.question_projection = nn.Linear(question_size, attention_size, bias=bias)  # W_q
        self.image_projection = nn.Linear(image_size, attention_size, bias=bias)  # W_v
        self.question_score = nn.Linear(attention_size, 1, bias=bias)  # w_hq
        self.image_score = nn.Linear(attention_size, 1, bias=bias)  # w_hv
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        question: torch.Tensor,
        image_regions: torch.Tensor,
        word_mask: torch.Tensor | None = None,
        region_mask: torch.Tensor | None = None,
    ) -> CoAttentionOutput:
        """``question`` ``(batch, words, question_size)``, ``image_regions`` ``(batch, regions, image_size)``."""
        affinity = torch.tanh(question @ self.affinity_projection(image_regions).transpose(1, 2))  # (batch, T, N)
        if word_mask is not None:
            affinity = affinity * word_mask.unsqueeze(2).to(affinity.dtype)
        if region_mask is not None:
            affinity = affinity * region_mask.unsqueeze(1).to(affinity.dtype)
        question_part = self.question_projection(question)  # (W_q Q)ᵀ: (batch, T, k)
        image_part = self.image_projection(image_regions)  # (W_v V)ᵀ: (batch, N, k)
        image_hidden = torch.tanh(image_part + affinity.transpose(1, 2) @ question_part)  # (H^v)ᵀ
        question_hidden = torch.tanh(question_part + affinity @ image_part)  # (H^q)ᵀ
        image_attention = masked_softmax(self.image_score(self.dropout(image_hidden)).squeeze(-1), region_mask)
        question_attention = masked_softmax(self.question_score(self.dropout(question_hidden)).squeeze(-1), word_mask)
        attended_image = torch.bmm(image_attention.unsqueeze(1), image_regions).squeeze(1)
        attended_question = torch.bmm(question_attention.unsqueeze(1), question).squeeze(1)
        return CoAttentionOutput(attended_question, attended_image, question_attention, image_attention)


class GuidedAttention(nn.Module):
    """The attention operation ``x̂ = A(X; g)`` of alternating co-attention (Lu et al., NeurIPS
    2016, section 3.3, equation (6)): attend over the columns of ``X`` guided by a vector ``g``::

        H   = tanh(W_x X + (W_g g) 1ᵀ)
        a^x = softmax(w_hxᵀ H)
        x̂   = Σ_i a^x_i x_i

    ``guide_size=None`` is the unguided case ``g = 0`` (no ``W_g``). ``bias`` and ``dropout`` (on
    ``H``) as in [`ParallelCoAttention`]. Positions where ``mask`` is 0 get exactly zero weight.
    Returns ``x̂`` ``(batch, input_size)`` and ``a^x`` ``(batch, positions)``.
    """

    def __init__(self, input_size: int, guide_size: int | None, attention_size: int, bias: bool = False, dropout: float = 0.0):
        super().__init__()
        self.input_projection = nn.Linear(input_size, attention_size, bias=bias)  # W_x
        self.guide_projection = nn.Linear(guide_size, attention_size, bias=bias) if guide_size else None  # W_g
        self.score = nn.Linear(attention_size, 1, bias=bias)  # w_hx
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, inputs: torch.Tensor, guide: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if (guide is None) != (self.guide_projection is None):
            raise ValueError("pass a guide vector g exactly when the attention was built with a guide_size")
        hidden = self.input_projection(inputs)
        if guide is not None:
            hidden = hidden + self.guide_projection(guide).unsqueeze(1)
        attention = masked_softmax(self.score(self.dropout(torch.tanh(hidden))).squeeze(-1), mask)
        return torch.bmm(attention.unsqueeze(1), inputs).squeeze(1), attention


class AlternatingCoAttention(nn.Module):
    """Alternating co-attention of the Hierarchical Co-Attention model (Lu et al., NeurIPS 2016,
    section 3.3, equation (6)): three [`GuidedAttention`] steps, each with its own weights::

        ŝ = A(Q; 0)      summarise the question
        v̂ = A(V; ŝ)      attend to the image guided by the summary
        q̂ = A(Q; v̂)      attend to the question guided by the attended image

    The returned ``question_attention`` is the third step's (the one that gives ``q̂``); the first
    step's summary weights are not returned. Padding words and masked regions get exactly zero
    weight in every step.
    """

    def __init__(self, question_size: int, image_size: int, attention_size: int, bias: bool = False, dropout: float = 0.0):
        super().__init__()
        self.question_summary = GuidedAttention(question_size, None, attention_size, bias, dropout)
        self.image_attention = GuidedAttention(image_size, question_size, attention_size, bias, dropout)
        self.question_attention = GuidedAttention(question_size, image_size, attention_size, bias, dropout)

    def forward(
        self,
        question: torch.Tensor,
        image_regions: torch.Tensor,
        word_mask: torch.Tensor | None = None,
        region_mask: torch.Tensor | None = None,
    ) -> CoAttentionOutput:
        summary, _ = self.question_summary(question, None, word_mask)
        attended_image, image_attention = self.image_attention(image_regions, summary, region_mask)
        attended_question, question_attention = self.question_attention(question, attended_image, word_mask)
        return CoAttentionOutput(attended_question, attended_image, question_attention, image_attention)
