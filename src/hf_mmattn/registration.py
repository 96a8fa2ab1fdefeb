"""Registers every model of the package with transformers (run by ``import hf_mmattn``).

The backbones the package adds (``backbones/``: VGG) go first, with ``AutoConfig`` and
``AutoBackbone``, as a model's ``backbone_config`` may name one. The models are the folders
under ``models/`` (their ``ModelDeclaration``), the task families the packages under ``tasks/``
(their ``TaskFamily``); nothing here lists either. For each model: its config with
``AutoConfig``, its base model with ``AutoModel``, its task head with the family's Auto class,
the family's processor with ``AutoProcessor`` and image processor with ``AutoImageProcessor``.
Then each family adds its pipeline where transformers lacks one (``visual-question-answering``,
which transformers 5 removed; the captioners' ``image-text-to-text`` subclass); the matching
models need none: transformers' own ``zero-shot-image-classification`` serves them through
``AutoModelForZeroShotImageClassification``.
"""

from __future__ import annotations

from transformers import AutoBackbone, AutoConfig, AutoImageProcessor, AutoModel, AutoProcessor

from .backbones import BACKBONES
from .models import ModelDeclaration, discover
from .tasks import families, get_family


def register_model(model: ModelDeclaration) -> None:
    family = get_family(model.family)
    AutoConfig.register(model.config.model_type, model.config, exist_ok=True)
    AutoModel.register(model.config, model.auto_model, exist_ok=True)
    family.auto_class.register(model.config, model.heads[0], exist_ok=True)
    if family.image_processor_class is not None:
        AutoImageProcessor.register(model.config, image_processor_classes={"pil": family.image_processor_class}, exist_ok=True)
    if family.processor_class is not None:
        AutoProcessor.register(model.config, family.processor_class, exist_ok=True)


def register_backbones() -> None:
    """Each backbone of ``backbones/`` (VGG) with ``AutoConfig`` and ``AutoBackbone``."""
    for config, backbone in BACKBONES:
        AutoConfig.register(config.model_type, config, exist_ok=True)
        AutoBackbone.register(config, backbone, exist_ok=True)


def register_all() -> None:
    register_backbones()  # first: a model's backbone_config may name one
    for model in discover():
        register_model(model)
    for family in families().values():
        family.register_pipelines()


def _classes(family: str) -> tuple[tuple[type, ...], ...]:
    return tuple(
        (model.config, model.auto_model, *model.heads) if model.base else (model.config, *model.heads) for model in discover(family)
    )


register_all()

# Kept for code written before discovery: (config, base, head) of each VQA model and (config,
# model) of each captioner.
VQA_MODELS = _classes("vqa")
CAPTIONING_MODELS = _classes("captioning")
