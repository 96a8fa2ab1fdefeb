"""What every model of the package shares, whatever its task: PyTorch's default initialisation,
pretrained backbone loading, the image input checks, and the model card and remote-code entry
points written on save. The VQA contract is in ``modeling_vqa.py``, the captioning one in
``modeling_captioning.py``."""

from __future__ import annotations

import math
import os

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init

from .layers.fusion import CompactBilinearPooling

REMOTE_CODE_MODULE = "hf_mmattn_auto"
REMOTE_CODE_TEMPLATE = '''"""Entry points of this hf-mmattn checkpoint for `trust_remote_code=True` loading.

They need the hf-mmattn package installed (pip install hf-mmattn); with it, plain
`import hf_mmattn` before `from_pretrained` / `pipeline` works without remote code.
"""

from hf_mmattn import {names}
'''


def check_image_inputs(
    config,
    pixel_values: torch.Tensor | None,
    image_features: torch.Tensor | None,
    image_attention_mask: torch.Tensor | None,
    image_boxes: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rejects malformed image inputs (per ``config.image_encoder``) with an error that names the
    problem; returns the image tensor the model reads (pixels or features)."""
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

    return images


class MMAttnPreTrainedModel(PreTrainedModel):
    """Base class of every model of the package. Subclasses name their remote-code entry points
    (``_remote_code_entry_points``: Auto class → class name) and their pipeline
    (``remote_code_task``, ``remote_code_pipeline``, ``remote_code_auto_class``)."""

    base_model_prefix = "model"
    _no_split_modules = []

    @torch.no_grad()
    def _init_weights(self, module):
        """PyTorch's own default initialisation of each layer, as the original implementations
        (Torch7, Theano, PyTorch ports) train from. transformers' default N(0, 0.02) is made for
        deep pre-trained transformers; on these small from-scratch networks it leaves the
        question-image interaction untrained for epochs (easy-VQA yes/no stuck at the prior).
        Written with ``transformers.initialization`` so loading never re-initialises weights
        that come from a checkpoint. A layer with an ``init_gain`` (set by
        [`~hf_mmattn.layers.fusion.scale_initialization`]) gets its weight bound multiplied by it."""
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.Bilinear)):
            if isinstance(module, nn.Bilinear):
                fan_in = module.weight.shape[1]
            else:
                fan_in = nn.init._calculate_fan_in_and_fan_out(module.weight)[0]
            gain = getattr(module, "init_gain", 1.0)
            if gain == 1.0 and not isinstance(module, nn.Bilinear):
                init.kaiming_uniform_(module.weight, a=math.sqrt(5))  # U(±1/√fan_in)
            else:
                init.uniform_(module.weight, -gain / math.sqrt(fan_in), gain / math.sqrt(fan_in))
            if module.bias is not None:
                init.uniform_(module.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        elif isinstance(module, (nn.RNNBase, nn.RNNCellBase)):  # LSTM, GRU and their cells
            bound = 1 / math.sqrt(module.hidden_size)
            for parameter in module.parameters(recurse=False):
                init.uniform_(parameter, -bound, bound)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, CompactBilinearPooling):
            sketch = module.draw_sketch(module.question_hash.numel(), module.image_hash.numel())
            for name, tensor in sketch.items():
                init.copy_(getattr(module, name), tensor)
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

    # The checkpoint's pipeline for `trust_remote_code` loading: a task name of the package's own
    # (a checkpoint whose custom_pipelines names a registered task such as
    # "visual-question-answering" would make transformers demand trust_remote_code even after
    # `import hf_mmattn`), the pipeline class and the Auto class it loads the model with.
    remote_code_task: str
    remote_code_pipeline: str
    remote_code_auto_class: str

    def _remote_code_entry_points(self) -> dict[str, str]:
        raise NotImplementedError

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
        pipeline_class = self.remote_code_pipeline
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

            names = ", ".join(sorted({*entry_points.values(), pipeline_class}))
            with open(os.path.join(save_directory, f"{REMOTE_CODE_MODULE}.py"), "w") as module:
                module.write(REMOTE_CODE_TEMPLATE.format(names=names))
            save_model_card(save_directory, self, **(model_card_kwargs or {}))


