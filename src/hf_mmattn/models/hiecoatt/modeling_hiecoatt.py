"""Hierarchical Question-Image Co-Attention for Visual Question Answering.

Lu, Yang, Batra, Parikh, NeurIPS 2016 (https://arxiv.org/abs/1606.00061). The question is read at
three levels (section 3.2): words (an embedding), phrases (unigram, bigram and trigram
convolutions, max-pooled over the n-gram sizes at each word, eq. 1-2) and the question (an LSTM
over the phrases). At each level the image regions and the question's positions attend to each
other (co-attention, parallel eq. 3-5 or alternating eq. 6, section 3.3); the attended pairs
are encoded recursively from words to question and the result is classified (eq. 7, section 3.4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...layers.coattention import AlternatingCoAttention, ParallelCoAttention
from ...layers.heads import AnswerClassifier
from ...layers.image_encoders import ImageEncoder
from ...layers.masking import run_packed_rnn
from ...tasks.vqa.modeling import MMAttnForVisualQuestionAnswering, MMAttnVQAPreTrainedModel, VQAModelOutput, check_vqa_inputs
from .configuration_hiecoatt import HieCoAttConfig

NGRAM_SIZES = (1, 2, 3)


class HieCoAttPhraseEncoder(nn.Module):
    """Phrase-level features from the word features (section 3.2, eq. 1-2)::

        q̂^p_{s,t} = tanh(W_c^s q^w_{t:t+s-1}),  s ∈ {1, 2, 3}      (eq. 1)
        q^p_t     = max(q̂^p_{1,t}, q̂^p_{2,t}, q̂^p_{3,t})            (eq. 2, per feature)

    computed as ``tanh(max_s conv_s)``, the same thing since tanh is increasing (the authors' code
    order). The word features are zero-padded so that every position has a window of each size
    (``windows="paper"``: words ``t..t+s-1``; ``"code"``: unigram ``t``, bigram ``t-1..t``,
    trigram ``t-1..t+1``, as the authors' cuDNN convolutions with padding 1).

    Padding: the word features at padded positions are zeroed before the convolutions, so a
    window reaching past a question's last word sees the same zeros as the zero-padding of an
    unpadded question, whatever the batch's padding; the phrase features of a question are
    therefore those of the question alone. Features at padded positions are zeroed on output.
    """

    def __init__(self, hidden_size: int, windows: str = "paper"):
        super().__init__()
        self.convolutions = nn.ModuleList(nn.Conv1d(hidden_size, hidden_size, size) for size in NGRAM_SIZES)
        # (left, right) zero padding of each n-gram convolution, keeping the length T: the
        # paper's windows start at word t; the code's convolutions pad one word on the left.
        lefts = [0 if windows == "paper" else min(1, size - 1) for size in NGRAM_SIZES]
        self.paddings = [(left, size - 1 - left) for left, size in zip(lefts, NGRAM_SIZES)]

    def forward(self, words: torch.Tensor, word_mask: torch.Tensor) -> torch.Tensor:
        mask = word_mask.unsqueeze(1).to(words.dtype)
        words = words.transpose(1, 2) * mask  # (batch, hidden, T)
        ngrams = [convolution(F.pad(words, padding)) for convolution, padding in zip(self.convolutions, self.paddings)]
        phrases = torch.tanh(torch.stack(ngrams).max(dim=0).values) * mask
        return phrases.transpose(1, 2)


class HieCoAttRecursiveEncoder(nn.Module):
    """Encodes the attended features of the three levels recursively (section 3.4, eq. 7)::

        h^w = tanh(W_w (q̂^w + v̂^w))
        h^p = tanh(W_p [q̂^p + v̂^p ; h^w])
        h^s = tanh(W_s [q̂^s + v̂^s ; h^p])

    and returns h^s; the answer classifier ``p = softmax(W_h h^s)`` reads it. ``dropout`` applies
    to the input of each layer, as in the authors' code.
    """

    def __init__(self, hidden_size: int, output_size: int, dropout: float = 0.0):
        super().__init__()
        self.word_layer = nn.Linear(hidden_size, hidden_size)
        self.phrase_layer = nn.Linear(2 * hidden_size, hidden_size)
        self.question_layer = nn.Linear(2 * hidden_size, output_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, word_level, phrase_level, question_level) -> torch.Tensor:
        """Each level is a ``(q̂, v̂)`` pair of ``(batch, hidden)`` vectors."""
        hidden = torch.tanh(self.word_layer(self.dropout(word_level[0] + word_level[1])))
        hidden = torch.tanh(self.phrase_layer(self.dropout(torch.cat([phrase_level[0] + phrase_level[1], hidden], dim=-1))))
        return torch.tanh(self.question_layer(self.dropout(torch.cat([question_level[0] + question_level[1], hidden], dim=-1))))


class HieCoAttPreTrainedModel(MMAttnVQAPreTrainedModel):
    config_class = HieCoAttConfig


class HieCoAttModel(HieCoAttPreTrainedModel):
    """The question hierarchy, the image regions, co-attention at the word, phrase and question
    levels (each with its own weights) and the recursive encoder; returns h^s as
    ``pooled_output``.

    With ``output_attentions=True``, ``attentions`` holds the image maps ``a^v`` of the word,
    phrase and question levels, in that order, and ``question_attentions`` the word maps ``a^q``
    of the same levels (for alternating co-attention the third step's, which gives ``q̂``).
    ``question_embeds`` is the question-level attended question vector ``q̂^s``.

    ``config.dropout`` applies where the authors' code (jiasenlu/HieCoAttenVQA) puts its dropouts
    of 0.5: the word features after their tanh (``LanguageEmbedding.LE``), the phrase features
    (``LanguageEmbedding.conv``), the projected regions (``word_level.lua``), between the LSTM
    layers and on the LSTM's output, the question-level features (``LSTM.lua``: ``drop_L``,
    ``drop_final``), the co-attention hidden layers H (``attention.lua``), the inputs of the
    recursive encoder's layers and of the classifier (``attention.recursive_atten``).
    """

    def __init__(self, config: HieCoAttConfig):
        super().__init__(config)
        hidden = config.hidden_size
        self.embedding = nn.Embedding(config.vocab_size, hidden, padding_idx=config.pad_token_id)
        self.word_dropout = nn.Dropout(config.dropout)
        self.phrase_encoder = HieCoAttPhraseEncoder(hidden, config.phrase_windows)
        self.phrase_dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(
            hidden, hidden, num_layers=config.question_num_layers, batch_first=True,
            dropout=config.dropout if config.question_num_layers > 1 else 0.0,
        )
        # The code's LSTM ends in a dropout on every step's top output (misc/LSTM.lua, 'drop_final').
        self.sentence_dropout = nn.Dropout(config.dropout)
        self.image_encoder = ImageEncoder(config)
        # Regions → a one-layer tanh perceptron to the question's size d, shared by the levels.
        self.image_projection = nn.Sequential(nn.Linear(self.image_encoder.output_size, hidden), nn.Tanh(), nn.Dropout(config.dropout))
        co_attention = ParallelCoAttention if config.co_attention == "parallel" else AlternatingCoAttention
        bias = config.attention_form == "code"
        self.word_co_attention, self.phrase_co_attention, self.question_co_attention = (
            co_attention(hidden, hidden, config.attention_hidden_size, bias=bias, dropout=config.dropout) for _ in range(3)
        )
        self.recursive_encoder = HieCoAttRecursiveEncoder(hidden, config.answer_encoding_size, config.dropout)
        self.post_init()

    def get_input_embeddings(self):
        return self.embedding

    def set_input_embeddings(self, value):
        self.embedding = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        pixel_values: torch.FloatTensor | None = None,
        image_features: torch.FloatTensor | None = None,
        image_attention_mask: torch.LongTensor | None = None,
        image_index: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> VQAModelOutput | tuple:
        r"""
        image_index (`torch.LongTensor` of shape `(batch,)`, *optional*):
            For each question, the row of `pixel_values` / `image_features` holding its image, so
            several questions share one encoded image (the image encoder runs once per image).
            Without it, question i reads image i.
        """
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        attention_mask = check_vqa_inputs(
            self.config, input_ids, attention_mask, pixel_values, image_features, image_attention_mask, image_index,
            output_hidden_states=output_hidden_states,
        )

        # Question hierarchy (section 3.2): Q^w, Q^p, Q^s, each (batch, T, d), zero on padding.
        words = self.word_dropout(torch.tanh(self.embedding(input_ids))) * attention_mask.unsqueeze(-1).to(self.embedding.weight.dtype)
        phrases = self.phrase_dropout(self.phrase_encoder(words, attention_mask))
        sentence = self.sentence_dropout(run_packed_rnn(self.lstm, phrases, attention_mask)[0])

        regions, region_mask, grid_size = self.image_encoder(pixel_values, image_features, image_attention_mask)
        regions = self.image_projection(regions)
        if image_index is not None:
            regions = regions[image_index]
            region_mask = region_mask[image_index] if region_mask is not None else None

        levels = [
            co_attention(question, regions, attention_mask, region_mask)
            for co_attention, question in (
                (self.word_co_attention, words),
                (self.phrase_co_attention, phrases),
                (self.question_co_attention, sentence),
            )
        ]
        pooled = self.recursive_encoder(*((level.attended_question, level.attended_image) for level in levels))

        output = VQAModelOutput(
            pooled_output=pooled,
            image_embeds=regions,
            question_embeds=levels[-1].attended_question,
            attentions=tuple(level.image_attention for level in levels) if output_attentions else None,
            image_grid_size=grid_size,
            question_attentions=tuple(level.question_attention for level in levels) if output_attentions else None,
        )
        return output if return_dict else output.to_tuple()


class HieCoAttForVisualQuestionAnswering(MMAttnForVisualQuestionAnswering, HieCoAttPreTrainedModel):
    """HieCoAtt with its answer classifier: ``p = softmax(W_h h^s)`` (eq. 7), or an MLP."""

    def __init__(self, config: HieCoAttConfig):
        super().__init__(config)
        self.model = HieCoAttModel(config)
        self.classifier = AnswerClassifier(
            config.answer_encoding_size, config.num_labels, config.answer_head, config.answer_hidden_size, config.dropout
        )
        self.post_init()


__all__ = ["HieCoAttPreTrainedModel", "HieCoAttModel", "HieCoAttForVisualQuestionAnswering"]
