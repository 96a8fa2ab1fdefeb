"""What every model of the package shares, whatever its task: PyTorch's default initialisation,
pretrained backbone loading, the image input checks, and the model card and remote-code entry
points written on save. Each task family's contract is in ``tasks/<family>/modeling.py``."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from .layers.initialization import RELEASED_LAYER_TYPES, init_module
from .layers.masking import is_right_padded

REMOTE_CODE_MODULE = "hf_mmattn_auto"
REMOTE_CODE_TEMPLATE = '''"""Entry points of this hf-mmattn checkpoint for `trust_remote_code=True` loading.

They need the hf-mmattn package installed (pip install hf-mmattn); with it, plain
`import hf_mmattn` before `from_pretrained` / `pipeline` works without remote code.
"""

from hf_mmattn import {names}
'''


# Pixels normalised by any processor's mean/std lie within a few units of zero (ImageNet mean/std:
# [-2.1, 2.6]; mean = std = 0.5: [-1, 1]); raw 0-255 pixels reach far past this bound.
PIXEL_VALUE_LIMIT = 20.0
# Normalised box coordinates may overshoot [0, 1] by rounding (pixels divided by the image size).
BOX_TOLERANCE = 1e-4


def require_tensor(name: str, value) -> None:
    """Refuses, with a ``TypeError`` saying what to pass, a model input that is not a torch tensor
    (``None`` is left to the caller): numpy arrays (a processor called with
    ``return_tensors="np"``), lists of tensors, nested lists, dicts..."""
    if value is None or isinstance(value, torch.Tensor):
        return
    if isinstance(value, np.ndarray):
        raise TypeError(
            f"{name} is a numpy array: the model takes torch tensors. Call the processor with return_tensors='pt' "
            "(its default), or convert with torch.from_numpy"
        )
    if isinstance(value, (list, tuple)) and value and all(isinstance(item, torch.Tensor) for item in value):
        raise TypeError(f"{name} is a {type(value).__name__} of {len(value)} tensors: stack them into one batch tensor (torch.stack)")
    raise TypeError(f"{name} must be a torch tensor; got {type(value).__name__} (use the model's processor)")


def check_mask_values(name: str, mask: torch.Tensor) -> None:
    """A mask holds 1 (or True) for what is read and 0 (False) for padding; any other value (2,
    -1, 0.5: a mask built by arithmetic, or token ids passed as a mask) is refused."""
    if mask.dtype == torch.bool or mask.numel() == 0:
        return
    if ((mask != 0) & (mask != 1)).any():
        values = torch.unique(mask[(mask != 0) & (mask != 1)])[:5].tolist()
        raise ValueError(f"{name} must hold only 0 (padding) and 1 (read), or booleans; it holds {values}")


def check_same_device(**tensors: torch.Tensor | None) -> None:
    """The tensors among the inputs of one call must share a device, and hold data (not ``meta``
    tensors); other values are left to :func:`require_tensor`."""
    devices = {name: tensor.device for name, tensor in tensors.items() if isinstance(tensor, torch.Tensor)}
    for name, device in devices.items():
        if device.type == "meta":
            raise ValueError(f"{name} is a meta tensor (a shape without data): pass real values")
    if len(set(devices.values())) > 1:
        where = ", ".join(f"{name} on {device}" for name, device in devices.items())
        raise ValueError(f"the inputs are on different devices ({where}): move them to the model's device with .to(model.device)")


def refuse_hidden_states(config, output_hidden_states: bool | None, models: str, intermediates: str,
                         maps: str = "every attention map") -> None:
    """Refuses ``output_hidden_states`` (from the call, or the config when the call leaves it
    unset) for models that have no per-layer hidden states to return, with an error that says
    where their intermediate vectors (``intermediates``) and attention maps (``maps``) are."""
    if output_hidden_states or (output_hidden_states is None and config.output_hidden_states):
        raise ValueError(
            f"the {models} return no hidden_states: their intermediate vectors are {intermediates} and, with "
            f"output_attentions=True, {maps}. Leave output_hidden_states unset"
        )


def check_text_inputs(
    config, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None, *, unit: str, empty: str
) -> torch.Tensor:
    """Rejects malformed token inputs with an error that names the problem; returns the attention
    mask. ``unit`` names one text in the errors ("question", "sentence"), ``empty`` says why an
    empty one is refused.

    Without an ``attention_mask``, the mask is inferred from ``config.pad_token_id``: 1 for every
    id but the padding id (as MCAN / OpenVQA and ban-vqa build it), all ones when the config has
    no padding id. Refused: inputs that are not torch tensors, no ``input_ids``, an empty batch, a
    text with no token, masks holding anything but 0/1 (booleans are fine) or of another shape,
    padding before a text's last word (the encoders read the first ``length`` words), ids outside
    the vocabulary, a mask on another device."""
    for name, value in (("input_ids", input_ids), ("attention_mask", attention_mask)):
        require_tensor(name, value)
    if input_ids is None:
        raise ValueError(f"input_ids is required: the tokenized {unit} (use the model's processor)")
    if input_ids.dim() != 2 or input_ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"input_ids must be a 2-D integer tensor (batch, words); got shape {tuple(input_ids.shape)} of dtype {input_ids.dtype}")
    if input_ids.shape[0] == 0:
        raise ValueError(f"input_ids is an empty batch (0 {unit}s)")
    check_same_device(input_ids=input_ids, attention_mask=attention_mask)
    if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= config.vocab_size):
        raise ValueError(f"input_ids contain ids outside the vocabulary [0, {config.vocab_size})")
    inferred = attention_mask is None
    if attention_mask is None:
        pad_token_id = config.pad_token_id
        attention_mask = (input_ids != pad_token_id).long() if pad_token_id is not None else torch.ones_like(input_ids)
    elif attention_mask.shape != input_ids.shape:
        raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids has {tuple(input_ids.shape)}")
    else:
        check_mask_values("attention_mask", attention_mask)
    if (attention_mask.sum(dim=1) == 0).any():
        raise ValueError(
            f"a {unit} has no tokens (its attention_mask row is all zero"
            + (f", every id the padding id {config.pad_token_id}" if inferred else "")
            + f"): {empty}"
        )
    if not is_right_padded(attention_mask):
        if inferred:
            raise ValueError(
                f"input_ids hold the padding id {config.pad_token_id} before a {unit}'s last word, and no attention_mask "
                f"says which ids are words: pad {unit}s on the right (the processor does) or pass attention_mask"
            )
        raise ValueError("attention_mask must be right-padded (1s for the words, then 0s); use the model's processor")
    return attention_mask


def check_image_inputs(
    config,
    pixel_values: torch.Tensor | None,
    image_features: torch.Tensor | None,
    image_attention_mask: torch.Tensor | None,
    image_boxes: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rejects malformed image inputs (per ``config.image_encoder``) with an error that names the
    problem; returns the image tensor the model reads (pixels or features).

    Refused: inputs that are not torch tensors (numpy arrays, lists), an empty batch, features
    with no region, masks holding anything but 0/1 (booleans are fine), boxes outside [0, 1]
    (by more than ``BOX_TOLERANCE``) or with x2 < x1 or y2 < y1 on a real region, non-float or
    non-finite images, and pixel values beyond ±``PIXEL_VALUE_LIMIT``: raw 0-255 pixels that
    skipped the processor, which no normalisation of [0, 1] images gives. The image's size is
    checked by the image encoder (layers/encoders.py), the dtype converted by the VQA heads and
    the captioners (:func:`prepare_image_inputs`)."""
    for name, value in (("pixel_values", pixel_values), ("image_features", image_features),
                        ("image_attention_mask", image_attention_mask), ("image_boxes", image_boxes)):
        require_tensor(name, value)
    check_same_device(pixel_values=pixel_values, image_features=image_features,
                      image_attention_mask=image_attention_mask, image_boxes=image_boxes)
    if config.image_encoder == "features":
        if image_features is None:
            raise ValueError("this model reads precomputed image_features (batch, regions, dim); pixel_values were given" if pixel_values is not None else "image_features is required")
        if image_features.dim() != 3 or image_features.shape[-1] != config.image_feature_size:
            raise ValueError(f"image_features must have shape (batch, regions, {config.image_feature_size}); got {tuple(image_features.shape)}")
        if image_features.shape[0] == 0:
            raise ValueError("image_features is an empty batch (0 images)")
        if image_features.shape[1] == 0:
            raise ValueError(f"image_features has no regions (shape {tuple(image_features.shape)}): every image needs at least one")
        images = image_features
        if image_attention_mask is not None:
            if image_attention_mask.shape != image_features.shape[:2]:
                raise ValueError(f"image_attention_mask must have shape {tuple(image_features.shape[:2])}; got {tuple(image_attention_mask.shape)}")
            check_mask_values("image_attention_mask", image_attention_mask)
            if (image_attention_mask.sum(dim=1) == 0).any():
                raise ValueError("an image has no regions (its image_attention_mask row is all zero)")
        if image_boxes is not None:
            check_image_boxes(image_boxes, image_features, image_attention_mask)
    else:
        if pixel_values is None:
            raise ValueError("this model reads pixel_values (batch, 3, height, width); image_features were given" if image_features is not None else "pixel_values is required")
        if pixel_values.dim() != 4 or pixel_values.shape[1] != config.num_channels:
            raise ValueError(f"pixel_values must have shape (batch, {config.num_channels}, height, width); got {tuple(pixel_values.shape)}")
        if pixel_values.shape[0] == 0:
            raise ValueError("pixel_values is an empty batch (0 images)")
        if pixel_values.shape[2] == 0 or pixel_values.shape[3] == 0:
            raise ValueError(f"pixel_values have no pixels (shape {tuple(pixel_values.shape)})")
        images = pixel_values
    if not images.is_floating_point():
        raise ValueError(f"{'image_features' if config.image_encoder == 'features' else 'pixel_values'} must be a floating point tensor; got {images.dtype}")
    if config.image_encoder == "features":
        # One reduction instead of a boolean copy of the inputs; only a non-finite sum (a NaN or an
        # infinity, or finite values overflowing) pays for the element-wise check.
        if not torch.isfinite(images.sum()) and not torch.isfinite(images).all():
            raise ValueError("image inputs contain NaN or infinite values")
    else:
        low, high = torch.aminmax(images.detach())  # one pass; NaN and infinities propagate
        if not (torch.isfinite(low) and torch.isfinite(high)):
            raise ValueError("image inputs contain NaN or infinite values")
        extreme = high.item() if high >= -low else low.item()
        if abs(extreme) > PIXEL_VALUE_LIMIT:
            raise ValueError(
                f"pixel_values reach {extreme:.4g}, beyond ±{PIXEL_VALUE_LIMIT:g}: they look like raw 0-255 pixels. The model "
                "reads pixels rescaled to [0, 1] and normalised by its processor's mean and std: pass the images through "
                "the model's processor (AutoProcessor.from_pretrained(...)(images=...))"
            )
    return images


