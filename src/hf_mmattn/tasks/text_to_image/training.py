"""The training step of the text-to-image GANs: the objectives of ``modeling.py`` (GAN, GAN-CLS,
GAN-INT, GAN-INT-CLS, by ``config.loss_type``) on the shared loop's two-optimizer
:class:`~hf_mmattn.training.steps.GANStep`.

A training batch is ``pixel_values`` (real images in [-1, 1]) with ``input_ids`` /
``attention_mask`` (a caption of each). On each batch (Reed et al. 2016, Algorithm 1):

1. φ(t) = the text encoder's embedding of the captions; z ~ N(0, I); the fakes G(z, φ(t)) and,
   for GAN-INT, G(z', t_int) with t_int = β φ(t) + (1 − β) φ(t') for the captions t' of a random
   permutation of the batch, in one generator call (each kind batch-normalised on its own);
2. the discriminator's step on D(real, t), D(fake, t) and, for GAN-CLS, D(real, wrong t) (the
   wrong caption of each image: the next pair's in the batch), in one discriminator call;
3. the generator's step through the updated discriminator.

Every random number (z, the permutation) comes from torch's global generator, which the
checkpoints hold: a resumed run draws what the uninterrupted one drew. The text encoder is frozen
(its embeddings computed without gradients) unless ``config.train_text_encoder``: then it is part
of the discriminator's module, optimizer and loss, and the generator reads its embeddings
detached.
"""

from __future__ import annotations

import torch
from torch import nn

from ...training.steps import GANStep
from .modeling import MMAttnTextToImagePreTrainedModel, discriminator_loss, generator_loss, interpolate_text_embeds


class TextConditionedDiscriminator(nn.Module):
    """The module the discriminator's optimizer trains (and DDP wraps): the model's discriminator
    and its text encoder. ``forward(images, text_rows, groups, ...)`` scores image i against
    caption ``text_rows[i]``, the captions given as ``input_ids`` / ``attention_mask`` (embedded
    once, with gradients, when the text encoder trains) or as ``text_embeds`` already computed. A
    frozen text encoder stays in evaluation mode whatever mode the module is put in."""

    def __init__(self, model: MMAttnTextToImagePreTrainedModel):
        super().__init__()
        self.text_encoder, self.discriminator = model.text_encoder, model.discriminator
        self.train_text_encoder = model.config.train_text_encoder
        self.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.train_text_encoder:
            self.text_encoder.eval()
        return self

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(self.train_text_encoder and torch.is_grad_enabled()):
            return self.text_encoder.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output

    def forward(self, images, text_rows: torch.Tensor, groups: int = 1, input_ids=None, attention_mask=None,
                text_embeds=None) -> torch.Tensor:
        if text_embeds is None:
            text_embeds = self.embed(input_ids, attention_mask)
        return self.discriminator(images, text_embeds[text_rows], groups)

    def parameters_to_train(self) -> list[nn.Parameter]:
        return [parameter for parameter in self.parameters() if parameter.requires_grad]


class TextToImageGANStep(GANStep):
    """A text-to-image GAN's step (see the module docstring) for ``model``, with Adam-style
    ``generator_optimizer`` (over ``model.generator``'s parameters) and
    ``discriminator_optimizer`` (over :meth:`discriminator_parameters`: the discriminator's, and
    the text encoder's when it trains). ``steps.models`` holds ``"generator"``
    (``model.generator``) and ``"discriminator"`` (a :class:`TextConditionedDiscriminator`)."""

    def __init__(self, model: MMAttnTextToImagePreTrainedModel, generator_optimizer, discriminator_optimizer,
                 max_grad_norm: float | None = None):
        super().__init__(model.generator, TextConditionedDiscriminator(model), generator_optimizer, discriminator_optimizer, max_grad_norm)
        self.config = model.config
        self._text_embeds = None  # φ(t) (and t_int) of the batch in hand, from generate()

    @staticmethod
    def discriminator_parameters(model: MMAttnTextToImagePreTrainedModel) -> list[nn.Parameter]:
        """What the discriminator's optimizer updates: the discriminator, and the text encoder's
        text side under ``config.train_text_encoder``."""
        return TextConditionedDiscriminator(model).parameters_to_train()

    def generate(self, generator: nn.Module, batch: dict) -> torch.Tensor:
        discriminator = self.discriminator.module if hasattr(self.discriminator, "module") else self.discriminator
        with torch.no_grad():
            text_embeds = discriminator.embed(batch["input_ids"], batch["attention_mask"])
        size = text_embeds.shape[0]
        if self.config.matching_aware and size < 2:
            raise ValueError("the matching-aware discriminator (GAN-CLS) needs batches of at least 2 pairs: the wrong caption "
                             "of an image is another pair's")
        z = torch.randn(size, self.config.noise_size, device=text_embeds.device, dtype=text_embeds.dtype)
        if not self.config.interpolates:
            self._text_embeds = text_embeds
            return generator(z, text_embeds)
        partners = torch.randperm(size).to(text_embeds.device)
        interpolated = interpolate_text_embeds(text_embeds, text_embeds[partners], self.config.interpolation_beta)
        z_interpolated = torch.randn(size, self.config.noise_size, device=text_embeds.device, dtype=text_embeds.dtype)
        self._text_embeds = torch.cat([text_embeds, interpolated])
        return generator(torch.cat([z, z_interpolated]), self._text_embeds, groups=2)

    def discriminator_loss(self, discriminator: nn.Module, batch: dict, fakes: torch.Tensor) -> torch.Tensor:
        real = batch["pixel_values"]
        size = real.shape[0]
        fakes = fakes[:size]  # without GAN-INT's fakes: no real image goes with an interpolated caption
        rows = torch.arange(size, device=real.device)
        # A frozen text encoder's embeddings are generate()'s; one that trains embeds here, with gradients.
        texts = ({"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]} if self.config.train_text_encoder
                 else {"text_embeds": self._text_embeds[:size]})
        if self.config.matching_aware:
            wrong = rows.roll(1)
            logits = discriminator(torch.cat([real, real, fakes]), torch.cat([rows, wrong, rows]), groups=3, **texts)
            real_logits, wrong_logits, fake_logits = logits.chunk(3)
            return discriminator_loss(real_logits, fake_logits, wrong_logits)
        logits = discriminator(torch.cat([real, fakes]), torch.cat([rows, rows]), groups=2, **texts)
        real_logits, fake_logits = logits.chunk(2)
        return discriminator_loss(real_logits, fake_logits)

    def generator_loss(self, discriminator: nn.Module, batch: dict, fakes: torch.Tensor) -> torch.Tensor:
        groups = 2 if self.config.interpolates else 1
        logits = discriminator.discriminator(fakes, self._text_embeds, groups=groups)
        if groups == 1:
            return generator_loss(logits)
        fake_logits, interpolated_logits = logits.chunk(2)
        return generator_loss(fake_logits, interpolated_logits)


__all__ = ["TextConditionedDiscriminator", "TextToImageGANStep"]
