"""Bilinear CNN Models for Fine-grained Visual Recognition (Lin, RoyChowdhury, Maji, ICCV 2015,
https://arxiv.org/abs/1504.07889), section 3, with the compact bilinear pooling of Gao, Beijbom,
Zhang, Darrell (CVPR 2016, https://arxiv.org/abs/1511.06062).

Two CNNs f_A and f_B read the image; at each location l of their last feature maps the outer
product f_A(l) f_B(l)ᵀ captures which features occur together (a part and its appearance, a
colour and the texture it has); sum-pooled over locations, signed-square-rooted and
L2-normalised it is the image descriptor, and a linear classifier reads it::

    Φ(I) = (1/L) Σ_l f_A(l, I) f_B(l, I)ᵀ,   y = sign(Φ) √|Φ|,   z = y / ‖y‖₂,   logits = W z + b

The symmetric model (f_A = f_B, B-CNN [D, D]) shares one network. Compact bilinear pooling
replaces Φ by a d-dimensional Tensor Sketch or Random Maclaurin approximation whose inner products
approximate Φ's (``layers/image_pooling.py``). Everything is differentiable, so the model is
fine-tuned end to end (section 3.3): the gradient of Φ with respect to f_A is f_B (dℓ/dΦ)ᵀ.
"""

from __future__ import annotations

import copy

import torch
from transformers import AutoConfig
from transformers.modeling_outputs import BaseModelOutputWithPooling

from ...layers.image_encoders import ImageEncoder
from ...layers.image_pooling import build_pooling
from ...tasks.image_classification.modeling import (
    MMAttnForImageClassification,
    MMAttnImageClassificationPreTrainedModel,
    check_image_classification_inputs,
)
from .configuration_bilinear_cnn import BilinearCnnConfig


class BilinearCnnPreTrainedModel(MMAttnImageClassificationPreTrainedModel):
    config_class = BilinearCnnConfig


def second_stream_config(config: BilinearCnnConfig):
    """The image input of f_B: the config with the second stream's backbone or scratch CNN (each
    the first's when unset) in place of the first's."""
    second = copy.copy(config)
    if config.second_backbone_config is not None:
        settings = dict(config.second_backbone_config)
        second.backbone_config = AutoConfig.for_model(settings.pop("model_type"), **settings)
    if config.second_scratch_cnn_channels is not None:
        second.scratch_cnn_channels = config.second_scratch_cnn_channels
    return second


class BilinearCnnModel(BilinearCnnPreTrainedModel):
    """The B-CNN descriptor: the feature extractor(s) and the pooling. ``pooler_output`` is the
    normalised pooled vector z; ``last_hidden_state`` is stream A's feature map as locations
    ``(batch, L, C_A)``."""

    def __init__(self, config: BilinearCnnConfig):
        super().__init__(config)
        self.image_encoder = ImageEncoder(config)
        self.second_image_encoder = None if config.symmetric else ImageEncoder(second_stream_config(config))
        size_b = None if self.second_image_encoder is None else self.second_image_encoder.output_size
        self.pooling = build_pooling(
            config.pooling, self.image_encoder.output_size, size_b, output_size=config.pooled_size, seed=config.projection_seed,
            signed_sqrt=config.signed_sqrt, l2_normalize=config.l2_normalize,
        )
        self.post_init()

    @property
    def image_vector_size(self) -> int:
        return self.pooling.output_size

    def forward(
        self,
        pixel_values: torch.FloatTensor | None = None,
        image_features: torch.FloatTensor | None = None,
        image_attention_mask: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPooling | tuple:
        r"""
        pixel_values (`(batch, channels, height, width)`) or image_features (`(batch, locations, dim)`,
            with an optional image_attention_mask of the real locations): the image.
        output_attentions: accepted for the common interface; the model has no attention map.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        pixel_values, image_features, image_attention_mask = check_image_classification_inputs(
            self, pixel_values, image_features, image_attention_mask, output_hidden_states
        )
        features_a, mask, grid_a = self.image_encoder(pixel_values, image_features, image_attention_mask)
        features_b = None
        if self.second_image_encoder is not None:
            features_b, _, grid_b = self.second_image_encoder(pixel_values)
            if grid_b != grid_a:
                raise ValueError(
                    f"the two streams' feature maps must share their grid to be multiplied location by location: stream A "
                    f"gives {grid_a[0]}x{grid_a[1]}, stream B {grid_b[0]}x{grid_b[1]} (set image_grid_pool_size to pool both to one grid)"
                )
        pooled = self.pooling(features_a, features_b, mask)
        output = BaseModelOutputWithPooling(last_hidden_state=features_a, pooler_output=pooled)
        return output if return_dict else output.to_tuple()


class BilinearCnnForImageClassification(MMAttnForImageClassification, BilinearCnnPreTrainedModel):
    """The B-CNN classifier (section 3.2): the descriptor z of [`BilinearCnnModel`] → dropout →
    a linear layer over the classes (the paper's logistic regression / softmax layer, trained
    with the network)."""

    def __init__(self, config: BilinearCnnConfig):
        super().__init__(config)
        self.model = BilinearCnnModel(config)
        self._build_classifier(self.model.image_vector_size)
        self.post_init()


__all__ = ["BilinearCnnForImageClassification", "BilinearCnnModel", "BilinearCnnPreTrainedModel"]
