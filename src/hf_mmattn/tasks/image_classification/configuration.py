"""The image classification family's config fields: the image input every picture-reading model
has (configuration_base.py) and the classifier's dropout; the classes are transformers' own
``num_labels`` / ``id2label`` / ``label2id`` / ``problem_type``."""

from __future__ import annotations

from ...configuration_base import MMAttnImageInputConfig


class MMAttnImageClassificationConfig(MMAttnImageInputConfig):
    r"""
    Args:
        dropout: dropout probability on the image vector before the classifier.
        num_labels / id2label / label2id / problem_type: transformers' own fields; problem_type
            ``"single_label_classification"`` (softmax cross-entropy, the papers'),
            ``"multi_label_classification"`` or ``"regression"``.
        image_encoder, backbone_config, freeze_backbone, ...: the image input
            ([`~hf_mmattn.configuration_base.MMAttnImageInputConfig`]).
    """

    dropout: float = 0.0


__all__ = ["MMAttnImageClassificationConfig"]
