"""What every VQA model of the package shares: outputs, loss, input checks, card on save.

The models themselves live in ``models/<name>/``; this file holds the contract of
DESIGN.md ("Contracts") once so that every model enforces it the same way.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput


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
      train on the single most common answer;
    * soft scores ``(batch, num_answers)`` (float, VQA scores 0/.3/.6/.9/1): sigmoid binary
      cross-entropy averaged over entries and multiplied by the number of answers, the
      convention of bottom-up-attention / BAN and transformers' ViLT.
    """
    if labels.dtype in (torch.int64, torch.int32) and labels.dim() == 1:
        return F.cross_entropy(logits, labels.long())
    if labels.is_floating_point() and labels.shape == logits.shape:
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
) -> torch.Tensor:
    """Rejects malformed inputs with an error that names the problem; returns the attention mask
    (all ones when the caller gave none)."""
    if input_ids is None:
        raise ValueError("input_ids is required: the tokenized question (use the model's processor)")
    if input_ids.dim() != 2 or input_ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"input_ids must be a 2-D integer tensor (batch, words); got shape {tuple(input_ids.shape)} of dtype {input_ids.dtype}")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    elif attention_mask.shape != input_ids.shape:
        raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids has {tuple(input_ids.shape)}")
    if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= config.vocab_size):
        raise ValueError(f"input_ids contain ids outside the vocabulary [0, {config.vocab_size})")
    lengths = attention_mask.sum(dim=1)
    if (lengths == 0).any():
        raise ValueError("a question has no tokens (its attention_mask row is all zero): empty questions cannot be answered")
    # The question encoders read the first `length` words: padding must come after them.
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    if not torch.equal(attention_mask.bool(), positions.unsqueeze(0) < lengths.unsqueeze(1)):
        raise ValueError("attention_mask must be right-padded (1s for the words, then 0s); use the model's processor")

    if config.image_encoder == "features":
        if image_features is None:
            raise ValueError("this model reads precomputed image_features (batch, regions, dim); pixel_values were given" if pixel_values is not None else "image_features is required")
        if image_features.dim() != 3 or image_features.shape[-1] != config.image_feature_size:
            raise ValueError(f"image_features must have shape (batch, regions, {config.image_feature_size}); got {tuple(image_features.shape)}")
        images = image_features
        if image_attention_mask is not None:
            if image_attention_mask.shape != image_features.shape[:2]:
                raise ValueError(f"image_attention_mask must have shape {tuple(image_features.shape[:2])}; got {tuple(image_attention_mask.shape)}")
            if (image_attention_mask.sum(dim=1) == 0).any():
                raise ValueError("an image has no regions (its image_attention_mask row is all zero)")
        if image_boxes is not None:
            if image_boxes.shape != (*image_features.shape[:2], 4):
                raise ValueError(
                    f"image_boxes must have shape {(*image_features.shape[:2], 4)}: one (x1, y1, x2, y2) box per region, "
                    f"normalised to [0, 1]; got {tuple(image_boxes.shape)}"
                )
            if not image_boxes.is_floating_point() or not torch.isfinite(image_boxes).all():
                raise ValueError("image_boxes must be finite floating point coordinates")
    else:
        if pixel_values is None:
            raise ValueError("this model reads pixel_values (batch, 3, height, width); image_features were given" if image_features is not None else "pixel_values is required")
        if pixel_values.dim() != 4 or pixel_values.shape[1] != config.num_channels:
            raise ValueError(f"pixel_values must have shape (batch, {config.num_channels}, height, width); got {tuple(pixel_values.shape)}")
        images = pixel_values
    if not images.is_floating_point():
        raise ValueError(f"{'image_features' if config.image_encoder == 'features' else 'pixel_values'} must be a floating point tensor; got {images.dtype}")
    # One reduction instead of a boolean copy of the inputs; only a non-finite sum (a NaN or an
    # infinity, or finite values overflowing) pays for the element-wise check.
    if not torch.isfinite(images.sum()) and not torch.isfinite(images).all():
        raise ValueError("image inputs contain NaN or infinite values")

    if image_index is None:
        if images.shape[0] != input_ids.shape[0]:
            raise ValueError(
                f"batch mismatch: {input_ids.shape[0]} questions but {images.shape[0]} images "
                "(pass image_index to let several questions share one image)"
            )
    else:
        if image_index.shape != (input_ids.shape[0],):
            raise ValueError(f"image_index must have shape ({input_ids.shape[0]},), one image per question; got {tuple(image_index.shape)}")
        if image_index.numel() and (image_index.min() < 0 or image_index.max() >= images.shape[0]):
            raise ValueError(f"image_index points outside the {images.shape[0]} images given")
    return attention_mask


