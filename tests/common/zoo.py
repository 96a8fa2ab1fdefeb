"""Every model class that ``import hf_mmattn`` registers, with a tiny config and valid inputs, so
that the contract tests of this folder run on each of them. A new model gets them by being
registered and by having a tiny config here (``test_every_registered_model_has_a_tiny_config``
fails until it has one)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import test_ban
import test_captioning
import test_dan
import test_hiecoatt
import test_mcan
import test_mcb
import test_mlb
import test_mutan
import torch
from conftest import TINY_RESNET, random_inputs, tiny_config

from hf_mmattn import (
    BanConfig,
    DanConfig,
    HieCoAttConfig,
    LstmQNormIConfig,
    McanConfig,
    McbConfig,
    MlbConfig,
    MutanConfig,
    SanConfig,
    ShowAttendTellConfig,
    ShowTellConfig,
)
from hf_mmattn.registration import CAPTIONING_MODELS, VQA_MODELS

def captioner_config(kind: str, image_encoder: str):
    backbone = {"backbone_config": dict(TINY_RESNET)} if image_encoder == "backbone" else {}
    return test_captioning.tiny_config(kind, image_encoder, **backbone)


# image_encoder → a tiny config; several variants for a config class whose switches change the
# modules it builds (hard attention adds the REINFORCE baseline, the tutorial preset a vector gate)
# or how _init_weights draws them (the released codes' initialisation).
TINY_CONFIGS: dict[type, dict[str, Callable]] = {
    SanConfig: {
        "san": lambda encoder: tiny_config("san", encoder),
        "san_released_init": lambda encoder: tiny_config("san", encoder, initialization="released"),
        "san_cnn_released_init": lambda encoder: tiny_config(
            "san", encoder, question_encoder="cnn", question_cnn_channels=[3, 4, 5], question_cnn_windows="narrow", initialization="released"
        ),
    },
    LstmQNormIConfig: {
        "lstm_q_norm_i": lambda encoder: tiny_config("lstm_q_norm_i", encoder),
        "lstm_q_norm_i_released_init": lambda encoder: tiny_config("lstm_q_norm_i", encoder, initialization="released"),
    },
    HieCoAttConfig: {"hiecoatt": test_hiecoatt.hiecoatt_config},
    McbConfig: {
        "mcb": test_mcb.mcb_config,
        "mcb_released_init": lambda encoder: test_mcb.mcb_config(encoder, initialization="released"),
    },
    MlbConfig: {"mlb": test_mlb.mlb_config},
    MutanConfig: {"mutan": test_mutan.mutan_config},
    DanConfig: {"dan": test_dan.dan_config},
    BanConfig: {
        "ban": test_ban.ban_config,
        "ban_counter": lambda encoder: test_ban.ban_config(encoder, use_counter=True),
    },
    McanConfig: {"mcan": test_mcan.mcan_config},
    ShowTellConfig: {"show_tell": lambda encoder: captioner_config("show_tell", encoder)},
    ShowAttendTellConfig: {
        **{kind: (lambda encoder, kind=kind: captioner_config(kind, encoder)) for kind in test_captioning.ATTENTION_KINDS},
        # arctic-captions' initialisation draws the decoder's layers itself (orthogonal / N(0, 0.01²) / 0).
        "hard_arctic_init": lambda encoder: test_captioning.tiny_config(
            "hard", encoder, initialization="arctic", **({"backbone_config": dict(TINY_RESNET)} if encoder == "backbone" else {})),
    },
}

# Models with no attention map to return (the VQA baseline fuses one pooled image vector; Show and
# Tell reads the image once).
WITHOUT_ATTENTIONS = {LstmQNormIConfig, ShowTellConfig}


@dataclass(frozen=True)
class ZooModel:
    """One registered model class in one tiny configuration."""

    name: str
    model_class: type
    family: str  # "vqa" or "captioning"
    config_builder: Callable
    has_loss: bool  # a task head (labels → loss), not a headless base model

    def __str__(self) -> str:
        return self.name

    def config(self, image_encoder: str = "features"):
        return self.config_builder(image_encoder)

    def build(self, image_encoder: str = "features", seed: int = 0, **overrides):
        torch.manual_seed(seed)
        config = self.config(image_encoder)
        for key, value in overrides.items():
            setattr(config, key, value)
        return self.model_class(config).eval()

    @property
    def has_attentions(self) -> bool:
        return self.model_class.config_class not in WITHOUT_ATTENTIONS

    def inputs(self, config, batch: int = 3, seed: int = 0, labels: bool = False) -> dict:
        """Valid inputs of ``batch`` examples (questions or captions of different lengths)."""
        if self.family == "captioning":
            inputs = {**test_captioning.random_images(config, batch, seed), **test_captioning.random_captions(batch, seed=seed)}
            return inputs if labels else {k: v for k, v in inputs.items() if k != "labels"}
        inputs = random_inputs(config, batch=batch, seed=seed)
        if config.image_encoder == "features" and "image_boxes" in inspect.signature(self.model_class.forward).parameters:
            inputs["image_boxes"] = test_ban.random_boxes(batch, inputs["image_features"].shape[1], seed)
        if config.image_encoder == "backbone":
            inputs["pixel_values"] = inputs["pixel_values"][..., :32, :32]
        if labels:
            inputs["labels"] = torch.arange(batch) % config.num_labels
        return inputs


def registered_classes() -> list[tuple[type, type, str, bool]]:
    """(config class, model class, family, has a loss) for every class the package registers."""
    classes = []
    for config_class, base_class, head_class in VQA_MODELS:
        classes += [(config_class, base_class, "vqa", False), (config_class, head_class, "vqa", True)]
    for config_class, model_class in CAPTIONING_MODELS:
        classes.append((config_class, model_class, "captioning", True))
    return classes


def zoo() -> list[ZooModel]:
    """Every registered model class in each of its tiny configurations."""
    models = []
    for config_class, model_class, family, has_loss in registered_classes():
        for variant, builder in TINY_CONFIGS.get(config_class, {}).items():
            name = f"{variant}-{'head' if has_loss and family == 'vqa' else 'base' if family == 'vqa' else 'lm'}"
            models.append(ZooModel(name, model_class, family, builder, has_loss))
    return models


ZOO = zoo()
HEADS = [model for model in ZOO if model.has_loss]
