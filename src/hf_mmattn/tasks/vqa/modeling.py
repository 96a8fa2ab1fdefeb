"""What every VQA model of the package shares: outputs, loss, input checks, the answer head.

The models themselves live in ``models/<name>/``; this file holds the contract of
docs/design.md ("Contracts") once so that every model enforces it the same way.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers.utils import ModelOutput

from ...modeling_base import (
    MMAttnPreTrainedModel,
    check_image_boxes,
    check_image_inputs,
    check_same_device,
    check_text_inputs,
    prepare_image_inputs,
    refuse_hidden_states,
    require_tensor,
)


@dataclass
class VQAModelOutput(ModelOutput):
    """Output of the base (headless) VQA models.

    pooled_output: the fused question-image vector the answer head reads, ``(batch, hidden)``.
    image_embeds: the image as the model reads it: regions after projection,
        ``(batch, num_regions, hidden)`` for attention models, one vector ``(batch, dim)`` for
        models that pool the image (the VQA baseline).
    question_embeds: the question vector, ``(batch, hidden)``.
    attentions: with ``output_attentions=True``, one map per attention step (hop, glimpse...),
        each ``(batch, num_regions)`` and summing to 1 over the real regions.
    image_grid_size: ``(height, width)`` of the region grid when regions come from pixels, so
        ``attentions[k][b].reshape(image_grid_size)`` lays over the image; ``None`` otherwise.
    question_attentions: with ``output_attentions=True``, for models that also attend over the
        question's words (co-attention, dual attention), one map per step, each
        ``(batch, words)``, zero on padding and summing to 1 over the real words.
    """

    pooled_output: torch.FloatTensor | None = None
    image_embeds: torch.FloatTensor | None = None
    question_embeds: torch.FloatTensor | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    image_grid_size: tuple[int, int] | None = None
    question_attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class VQAOutput(ModelOutput):
    """Output of the ``...ForVisualQuestionAnswering`` heads: ``logits`` over ``config.id2label``
    plus the base model's fields."""

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    pooled_output: torch.FloatTensor | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    image_grid_size: tuple[int, int] | None = None
    question_attentions: tuple[torch.FloatTensor, ...] | None = None