REMOTE_CODE_MODULE = "hf_mmattn_auto"
REMOTE_PIPELINE_TASK = "mmattn-visual-question-answering"
REMOTE_CODE_TEMPLATE = '''"""Entry points of this hf-mmattn checkpoint for `trust_remote_code=True` loading.

They need the hf-mmattn package installed (pip install hf-mmattn); with it, plain
`import hf_mmattn` before `from_pretrained` / `pipeline` works without remote code.
"""

from hf_mmattn import {names}
'''


class MMAttnVQAPreTrainedModel(PreTrainedModel):
    """Base class of the package's VQA models: writes the model card and the remote-code entry
    points (``auto_map``, ``custom_pipelines``) on save."""

    base_model_prefix = "model"
    main_input_name = "input_ids"
    pipeline_tag = "visual-question-answering"
    _no_split_modules = []

    def get_input_embeddings(self):
        """The question's word embedding; a head model reaches it through its base ``model``."""
        return self.question_encoder.embedding if hasattr(self, "question_encoder") else self.model.get_input_embeddings()

    def set_input_embeddings(self, value):
        if hasattr(self, "question_encoder"):
            self.question_encoder.embedding = value
        else:
            self.model.set_input_embeddings(value)

    @torch.no_grad()
    def _init_weights(self, module):
        """PyTorch's own default initialisation of each layer, as the original implementations
        (Torch7, Theano, PyTorch ports) train from. transformers' default N(0, 0.02) is made for
        deep pre-trained transformers; on these small from-scratch networks it leaves the
        question-image interaction untrained for epochs (easy-VQA yes/no stuck at the prior).
        Written with ``transformers.initialization`` so loading never re-initialises weights
        that come from a checkpoint. A layer with an ``init_gain`` (set by
        [`~hf_mmattn.layers.fusion.scale_initialization`]) gets its weight bound multiplied by it."""
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Bilinear)):
            fan_in = module.weight.shape[1] if isinstance(module, nn.Bilinear) else module.weight[0].numel()
            gain = getattr(module, "init_gain", 1.0)
            if gain == 1.0 and not isinstance(module, nn.Bilinear):
                init.kaiming_uniform_(module.weight, a=math.sqrt(5))  # U(±1/√fan_in)
            else:
                init.uniform_(module.weight, -gain / math.sqrt(fan_in), gain / math.sqrt(fan_in))
            if module.bias is not None:
                init.uniform_(module.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        elif isinstance(module, (nn.LSTM, nn.GRU)):
            bound = 1 / math.sqrt(module.hidden_size)
            for parameter in module.parameters():
                init.uniform_(parameter, -bound, bound)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight)
            if module.padding_idx is not None:
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)):
            super()._init_weights(module)

    def load_pretrained_backbone(self, pretrained_model_name_or_path, **kwargs) -> None:
        """Copy pretrained weights (a local folder or Hub id of the backbone's architecture, e.g. a
        ResNet checkpoint for a ResNet ``backbone_config``) into the image backbone of a model
        with ``image_encoder="backbone"``. Loads through the backbone's own class: transformers
        5's ``AutoBackbone.from_pretrained`` asks the Hub about local folders and fails offline."""
        encoder = self.base_model.image_encoder
        if encoder.kind != "backbone":
            raise ValueError(f"this model reads images with image_encoder={encoder.kind!r}, not a backbone")
        backbone = encoder.backbone
        pretrained = type(backbone).from_pretrained(pretrained_model_name_or_path, out_features=backbone.out_features, **kwargs)
        backbone.load_state_dict(pretrained.state_dict())

    def _remote_code_entry_points(self) -> dict[str, str]:
        from .registration import VQA_MODELS

        config_class, base_class, vqa_class = next(classes for classes in VQA_MODELS if classes[0] is type(self.config))
        return {
            "AutoConfig": config_class.__name__,
            "AutoModel": base_class.__name__,
            "AutoModelForVisualQuestionAnswering": vqa_class.__name__,
            "AutoProcessor": "VQAProcessor",
        }

    def save_pretrained(self, save_directory, *args, model_card_kwargs: dict | None = None, **kwargs):
        """``PreTrainedModel.save_pretrained`` plus, in the same folder:

        * a README.md model card rendered from ``model_cards/<model>.md``; ``model_card_kwargs``
          go to :func:`hf_mmattn.hub.build_model_card` (``eval_results``, ``dataset_id``,
          ``training_summary``...);
        * ``config.custom_pipelines`` and ``config.auto_map`` naming a small module that imports
          this package, so ``pipeline(model=folder, trust_remote_code=True)`` infers the task.
        """
        entry_points = self._remote_code_entry_points()
        self.config.auto_map = {auto: f"{REMOTE_CODE_MODULE}.{name}" for auto, name in entry_points.items()}
        # Keyed by a task name of its own: a checkpoint whose custom_pipelines names
        # "visual-question-answering" would make transformers demand trust_remote_code even
        # after `import hf_mmattn` registered that task.
        self.config.custom_pipelines = {
            REMOTE_PIPELINE_TASK: {
                "impl": f"{REMOTE_CODE_MODULE}.VisualQuestionAnsweringPipeline",
                "pt": ["AutoModelForVisualQuestionAnswering"],
                "type": "multimodal",
            }
        }
        super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            from .hub import save_model_card

            names = ", ".join(sorted({*entry_points.values(), "VisualQuestionAnsweringPipeline"}))
            with open(os.path.join(save_directory, f"{REMOTE_CODE_MODULE}.py"), "w") as module:
                module.write(REMOTE_CODE_TEMPLATE.format(names=names))
            save_model_card(save_directory, self, **(model_card_kwargs or {}))