def check_image_boxes(image_boxes, image_features: torch.Tensor, image_attention_mask: torch.Tensor | None) -> None:
    """One box per region of ``image_features``: finite ``(x1, y1, x2, y2)`` normalised to [0, 1]
    (within ``BOX_TOLERANCE``), with ``x2 >= x1`` and ``y2 >= y1``; padded regions (mask 0) are not
    checked."""
    require_tensor("image_boxes", image_boxes)
    if image_boxes.shape != (*image_features.shape[:2], 4):
        raise ValueError(
            f"image_boxes must have shape {(*image_features.shape[:2], 4)}: one (x1, y1, x2, y2) box per region, "
            f"normalised to [0, 1]; got {tuple(image_boxes.shape)}"
        )
    if not image_boxes.is_floating_point() or not torch.isfinite(image_boxes).all():
        raise ValueError("image_boxes must be finite floating point coordinates")
    boxes = image_boxes.detach()
    if isinstance(image_attention_mask, torch.Tensor) and image_attention_mask.shape == boxes.shape[:2]:
        boxes = boxes[image_attention_mask.bool()]
    if boxes.numel() == 0:
        return
    low, high = boxes.min().item(), boxes.max().item()
    if low < -BOX_TOLERANCE or high > 1 + BOX_TOLERANCE:
        raise ValueError(
            f"image_boxes must be (x1, y1, x2, y2) normalised to [0, 1]; they range over [{low:.4g}, {high:.4g}]. "
            "Divide pixel boxes by the image's width and height (hf_mmattn.data.region_features does)"
        )
    if ((boxes[..., 2] < boxes[..., 0] - BOX_TOLERANCE) | (boxes[..., 3] < boxes[..., 1] - BOX_TOLERANCE)).any():
        raise ValueError("image_boxes must be (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1; some box has them swapped (is it (x, y, w, h) or (y1, x1, y2, x2)?)")


