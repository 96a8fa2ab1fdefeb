"""Kept for imports written before the task families moved to ``hf_mmattn.tasks``: the shared
image-input config is in ``configuration_base.py``, the VQA fields in ``tasks/vqa/configuration.py``."""

from .configuration_base import DEFAULT_BACKBONE_CONFIG, MMAttnConfig, MMAttnImageInputConfig
from .tasks.vqa.configuration import MMAttnVQAConfig

__all__ = ["DEFAULT_BACKBONE_CONFIG", "MMAttnConfig", "MMAttnImageInputConfig", "MMAttnVQAConfig"]