class MMAttnForVisualQuestionAnswering(MMAttnVQAPreTrainedModel):
    """The answer head every VQA model shares: the base model's ``pooled_output`` → classifier
    over ``config.id2label``, with the loss of :func:`vqa_loss`. Subclasses set ``self.model``
    (their base model) and ``self.classifier`` in ``__init__``; a model whose base output has more
    fields to pass on (e.g. per-layer attention maps) sets ``output_class`` to a subclass of
    [`VQAOutput`] declaring them."""

    output_class = VQAOutput

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
        **kwargs,
    ) -> VQAOutput | tuple:
        r"""
        image_boxes (`torch.FloatTensor` of shape `(batch, regions, 4)`, *optional*):
            The region boxes of `image_features` as (x1, y1, x2, y2) normalised to [0, 1], for models
            that read them (BAN's counting module, MCAN's box features); the others ignore them.
        image_index (`torch.LongTensor` of shape `(batch,)`, *optional*):
            For each question, the row of `pixel_values` / `image_features` holding its image, so
            several questions share one encoded image. Without it, question i reads image i.
        labels (`torch.Tensor`, *optional*):
            Answer indices `(batch,)` for softmax cross-entropy, or soft VQA scores
            `(batch, num_labels)` for binary cross-entropy (see `vqa_loss`).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            pixel_values=pixel_values,
            image_features=image_features,
            image_attention_mask=image_attention_mask,
            image_index=image_index,
            output_attentions=output_attentions,
            return_dict=True,
            **({"image_boxes": image_boxes} if image_boxes is not None else {}),
        )
        logits = self.classifier(outputs.pooled_output)
        loss = vqa_loss(logits, labels) if labels is not None else None
        passed_on = {field.name for field in dataclasses.fields(self.output_class)} - {"loss", "logits"}
        output = self.output_class(loss=loss, logits=logits, **{k: v for k, v in outputs.items() if k in passed_on})
        return output if return_dict else output.to_tuple()
