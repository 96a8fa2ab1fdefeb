"""Image–text retrieval with a matching model: the gallery is encoded once, then ranked for any
number of queries by a matrix product (the models are dual encoders: an embedding never depends on
what it is compared with). transformers has no retrieval pipeline; this helper plays its part."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import AutoModel, AutoProcessor

from ...pipelines.inputs import read_image


class ImageTextRetrieval:
    """Ranks images for sentences and sentences for images with a matching model and its processor.

    ``encode_images(images)`` / ``encode_texts(texts)`` embed a gallery once (float32 on the CPU,
    ``(n, dim)``; keep it, save it with ``safetensors``, reuse it); ``rank_images(text, image_gallery)``
    and ``rank_texts(image, text_gallery)`` return the ``top_k`` entries of the gallery for each
    query as ``{"index", "score"}`` dicts, best first; ``similarity`` gives the whole score matrix.
    Images are paths, PIL images, arrays or tensors (``hf_mmattn.processing.images``); texts are
    non-empty strings.
    """

    def __init__(self, model, processor, batch_size: int = 64):
        if not hasattr(model, "get_image_features") or not hasattr(model, "get_text_features"):
            raise TypeError(f"{type(model).__name__} is not a dual encoder: it needs get_image_features and get_text_features")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.model, self.processor, self.batch_size = model.eval(), processor, batch_size

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, batch_size: int = 64, **kwargs) -> ImageTextRetrieval:
        """The model (``AutoModel``) and processor (``AutoProcessor``) of a saved folder or Hub id;
        ``kwargs`` (``dtype``, ``device_map``...) go to the model's ``from_pretrained``."""
        model = AutoModel.from_pretrained(pretrained_model_name_or_path, **kwargs)
        return cls(model, AutoProcessor.from_pretrained(pretrained_model_name_or_path), batch_size)

    @staticmethod
    def _as_list(items, what: str) -> list:
        items = list(items) if isinstance(items, (list, tuple)) else [items]
        if not items:
            raise ValueError(f"no {what} to encode: give at least one")
        return items

    @torch.no_grad()
    def encode_images(self, images) -> torch.Tensor:
        """The embeddings ``(images, dim)`` of one image or a list of them, in order."""
        images = [read_image(image) for image in self._as_list(images, "images")]
        embeddings = []
        for start in range(0, len(images), self.batch_size):
            pixels = self.processor(images=images[start:start + self.batch_size])["pixel_values"].to(self.model.device)
            embeddings.append(self.model.get_image_features(pixel_values=pixels).pooler_output.float().cpu())
        return torch.cat(embeddings)

    @torch.no_grad()
    def encode_texts(self, texts: str | Sequence[str]) -> torch.Tensor:
        """The embeddings ``(texts, dim)`` of one sentence or a list of them, in order."""
        texts = self._as_list(texts, "texts")
        embeddings = []
        for start in range(0, len(texts), self.batch_size):
            inputs = self.processor(text=texts[start:start + self.batch_size]).to(self.model.device)
            embeddings.append(self.model.get_text_features(**inputs).pooler_output.float().cpu())
        return torch.cat(embeddings)

    def _check_gallery(self, gallery) -> torch.Tensor:
        if not isinstance(gallery, torch.Tensor) or gallery.dim() != 2 or gallery.shape[0] == 0:
            raise ValueError(
                "the gallery must be the (n, dim) tensor that encode_images / encode_texts returned, with n >= 1; got "
                + (f"shape {tuple(gallery.shape)}" if isinstance(gallery, torch.Tensor) else type(gallery).__name__)
            )
        return gallery

    @staticmethod
    def similarity(image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
        """``(images, texts)`` scores: the models' similarity, the dot product of the embeddings."""
        if image_embeds.shape[-1] != text_embeds.shape[-1]:
            raise ValueError(f"image embeddings of size {image_embeds.shape[-1]} cannot be compared with text embeddings of size {text_embeds.shape[-1]}: were they made by the same model?")
        return image_embeds @ text_embeds.T

    def _top(self, scores: torch.Tensor, top_k: int | None) -> list[list[dict]]:
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None (the whole gallery), got {top_k!r}")
        k = scores.shape[1] if top_k is None else min(top_k, scores.shape[1])
        values, indices = scores.topk(k, dim=1)
        return [[{"index": int(i), "score": float(v)} for v, i in zip(row_values, row_indices)] for row_values, row_indices in zip(values, indices)]

    def rank_images(self, texts: str | Sequence[str], image_gallery: torch.Tensor, top_k: int | None = 5):
        """The ``top_k`` images of ``image_gallery`` for a sentence (a list of dicts) or for each
        sentence of a list (a list of lists)."""
        gallery = self._check_gallery(image_gallery)
        ranked = self._top(self.similarity(gallery, self.encode_texts(texts)).T, top_k)
        return ranked[0] if isinstance(texts, str) else ranked

    def rank_texts(self, images, text_gallery: torch.Tensor, top_k: int | None = 5):
        """The ``top_k`` sentences of ``text_gallery`` for an image (a list of dicts) or for each
        image of a list (a list of lists)."""
        gallery = self._check_gallery(text_gallery)
        ranked = self._top(self.similarity(self.encode_images(images), gallery), top_k)
        return ranked if isinstance(images, (list, tuple)) else ranked[0]


__all__ = ["ImageTextRetrieval"]
