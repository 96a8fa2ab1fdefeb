"""The text-to-image family's config fields: the text encoder (a matching model's config, whose
text embedding conditions the images), the noise, the images, and the GAN objective, on top of the
named presets every config has (configuration_base.py)."""

from __future__ import annotations

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from ...configuration_base import MMAttnConfig

# The objectives of Reed et al. 2016 (section 4): the plain conditional GAN, the matching-aware
# discriminator (CLS), the generator also trained on interpolated text embeddings (INT), both.
LOSS_TYPES = ("gan", "gan-cls", "gan-int", "gan-int-cls")

# A text encoder built from nothing (no checkpoint): an m-DAN reading precomputed image features
# (its image side is never used by a text-to-image model, so it is kept small).
DEFAULT_TEXT_ENCODER = {"model_type": "mmattn_mdan", "image_encoder": "features", "image_feature_size": 8}


class MMAttnTextToImageConfig(MMAttnConfig):
    r"""
    Args:
        text_encoder: the config of the matching model (``tasks/matching``, e.g. an
            [`MDanConfig`]) whose ``get_text_features`` embeds the caption; a dict with its
            ``model_type``, or a config. Left out, an m-DAN with the default sizes.
        train_text_encoder: ``False`` (the paper's setting): the text encoder is a pretrained joint
            image–text embedding, kept frozen; ``True``: it is trained with the discriminator, by
            the discriminator's loss (from a checkpoint or from scratch).
        noise_size: the size of z ~ N(0, I) (100 in the paper).
        text_projection_size: the text embedding is projected to this size, then LeakyReLU(0.2),
            in the generator and in the discriminator (128 in the paper).
        image_size / num_channels: the generated images (64 × 64 RGB in the paper), in [-1, 1].
        loss_type: the objective, one of ``"gan"``, ``"gan-cls"``, ``"gan-int"``,
            ``"gan-int-cls"`` (see ``tasks/text_to_image/modeling.py``).
        interpolation_beta: β of GAN-INT's interpolated embeddings β·t1 + (1 − β)·t2 (0.5).
    """

    sub_configs_defaults = {"text_encoder": SubConfigSpec(AutoConfig, model_type="mmattn_mdan", init_kwargs=DEFAULT_TEXT_ENCODER)}

    text_encoder: dict | PreTrainedConfig | None = None
    train_text_encoder: bool = False
    noise_size: int = 100
    text_projection_size: int = 128
    image_size: int = 64
    num_channels: int = 3
    loss_type: str = "gan-int-cls"
    interpolation_beta: float = 0.5

    def __post_init__(self, **kwargs):
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {self.loss_type!r}")
        if not 0.0 <= self.interpolation_beta <= 1.0:
            raise ValueError(f"interpolation_beta must be in [0, 1], got {self.interpolation_beta!r}")
        for name in ("noise_size", "text_projection_size", "num_channels"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        super().__post_init__(**kwargs)
        if not hasattr(self.text_encoder, "projection_dim"):
            raise ValueError(
                f"text_encoder must be the config of a matching model (its text embedding has projection_dim), got "
                f"{type(self.text_encoder).__name__}"
            )

    @property
    def vocab_size(self) -> int:
        """The caption vocabulary: the text encoder's (``resize_token_embeddings`` resizes it there)."""
        return self.text_encoder.vocab_size

    @property
    def text_embedding_size(self) -> int:
        """The size of the text encoder's embedding (``get_text_features``' ``pooler_output``)."""
        return self.text_encoder.projection_dim

    @property
    def matching_aware(self) -> bool:
        """GAN-CLS: the discriminator also learns that a real image with a wrong text is fake."""
        return self.loss_type in ("gan-cls", "gan-int-cls")

    @property
    def interpolates(self) -> bool:
        """GAN-INT: the generator is also trained on interpolations of two texts' embeddings."""
        return self.loss_type in ("gan-int", "gan-int-cls")


__all__ = ["DEFAULT_TEXT_ENCODER", "LOSS_TYPES", "MMAttnTextToImageConfig"]
