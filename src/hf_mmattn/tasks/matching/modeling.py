"""What every image–text matching model of the package shares: the dual-encoder contract of
transformers' CLIP and BLIP (``get_image_features`` / ``get_text_features`` embed each modality on
its own, ``forward`` scores every image against every text as ``logits_per_image`` /
``logits_per_text``), the bidirectional ranking loss, and the input checks. The models live in
``models/<name>/``: each writes how it encodes an image and a text (``encode_image``,
``encode_text``), nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from transformers.utils import ModelOutput

from ...modeling_base import (
    MMAttnPreTrainedModel,
    check_image_inputs,
    check_same_device,
    check_text_inputs,
    prepare_image_inputs,
    refuse_hidden_states,
    require_tensor,
)


class Encoding(NamedTuple):
    """What a model's ``encode_image`` / ``encode_text`` returns: the embedding of each step
    (each ``(batch, dim)``; the final embedding is their concatenation), each step's attention map
    (``(batch, regions or words)``; empty for a model without attention) and, for pixel inputs,
    the ``(height, width)`` of the region grid."""

    step_embeds: tuple[torch.Tensor, ...]
    attentions: tuple[torch.Tensor, ...] = ()
    grid_size: tuple[int, int] | None = None


@dataclass
class MatchingEmbeddingOutput(ModelOutput):
    """Output of ``get_image_features`` / ``get_text_features``.

    pooler_output: the final embedding ``(batch, dim)``: the similarity of an image and a text is
        the dot product of theirs (as CLIP's, whose ``get_*_features`` return it in the same
        field since transformers 5).
    step_embeds: with ``output_step_embeds=True``, the embedding of each attention step
        (m-DAN: ``v^(0) ... v^(K)`` or ``u^(0) ... u^(K)``); ``pooler_output`` is their
        concatenation.
    attentions: with ``output_attentions=True``, each step's attention map ``(batch, regions)``
        or ``(batch, words)``, summing to 1 over the real positions.
    image_grid_size: ``(height, width)`` of the region grid for pixel inputs, so that an image
        map reshapes over the image; ``None`` for texts and precomputed features.
    """

    pooler_output: torch.FloatTensor | None = None
    step_embeds: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    image_grid_size: tuple[int, int] | None = None


@dataclass
class MatchingOutput(ModelOutput):
    """Output of a matching model's forward (the fields of transformers' ``CLIPOutput`` it has).

    loss: with ``return_loss=True``, the bidirectional ranking loss of the pairs (image i, text i)
        ([`ranking_loss`]).
    logits_per_image: ``(images, texts)``, the similarity of every image with every text.
    logits_per_text: its transpose ``(texts, images)``.
    text_embeds / image_embeds: the final embeddings ``(texts, dim)`` / ``(images, dim)``.
    attentions: with ``output_attentions=True``, the visual attention of each step,
        ``(images, regions)``.
    text_attentions: with ``output_attentions=True``, the textual attention of each step,
        ``(texts, words)``, zero on padding.
    image_grid_size: ``(height, width)`` of the region grid for pixel inputs.
    """

    loss: torch.FloatTensor | None = None
    logits_per_image: torch.FloatTensor | None = None
    logits_per_text: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    image_embeds: torch.FloatTensor | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    text_attentions: tuple[torch.FloatTensor, ...] | None = None
    image_grid_size: tuple[int, int] | None = None


def ranking_loss(similarity: torch.Tensor, margin: float, negatives: str = "sum", image_ids: torch.Tensor | None = None) -> torch.Tensor:
    """The bidirectional hinge ranking loss of a batch of matching pairs (image i, text i).

    ``similarity[i, j]`` is ``S(image i, text j)``. For each pair and each negative (a text j of
    another image for the image i; an image j for the text i), with margin ``m``::

        image → text:  max(0, m − S(v_i, u_i) + S(v_i, u_j))
        text → image:  max(0, m − S(v_i, u_i) + S(v_j, u_i))

    ``negatives="sum"`` sums these over every negative of the batch and both directions (DAN,
    Nam et al. 2017, section 3.3; the paper draws its negatives at random, here they are the other
    pairs of the batch); ``"max"`` keeps only the hardest negative of each pair in each direction
    (VSE++, Faghri et al. 2018: the "max of hinges" loss). Summed over the pairs, as both papers write it.

    ``image_ids`` (``(batch,)``, optional): the image of each pair; pairs of the same image (two
    captions of one picture in a batch) are not negatives of each other. Without it every other
    pair is a negative. A pair with no negative in the batch adds 0.
    """
    require_tensor("image_ids", image_ids)
    if similarity.dim() != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(
            f"the ranking loss needs as many images as texts, image i matching text i; got {tuple(similarity.shape)} "
            "(images, texts) similarities"
        )
    if negatives not in ("sum", "max"):
        raise ValueError(f"negatives must be 'sum' or 'max', got {negatives!r}")
    batch = similarity.shape[0]
    if image_ids is None:
        is_negative = ~torch.eye(batch, dtype=torch.bool, device=similarity.device)
    else:
        if image_ids.shape != (batch,) or image_ids.is_floating_point():
            raise ValueError(f"image_ids must be one integer id per pair, shape ({batch},); got {tuple(image_ids.shape)} {image_ids.dtype}")
        is_negative = image_ids.unsqueeze(0) != image_ids.unsqueeze(1)
    positive = similarity.diagonal()
    image_to_text = (margin - positive.unsqueeze(1) + similarity).clamp(min=0).masked_fill(~is_negative, 0)  # row i: image i
    text_to_image = (margin - positive.unsqueeze(0) + similarity).clamp(min=0).masked_fill(~is_negative, 0)  # column j: text j
    if negatives == "max":
        return image_to_text.max(dim=1).values.sum() + text_to_image.max(dim=0).values.sum()
    return image_to_text.sum() + text_to_image.sum()


class MMAttnMatchingPreTrainedModel(MMAttnPreTrainedModel):
    """Base class of the matching models: a dual encoder in transformers' CLIP/BLIP shape.

    A model defines ``encode_image(regions inputs) -> Encoding`` and ``encode_text(input_ids,
    attention_mask) -> Encoding`` (see [`Encoding`]) and ``self.text_encoder`` (whose
    ``embedding`` is the word table). The image and the text are embedded independently of each
    other, so a gallery is encoded once and every query compared with it by a dot product
    (``hf_mmattn.tasks.matching.ImageTextRetrieval``).
    """

    main_input_name = "input_ids"
    pipeline_tag = "zero-shot-image-classification"
    remote_code_auto_class = "AutoModelForZeroShotImageClassification"

    def get_input_embeddings(self):
        return self.text_encoder.embedding

    def set_input_embeddings(self, value):
        self.text_encoder.embedding = value

    def text_side_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters ``get_text_features`` uses (what a text-to-image model trains when it
        trains its text encoder): all but the image side's, the modules named ``image_encoder`` or
        with ``visual`` in their name (the models of the family name their image side so)."""
        return [parameter for name, parameter in self.named_parameters()
                if not any(part == "image_encoder" or "visual" in part for part in name.split(".")[:-1])]

    def encode_image(self, pixel_values, image_features, image_attention_mask) -> Encoding:
        raise NotImplementedError(f"{type(self).__name__} must define encode_image")

    def encode_text(self, input_ids, attention_mask) -> Encoding:
        raise NotImplementedError(f"{type(self).__name__} must define encode_text")

    def _image_encoding(self, pixel_values, image_features, image_attention_mask) -> Encoding:
        pixel_values, image_features = prepare_image_inputs(self, pixel_values=pixel_values, image_features=image_features)
        check_image_inputs(self.config, pixel_values, image_features, image_attention_mask)
        return self.encode_image(pixel_values, image_features, image_attention_mask)

    def _text_encoding(self, input_ids, attention_mask) -> Encoding:
        attention_mask = check_text_inputs(
            self.config, input_ids, attention_mask, unit="sentence", empty="an empty sentence matches nothing"
        )
        return self.encode_text(input_ids, attention_mask)

    @staticmethod
    def _embedding_output(encoding: Encoding, output_step_embeds: bool, output_attentions: bool) -> MatchingEmbeddingOutput:
        return MatchingEmbeddingOutput(
            pooler_output=torch.cat(encoding.step_embeds, dim=-1),
            step_embeds=encoding.step_embeds if output_step_embeds else None,
            attentions=encoding.attentions if output_attentions else None,
            image_grid_size=encoding.grid_size,
        )

    def get_image_features(
        self,
        pixel_values: torch.FloatTensor | None = None,
        image_features: torch.FloatTensor | None = None,
        image_attention_mask: torch.LongTensor | None = None,
        output_step_embeds: bool = False,
        output_attentions: bool | None = None,
    ) -> MatchingEmbeddingOutput:
        """The images' embeddings, computed without any text: ``.pooler_output`` ``(images, dim)``;
        the per-step embeddings with ``output_step_embeds=True``, the attention maps with
        ``output_attentions=True``."""
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        encoding = self._image_encoding(pixel_values, image_features, image_attention_mask)
        return self._embedding_output(encoding, output_step_embeds, output_attentions)

    def get_text_features(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        output_step_embeds: bool = False,
        output_attentions: bool | None = None,
    ) -> MatchingEmbeddingOutput:
        """The texts' embeddings, computed without any image: ``.pooler_output`` ``(texts, dim)``;
        the per-step embeddings with ``output_step_embeds=True``, the attention maps with
        ``output_attentions=True``."""
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        return self._embedding_output(self._text_encoding(input_ids, attention_mask), output_step_embeds, output_attentions)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.FloatTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        image_features: torch.FloatTensor | None = None,
        image_attention_mask: torch.LongTensor | None = None,
        return_loss: bool | None = None,
        image_ids: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> MatchingOutput | tuple:
        r"""
        Scores every image against every text: ``logits_per_image[i, j] = S(image i, text j)``,
        the dot product of their embeddings. Images and texts may differ in number, except with
        ``return_loss=True``.

        return_loss (`bool`, *optional*):
            Return the ranking loss of the pairs (image i, text i) under `config.ranking_loss` and
            `config.margin` (see `ranking_loss`); needs as many images as texts.
        image_ids (`torch.LongTensor` of shape `(batch,)`, *optional*):
            With `return_loss`, the image of each pair: texts of the same image are not negatives
            of each other.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        refuse_hidden_states(self.config, output_hidden_states, "matching models",
                             "the step embeddings (get_image_features / get_text_features with output_step_embeds=True)")
        check_same_device(input_ids=input_ids, attention_mask=attention_mask, pixel_values=pixel_values,
                          image_features=image_features, image_ids=image_ids)
        if image_ids is not None and not return_loss:
            raise ValueError("image_ids only serve the loss: pass return_loss=True with them, or leave them out")
        text = self._text_encoding(input_ids, attention_mask)
        image = self._image_encoding(pixel_values, image_features, image_attention_mask)
        text_embeds, image_embeds = torch.cat(text.step_embeds, dim=-1), torch.cat(image.step_embeds, dim=-1)
        logits_per_image = image_embeds @ text_embeds.T
        loss = None
        if return_loss:
            if image_embeds.shape[0] != text_embeds.shape[0]:
                raise ValueError(
                    f"batch mismatch: {image_embeds.shape[0]} images but {text_embeds.shape[0]} texts; the loss reads pairs "
                    "(image i, text i)"
                )
            loss = ranking_loss(logits_per_image, self.config.margin, self.config.ranking_loss, image_ids)
        output = MatchingOutput(
            loss=loss,
            logits_per_image=logits_per_image,
            logits_per_text=logits_per_image.T,
            text_embeds=text_embeds,
            image_embeds=image_embeds,
            attentions=image.attentions if output_attentions and image.attentions else None,
            text_attentions=text.attentions if output_attentions and text.attentions else None,
            image_grid_size=image.grid_size,
        )
        return output if return_dict else output.to_tuple()


__all__ = ["Encoding", "MMAttnMatchingPreTrainedModel", "MatchingEmbeddingOutput", "MatchingOutput", "ranking_loss"]
