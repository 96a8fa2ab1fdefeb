"""The VQA family's processor: an image processor + a word-level question tokenizer.

The answer vocabulary is not here: it lives in the model's ``config.id2label`` / ``label2id``
(docs/design.md, "Contracts"). Build a processor for a new dataset with
``VQAProcessor.from_questions(train_questions, image_size=...)``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from transformers import BatchFeature, PreTrainedTokenizerFast, ProcessorMixin
from transformers.image_utils import IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD

from ...processing.image_processor import square_image_processor
from ...processing.words import check_text, unknown_words, word_level_tokenizer, word_vocabulary

logger = logging.getLogger(__name__)

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


class VQAProcessor(ProcessorMixin):
    """Prepares (image, question) pairs for every VQA model of the package.

    ``processor(images=..., text=...)`` returns ``pixel_values`` plus ``input_ids`` /
    ``attention_mask``. Questions must be non-empty strings of valid Unicode; unknown words become
    ``[UNK]`` (``unknown_words`` lists them); questions longer than the tokenizer's
    ``model_max_length`` are truncated to it with a warning. Images and questions are encoded
    independently: with fewer images than questions, give the model an ``image_index`` saying
    which image each question is about. Other keyword arguments are refused: the processor has
    no padding or truncation options to set.
    """

    def __init__(self, image_processor=None, tokenizer=None, **kwargs):
        super().__init__(image_processor, tokenizer, **kwargs)

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

    def _check_questions(self, text) -> list[str]:
        questions = [text] if isinstance(text, str) else text
        if not isinstance(questions, (list, tuple)) or len(questions) == 0:
            raise TypeError(f"the question must be a string or a non-empty list of strings; got {type(text).__name__}")
        for question in questions:
            if not isinstance(question, str):
                raise TypeError(f"a question must be a string; got {type(question).__name__}: {question!r}")
            if not question.strip():
                raise ValueError("a question is empty: ask something, e.g. 'what color is the circle?'")
            check_text(question, "the question")
        return list(questions)

    def unknown_words(self, question: str) -> list[str]:
        """The words of ``question``, as the tokenizer normalises them, that map to ``[UNK]``."""
        if not isinstance(question, str):
            raise TypeError(f"unknown_words takes one question, a string; got {type(question).__name__}")
        check_text(question, "the question")
        return unknown_words(self.tokenizer, question)

    def __call__(self, images=None, text=None, return_tensors="pt", **kwargs) -> BatchFeature:
        if kwargs:
            raise TypeError(
                f"VQAProcessor got unexpected keyword argument(s) {sorted(kwargs)}; it takes images, text and "
                "return_tensors ('pt' or 'np')"
            )
        if images is None and text is None:
            raise ValueError("give images, text (the questions) or both")
        data = {}
        if text is not None:
            questions = self._check_questions(text)
            max_length = self.tokenizer.model_max_length
            too_long = [q for q in questions if len(self.tokenizer.tokenize(q)) > max_length]
            if too_long:
                logger.warning("%d question(s) longer than %d words are truncated, e.g. %r", len(too_long), max_length, too_long[0][:80])
            data.update(
                self.tokenizer(questions, padding=True, truncation=True, max_length=max_length, return_tensors=return_tensors)
            )
        if images is not None:
            data.update(self.image_processor(images, return_tensors=return_tensors))
        return BatchFeature(data=dict(data), tensor_type=return_tensors)

    @property
    def model_input_names(self):
        return ["input_ids", "attention_mask", "pixel_values"]


__all__ = ["VQAProcessor", "build_question_tokenizer"]
