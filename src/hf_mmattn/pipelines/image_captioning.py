"""The ``image-text-to-text`` pipeline (and its ``image-to-text`` name), extended for the
package's captioners.

transformers' own [`~transformers.ImageTextToTextPipeline`] already serves a captioner whose
processor takes ``text=""``; this subclass, registered in its place by ``import hf_mmattn``,
changes nothing for other models and adds, for the package's captioners:

* ``text`` may be omitted: the caption is generated from the start token;
* ``return_attention=True``: each result also holds ``"words"`` (the generated words) and
  ``"attentions"``, one ``(height, width)`` map per word laid out on the image grid (for
  attention models; Show and Tell has none and raises), computed by re-reading the generated
  caption with ``output_attentions=True`` (exact for soft attention and for hard attention's
  inference modes, which are deterministic).
"""

from __future__ import annotations

from transformers.pipelines.image_text_to_text import ImageTextToTextPipeline


def _is_package_captioner(model) -> bool:
    from ..modeling_captioning import MMAttnCaptioningPreTrainedModel

    return isinstance(model, MMAttnCaptioningPreTrainedModel)


class ImageCaptioningPipeline(ImageTextToTextPipeline):
    def __call__(self, images=None, text=None, **kwargs):
        if text is None and images is not None and _is_package_captioner(self.model):
            text = [""] * len(images) if isinstance(images, (list, tuple)) else ""
        if images is None and _is_package_captioner(self.model):
            raise ValueError("no image given: a captioner needs an image (a path, URL, PIL image or array)")
        return super().__call__(images, text=text, **kwargs)

    def _sanitize_parameters(self, return_attention=None, **kwargs):
        preprocess_params, forward_params, postprocess_params = super()._sanitize_parameters(**kwargs)
        if return_attention:
            if not _is_package_captioner(self.model):
                raise ValueError("return_attention is supported for hf-mmattn captioners only")
            forward_params["return_attention"] = True
            postprocess_params["return_attention"] = True
        return preprocess_params, forward_params, postprocess_params

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
