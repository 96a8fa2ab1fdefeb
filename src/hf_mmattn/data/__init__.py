"""Datasets for the models of hf-mmattn: easy-VQA (shipped by the `easy-vqa` package), the
official VQA v2 files, and the VQA answer handling (official normalisation, soft targets,
answer vocabularies)."""

from .answers import (
    answers_to_soft_targets,
    build_answer_vocabulary,
    normalize_answer,
    soft_target_tensor,
    vqa_soft_score,
)
from .easy_vqa import EASY_VQA_ANSWERS, easy_vqa_answers, load_easy_vqa
from .vqa_v2 import load_image_features, load_vqa_v2

__all__ = [
    "EASY_VQA_ANSWERS",
    "answers_to_soft_targets",
    "build_answer_vocabulary",
    "easy_vqa_answers",
    "load_easy_vqa",
    "load_image_features",
    "load_vqa_v2",
    "normalize_answer",
    "soft_target_tensor",
    "vqa_soft_score",
]
