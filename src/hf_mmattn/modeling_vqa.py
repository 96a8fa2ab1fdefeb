"""Kept for imports written before the task families moved: the VQA family's modeling code is
``hf_mmattn.tasks.vqa.modeling``."""

from .tasks.vqa.modeling import *  # noqa: F403
from .tasks.vqa.modeling import __all__  # noqa: F401
