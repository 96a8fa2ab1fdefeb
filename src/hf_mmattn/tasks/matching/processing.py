"""The matching family's processor: an image processor + a word-level sentence tokenizer, loaded by
``AutoProcessor`` and, its two parts, by transformers' ``zero-shot-image-classification`` pipeline
(``AutoImageProcessor``, ``AutoTokenizer``)."""

from __future__ import annotations

from collections.abc import Iterable

from transformers import PreTrainedTokenizerFast
from transformers.image_utils import IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD

from ...processing.image_processor import square_image_processor
from ...processing.image_text import ImageTextProcessor
from ...processing.words import word_level_tokenizer, word_vocabulary

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"


def build_sentence_tokenizer(sentences: Iterable[str], min_count: int = 1, max_length: int = 50) -> PreTrainedTokenizerFast:
    """A word-level tokenizer (``tokenizers`` WordLevel) over the words of ``sentences``: text
    NFKC-normalised and lower-cased, split into words and punctuation; words seen fewer than
    ``min_count`` times map to ``[UNK]`` (id 1), ``[PAD]`` is id 0; it returns ``input_ids`` and
    ``attention_mask`` only, padded on the right, as the models read them."""
    vocab = word_vocabulary(sentences, [PAD_TOKEN, UNK_TOKEN], min_count)
    return word_level_tokenizer(
        vocab, pad_token=PAD_TOKEN, unk_token=UNK_TOKEN, model_max_length=max_length, padding_side="right",
        model_input_names=["input_ids", "attention_mask"],
    )


class MatchingProcessor(ImageTextProcessor):
    """Prepares images and sentences for the matching models, each on its own:
    ``processor(images=...)`` gives ``pixel_values`` (for ``get_image_features``),
    ``processor(text=...)`` ``input_ids`` / ``attention_mask`` (for ``get_text_features``), both
    together the inputs of ``forward``. Sentences must be non-empty strings; unknown words become
    ``[UNK]`` (``unknown_words`` lists them); sentences longer than ``model_max_length`` words are
    truncated with a warning."""

    text_unit = "sentence"
    text_example = "a red circle above a blue square"

    @classmethod
    def from_sentences(
        cls,
        sentences: Iterable[str],
        image_size: int = 224,
        image_mean=IMAGENET_STANDARD_MEAN,
        image_std=IMAGENET_STANDARD_STD,
        min_word_count: int = 1,
        max_sentence_length: int = 50,
    ) -> MatchingProcessor:
        """A processor whose vocabulary is built from ``sentences`` (the training captions)."""
        image_processor = square_image_processor(image_size, image_mean, image_std)
        return cls(image_processor, build_sentence_tokenizer(sentences, min_word_count, max_sentence_length))


__all__ = ["MatchingProcessor", "build_sentence_tokenizer"]
