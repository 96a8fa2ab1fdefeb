"""Fusion of a question vector with an image vector, and the answer classifiers on top."""

from __future__ import annotations

import torch
from torch import nn


class ElementwiseProductFusion(nn.Module):
    """Point-wise multiplication fusion of the "deeper LSTM Q + norm I" baseline.

    Antol, Agrawal, Lu, Mitchell, Batra, Zitnick, Parikh, *VQA: Visual Question Answering*,
    ICCV 2015, section 5 (and GT-Vision-Lab/VQA_LSTM_CNN): each modality goes through
    dropout → fully connected layer → tanh into a common space, and the two are multiplied
    element-wise::

        f = tanh(W_q dropout(q) + b_q) ⊙ tanh(W_v dropout(v) + b_v)
    """

    def __init__(self, question_size: int, image_size: int, fused_size: int, dropout: float = 0.5):
        super().__init__()
        self.question_projection = nn.Linear(question_size, fused_size)
        self.image_projection = nn.Linear(image_size, fused_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, question: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        question_part = torch.tanh(self.question_projection(self.dropout(question)))
        image_part = torch.tanh(self.image_projection(self.dropout(image)))
        return question_part * image_part


class AnswerClassifier(nn.Module):
    """Answer scores from a fused vector.

    ``head_type="linear"`` is the single softmax layer of SAN (Yang et al. 2016, eq. 20) and of
    the VQA baseline (Antol et al. 2015). ``head_type="mlp"`` inserts one ReLU hidden layer, as
    the later bottom-up-attention / BAN classifiers do; on easy-VQA the linear head leaves SAN's
    yes/no answers at the prior (REFERENCE.md, easy-VQA facts), the MLP head does not.
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
