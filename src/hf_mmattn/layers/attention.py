"""The attention layers under the module name they shared before each got its own file. Kept so
that existing imports keep working; new code imports from the layer's own module:

* ``layers/stacked_attention.py``: SAN's hop, [`StackedAttentionHop`];
* ``layers/glimpse_attention.py``: MCB / MLB / MUTAN's [`MultiGlimpseAttention`];
* ``layers/dual_attention.py``: r-DAN's [`DualAttentionStep`];
* ``layers/coattention.py``: HieCoAtt's parallel and alternating co-attention;
* ``layers/masking.py``: [`masked_softmax`], [`masked_mean`].
"""

from __future__ import annotations

from .coattention import AlternatingCoAttention, CoAttentionOutput, GuidedAttention, ParallelCoAttention
from .dual_attention import DualAttentionOutput, DualAttentionStep
from .fusion import LowRankBilinearFusion
from .glimpse_attention import MultiGlimpseAttention
from .masking import masked_mean, masked_softmax
from .stacked_attention import StackedAttentionHop

__all__ = [
    "AlternatingCoAttention",
    "CoAttentionOutput",
    "DualAttentionOutput",
    "DualAttentionStep",
    "GuidedAttention",
    "MultiGlimpseAttention",
    "ParallelCoAttention",
    "StackedAttentionHop",
    "masked_mean",
    "masked_softmax",
]
