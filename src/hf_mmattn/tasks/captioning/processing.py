"""The captioning family's processor: an image processor + a word-level caption tokenizer.

``processor(images=..., text="")`` prepares a generation prompt (the start token, followed by
the words of ``text`` when a caption prefix is given; prompts of different lengths are padded
on the left); ``processor(images=..., text=captions, add_end_token=True)`` prepares training
captions: start token, words, end token, padded on the right, with ``labels`` (padding -100).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch
from transformers import BatchFeature, PreTrainedTokenizerFast, ProcessorMixin
from transformers.image_utils import IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD

from ...processing.image_processor import square_image_processor
from ...processing.words import check_text, unknown_words, word_level_tokenizer, word_vocabulary

logger = logging.getLogger(__name__)

CAPTION_SPECIAL_TOKENS = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<start>", "eos_token": "<end>"}


def wrap_caption_tokenizer(vocab: dict[str, int], max_length: int = 50, **special_tokens) -> PreTrainedTokenizerFast:
    """A caption tokenizer over a word → id map (see processing/words.py), whose decoding joins
    words with spaces and re-attaches punctuation ("a, b" round-trips). ``special_tokens``
    override the names of :data:`CAPTION_SPECIAL_TOKENS`."""
    special_tokens = {**CAPTION_SPECIAL_TOKENS, **special_tokens}
    missing = [token for token in special_tokens.values() if token not in vocab]
    if missing:
        raise ValueError(f"the vocabulary lacks the special tokens {missing}")
    return word_level_tokenizer(
        vocab, model_max_length=max_length, padding_side="right", clean_up_tokenization_spaces=True, **special_tokens
    )


def build_caption_tokenizer(captions: Iterable[str], min_count: int = 1, max_length: int = 50) -> PreTrainedTokenizerFast:
    """A word-level caption tokenizer over the words of ``captions`` (the training captions):
    ``<pad>`` 0, ``<unk>`` 1, ``<start>`` 2, ``<end>`` 3, then the words seen at least
    ``min_count`` times (COCO captioners use 5), sorted. Captions longer than ``max_length``
    words are truncated by the processor."""
    return wrap_caption_tokenizer(word_vocabulary(captions, list(CAPTION_SPECIAL_TOKENS.values()), min_count), max_length)


class CaptioningProcessor(ProcessorMixin):
    """Prepares images and captions for the captioners of the package (Show and Tell, Show,
    Attend and Tell). See the module docstring for prompts versus training captions. Captions
    must be strings (``""`` asks for a caption from scratch); unknown words become ``<unk>``."""

    def __init__(self, image_processor=None, tokenizer=None, **kwargs):
        super().__init__(image_processor, tokenizer, **kwargs)

    @classmethod
    def from_captions(
        cls,
        captions: Iterable[str],
        image_size: int = 224,
        image_mean=IMAGENET_STANDARD_MEAN,
        image_std=IMAGENET_STANDARD_STD,
        min_word_count: int = 1,
        max_caption_length: int = 50,
    ) -> CaptioningProcessor:
        """A processor whose vocabulary is built from ``captions`` (the training captions)."""
        image_processor = square_image_processor(image_size, image_mean, image_std)
        return cls(image_processor, build_caption_tokenizer(captions, min_word_count, max_caption_length))

    def _check_captions(self, text) -> list[str]:
        captions = [text] if isinstance(text, str) else text
        if not isinstance(captions, (list, tuple)) or len(captions) == 0:
            raise TypeError(f"text must be a string or a non-empty list of strings (\"\" for no prefix); got {type(text).__name__}")
        for caption in captions:
            if not isinstance(caption, str):
                raise TypeError(f"a caption must be a string; got {type(caption).__name__}: {caption!r}")
            check_text(caption, "the caption")
        return list(captions)

    def encode_captions(self, text, add_end_token: bool = False) -> dict[str, torch.Tensor]:
        """``input_ids`` / ``attention_mask`` (and ``labels`` with ``add_end_token``) of captions:
        the start token, the words (truncated to the tokenizer's ``model_max_length``) and, with
        ``add_end_token``, the end token."""
        captions = self._check_captions(text)
        tokenizer = self.tokenizer
        max_length = tokenizer.model_max_length
        word_ids = tokenizer(captions, add_special_tokens=False)["input_ids"]
        too_long = [caption for caption, ids in zip(captions, word_ids) if len(ids) > max_length]
        if too_long:
            logger.warning("%d caption(s) longer than %d words are truncated, e.g. %r", len(too_long), max_length, too_long[0][:80])
        end = [tokenizer.eos_token_id] if add_end_token else []
        sequences = [[tokenizer.bos_token_id, *ids[:max_length], *end] for ids in word_ids]
        width = max(len(sequence) for sequence in sequences)
        input_ids = torch.full((len(sequences), width), tokenizer.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, sequence in enumerate(sequences):
            # Training captions are padded on the right; prompts on the left, so that every
            # prompt's last word is the last column generate() continues from.
            columns = slice(0, len(sequence)) if add_end_token else slice(width - len(sequence), width)
            input_ids[row, columns] = torch.tensor(sequence)
            attention_mask[row, columns] = 1
        encoded = {"input_ids": input_ids, "attention_mask": attention_mask}
        if add_end_token:
            encoded["labels"] = input_ids.masked_fill(attention_mask == 0, -100)
        return encoded

    def unknown_words(self, caption: str) -> list[str]:
        """The words of ``caption``, as the tokenizer normalises them, that map to ``<unk>``."""
        if not isinstance(caption, str):
            raise TypeError(f"unknown_words takes one caption, a string; got {type(caption).__name__}")
        check_text(caption, "the caption")
        return unknown_words(self.tokenizer, caption)

    def __call__(
        self, images=None, text=None, add_end_token: bool = False, return_tensors="pt", padding=True, **kwargs
    ) -> BatchFeature:
        """``padding`` is accepted for transformers' image-text-to-text pipeline, which passes
        ``padding=True`` with several prompts: captions are always padded (see the module
        docstring), so any other value is refused, as is any other keyword argument."""
        if kwargs:
            raise TypeError(
                f"CaptioningProcessor got unexpected keyword argument(s) {sorted(kwargs)}; it takes images, text, "
                "add_end_token and return_tensors ('pt' or 'np')"
            )
        if not isinstance(add_end_token, bool):
            raise TypeError(f"add_end_token must be True (training captions) or False (prompts); got {add_end_token!r}")
        if padding not in (True, "longest"):
            raise ValueError(f"captions are always padded to the longest of the batch; padding={padding!r} is not supported")
        if images is None and text is None:
            raise ValueError("give images, text (captions, or \"\" to caption from scratch) or both")
        data = {}
        if text is not None:
            data.update(self.encode_captions(text, add_end_token=add_end_token))
        if images is not None:
            data.update(self.image_processor(images, return_tensors="pt"))
        if "input_ids" in data and "pixel_values" in data and data["input_ids"].shape[0] != data["pixel_values"].shape[0]:
            if data["input_ids"].shape[0] == 1:  # one prompt for every image
                data = {**data, **{k: data[k].expand(data["pixel_values"].shape[0], -1) for k in ("input_ids", "attention_mask")}}
            else:
                raise ValueError(f"got {data['pixel_values'].shape[0]} images but {data['input_ids'].shape[0]} captions")
        return BatchFeature(data=data, tensor_type=return_tensors)

    def post_process_image_text_to_text(self, generated_outputs, skip_special_tokens=True, **kwargs):
        """The captions of ``generate()``'s ids, without the start/end/padding tokens."""
        return self.tokenizer.batch_decode(generated_outputs, skip_special_tokens=skip_special_tokens, **kwargs)

    @property
    def model_input_names(self):
        return ["input_ids", "attention_mask", "pixel_values"]


__all__ = ["CaptioningProcessor", "build_caption_tokenizer", "wrap_caption_tokenizer"]