def vqa_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Loss for the two label formats of the contract.

    * class indices ``(batch,)`` (long): softmax cross-entropy, as SAN and the VQA baseline
      train on the single most common answer; an index must be an answer of ``config.id2label``
      or -100 (the question is then left out, PyTorch's ``ignore_index``);
    * soft scores ``(batch, num_answers)`` (float, VQA scores 0/.3/.6/.9/1, in [0, 1]): sigmoid
      binary cross-entropy averaged over entries and multiplied by the number of answers, the
      convention of bottom-up-attention / BAN and transformers' ViLT.
    """
    require_tensor("labels", labels)
    if labels.dtype in (torch.int64, torch.int32) and labels.dim() == 1 and labels.shape[0] == logits.shape[0]:
        ignored = labels == -100
        if ((labels < 0) & ~ignored).any() or (labels >= logits.shape[1]).any():
            raise ValueError(
                f"labels must be answer indices in [0, {logits.shape[1]}) (or -100 to leave a question out); "
                f"got values from {labels.min().item()} to {labels.max().item()}"
            )
        if ignored.all():
            raise ValueError("every label is -100 (ignored): the loss of this batch is undefined")
        return F.cross_entropy(logits, labels.long())
    if labels.is_floating_point() and labels.shape == logits.shape:
        if not torch.isfinite(labels).all() or labels.min() < 0 or labels.max() > 1:
            raise ValueError("soft labels must be VQA scores in [0, 1] (finite); use answer indices (long) for class labels")
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype)) * labels.shape[1]
    raise ValueError(
        f"labels must be answer indices of shape ({logits.shape[0]},) (long) or soft scores of shape "
        f"{tuple(logits.shape)} (float); got {tuple(labels.shape)} of dtype {labels.dtype}"
    )


def check_vqa_inputs(
    config,
    input_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    pixel_values: torch.Tensor | None,
    image_features: torch.Tensor | None,
    image_attention_mask: torch.Tensor | None,
    image_index: torch.Tensor | None,
    image_boxes: torch.Tensor | None = None,
    output_hidden_states: bool | None = None,
) -> torch.Tensor:
    """Rejects malformed inputs with an error that names the problem; returns the attention mask.

    Without an ``attention_mask``, the mask is inferred from ``config.pad_token_id``: 1 for every
    id but the padding id (``input_ids != pad_token_id``, as MCAN / OpenVQA and ban-vqa build it),
    so padded question ids read the same with or without the processor's mask; all ones when the
    config has no padding id. Refused besides the image checks of
    [`~hf_mmattn.modeling_base.check_image_inputs`]: inputs that are not torch tensors, an empty
    batch, masks holding anything but 0/1 (booleans are fine), padding before a question's last
    word, ids outside the vocabulary, a non-integer or out-of-range ``image_index``, and inputs
    on different devices."""
    refuse_hidden_states(config, output_hidden_states, "VQA models",
                         "the base model's outputs (pooled_output, image_embeds, question_embeds; AutoModel)")
    require_tensor("image_index", image_index)
    check_same_device(input_ids=input_ids, attention_mask=attention_mask, image_index=image_index,
                      pixel_values=pixel_values, image_features=image_features)
    attention_mask = check_text_inputs(config, input_ids, attention_mask, unit="question", empty="empty questions cannot be answered")
    images = check_image_inputs(config, pixel_values, image_features, image_attention_mask, image_boxes)

    if image_index is None:
        if images.shape[0] != input_ids.shape[0]:
            raise ValueError(
                f"batch mismatch: {input_ids.shape[0]} questions but {images.shape[0]} images "
                "(pass image_index to let several questions share one image)"
            )
    else:
        if image_index.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"image_index must be an integer tensor (the row of each question's image); got {image_index.dtype}")
        if image_index.shape != (input_ids.shape[0],):
            raise ValueError(f"image_index must have shape ({input_ids.shape[0]},), one image per question; got {tuple(image_index.shape)}")
        if image_index.numel() and (image_index.min() < 0 or image_index.max() >= images.shape[0]):
            raise ValueError(f"image_index points outside the {images.shape[0]} images given")
    return attention_mask


class MMAttnVQAPreTrainedModel(MMAttnPreTrainedModel):
    """Base class of the package's VQA models: the question's word embedding, and the remote-code
    entry points (``auto_map``, ``custom_pipelines``) of a VQA checkpoint."""

    main_input_name = "input_ids"
    pipeline_tag = "visual-question-answering"
    remote_code_task = "mmattn-visual-question-answering"
    remote_code_pipeline = "VisualQuestionAnsweringPipeline"
    remote_code_auto_class = "AutoModelForVisualQuestionAnswering"

    def get_input_embeddings(self):
        """The question's word embedding; a head model reaches it through its base ``model``."""
        return self.question_encoder.embedding if hasattr(self, "question_encoder") else self.model.get_input_embeddings()

    def set_input_embeddings(self, value):
        if hasattr(self, "question_encoder"):
            self.question_encoder.embedding = value
        else:
            self.model.set_input_embeddings(value)


class MMAttnForVisualQuestionAnswering(MMAttnVQAPreTrainedModel):
    """The answer head every VQA model shares: the base model's ``pooled_output`` → classifier
    over ``config.id2label``, with the loss of :func:`vqa_loss`. Subclasses set ``self.model``
    (their base model) and ``self.classifier`` in ``__init__``; a model whose base output has more
    fields to pass on (e.g. per-layer attention maps) sets ``output_class`` to a subclass of
    [`VQAOutput`] declaring them."""

    output_class = VQAOutput

    @property
    def _reads_image_boxes(self) -> bool:
        return "image_boxes" in inspect.signature(self.model.forward).parameters

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        pixel_values: torch.FloatTensor | None = None,
        image_features: torch.FloatTensor | None = None,
        image_attention_mask: torch.LongTensor | None = None,
        image_index: torch.LongTensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        image_boxes: torch.FloatTensor | None = None,
        output_hidden_states: bool | None = None,
    ) -> VQAOutput | tuple:
        r"""
        attention_mask (`torch.LongTensor` of shape `(batch, words)`, *optional*):
            1 for the question's words, 0 for the padding after them. Without it, the mask is
            inferred from `config.pad_token_id` (1 wherever `input_ids != pad_token_id`), as the
            original MCAN / OpenVQA and ban-vqa code does, so right-padded ids give the same answers
            with or without the processor's mask (see `check_vqa_inputs`).
        pixel_values / image_features (`torch.FloatTensor`):
            Floating point inputs of another dtype than the model's (float64 from numpy, float16 into a
            float32 model) are converted to the model's dtype, as `image_boxes` are; they must be on the
            model's device. Pixels must be normalised by the model's processor: raw 0-255 values are
            refused (see `check_image_inputs`).
        image_boxes (`torch.FloatTensor` of shape `(batch, regions, 4)`, *optional*):
            The region boxes of `image_features` as (x1, y1, x2, y2) normalised to [0, 1], for models
            that read them (BAN's counting module, MCAN's box features); the others ignore them (a
            feature file's boxes can be passed to any model). Boxes outside [0, 1] or with x2 < x1 or
            y2 < y1 are refused.
        image_index (`torch.LongTensor` of shape `(batch,)`, *optional*):
            For each question, the row of `pixel_values` / `image_features` holding its image, so
            several questions share one encoded image. Without it, question i reads image i.
        labels (`torch.Tensor`, *optional*):
            Answer indices `(batch,)` for softmax cross-entropy, or soft VQA scores
            `(batch, num_labels)` for binary cross-entropy (see `vqa_loss`).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        pixel_values, image_features, image_boxes = prepare_image_inputs(
            self, pixel_values=pixel_values, image_features=image_features, image_boxes=image_boxes
        )
        reads_boxes = self._reads_image_boxes
        if image_boxes is not None and not reads_boxes and isinstance(image_features, torch.Tensor) and image_features.dim() == 3:
            # Ignored by this model, but still a broken input to tell about (a feature file's boxes).
            check_image_boxes(image_boxes, image_features, image_attention_mask)
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            pixel_values=pixel_values,
            image_features=image_features,
            image_attention_mask=image_attention_mask,
            image_index=image_index,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **({"image_boxes": image_boxes} if image_boxes is not None and reads_boxes else {}),
        )
        logits = self.classifier(outputs.pooled_output)
        loss = vqa_loss(logits, labels) if labels is not None else None
        passed_on = {field.name for field in dataclasses.fields(self.output_class)} - {"loss", "logits"}
        output = self.output_class(loss=loss, logits=logits, **{k: v for k, v in outputs.items() if k in passed_on})
        return output if return_dict else output.to_tuple()


__all__ = [
    "MMAttnForVisualQuestionAnswering",
    "MMAttnVQAPreTrainedModel",
    "VQAModelOutput",
    "VQAOutput",
    "check_vqa_inputs",
    "vqa_loss",
]
