"""Answer classifiers: answer scores from the fused question-image vector.

The single softmax layer of SAN (Yang et al., CVPR 2016, eq. 20: ``p_ans = softmax(W_u u + b_u)``)
and of the VQA baseline (Antol et al., ICCV 2015, section 5), and the one-hidden-layer MLP of the
bottom-up-attention / BAN classifiers (Anderson et al., CVPR 2018; Kim et al., NeurIPS 2018,
``SimpleClassifier``). The heads return logits; the softmax (or sigmoid) is in the loss.
"""

from __future__ import annotations

import torch
from torch import nn


class AnswerClassifier(nn.Module):
    """Answer scores from a fused vector.

    ``head_type="linear"`` is the single softmax layer of SAN (Yang et al. 2016, eq. 20) and of
    the VQA baseline (Antol et al. 2015). ``head_type="mlp"`` inserts one ReLU hidden layer, as
    the later bottom-up-attention / BAN classifiers do; on easy-VQA the linear head leaves SAN's
    yes/no answers at the prior (docs/equations.md, easy-VQA), the MLP head does not.
    """

    def __init__(self, input_size: int, num_labels: int, head_type: str = "linear", hidden_size: int = 1024, dropout: float = 0.5):
        super().__init__()
        if head_type == "linear":
            self.layers = nn.Sequential(nn.Dropout(dropout), nn.Linear(input_size, num_labels))
        elif head_type == "mlp":
            self.layers = nn.Sequential(
                nn.Dropout(dropout),
                nn.Linear(input_size, hidden_size),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden_size, num_labels),
            )
        else:
            raise ValueError(f"answer head must be 'linear' or 'mlp', got {head_type!r}")

    def forward(self, fused: torch.Tensor) -> torch.Tensor:
        return self.layers(fused)


__all__ = ["AnswerClassifier"]
