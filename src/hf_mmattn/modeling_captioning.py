"""Kept for imports written before the task families moved: the captioning family's code is
``hf_mmattn.tasks.captioning`` (``configuration.py``, ``modeling.py``)."""

from .tasks.captioning.configuration import CAPTION_LOSS_REDUCTIONS, MMAttnCaptioningConfig
from .tasks.captioning.modeling import *  # noqa: F403
from .tasks.captioning.modeling import __all__ as _modeling_names

__all__ = ["CAPTION_LOSS_REDUCTIONS", "MMAttnCaptioningConfig", *_modeling_names]
