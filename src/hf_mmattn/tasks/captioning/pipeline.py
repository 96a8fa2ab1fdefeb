"""The ``image-text-to-text`` pipeline (and its ``image-to-text`` name), extended for the
package's captioners.

transformers' own [`~transformers.ImageTextToTextPipeline`] already serves a captioner whose
processor takes ``text=""``; this subclass, registered in its place by ``import hf_mmattn``,
changes nothing for other models and adds, for the package's captioners:

* ``text`` may be omitted: the caption is generated from the start token;
* images are read by the package's loader (``hf_mmattn.processing.images``; URLs by
  transformers' loader), as in the VQA pipeline: paths, PIL images, numpy arrays and torch
  tensors, grayscale / RGBA / 16-bit images, and the same clear errors for truncated files,
  folders or missing paths (transformers' ``load_images`` takes neither arrays nor tensors);
* ``{"image": ..., "text": ...}`` dicts (``"images"`` too, transformers' key), or a list of them;
* with ``batch_size > 1``, prompts of different lengths are padded on the left, as one prompt
  alone reads (transformers 5.20 padded them on the right, and the caption went on after the
  padding);
* ``return_attention=True``: each result also holds ``"words"`` (the generated words) and
  ``"attentions"``, one ``(height, width)`` map per word laid out on the image grid (for
  attention models; Show and Tell has none and raises), computed by re-reading the generated
  caption with ``output_attentions=True`` (exact for soft attention and for hard attention's
  inference modes, which are deterministic);
* unknown parameters are refused with a ``TypeError`` (the parent hands them to the processor
  as processing options, where a misspelled one was ignored); generation settings go in
  ``generate_kwargs``. Empty lists of images and texts are refused.
"""

from __future__ import annotations

import inspect

from transformers import GenerationConfig, Pipeline
from transformers.pipelines.image_text_to_text import ImageTextToTextPipeline

from ...pipelines.inputs import check_flag, read_image, refuse_unknown_parameters

DICT_KEYS = ("image", "images", "text")


def _is_package_captioner(model) -> bool:
    from .modeling import MMAttnCaptioningPreTrainedModel

    return isinstance(model, MMAttnCaptioningPreTrainedModel)


def _caption_input(item: dict) -> dict:
    """``{"image" | "images": ..., "text": ...}`` as the ``{"images", "text"}`` dict the parent's
    ``preprocess`` reads, ``text`` defaulting to ``""`` (a caption from scratch)."""
    unknown = sorted(set(item) - set(DICT_KEYS))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in an input dict; it holds an 'image' and optionally a 'text'")
    if ("image" in item) == ("images" in item):
        raise ValueError("each input dict needs one image, under the key 'image' (or 'images')")
    images = item["image"] if "image" in item else item["images"]
    text = item.get("text")
    if text is None:
        text = [""] * len(images) if isinstance(images, (list, tuple)) else ""
    return {"images": images, "text": text}


