"""What every document classifier of the package shares: a document read as sentences of words
(`split_into_sentences`, from the flat ids transformers' text-classification pipeline passes),
transformers' ``SequenceClassifierOutput`` and loss conventions, and the input checks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils import ModelOutput

from ...modeling_base import MMAttnPreTrainedModel, check_text_inputs, classification_loss, refuse_hidden_states

logger = logging.getLogger(__name__)


class Sentences(NamedTuple):
    """A batch of documents as sentences: ``input_ids`` ``(batch, sentences, words)`` (the padding
    id where a document has fewer sentences or a sentence fewer words), ``word_mask`` (1 for a
    real word) and ``sentence_mask`` ``(batch, sentences)`` (1 for a real sentence)."""

    input_ids: torch.Tensor
    word_mask: torch.Tensor
    sentence_mask: torch.Tensor


def split_into_sentences(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    sentence_end_token_ids,
    pad_token_id: int = 0,
    max_sentences: int | None = None,
    max_sentence_length: int | None = None,
) -> Sentences:
    """Splits right-padded flat documents ``(batch, tokens)`` into sentences.

    A sentence runs up to and including its last end token: a word that follows an end token
    starts the next sentence, so "food . ¶ bad" is two sentences, not three, and a document's
    last sentence needs no end token. Sentences beyond ``max_sentences`` and words beyond
    ``max_sentence_length`` are dropped with a warning (``None``: no limit)."""
    mask = attention_mask.bool()
    batch, length = input_ids.shape
    ends = torch.as_tensor(list(sentence_end_token_ids), dtype=input_ids.dtype, device=input_ids.device)
    is_end = torch.isin(input_ids, ends) & mask
    after_end = F.pad(is_end[:, :-1], (1, 0), value=False)
    is_start = mask & ~is_end & after_end
    sentence = is_start.long().cumsum(dim=1)  # the sentence of each token
    positions = torch.arange(length, device=input_ids.device).expand(batch, length)
    sentence_start = torch.where(is_start, positions, torch.zeros_like(positions)).cummax(dim=1).values
    word = positions - sentence_start  # the position of each token in its sentence
    keep = mask.clone()
    if max_sentences is not None and bool((sentence[mask] >= max_sentences).any()):
        logger.warning("a document has more than max_sentences=%d sentences: the rest are dropped", max_sentences)
        keep &= sentence < max_sentences
    if max_sentence_length is not None and bool((word[mask] >= max_sentence_length).any()):
        logger.warning("a sentence has more than max_sentence_length=%d words: the rest are dropped", max_sentence_length)
        keep &= word < max_sentence_length
    num_sentences = int(sentence[keep].max()) + 1 if keep.any() else 1
    num_words = int(word[keep].max()) + 1 if keep.any() else 1
    rows = torch.arange(batch, device=input_ids.device).unsqueeze(1).expand(batch, length)
    sentences = input_ids.new_full((batch, num_sentences, num_words), pad_token_id if pad_token_id is not None else 0)
    word_mask = torch.zeros(batch, num_sentences, num_words, dtype=torch.long, device=input_ids.device)
    sentences[rows[keep], sentence[keep], word[keep]] = input_ids[keep]
    word_mask[rows[keep], sentence[keep], word[keep]] = 1
    return Sentences(sentences, word_mask, (word_mask.sum(dim=2) > 0).long())


def check_document_inputs(config, input_ids, attention_mask, output_hidden_states: bool | None = None) -> torch.Tensor:
    """The checks of [`~hf_mmattn.modeling_base.check_text_inputs`] for documents (no tokens:
    refused; padding before the last word: refused; ids outside the vocabulary: refused), and no
    ``hidden_states``. Returns the attention mask."""
    refuse_hidden_states(config, output_hidden_states, "document classifiers",
                         "the base model's outputs (AutoModel: the document vector and the sentence vectors)",
                         maps="the word and sentence attention")
    return check_text_inputs(config, input_ids, attention_mask, unit="document", empty="an empty document has nothing to classify")


@dataclass
class DocumentModelOutput(ModelOutput):
    """Output of a base document model.

    pooler_output: the document vector ``(batch, hidden)`` the classifier reads.
    last_hidden_state: the sentence vectors in context ``(batch, sentences, hidden)``.
    attentions: with ``output_attentions=True``: ``(word attention (batch, sentences, words),
        sentence attention (batch, sentences))``, each summing to 1 over its real positions (a
        padded sentence's word row is all zero).
    """

    pooler_output: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class MMAttnTextClassificationPreTrainedModel(MMAttnPreTrainedModel):
    """Base class of the document classifiers: the word embedding, the text-classification
    pipeline tag. transformers' built-in pipeline serves them: no remote-code pipeline."""

    main_input_name = "input_ids"
    pipeline_tag = "text-classification"
    remote_code_auto_class = "AutoModelForSequenceClassification"

    def get_input_embeddings(self):
        return self.word_encoder.embedding if hasattr(self, "word_encoder") else self.model.get_input_embeddings()

    def set_input_embeddings(self, value):
        if hasattr(self, "word_encoder"):
            self.word_encoder.embedding = value
        else:
            self.model.set_input_embeddings(value)


class MMAttnForSequenceClassification(MMAttnTextClassificationPreTrainedModel):
    """The classifier every document model shares: the base model's ``pooler_output`` → dropout →
    linear layer over ``config.id2label`` (the papers' softmax layer), transformers'
    ``SequenceClassifierOutput`` with the loss of :func:`classification_loss`. Subclasses set
    ``self.model`` (their base model) and call ``_build_classifier(hidden_size)``."""

    def _build_classifier(self, hidden_size: int) -> None:
        self.dropout = torch.nn.Dropout(self.config.dropout)
        self.classifier = torch.nn.Linear(hidden_size, self.config.num_labels)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        r"""
        input_ids / attention_mask (`(batch, tokens)`): documents as the tokenizer encodes them,
            flat and right-padded; the model splits them into sentences at the sentence end tokens
            (`config.sentence_end_token_ids`, see `split_into_sentences`).
        labels: class indices `(batch,)` (or multi-label / regression targets, by `config.problem_type`).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.model(input_ids=input_ids, attention_mask=attention_mask, output_attentions=output_attentions,
                             output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = classification_loss(logits, labels, self.config) if labels is not None else None
        output = SequenceClassifierOutput(loss=loss, logits=logits, attentions=outputs.attentions)
        return output if return_dict else output.to_tuple()


__all__ = [
    "DocumentModelOutput",
    "MMAttnForSequenceClassification",
    "MMAttnTextClassificationPreTrainedModel",
    "Sentences",
    "check_document_inputs",
    "classification_loss",
    "split_into_sentences",
]
