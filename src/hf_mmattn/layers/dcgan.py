"""The building blocks of a DCGAN (Radford, Metz, Chintala, ICLR 2016, section 3): strided
convolutions instead of pooling, batch normalisation in every layer but the generator's output and
the discriminator's input, ReLU in the generator and LeakyReLU(0.2) in the discriminator, weights
drawn from N(0, 0.02²).

One thing is added: [`BatchNormPerGroup`]. DCGAN trainings (Reed et al.'s GAN-INT-CLS code among
them) run the discriminator on a batch of real images and on a batch of fakes separately, so each
batch is normalised with its own statistics; a network wrapped in DistributedDataParallel must be
called once per backward pass. A discriminator called once on the concatenated batches, with
``groups`` = the number of batches, normalises each as its own call would.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import initialization as init

LEAKY_RELU_SLOPE = 0.2


class BatchNormPerGroup(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose forward takes ``groups``: in training, the batch is read as
    ``groups`` equal consecutive chunks, each normalised with its own mean and variance and each
    updating the running statistics in turn, exactly as ``groups`` separate calls would. In
    evaluation (running statistics) and with ``groups=1`` it is ``nn.BatchNorm2d``."""

    def forward(self, x: torch.Tensor, groups: int = 1) -> torch.Tensor:
        if groups == 1 or not self.training:
            return super().forward(x)
        if x.shape[0] % groups:
            raise ValueError(f"a batch of {x.shape[0]} cannot be split into {groups} equal groups for batch normalisation")
        return torch.cat([super(BatchNormPerGroup, self).forward(chunk) for chunk in x.chunk(groups)])


class UpsamplingBlock(nn.Module):
    """A DCGAN generator layer: a 4×4 transposed convolution of stride 2 (doubling height and
    width; stride 1 and no padding from a 1×1 input gives 4×4), batch normalisation, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, from_vector: bool = False):
        super().__init__()
        stride, padding = (1, 0) if from_vector else (2, 1)
        self.convolution = nn.ConvTranspose2d(in_channels, out_channels, 4, stride, padding, bias=False)
        self.norm = BatchNormPerGroup(out_channels)
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor, groups: int = 1) -> torch.Tensor:
        return self.activation(self.norm(self.convolution(x), groups))


class DownsamplingBlock(nn.Module):
    """A DCGAN discriminator layer: a convolution (4×4 of stride 2, halving height and width, by
    default), batch normalisation (left out on the image input), LeakyReLU(0.2)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 4, stride: int = 2, padding: int = 1,
                 batch_norm: bool = True):
        super().__init__()
        self.convolution = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=not batch_norm)
        self.norm = BatchNormPerGroup(out_channels) if batch_norm else None
        self.activation = nn.LeakyReLU(LEAKY_RELU_SLOPE)

    def forward(self, x: torch.Tensor, groups: int = 1) -> torch.Tensor:
        x = self.convolution(x)
        if self.norm is not None:
            x = self.norm(x, groups)
        return self.activation(x)


def num_resolution_steps(image_size: int) -> int:
    """The stride-2 layers between 4×4 and ``image_size`` × ``image_size`` (4 for 64×64): DCGAN
    images are a power of 2, at least 8."""
    if not isinstance(image_size, int) or image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"a DCGAN image size is a power of 2 of at least 8 (64 in the papers), got {image_size!r}")
    return image_size.bit_length() - 3


@torch.no_grad()
def init_dcgan(module: nn.Module) -> None:
    """DCGAN's initialisation of the layers ``module`` holds itself: convolution and linear weights
    from N(0, 0.02²), biases 0; batch normalisation scales from N(1, 0.02²), shifts 0, running
    statistics reset (as Reed et al.'s and the DCGAN code's ``weights_init``)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        init.normal_(module.weight, 1.0, 0.02)
        init.zeros_(module.bias)
        init.zeros_(module.running_mean)
        init.ones_(module.running_var)
        init.zeros_(module.num_batches_tracked)


__all__ = ["LEAKY_RELU_SLOPE", "BatchNormPerGroup", "DownsamplingBlock", "UpsamplingBlock", "init_dcgan", "num_resolution_steps"]
