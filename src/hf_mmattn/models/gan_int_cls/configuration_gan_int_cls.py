"""Configuration of GAN-INT-CLS (Reed, Akata, Yan, Logeswaran, Schiele, Lee, ICML 2016)."""

from __future__ import annotations

from ...tasks.text_to_image.configuration import MMAttnTextToImageConfig

# "tiny": the tests' sizes (16×16 images, a tiny m-DAN text encoder). "shapes": the examples'
# settings for the 64×64 shapes-captions scenes: ngf = ndf = 16 instead of the paper's 64 (a step
# of GAN-INT-CLS at batch 64 takes about 1 s on one CPU thread, against 3 s with 32 channels; each
# training of the benchmark has under 30 minutes of a 2-core CPU). The defaults are the paper's.
GAN_INT_CLS_PRESETS: dict[str, dict] = {}
GAN_INT_CLS_PRESETS["tiny"] = dict(
    text_encoder=dict(model_type="mmattn_mdan", image_encoder="features", image_feature_size=4, vocab_size=20,
                      word_embedding_size=8, text_hidden_size=6, attention_hidden_size=5, num_steps=1),
    noise_size=5, text_projection_size=4, image_size=16, generator_channels=4, discriminator_channels=4,
)
GAN_INT_CLS_PRESETS["shapes"] = dict(generator_channels=16, discriminator_channels=16)


class GanIntClsConfig(MMAttnTextToImageConfig):
    r"""
    Configuration of [`GanIntClsModel`].

    Defaults follow the paper (section 5 and Reed et al.'s released Torch code): z of 100,
    the text embedding projected to 128 (LeakyReLU 0.2), 64 × 64 images, a DCGAN generator whose
    widest layer has 8 × 64 channels and a discriminator whose deepest has 8 × 64, the GAN-INT-CLS
    objective with β = 0.5.

    Args:
        generator_channels: the generator's last hidden layer's channels (``ngf``); each earlier
            layer has twice as many, up to ``ngf × image_size / 8`` at 4 × 4.
        discriminator_channels: the discriminator's first layer's channels (``ndf``), doubled at
            every stride-2 layer down to 4 × 4.

    The text encoder, noise, image and objective fields are those of
    [`~hf_mmattn.tasks.text_to_image.MMAttnTextToImageConfig`].
    """

    model_type = "mmattn_gan_int_cls"

    generator_channels: int = 64
    discriminator_channels: int = 64

    presets = GAN_INT_CLS_PRESETS
    display_name = "GAN-INT-CLS"

    def __post_init__(self, **kwargs):
        for name in ("generator_channels", "discriminator_channels"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        super().__post_init__(**kwargs)


__all__ = ["GAN_INT_CLS_PRESETS", "GanIntClsConfig"]
