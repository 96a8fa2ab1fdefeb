"""What every text-to-image model of the package shares: a text encoder (a matching model of
``tasks/matching``, whose ``get_text_features`` embeds the caption), a generator G(z, φ(t)) and a
discriminator D(x, φ(t)) held in one ``PreTrainedModel`` (saved and loaded as one folder), the
GAN objectives of Reed et al. 2016 as functions of the discriminator's logits, ``generate()`` and
the input checks. The models live in ``models/<name>/``: each builds its ``generator`` and
``discriminator`` (modules called as ``generator(z, text_embeds, groups)`` →
images in [-1, 1] and ``discriminator(images, text_embeds, groups)`` → logits), nothing else.

The objectives (Reed et al. 2016, section 4; D's output is a logit, s = sigmoid(logit), and each
log is written as the binary cross-entropy ``BCE``):

* GAN: L_D = BCE(D(x, t), 1) + BCE(D(G(z, t), t), 0) and L_G = BCE(D(G(z, t), t), 1) (the
  non-saturating generator loss, log D(G(z)) maximised).
* GAN-CLS, the matching-aware discriminator (Algorithm 1): a real image with a wrong text is a
  third kind of input, scored as fake: L_D = BCE(s_r, 1) + ½ [BCE(s_w, 0) + BCE(s_f, 0)].
* GAN-INT: the generator is also trained on interpolated text embeddings
  t_int = β t1 + (1 − β) t2 (β = 0.5): L_G += BCE(D(G(z', t_int), t_int), 1). No real image goes
  with t_int, so the discriminator does not see them.
* GAN-INT-CLS: both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import AutoModel
from transformers.utils import ModelOutput

from ...layers.dcgan import init_dcgan
from ...modeling_base import MMAttnPreTrainedModel, check_same_device, refuse_hidden_states, require_tensor
from .configuration import MMAttnTextToImageConfig


@dataclass
class TextToImageOutput(ModelOutput):
    """Output of a text-to-image model's forward.

    images: ``(batch, channels, height, width)``, G(z, φ(t)) in [-1, 1] (the generator's tanh).
    logits: ``(batch,)``, the discriminator's logit for each generated image with its own text
        (how real and how well matched it looks; sigmoid gives D's probability).
    text_embeds: ``(batch, text_embedding_size)``, φ(t): the text encoder's embedding of each text.
    z: ``(batch, noise_size)``, the noise each image was generated from.
    """

    images: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    z: torch.FloatTensor | None = None


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, wrong_logits: torch.Tensor | None = None) -> torch.Tensor:
    """The discriminator's loss (the module docstring's L_D), each term a mean over its batch.

    ``real_logits``: D(real image, its text); ``fake_logits``: D(G(z, t), t); ``wrong_logits``:
    D(real image, a wrong text) for the matching-aware GAN-CLS, whose fake and wrong terms are
    weighted ½ each; ``None`` for the plain GAN (fake weighted 1)."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    if wrong_logits is None:
        return real + fake
    wrong = F.binary_cross_entropy_with_logits(wrong_logits, torch.zeros_like(wrong_logits))
    return real + 0.5 * (wrong + fake)


def generator_loss(fake_logits: torch.Tensor, interpolated_logits: torch.Tensor | None = None) -> torch.Tensor:
    """The generator's non-saturating loss BCE(D(G(z, t), t), 1), plus, for GAN-INT, the same on
    the images of interpolated embeddings, D(G(z', t_int), t_int); each a mean over its batch."""
    loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    if interpolated_logits is not None:
        loss = loss + F.binary_cross_entropy_with_logits(interpolated_logits, torch.ones_like(interpolated_logits))
    return loss


def interpolate_text_embeds(first: torch.Tensor, second: torch.Tensor, beta: float | torch.Tensor) -> torch.Tensor:
    """β·t1 + (1 − β)·t2 (GAN-INT, Reed et al. 2016 section 4.3): ``beta`` a number, or a tensor
    of βs broadcast against the embeddings (``(steps, 1)`` gives one row per β of an
    interpolation figure)."""
    if first.shape[-1] != second.shape[-1]:
        raise ValueError(f"cannot interpolate text embeddings of sizes {first.shape[-1]} and {second.shape[-1]}")
    return beta * first + (1 - beta) * second


def check_noise_settings(num_images_per_prompt: int | None, generator, z) -> None:
    """The noise settings ``generate()`` and the pipeline take: ``num_images_per_prompt`` a positive
    integer (or ``None``), ``generator`` a ``torch.Generator``, and not both ``z`` and ``generator``."""
    if num_images_per_prompt is not None and (isinstance(num_images_per_prompt, bool) or not isinstance(num_images_per_prompt, int)
                                              or num_images_per_prompt < 1):
        raise ValueError(f"num_images_per_prompt must be a positive integer, got {num_images_per_prompt!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if z is not None and generator is not None:
        raise ValueError("pass z or a generator to draw it from, not both")


class MMAttnTextToImagePreTrainedModel(MMAttnPreTrainedModel):
    """Base class of the text-to-image GANs.

    Holds ``text_encoder`` (the matching model of ``config.text_encoder``; frozen unless
    ``config.train_text_encoder``; its image side is never used and never trained),
    ``generator`` and ``discriminator`` (built by the model class). ``forward`` generates images
    for texts and scores them with the discriminator; ``generate`` is the inference entry point
    (texts → images in [0, 1]); ``discriminate`` scores given images against texts.
    """

    config_class = MMAttnTextToImageConfig
    main_input_name = "input_ids"
    pipeline_tag = "text-to-image"
    remote_code_task = "mmattn-text-to-image"
    remote_code_pipeline = "TextToImagePipeline"
    remote_code_auto_class = "AutoModel"
    _no_split_modules = []

    def build_text_encoder(self, config: MMAttnTextToImageConfig) -> None:
        """``self.text_encoder``: the matching model class registered for ``config.text_encoder``,
        built on that very config object (so a resized vocabulary is seen by both)."""
        model_class = AutoModel._model_mapping.get(type(config.text_encoder), None)
        if model_class is None or not hasattr(model_class, "text_side_parameters"):
            raise ValueError(
                f"text_encoder must be a matching model's config (with get_text_features), got {type(config.text_encoder).__name__}"
            )
        self.text_encoder = model_class(config.text_encoder)
        self.set_text_encoder_trainable(config.train_text_encoder)

    def set_text_encoder_trainable(self, trainable: bool) -> None:
        """Freeze the text encoder, or let its text side train (its image side never does: a
        text-to-image model never reads it)."""
        self.config.train_text_encoder = bool(trainable)
        text_parameters = {id(p) for p in self.text_encoder.text_side_parameters()}
        for parameter in self.text_encoder.parameters():
            parameter.requires_grad_(bool(trainable) and id(parameter) in text_parameters)

    @classmethod
    def from_text_encoder(cls, text_encoder, config=None, **config_kwargs):
        """A model whose text encoder is the trained matching model ``text_encoder`` (a model, a
        local folder or a Hub id), the generator and discriminator new; ``config`` (or
        ``config_kwargs``) sets the rest."""
        if isinstance(text_encoder, (str, bytes)) or hasattr(text_encoder, "__fspath__"):
            text_encoder = AutoModel.from_pretrained(text_encoder)
        if not hasattr(text_encoder, "get_text_features"):
            raise ValueError(f"text_encoder must be a matching model (with get_text_features), got {type(text_encoder).__name__}")
        if config is None:
            config = cls.config_class(text_encoder=text_encoder.config, **config_kwargs)
        elif config_kwargs:
            raise ValueError("pass either a config or config keyword arguments, not both")
        else:
            config.text_encoder = text_encoder.config
        model = cls(config)
        model.text_encoder.load_state_dict(text_encoder.state_dict())
        return model

    @torch.no_grad()
    def _init_weights(self, module):
        """DCGAN's initialisation (``layers/dcgan.py``: N(0, 0.02²) weights, N(1, 0.02²) batch
        normalisation scales) for the generator and the discriminator; the text encoder is a model
        of its own and initialises itself."""
        init_dcgan(module)

    def get_input_embeddings(self):
        return self.text_encoder.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.text_encoder.set_input_embeddings(value)

    def get_text_features(self, input_ids: torch.LongTensor | None = None, attention_mask: torch.LongTensor | None = None) -> torch.Tensor:
        """φ(t): the text encoder's embedding of each text, ``(batch, text_embedding_size)``."""
        return self.text_encoder.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output

    def _check_text_embeds(self, text_embeds) -> None:
        require_tensor("text_embeds", text_embeds)
        size = self.config.text_embedding_size
        if text_embeds.dim() != 2 or text_embeds.shape[-1] != size or not text_embeds.is_floating_point():
            raise ValueError(
                f"text_embeds must be a float tensor (batch, {size}) of the text encoder's embeddings; got shape "
                f"{tuple(text_embeds.shape)} of dtype {text_embeds.dtype}"
            )
        if text_embeds.shape[0] == 0:
            raise ValueError("text_embeds is an empty batch (0 texts)")

    def _text_embeds(self, input_ids, attention_mask, text_embeds) -> torch.Tensor:
        if (input_ids is None) == (text_embeds is None):
            raise ValueError("pass the texts as input_ids (with attention_mask) or as text_embeds, one of the two")
        if text_embeds is None:
            return self.get_text_features(input_ids, attention_mask)
        if attention_mask is not None:
            raise ValueError("attention_mask goes with input_ids, not with text_embeds")
        self._check_text_embeds(text_embeds)
        return text_embeds

    def _check_z(self, z, batch: int) -> None:
        require_tensor("z", z)
        expected = (batch, self.config.noise_size)
        if tuple(z.shape) != expected or not z.is_floating_point():
            raise ValueError(f"z must be a float tensor of shape {expected} (one noise vector of noise_size per image); got "
                             f"shape {tuple(z.shape)} of dtype {z.dtype}")

    def draw_z(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``batch`` noise vectors z ~ N(0, I) on the model's device and dtype, from ``generator``
        (torch's global generator when ``None``)."""
        device = generator.device if generator is not None else self.device
        return torch.randn(batch, self.config.noise_size, generator=generator, device=device).to(self.device, self.dtype)

    def discriminate(self, pixel_values: torch.FloatTensor, input_ids: torch.LongTensor | None = None,
                     attention_mask: torch.LongTensor | None = None, text_embeds: torch.FloatTensor | None = None) -> torch.Tensor:
        """The discriminator's logits ``(batch,)`` for images in [-1, 1] (``pixel_values``, as the
        processor makes them) against texts: high for a real image matching its text."""
        text_embeds = self._text_embeds(input_ids, attention_mask, text_embeds)
        self._check_images(pixel_values, text_embeds.shape[0])
        return self.discriminator(pixel_values, text_embeds)

    def _check_images(self, pixel_values, batch: int) -> None:
        require_tensor("pixel_values", pixel_values)
        config = self.config
        expected = (batch, config.num_channels, config.image_size, config.image_size)
        if pixel_values is None or tuple(pixel_values.shape) != expected or not pixel_values.is_floating_point():
            got = "None" if pixel_values is None else f"shape {tuple(pixel_values.shape)} of dtype {pixel_values.dtype}"
            raise ValueError(f"pixel_values must be float images of shape {expected} in [-1, 1]; got {got}")

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        z: torch.FloatTensor | None = None,
        text_embeds: torch.FloatTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> TextToImageOutput | tuple:
        r"""
        Generates one image per text, G(z, φ(t)), and scores it with the discriminator.

        z (`torch.FloatTensor` of shape `(batch, noise_size)`, *optional*):
            The noise of each image; drawn from N(0, I) with torch's global generator when left
            out (pass it for reproducible images, or use `generate(generator=...)`).
        text_embeds (`torch.FloatTensor` of shape `(batch, text_embedding_size)`, *optional*):
            The texts' embeddings instead of `input_ids` (e.g. interpolations of two texts'
            embeddings, `interpolate_text_embeds`).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        refuse_hidden_states(self.config, output_hidden_states, "text-to-image models", "the generated images and the text embeddings")
        check_same_device(input_ids=input_ids, attention_mask=attention_mask, z=z, text_embeds=text_embeds)
        text_embeds = self._text_embeds(input_ids, attention_mask, text_embeds)
        if z is None:
            z = self.draw_z(text_embeds.shape[0])
        self._check_z(z, text_embeds.shape[0])
        images = self.generator(z, text_embeds)
        output = TextToImageOutput(images=images, logits=self.discriminator(images, text_embeds), text_embeds=text_embeds, z=z)
        return output if return_dict else output.to_tuple()

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        text_embeds: torch.FloatTensor | None = None,
        num_images_per_prompt: int = 1,
        generator: torch.Generator | None = None,
        z: torch.FloatTensor | None = None,
    ) -> torch.FloatTensor:
        """Images for texts: ``(batch × num_images_per_prompt, channels, height, width)`` in
        [0, 1], the images of text i in rows ``i × num_images_per_prompt`` onwards.

        The texts as ``input_ids`` (with ``attention_mask``; the processor makes them from
        strings) or ``text_embeds``. The noise is ``z`` (``(batch × num_images_per_prompt,
        noise_size)``, the same for the same images) or drawn from ``generator`` (a
        ``torch.Generator``: the same seed, the same images), else from torch's global generator.
        The model runs in evaluation mode (batch normalisation's running statistics), as left."""
        check_noise_settings(num_images_per_prompt, generator, z)
        text_embeds = self._text_embeds(input_ids, attention_mask, text_embeds)
        text_embeds = text_embeds.repeat_interleave(num_images_per_prompt, dim=0)
        if z is None:
            z = self.draw_z(text_embeds.shape[0], generator)
        self._check_z(z, text_embeds.shape[0])
        was_training = self.training
        self.eval()
        try:
            images = self.generator(z.to(self.device, self.dtype), text_embeds)
        finally:
            self.train(was_training)
        return (images.float() + 1) / 2


__all__ = [
    "MMAttnTextToImagePreTrainedModel",
    "check_noise_settings",
    "TextToImageOutput",
    "discriminator_loss",
    "generator_loss",
    "interpolate_text_embeds",
]