class ImageCaptioningPipeline(ImageTextToTextPipeline):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if _is_package_captioner(self.model) and self.tokenizer is not None:
            # With batch_size > 1 the pipeline's collator pads prompts on the tokenizer's side; a
            # right-padded prompt is continued after its padding. transformers 5.25 sets "left"
            # itself, 5.20 does not. (The processor pads prompts on the left in any case.)
            self.tokenizer.padding_side = "left"

    def __call__(self, images=None, text=None, **kwargs):
        if not _is_package_captioner(self.model):
            return super().__call__(images, text=text, **kwargs)
        if images is None:
            raise ValueError("no image given: a captioner needs an image (a path, URL, PIL image, array or tensor)")
        for name, value in (("images", images), ("texts", text)):
            if isinstance(value, (list, tuple)) and not value:
                raise ValueError(f"an empty list of {name} was given: nothing to caption")
        if isinstance(images, dict) or (isinstance(images, (list, tuple)) and all(isinstance(item, dict) for item in images)):
            if text is not None:
                raise ValueError("the texts are given twice: in the input dicts and as text=")
            # Straight to Pipeline.__call__: the parent reads a list of dicts as a chat.
            inputs = _caption_input(images) if isinstance(images, dict) else [_caption_input(item) for item in images]
            return Pipeline.__call__(self, inputs, **kwargs)
        if text is None:
            text = [""] * len(images) if isinstance(images, (list, tuple)) else ""
        return super().__call__(images, text=text, **kwargs)

    def _sanitize_parameters(self, return_attention=None, **kwargs):
        if _is_package_captioner(self.model):
            # The parent hands every parameter it does not name to the processor.
            accepted = [name for name in inspect.signature(super()._sanitize_parameters).parameters if name not in ("self", "kwargs")]
            unknown = {name: value for name, value in kwargs.items() if name not in accepted}
            generation = sorted(set(unknown) & set(vars(GenerationConfig())))
            hint = f". Generation settings go in generate_kwargs, e.g. generate_kwargs={{{generation[0]!r}: ...}}" if generation else ""
            refuse_unknown_parameters(self, unknown, [*accepted, "return_attention"], hint)
            if kwargs.get("generate_kwargs") is not None and not isinstance(kwargs["generate_kwargs"], dict):
                raise TypeError(f"generate_kwargs must be a dict of generate() arguments; got {type(kwargs['generate_kwargs']).__name__}")
        preprocess_params, forward_params, postprocess_params = super()._sanitize_parameters(**kwargs)
        if check_flag("return_attention", return_attention):
            if not _is_package_captioner(self.model):
                raise ValueError("return_attention is supported for hf-mmattn captioners only")
            forward_params["return_attention"] = True
            postprocess_params["return_attention"] = True
        return preprocess_params, forward_params, postprocess_params

    def preprocess(self, inputs=None, timeout=None, **kwargs):
        """For the package's captioners, the images are read here by the package's loader (see the
        module docstring); the parent's ``load_images`` then passes the PIL images through."""
        if _is_package_captioner(self.model) and isinstance(inputs, dict) and "images" in inputs:
            images = inputs["images"]
            if isinstance(images, (list, tuple)):
                images = [read_image(image, timeout) for image in images]
            else:
                images = read_image(images, timeout)
            inputs = {**inputs, "images": images}
        return super().preprocess(inputs, timeout=timeout, **kwargs)

    def _forward(self, model_inputs, generate_kwargs=None, return_attention=False):
        pixel_values = model_inputs["pixel_values"]  # the processor's output for the pipeline's images
        outputs = super()._forward(model_inputs, generate_kwargs=generate_kwargs)
        if return_attention:
            sequences = outputs["generated_sequence"]
            flat = sequences.flatten(0, 1) if sequences.ndim == 3 else sequences
            pixel_values = pixel_values.repeat_interleave(flat.shape[0] // pixel_values.shape[0], dim=0)
            read = self.model(input_ids=flat, pixel_values=pixel_values, output_attentions=True, use_cache=False)
            if read.attentions is None:
                raise ValueError(f"{type(self.model).__name__} has no attention to return (Show and Tell reads the image once)")
            outputs["attention_maps"] = read.attentions
            outputs["image_grid_size"] = read.image_grid_size
        return outputs

    def postprocess(self, model_outputs, return_attention=False, **postprocess_kwargs):
        records = super().postprocess(model_outputs, **postprocess_kwargs)
        if not return_attention:
            return records
        sequences = model_outputs["generated_sequence"]
        flat = sequences.flatten(0, 1) if sequences.ndim == 3 else sequences
        tokenizer = self.processor.tokenizer
        special = set(tokenizer.all_special_ids)
        grid = model_outputs["image_grid_size"]
        for row, record in enumerate(records):
            ids = flat[row].tolist()
            words, maps = [], []
            # Position t's attention produced word t + 1.
            for t in range(len(ids) - 1):
                word = ids[t + 1]
                if word == tokenizer.eos_token_id:
                    break
                if word in special:
                    continue
                words.append(tokenizer.convert_ids_to_tokens(word))
                attention = model_outputs["attention_maps"][t][row].float()
                maps.append((attention.reshape(grid) if grid is not None else attention).cpu().numpy())
            record["words"] = words
            record["attentions"] = maps
            record["image_grid_size"] = grid
        return records


__all__ = ["ImageCaptioningPipeline"]
