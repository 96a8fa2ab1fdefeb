"""Generative Adversarial Text to Image Synthesis: GAN-INT-CLS.

Reed, Akata, Yan, Logeswaran, Schiele, Lee, ICML 2016 (https://arxiv.org/abs/1605.05396),
section 4 and figure 2. A DCGAN generator and discriminator, both conditioned on the text
embedding φ(t) projected to 128 dimensions: the generator reads it concatenated with the noise z,
the discriminator replicates it over its 4 × 4 feature map. The objectives (GAN, GAN-CLS, GAN-INT,
GAN-INT-CLS) are the family's (``tasks/text_to_image/modeling.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from ...layers.dcgan import LEAKY_RELU_SLOPE, DownsamplingBlock, UpsamplingBlock, num_resolution_steps
from ...tasks.text_to_image.modeling import MMAttnTextToImagePreTrainedModel
from .configuration_gan_int_cls import GanIntClsConfig


class TextProjection(nn.Sequential):
    """φ(t) → LeakyReLU(0.2)(W φ(t) + b), the compressed text embedding of both networks (section 4.1)."""

    def __init__(self, text_embedding_size: int, projection_size: int):
        super().__init__(nn.Linear(text_embedding_size, projection_size), nn.LeakyReLU(LEAKY_RELU_SLOPE))


class GanIntClsGenerator(nn.Module):
    """G(z, φ(t)): ``[z; LeakyReLU(W φ(t))]`` as a 1 × 1 map, a 4 × 4 transposed convolution to
    ``ngf × 2^(n−1)`` channels at 4 × 4, then stride-2 transposed convolutions halving the
    channels and doubling the size (batch norm, ReLU), the last to the image's channels with tanh:
    ``(batch, channels, image_size, image_size)`` in [-1, 1]."""

    def __init__(self, config: GanIntClsConfig):
        super().__init__()
        steps = num_resolution_steps(config.image_size)
        widths = [config.generator_channels * 2 ** (steps - 1 - i) for i in range(steps)]  # 4×4 ... image_size/2
        self.text_projection = TextProjection(config.text_embedding_size, config.text_projection_size)
        self.blocks = nn.ModuleList(
            [UpsamplingBlock(config.noise_size + config.text_projection_size, widths[0], from_vector=True)]
            + [UpsamplingBlock(wide, narrow) for wide, narrow in zip(widths[:-1], widths[1:])]
        )
        self.to_image = nn.ConvTranspose2d(widths[-1], config.num_channels, 4, 2, 1, bias=False)

    def forward(self, z: torch.Tensor, text_embeds: torch.Tensor, groups: int = 1) -> torch.Tensor:
        """``groups``: the batch is that many equal batches (fakes of several kinds), each
        batch-normalised on its own ([`~hf_mmattn.layers.dcgan.BatchNormPerGroup`])."""
        x = torch.cat([z, self.text_projection(text_embeds)], dim=-1)[:, :, None, None]
        for block in self.blocks:
            x = block(x, groups)
        return torch.tanh(self.to_image(x))


class GanIntClsDiscriminator(nn.Module):
    """D(x, φ(t)): stride-2 4 × 4 convolutions from ``ndf`` channels, doubling them down to 4 × 4
    (batch norm but on the first, LeakyReLU 0.2); the projected text embedding replicated over the
    4 × 4 map and concatenated with it; a 1 × 1 convolution (batch norm, LeakyReLU); a 4 × 4
    convolution to one logit per image, ``(batch,)`` (sigmoid gives the paper's D)."""

    def __init__(self, config: GanIntClsConfig):
        super().__init__()
        steps = num_resolution_steps(config.image_size)
        widths = [config.discriminator_channels * 2**i for i in range(steps)]  # image_size/2 ... 4×4
        self.blocks = nn.ModuleList(
            [DownsamplingBlock(config.num_channels, widths[0], batch_norm=False)]
            + [DownsamplingBlock(narrow, wide) for narrow, wide in zip(widths[:-1], widths[1:])]
        )
        self.text_projection = TextProjection(config.text_embedding_size, config.text_projection_size)
        self.joint = DownsamplingBlock(widths[-1] + config.text_projection_size, widths[-1], kernel_size=1, stride=1, padding=0)
        self.to_logit = nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False)

    def forward(self, images: torch.Tensor, text_embeds: torch.Tensor, groups: int = 1) -> torch.Tensor:
        """``groups``: the batch is that many equal batches (real, wrong, fake), each
        batch-normalised on its own ([`~hf_mmattn.layers.dcgan.BatchNormPerGroup`])."""
        x = images
        for block in self.blocks:
            x = block(x, groups)
        text = self.text_projection(text_embeds)[:, :, None, None].expand(-1, -1, *x.shape[-2:])
        x = self.joint(torch.cat([x, text], dim=1), groups)
        return self.to_logit(x).flatten()


class GanIntClsPreTrainedModel(MMAttnTextToImagePreTrainedModel):
    config_class = GanIntClsConfig


class GanIntClsModel(GanIntClsPreTrainedModel):
    """GAN-INT-CLS: the text encoder (a matching model), the generator and the discriminator, in
    one model (``forward``, ``generate`` and ``discriminate`` are the family's)."""

    def __init__(self, config: GanIntClsConfig):
        super().__init__(config)
        self.build_text_encoder(config)
        self.generator = GanIntClsGenerator(config)
        self.discriminator = GanIntClsDiscriminator(config)
        self.post_init()


__all__ = ["GanIntClsDiscriminator", "GanIntClsGenerator", "GanIntClsModel", "GanIntClsPreTrainedModel"]
