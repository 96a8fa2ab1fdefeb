"""The processor of the families that read an image and a short text (a VQA question, a matching
sentence): an image processor + a word-level tokenizer (``tokenizers`` WordLevel). Each family
subclasses [`ImageTextProcessor`] to name its texts in errors and to build its vocabulary."""

from __future__ import annotations

import logging
from typing import ClassVar

from transformers import BatchFeature, ProcessorMixin

from .words import check_text, unknown_words

logger = logging.getLogger(__name__)


def check_texts(text, unit: str, example: str) -> list[str]:
    """``text`` (a string or a non-empty list of strings) as a list, each a non-empty string of
    valid Unicode; errors name one text a ``unit`` ("question", "caption") and show ``example``."""
    texts = [text] if isinstance(text, str) else text
    if not isinstance(texts, (list, tuple)) or len(texts) == 0:
        raise TypeError(f"the {unit} must be a string or a non-empty list of strings; got {type(text).__name__}")
    for item in texts:
        if not isinstance(item, str):
            raise TypeError(f"a {unit} must be a string; got {type(item).__name__}: {item!r}")
        if not item.strip():
            raise ValueError(f"a {unit} is empty: give some words, e.g. {example!r}")
        check_text(item, f"the {unit}")
    return list(texts)


class ImageTextProcessor(ProcessorMixin):
    """Prepares images and texts: ``processor(images=..., text=...)`` returns ``pixel_values`` plus
    ``input_ids`` / ``attention_mask``; either may be left out.

    Texts must be non-empty strings of valid Unicode; unknown words become ``[UNK]``
    (``unknown_words`` lists them); texts longer than the tokenizer's ``model_max_length`` are
    truncated to it with a warning. Images and texts are encoded independently. Other keyword
    arguments are refused: the processor has no padding or truncation options to set.

    A subclass sets ``text_unit`` (what one text is called in errors: "question") and
    ``text_example`` (a valid text, shown when an empty one is refused)."""

    text_unit: ClassVar[str] = "text"
    text_example: ClassVar[str] = "a red circle"

    def __init__(self, image_processor=None, tokenizer=None, **kwargs):
        super().__init__(image_processor, tokenizer, **kwargs)

    def _check_texts(self, text) -> list[str]:
        return check_texts(text, self.text_unit, self.text_example)

    def unknown_words(self, text: str) -> list[str]:
        """The words of ``text``, as the tokenizer normalises them, that map to ``[UNK]``."""
        if not isinstance(text, str):
            raise TypeError(f"unknown_words takes one {self.text_unit}, a string; got {type(text).__name__}")
        check_text(text, f"the {self.text_unit}")
        return unknown_words(self.tokenizer, text)

    def __call__(self, images=None, text=None, return_tensors="pt", **kwargs) -> BatchFeature:
        if kwargs:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s) {sorted(kwargs)}; it takes images, text and "
                "return_tensors ('pt' or 'np')"
            )
        if images is None and text is None:
            raise ValueError(f"give images, text (the {self.text_unit}s) or both")
        data = {}
        if text is not None:
            texts = self._check_texts(text)
            max_length = self.tokenizer.model_max_length
            too_long = [t for t in texts if len(self.tokenizer.tokenize(t)) > max_length]
            if too_long:
                logger.warning("%d %s(s) longer than %d words are truncated, e.g. %r", len(too_long), self.text_unit, max_length,
                               too_long[0][:80])
            data.update(self.tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors=return_tensors))
        if images is not None:
            data.update(self.image_processor(images, return_tensors=return_tensors))
        return BatchFeature(data=dict(data), tensor_type=return_tensors)

    @property
    def model_input_names(self):
        return ["input_ids", "attention_mask", "pixel_values"]


__all__ = ["ImageTextProcessor", "check_texts"]
