"""Every model the package discovers (``models/<name>/``) in its config's "tiny" preset, and in
the variants below, with valid inputs, so that the contract tests of this folder run on each of
them. A new model folder gets them by existing: ``discover()`` finds it, its "tiny" preset sizes
it, its family says how to feed it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import test_ban
import torch
from captioning_utils import (
    random_captions,
    random_images,
    sgrvinod_settings,
    tiny_captioning_config,
)
from conftest import random_inputs, tiny_vqa_config
from documents_utils import random_documents, tiny_text_classification_config
from image_classification_utils import random_classification_images, tiny_image_classification_config
from matching_utils import random_matching_images, random_sentences, tiny_matching_config
from text_to_image_utils import random_text_to_image_inputs, tiny_text_to_image_config
from translation_utils import random_translation_inputs, tiny_translation_config

from hf_mmattn.models import discover

# The family's tiny config: (config class, image encoder, **overrides) -> config at the "tiny" preset.
FAMILY_CONFIGS: dict[str, Callable] = {
    "vqa": tiny_vqa_config, "captioning": tiny_captioning_config, "matching": tiny_matching_config,
    "text_classification": tiny_text_classification_config, "image_classification": tiny_image_classification_config,
    "translation": tiny_translation_config, "text_to_image": tiny_text_to_image_config,
}

# More tiny configurations of a model whose switches change the modules it builds (hard attention
# adds the REINFORCE baseline, the tutorial preset a vector gate, BAN's counter a module) or how
# _init_weights draws them (the released codes' initialisation): model name -> variant -> the
# overrides of the tiny preset, or a function of the image encoder giving them.
VARIANTS: dict[str, dict[str, dict | Callable[[str], dict]]] = {
    "san": {
        "san_released_init": dict(initialization="released"),
        "san_cnn_released_init": dict(
            question_encoder="cnn", question_cnn_channels=[3, 4, 5], question_cnn_windows="narrow", initialization="released"
        ),
    },
    "lstm_q_norm_i": {"lstm_q_norm_i_released_init": dict(initialization="released")},
    "mcb": {"mcb_released_init": dict(initialization="released")},
    "ban": {"ban_counter": dict(use_counter=True)},
    # K = 0: the mean-pooling baseline builds no attention step.
    "mdan": {"mdan_mean_pooling": dict(num_steps=0)},
    # HAN's baselines build other modules: one word-level attention, or none.
    "han": {"han_flat": dict(document_encoder="flat"), "han_mean": dict(document_encoder="mean")},
    # The compact poolings hold fixed random projections (buffers); the average pooling is the
    # baseline; two streams build a second feature extractor (from pixels only).
    "bilinear_cnn": {
        "bilinear_cnn_tensor_sketch": dict(pooling="tensor_sketch"),
        "bilinear_cnn_random_maclaurin": dict(pooling="random_maclaurin"),
        "bilinear_cnn_average": dict(pooling="average"),
        "bilinear_cnn_two_streams": lambda image_encoder: {
            "features": {}, "scratch_cnn": dict(symmetric=False, second_scratch_cnn_channels=[4, 6]), "backbone": dict(symmetric=False),
        }[image_encoder],
    },
    # The baselines without attention, the other scores, no input feeding, a bidirectional
    # encoder, the plain output layer, the readout of s_{i-1}.
    "luong": {
        "luong_no_attention": dict(attention="none", input_feeding=False),
        "luong_dot_bidirectional": dict(attention="dot", input_feeding=False, encoder_bidirectional=True),
        "luong_concat": dict(attention="concat", num_layers=1),
        "luong_local_p": dict(attention_window=1),
    },
    "bahdanau": {
        "bahdanau_rnnencdec": dict(attention="none"),
        "bahdanau_linear_output": dict(output_layer="linear"),
        "bahdanau_previous_state_readout": dict(readout_state="previous"),
    },
    "show_attend_tell": {
        "hard": dict(attention_type="hard"),
        "sgrvinod": sgrvinod_settings,
        # arctic-captions' initialisation draws the decoder's layers itself (orthogonal / N(0, 0.01²) / 0).
        "hard_arctic_init": dict(attention_type="hard", initialization="arctic"),
    },
}


# Models with no attention map to return (the VQA baseline fuses one pooled image vector; Show and
# Tell reads the image once; the bilinear CNN pools every location alike), and variants (m-DAN
# with K = 0 steps).
WITHOUT_ATTENTIONS = {
    "mmattn_lstm_q_norm_i", "mmattn_show_tell", "mdan_mean_pooling", "han_mean", "mmattn_bilinear_cnn", "luong_no_attention",
    "bahdanau_rnnencdec", "mmattn_gan_int_cls",
}

# The GAN's switches that change the modules it builds: a text encoder trained with the
# discriminator, and 32×32 images (one more stride-2 layer each side).
VARIANTS["gan_int_cls"] = {
    "gan_int_cls_trained_text_encoder": dict(train_text_encoder=True, loss_type="gan"),
    "gan_int_cls_32px": dict(image_size=32),
}

# Variants whose attention weights do not sum to 1 (local-p's Gaussian scales its window's softmax).
UNNORMALISED_ATTENTIONS = {"luong_local_p"}


@dataclass(frozen=True)
class ZooModel:
    """One registered model class in one tiny configuration."""

    name: str
    variant: str
    model_class: type
    family: str  # the task family: "vqa", "captioning", "matching", "text_classification", "image_classification",
    # "translation", "text_to_image"
    overrides: dict | Callable[[str], dict]  # of the tiny preset (VARIANTS), or of the encoder
    has_loss: bool  # a task head (labels → loss), not a headless base model nor a GAN (two losses, trained by its step)

    def __str__(self) -> str:
        return self.name

    def config(self, image_encoder: str = "features"):
        overrides = self.overrides(image_encoder) if callable(self.overrides) else self.overrides
        return FAMILY_CONFIGS[self.family](self.model_class.config_class, image_encoder, **overrides)

    def build(self, image_encoder: str = "features", seed: int = 0, **overrides):
        torch.manual_seed(seed)
        config = self.config(image_encoder)
        for key, value in overrides.items():
            setattr(config, key, value)
        return self.model_class(config).eval()

    @property
    def attentions_sum_to_one(self) -> bool:
        return self.variant not in UNNORMALISED_ATTENTIONS

    @property
    def has_attentions(self) -> bool:
        return self.model_class.config_class.model_type not in WITHOUT_ATTENTIONS and self.variant not in WITHOUT_ATTENTIONS

    def inputs(self, config, batch: int = 3, seed: int = 0, labels: bool = False) -> dict:
        """Valid inputs of ``batch`` examples (questions or captions of different lengths)."""
        if self.family == "image_classification":
            inputs = random_classification_images(config, batch, seed)
            return {**inputs, "labels": torch.arange(batch) % config.num_labels} if labels else inputs
        if self.family == "translation":
            return random_translation_inputs(config, batch, seed, labels)
        if self.family == "text_to_image":
            return random_text_to_image_inputs(config, batch, seed)
        if self.family == "text_classification":
            inputs = random_documents(config, batch, seed)
            return {**inputs, "labels": torch.arange(batch) % config.num_labels} if labels else inputs
        if self.family == "matching":
            inputs = {**random_matching_images(config, batch, seed), **random_sentences(config, batch, seed=seed)}
            return {**inputs, "return_loss": True} if labels else inputs
        if self.family == "captioning":
            inputs = {**random_images(config, batch, seed), **random_captions(batch, seed=seed)}
            return inputs if labels else {k: v for k, v in inputs.items() if k != "labels"}
        inputs = random_inputs(config, batch=batch, seed=seed)
        if config.image_encoder == "features" and "image_boxes" in inspect.signature(self.model_class.forward).parameters:
            inputs["image_boxes"] = test_ban.random_boxes(batch, inputs["image_features"].shape[1], seed)
        if config.image_encoder == "backbone":
            inputs["pixel_values"] = inputs["pixel_values"][..., :32, :32]
        if labels:
            inputs["labels"] = torch.arange(batch) % config.num_labels
        return inputs


def declared_classes(model) -> list[tuple[type, bool]]:
    """(class, has a loss) for a model folder's declared classes: its task heads, then its base model."""
    return [(head, True) for head in model.heads] + ([(model.base, False)] if model.base is not None else [])


def registered_classes() -> list[tuple[type, type, str, bool]]:
    """(config class, model class, family, has a loss) for every class a model folder declares."""
    return [
        (model.config, model_class, model.family, has_loss)
        for model in discover()
        for model_class, has_loss in declared_classes(model)
    ]


def zoo() -> list[ZooModel]:
    """Every declared model class in its tiny preset and each of its variants."""
    models = []
    for model in discover():
        variants = {model.name: {}, **VARIANTS.get(model.name, {})}
        for variant, overrides in variants.items():
            for model_class, has_loss in declared_classes(model):
                suffixes = {"captioning": "lm", "matching": "dual", "translation": "seq2seq", "text_to_image": "gan"}
                suffix = suffixes.get(model.family, "head" if has_loss else "base")
                has_loss = has_loss and model.family != "text_to_image"
                models.append(ZooModel(f"{variant}-{suffix}", variant, model_class, model.family, overrides, has_loss))
    return models


ZOO = zoo()
HEADS = [model for model in ZOO if model.has_loss]
