"""The attention layer ("hop") of the Stacked Attention Network.

Yang, He, Gao, Deng, Smola, *Stacked Attention Networks for Image Question Answering*, CVPR 2016
(https://arxiv.org/abs/1511.02274), section 3.3, equations (14)-(19): the query ``u`` attends over
the image regions ``v_i`` and the attended image is added to it, ``u' = Σ_i p_i v_i + u``; SAN
stacks K such hops. Shapes: regions ``(batch, regions, hidden)``, query ``(batch, hidden)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .masking import masked_softmax


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


__all__ = ["StackedAttentionHop"]
