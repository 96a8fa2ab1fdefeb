"""The VQA family's processor: an image processor + a word-level question tokenizer.

The answer vocabulary is not here: it lives in the model's ``config.id2label`` / ``label2id``
(docs/design.md, "Contracts"). Build a processor for a new dataset with
``VQAProcessor.from_questions(train_questions, image_size=...)``.
"""

from __future__ import annotations

from collections.abc import Iterable

from transformers import PreTrainedTokenizerFast
from transformers.image_utils import IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD

from ...processing.image_processor import square_image_processor
from ...processing.image_text import ImageTextProcessor
from ...processing.words import word_level_tokenizer, word_vocabulary

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"


def build_question_tokenizer(
    questions: Iterable[str], min_count: int = 1, max_length: int = 32
) -> PreTrainedTokenizerFast:
    """A word-level tokenizer (``tokenizers`` WordLevel) over the words of ``questions``.

    Text is NFKC-normalised and lower-cased, then split into words and punctuation. Words seen
    fewer than ``min_count`` times map to ``[UNK]`` (id 1); ``[PAD]`` is id 0. Questions longer
    than ``max_length`` words are truncated when encoded with ``truncation=True``.
    """
    vocab = word_vocabulary(questions, [PAD_TOKEN, UNK_TOKEN], min_count)
    return word_level_tokenizer(vocab, pad_token=PAD_TOKEN, unk_token=UNK_TOKEN, model_max_length=max_length, padding_side="right")


class VQAProcessor(ImageTextProcessor):
    """Prepares (image, question) pairs for every VQA model of the package.

    ``processor(images=..., text=...)`` returns ``pixel_values`` plus ``input_ids`` /
    ``attention_mask``. Questions must be non-empty strings of valid Unicode; unknown words become
    ``[UNK]`` (``unknown_words`` lists them); questions longer than the tokenizer's
    ``model_max_length`` are truncated to it with a warning. Images and questions are encoded
    independently: with fewer images than questions, give the model an ``image_index`` saying
    which image each question is about. Other keyword arguments are refused: the processor has
    no padding or truncation options to set.
    """

    text_unit = "question"
    text_example = "what color is the circle?"

    @classmethod
    def from_questions(
        cls,
        questions: Iterable[str],
        image_size: int = 224,
        image_mean=IMAGENET_STANDARD_MEAN,
        image_std=IMAGENET_STANDARD_STD,
        min_word_count: int = 1,
        max_question_length: int = 32,
    ) -> VQAProcessor:
        """A processor whose vocabulary is built from ``questions`` (the training questions)."""
        image_processor = square_image_processor(image_size, image_mean, image_std)
        return cls(image_processor, build_question_tokenizer(questions, min_word_count, max_question_length))


__all__ = ["VQAProcessor", "build_question_tokenizer"]