def prepare_image_inputs(model, **tensors: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
    """The image inputs of ``model``'s forward (pixels, features, boxes, by name) in its dtype:
    floating point tensors of another floating dtype (float64 made by numpy, float16 into a
    float32 model) are converted; ``None`` and non-floating tensors (which the checks refuse)
    pass as they are. An input on another device than the model is refused (it would fail deep
    inside a layer), unless the model is dispatched over devices (``device_map``), whose hooks
    move the inputs themselves."""
    if next(model.parameters(), None) is None:  # nothing to match (a bilinear pooling of precomputed features)
        return tuple(tensors.values())
    prepared = []
    for name, tensor in tensors.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            on_device = tensor.device.type == "meta" or tensor.device == model.device
            if not on_device and getattr(model, "hf_device_map", None) is None:
                raise ValueError(f"{name} is on {tensor.device} but the model on {model.device}: move the inputs with .to(model.device)")
            tensor = tensor.to(model.dtype)
        prepared.append(tensor)
    return tuple(prepared)


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, config) -> torch.Tensor:
    """transformers' classification loss (its sequence and image classifiers') by ``config.problem_type`` (inferred as
    transformers does when unset): cross-entropy over class indices, binary cross-entropy over
    multi-label targets, mean squared error for regression."""
    require_tensor("labels", labels)
    num_labels = logits.shape[-1]
    problem_type = config.problem_type
    if problem_type is None:
        if num_labels == 1:
            problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            problem_type = "single_label_classification"
        else:
            problem_type = "multi_label_classification"
    if problem_type == "single_label_classification":
        if labels.dim() != 1 or labels.shape[0] != logits.shape[0] or labels.is_floating_point():
            raise ValueError(f"labels must be class indices of shape ({logits.shape[0]},); got {tuple(labels.shape)} {labels.dtype}")
        if ((labels < 0) & (labels != -100)).any() or (labels >= num_labels).any():
            raise ValueError(f"labels must be class indices in [0, {num_labels}) or -100; got {labels.min().item()}..{labels.max().item()}")
        return F.cross_entropy(logits, labels)
    if problem_type == "multi_label_classification":
        if labels.shape != logits.shape:
            raise ValueError(f"multi-label targets must have shape {tuple(logits.shape)}; got {tuple(labels.shape)}")
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
    return F.mse_loss(logits.squeeze(-1), labels.to(logits.dtype).view(-1)) if num_labels == 1 else F.mse_loss(logits, labels.to(logits.dtype))


