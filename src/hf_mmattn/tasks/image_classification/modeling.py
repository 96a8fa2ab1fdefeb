"""What every image classifier of the package shares: the input checks, transformers'
``ImageClassifierOutput`` and loss conventions, and the classifier on top of the base model's
image vector."""

from __future__ import annotations

import itertools

import torch
from transformers.modeling_outputs import ImageClassifierOutput

from ...modeling_base import (
    MMAttnPreTrainedModel,
    check_image_inputs,
    classification_loss,
    prepare_image_inputs,
    refuse_hidden_states,
)


def check_image_classification_inputs(model, pixel_values, image_features, image_attention_mask, output_hidden_states):
    """The image checks of [`~hf_mmattn.modeling_base.check_image_inputs`] (no image, an empty
    batch, raw 0-255 pixels, NaN, a mask that is not 0/1: refused) and no ``hidden_states``.
    Returns the pixels, features and mask in the model's dtype."""
    refuse_hidden_states(model.config, output_hidden_states, "image classifiers",
                         "the base model's outputs (AutoModel: the feature map and the pooled image vector)",
                         maps="nothing: these models have no attention")
    check_image_inputs(model.config, pixel_values, image_features, image_attention_mask)
    return prepare_image_inputs(model, pixel_values=pixel_values, image_features=image_features, image_attention_mask=image_attention_mask)


class MMAttnImageClassificationPreTrainedModel(MMAttnPreTrainedModel):
    """Base class of the image classifiers: pixels in, the image-classification pipeline tag.
    transformers' built-in pipeline serves them: no remote-code pipeline. They read no words:
    ``get_input_embeddings`` raises, as for transformers' own vision models."""

    main_input_name = "pixel_values"
    pipeline_tag = "image-classification"
    remote_code_auto_class = "AutoModelForImageClassification"

    def get_input_embeddings(self):
        raise NotImplementedError(f"{type(self).__name__} reads images only: it has no word embeddings to get or resize")

    # A bilinear pooling of precomputed features learns nothing: such a base model has no
    # parameter, where transformers reads its device and dtype. Its buffers, then its config, say them.
    @property
    def device(self) -> torch.device:
        tensor = next(itertools.chain(self.parameters(), self.buffers()), None)
        return tensor.device if tensor is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        floating = (t for t in itertools.chain(self.parameters(), self.buffers()) if t.is_floating_point())
        tensor = next(floating, None)
        if tensor is not None:
            return tensor.dtype
        configured = getattr(self.config, "dtype", None)
        return configured if isinstance(configured, torch.dtype) else torch.get_default_dtype()


class MMAttnForImageClassification(MMAttnImageClassificationPreTrainedModel):
    """The classifier every image model shares: the base model's ``pooler_output`` → dropout →
    linear layer over ``config.id2label`` (the papers' softmax or logistic regression layer),
    transformers' ``ImageClassifierOutput`` with the loss of
    [`~hf_mmattn.modeling_base.classification_loss`]. Subclasses set ``self.model`` (their base
    model) and call ``_build_classifier(image_vector_size)``."""

    def _build_classifier(self, image_vector_size: int) -> None:
        self.dropout = torch.nn.Dropout(self.config.dropout)
        self.classifier = torch.nn.Linear(image_vector_size, self.config.num_labels)

    def forward(
        self,
        pixel_values: torch.FloatTensor | None = None,
        image_features: torch.FloatTensor | None = None,
        image_attention_mask: torch.LongTensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> ImageClassifierOutput | tuple:
        r"""
        pixel_values (`(batch, channels, height, width)`): images as the model's image processor
            makes them (``image_encoder`` "scratch_cnn" or "backbone").
        image_features / image_attention_mask (`(batch, regions, dim)` / `(batch, regions)`):
            precomputed feature maps, flattened (``image_encoder="features"``).
        labels: class indices `(batch,)` (or multi-label / regression targets, by `config.problem_type`).
        output_attentions: accepted for the common interface; these models have no attention map.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.model(pixel_values=pixel_values, image_features=image_features, image_attention_mask=image_attention_mask,
                             output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = classification_loss(logits, labels, self.config) if labels is not None else None
        output = ImageClassifierOutput(loss=loss, logits=logits)
        return output if return_dict else output.to_tuple()


__all__ = ["MMAttnForImageClassification", "MMAttnImageClassificationPreTrainedModel", "check_image_classification_inputs"]
