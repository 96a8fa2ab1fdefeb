"""Question-image co-attention of the Hierarchical Co-Attention model: the question and the image
attend to each other, in parallel or alternating.

Lu, Yang, Batra, Parikh, *Hierarchical Question-Image Co-Attention for Visual Question
Answering*, NeurIPS 2016 (https://arxiv.org/abs/1606.00061), section 3.3: parallel co-attention
through the affinity matrix (equations (3)-(5), [`ParallelCoAttention`]) and alternating
co-attention, three guided attention operations ``x̂ = A(X; g)`` (equation (6),
[`GuidedAttention`], [`AlternatingCoAttention`]). The words ``Q`` ``(batch, words,
question_size)`` and regions ``V`` ``(batch, regions, image_size)``; masks with 1 for real
positions, whose complement gets exactly zero weight.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .masking import masked_softmax


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


__all__ = ["AlternatingCoAttention", "CoAttentionOutput", "GuidedAttention", "ParallelCoAttention"]