class MMAttnPreTrainedModel(PreTrainedModel):
    """Base class of every model of the package. A task family's base class names the pipeline of
    its checkpoints (``remote_code_task``, ``remote_code_pipeline``, ``remote_code_auto_class``);
    the remote-code entry points come from the Auto classes the model is registered with."""

    base_model_prefix = "model"
    _no_split_modules = []

    @torch.no_grad()
    def _init_weights(self, module):
        """PyTorch's own default initialisation of each layer, unless the model's config asks for
        the released code's (``config.initialization="released"``, below). The rule of each layer
        type is [`~hf_mmattn.layers.initialization.init_module`]'s (``layers/initialization.py``).

        PyTorch's default is what HieCoAtt's Torch7 code trains from (Torch7's defaults for
        ``nn.Linear``, ``TemporalConvolution`` and ``LookupTable`` are PyTorch's: U(±1/√fan_in),
        N(0, 1)) and what PyTorch implementations such as vqa.pytorch train from. It is not what
        every original implementation does: imageqa-san draws every weight from U(±0.01), zero
        biases but a forget-gate bias of 1, and its word embeddings from U(±0.5); VQA_LSTM_CNN
        draws every parameter from U(±0.08); vqa-mcb uses Caffe fillers (U(±0.08) for the
        embedding and LSTMs, zero biases, ``xavier`` U(±√(3/fan_in)) for the convolutions and the
        classifier). transformers' default N(0, 0.02) is made for deep pre-trained transformers;
        on these small from-scratch networks it leaves the question-image interaction untrained
        for epochs (easy-VQA yes/no stuck at the prior).

        A model class that declares ``_released_initialization`` offers its released code's
        initialisation as ``config.initialization="released"``; the declaration is a dict of
        U(-b, b) bounds (0 for zeros; the keys are those of
        [`~hf_mmattn.layers.initialization.init_released`]) of the layers the released code has,
        every layer but the image encoder's (the released code reads fixed CNN features; a
        backbone or scratch CNN keeps PyTorch's default).

        Written with ``transformers.initialization`` so loading never re-initialises weights
        that come from a checkpoint."""
        init_module(module, self._released_bounds(module))

    def _released_bounds(self, module: nn.Module) -> dict | None:
        """The ``_released_initialization`` bounds that apply to ``module``: those of the model
        class when its config asks for them and ``module`` is a layer they cover outside the image
        encoder; ``None`` (PyTorch's default) otherwise."""
        released = getattr(self, "_released_initialization", None)
        if (
            released is not None
            and getattr(self.config, "initialization", "pytorch") == "released"
            and isinstance(module, RELEASED_LAYER_TYPES)
            and not any(module is part for part in getattr(self.base_model, "image_encoder", nn.Identity()).modules())
        ):
            return released
        return None

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

    # The checkpoint's pipeline for `trust_remote_code` loading: a task name of the package's own
    # (a checkpoint whose custom_pipelines names a registered task such as
    # "visual-question-answering" would make transformers demand trust_remote_code even after
    # `import hf_mmattn`), the pipeline class and the Auto class it loads the model with. A family
    # that transformers' built-in pipeline serves leaves remote_code_pipeline None.
    remote_code_task: str | None = None
    remote_code_pipeline: str | None = None
    remote_code_auto_class: str = "AutoModel"

    def _remote_code_entry_points(self) -> dict[str, str]:
        """Auto class name → class name for this checkpoint's ``auto_map``, read from transformers'
        own registries (where ``import hf_mmattn`` registered every discovered model)."""
        import transformers
        from transformers.models.auto.processing_auto import PROCESSOR_MAPPING

        config_class = type(self.config)
        entry_points = {"AutoConfig": config_class.__name__}
        for auto_name in dict.fromkeys(("AutoModel", self.remote_code_auto_class)):
            mapping = getattr(transformers, auto_name)._model_mapping
            if config_class in mapping:
                entry_points[auto_name] = mapping[config_class].__name__
        if config_class in PROCESSOR_MAPPING:
            entry_points["AutoProcessor"] = PROCESSOR_MAPPING[config_class].__name__
        return entry_points

    def save_pretrained(self, save_directory, *args, model_card_kwargs: dict | None = None, **kwargs):
        """``PreTrainedModel.save_pretrained`` plus, in the same folder:

        * a README.md model card rendered from ``models/<model>/card.md``; ``model_card_kwargs``
          go to :func:`hf_mmattn.hub.build_model_card` (``eval_results``, ``dataset_id``,
          ``training_summary``...);
        * ``config.custom_pipelines`` and ``config.auto_map`` naming a small module that imports
          this package, so ``pipeline(model=folder, trust_remote_code=True)`` infers the task.
        """
        entry_points = self._remote_code_entry_points()
        self.config.auto_map = {auto: f"{REMOTE_CODE_MODULE}.{name}" for auto, name in entry_points.items()}
        pipeline_class = self.remote_code_pipeline
        if pipeline_class is not None:
            self.config.custom_pipelines = {
                self.remote_code_task: {
                    "impl": f"{REMOTE_CODE_MODULE}.{pipeline_class}",
                    "pt": [self.remote_code_auto_class],
                    "type": "multimodal",
                }
            }
        super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            from .hub import save_model_card

            if not self.state_dict():
                # A model without tensors (a bilinear CNN's base model on precomputed features)
                # still needs the weights file from_pretrained looks for: an empty one.
                from safetensors.torch import save_file

                save_file({}, os.path.join(save_directory, "model.safetensors"), metadata={"format": "pt"})

            names = ", ".join(sorted({*entry_points.values(), *([pipeline_class] if pipeline_class else [])}))
            with open(os.path.join(save_directory, f"{REMOTE_CODE_MODULE}.py"), "w") as module:
                module.write(REMOTE_CODE_TEMPLATE.format(names=names))
            save_model_card(save_directory, self, **(model_card_kwargs or {}))


