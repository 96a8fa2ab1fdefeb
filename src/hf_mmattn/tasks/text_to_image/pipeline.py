"""The ``text-to-image`` pipeline (transformers has none): captions in, PIL images out.

After ``import hf_mmattn``::

    painter = pipeline("text-to-image", model="./out/gan-int-cls-shapes")
    painter("a red circle above a blue square")                    # [<PIL.Image 64x64>]
    painter("a red circle", num_images_per_prompt=4, generator=torch.Generator().manual_seed(0))
    painter(["a red circle", "a blue square"], z=z)                 # one list of images per caption

A string gives a list of ``num_images_per_prompt`` PIL images (1 by default); a list of strings
one such list per caption. The noise comes from ``generator`` (a ``torch.Generator``, drawn caption
after caption, so the images do not depend on ``batch_size``), or is ``z``: a
``(num_images_per_prompt, noise_size)`` tensor used for every caption (the same noise, the same
"style", across captions: the paper's figure 6), or else torch's global generator. Empty captions,
a ``num_images_per_prompt`` below 1, a ``z`` of the wrong size and unknown parameters are refused.
"""

from __future__ import annotations

import torch
from transformers import Pipeline

from ...pipelines.inputs import refuse_unknown_parameters
from ...processing.image_text import check_texts
from .modeling import check_noise_settings
from .processing import TextToImageProcessor, to_pil_images

OWN_PARAMETERS = ("num_images_per_prompt", "generator", "z")


class TextToImagePipeline(Pipeline):
    """Generates images for captions with a text-to-image model's ``generate()``. See the module docstring."""

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True

    def _sanitize_parameters(self, num_images_per_prompt=None, generator=None, z=None, **unknown):
        refuse_unknown_parameters(self, unknown, OWN_PARAMETERS)
        check_noise_settings(num_images_per_prompt, generator, z)
        preprocess = {"num_images_per_prompt": num_images_per_prompt} if num_images_per_prompt is not None else {}
        if z is not None:
            noise_size = self.model.config.noise_size
            if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != noise_size or not z.is_floating_point():
                raise ValueError(f"z must be a float tensor (num_images_per_prompt, {noise_size}), the noise of each caption's "
                                 f"images; got {getattr(z, 'shape', type(z).__name__)}")
            if num_images_per_prompt is not None and z.shape[0] != num_images_per_prompt:
                raise ValueError(f"z holds {z.shape[0]} noise vectors but num_images_per_prompt is {num_images_per_prompt}")
            preprocess["z"] = z
        preprocess["generator"] = generator
        return preprocess, {}, {}

    def __call__(self, text, **kwargs):
        """Images for a caption (a list of PIL images) or for a list of captions (a list of lists)."""
        if isinstance(text, (list, tuple)) and not text:
            raise ValueError("no captions given: pass a caption or a non-empty list of captions")
        return super().__call__(text, **kwargs)

    def preprocess(self, text, num_images_per_prompt: int | None = None, generator=None, z=None):
        check_texts(text, TextToImageProcessor.text_unit, TextToImageProcessor.text_example)
        inputs = dict(self.tokenizer(text, truncation=True, return_tensors="pt"))
        count = z.shape[0] if z is not None else (num_images_per_prompt or 1)
        if z is None:
            z = torch.randn(count, self.model.config.noise_size, generator=generator)
        inputs["z"] = z.float()
        return inputs

    def _forward(self, model_inputs):
        z = model_inputs.pop("z")
        captions = model_inputs["input_ids"].shape[0]
        count = z.shape[0] // captions
        images = self.model.generate(**model_inputs, num_images_per_prompt=count, z=z)
        return {"images": images.reshape(captions, count, *images.shape[1:])}

    def postprocess(self, model_outputs):
        return to_pil_images(model_outputs["images"][0])


__all__ = ["TextToImagePipeline"]
