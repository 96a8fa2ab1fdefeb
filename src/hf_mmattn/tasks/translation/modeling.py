"""What the translation models of the package share (Bahdanau et al. 2015, Luong et al. 2015).

A translator is an RNN encoder-decoder in transformers' seq2seq form: ``input_ids`` /
``attention_mask`` are the source sentence (right-padded), ``decoder_input_ids`` the target so
far, starting with ``config.decoder_start_token_id``; ``labels`` (the target ids, padding -100)
are shifted right behind the start token when no ``decoder_input_ids`` are given, as in
transformers' seq2seq models. ``generate()`` runs the encoder once (``get_encoder()``), then the
decoder one word at a time with its state, the source annotations and their attention
projection carried in a [`~hf_mmattn.layers.recurrent_generation.RecurrentStateCache`] (beam
search reorders it).

Each model implements, in its own file with its paper's equations:

* ``start(encoded, source_mask)``: the decoder's initial state from the encoder's output (a cache);
* ``decode(decoder_input_ids, cache)``: one decoder step per target word, returning the logits and,
  for attention models, the alignment of each word over the source words.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from transformers.utils import ModelOutput

from ...generation import CacheNameAliases, RecurrentGenerationMixin, resolve_cache_argument
from ...layers.masking import is_right_padded, run_packed_rnn
from ...layers.recurrent_generation import RecurrentStateCache
from ...modeling_base import MMAttnPreTrainedModel, check_mask_values, check_text_inputs, refuse_hidden_states, require_tensor

RNN_TYPES = {"lstm": nn.LSTM, "gru": nn.GRU}


@dataclass
class TranslationEncoderOutput(ModelOutput):
    """What the encoder gives the decoder.

    last_hidden_state: the annotations of the source words ``(batch, source_len, size)`` (the top
        layer's output; both directions concatenated [→h_j; ←h_j] for a bidirectional encoder),
        zero at padding.
    final_hidden: every layer's last state ``(batch, layers, size)`` (both directions' final
        states concatenated per layer), taken at each sentence's own last word.
    final_cell: the LSTM's last cells, laid out as ``final_hidden``; ``None`` for a GRU.
    """

    last_hidden_state: torch.FloatTensor | None = None
    final_hidden: torch.FloatTensor | None = None
    final_cell: torch.FloatTensor | None = None


@dataclass
class TranslationOutput(CacheNameAliases, ModelOutput):
    """Output of the translators.

    loss: with ``labels``, the mean negative log-likelihood of the target words (padding ignored).
    logits: next-word scores ``(batch, target_len, vocab_size)``; position t predicts word t + 1.
    cache: the decoder state after the last word, with the source annotations
        ([`RecurrentStateCache`]); pass it back as ``cache`` with the next word to continue.
        ``past_key_values`` is the same object under the name transformers used before 5.25.
    cross_attentions: with ``output_attentions=True``, for attention models, the alignment
        ``(batch, target_len, source_len)`` in a 1-tuple (one attention layer): row t is the
        attention over the source words used to predict word t + 1, summing to 1, zero on padding.
    decoder_attentions: always ``None`` (the decoders have no self-attention); transformers'
        ``generate()`` reads the field.
    encoder_last_hidden_state: the source annotations ``(batch, source_len, size)``, when the
        encoder ran in this call.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    cache: RecurrentStateCache | None = None
    cross_attentions: tuple[torch.FloatTensor, ...] | None = None
    decoder_attentions: tuple[torch.FloatTensor, ...] | None = None
    encoder_last_hidden_state: torch.FloatTensor | None = None


class DecodedTarget(NamedTuple):
    """What a model's ``decode`` returns for ``T`` target words: ``logits`` ``(batch, T, vocab)``,
    ``alignments`` ``(batch, T, source_len)`` or ``None`` (no attention)."""

    logits: torch.Tensor
    alignments: torch.Tensor | None = None


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    """The decoder's inputs for ``labels``: the start token, then every label but the last
    (ignored labels, -100, read as padding)."""
    shifted = labels.new_full(labels.shape, pad_token_id)
    shifted[:, 1:] = labels[:, :-1]
    shifted[:, 0] = decoder_start_token_id
    return shifted.masked_fill(shifted == -100, pad_token_id)


def check_source_inputs(config, input_ids, attention_mask) -> torch.Tensor:
    """The source sentence's ids and mask (right-padded), checked against the source vocabulary;
    returns the mask (inferred from ``config.source_pad_token_id`` when not given)."""
    source = SimpleNamespace(vocab_size=config.source_vocab_size, pad_token_id=config.source_pad_token_id)
    return check_text_inputs(source, input_ids, attention_mask, unit="source sentence", empty="translate a non-empty sentence")


def check_target_inputs(config, decoder_input_ids, labels) -> None:
    """``decoder_input_ids``: 2-D integer ids of the target vocabulary; ``labels``: target ids or
    -100, of ``decoder_input_ids``' shape when both are given."""
    require_tensor("decoder_input_ids", decoder_input_ids)
    require_tensor("labels", labels)
    for name, ids in (("decoder_input_ids", decoder_input_ids), ("labels", labels)):
        if ids is None:
            continue
        if ids.dim() != 2 or ids.dtype not in (torch.int64, torch.int32) or ids.shape[1] == 0 or ids.shape[0] == 0:
            raise ValueError(
                f"{name} must be a non-empty 2-D integer tensor (batch, target words); got shape {tuple(ids.shape)} of {ids.dtype}"
            )
        allowed = (ids >= 0) & (ids < config.vocab_size)
        if name == "labels":
            allowed |= ids == -100
        if not bool(allowed.all()):
            ignored = " (or -100)" if name == "labels" else ""
            raise ValueError(f"{name} hold ids outside the target vocabulary [0, {config.vocab_size}){ignored}")
    if decoder_input_ids is not None and labels is not None and labels.shape != decoder_input_ids.shape:
        raise ValueError(f"labels must have the shape of decoder_input_ids {tuple(decoder_input_ids.shape)}; got {tuple(labels.shape)}")


class TranslationEncoder(nn.Module):
    """Source word embedding → a (bidirectional, stacked) LSTM or GRU over the source words, run
    packed so that padding never enters the recurrence. ``hidden_size`` is each direction's."""

    main_input_name = "input_ids"

    def __init__(self, config, rnn_type: str, hidden_size: int, num_layers: int = 1, bidirectional: bool = False):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.source_vocab_size, config.embedding_size, padding_idx=config.source_pad_token_id)
        self.dropout = nn.Dropout(config.dropout)
        self.rnn = RNN_TYPES[rnn_type](
            config.embedding_size, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=bidirectional,
            dropout=config.dropout if num_layers > 1 else 0.0,
        )
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def _final(self, state: torch.Tensor) -> torch.Tensor:
        """``(layers * directions, batch, size)`` → ``(batch, layers, directions * size)``."""
        directions = 2 if self.rnn.bidirectional else 1
        return state.unflatten(0, (-1, directions)).permute(2, 0, 1, 3).flatten(2)

    def forward(self, input_ids=None, attention_mask=None, output_attentions=None, output_hidden_states=None, return_dict=True):
        """Encodes a source batch (the ``output_*`` flags are those ``generate()`` passes; the
        encoder has no attention and returns no intermediate states)."""
        refuse_hidden_states(self.config, output_hidden_states, "translation encoders", "the annotations (last_hidden_state)",
                             maps="nothing: the alignment is the decoder's")
        return self.encode(input_ids, check_source_inputs(self.config, input_ids, attention_mask))

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TranslationEncoderOutput:
        """Encodes source ids whose mask :func:`check_source_inputs` has already checked."""
        embedded = self.dropout(self.embedding(input_ids))
        annotations, state = run_packed_rnn(self.rnn, embedded, attention_mask)
        hidden, cell = state if isinstance(state, tuple) else (state, None)
        return TranslationEncoderOutput(
            last_hidden_state=annotations, final_hidden=self._final(hidden), final_cell=None if cell is None else self._final(cell)
        )


class MMAttnTranslationPreTrainedModel(RecurrentGenerationMixin, MMAttnPreTrainedModel):
    """Base class of the translators: the encoder-decoder forward pass around the model's
    ``start`` / ``decode``, the loss and what ``generate()`` needs. The models list
    ``GenerationMixin`` among their own bases."""

    main_input_name = "input_ids"
    pipeline_tag = "translation"
    remote_code_task = "mmattn-translation"
    remote_code_pipeline = "TranslationPipeline"
    remote_code_auto_class = "AutoModelForSeq2SeqLM"

    def __init__(self, config):
        config.validate_translation()
        super().__init__(config)
        if self.generation_config is not None and self.generation_config.max_new_tokens is None:
            # transformers' model-agnostic default (max_length 20) cuts long sentences.
            self.generation_config.max_new_tokens = config.max_new_tokens

    def get_encoder(self, *args, **kwargs):
        return self.encoder

    def get_input_embeddings(self):
        """The target word embedding (``resize_token_embeddings`` resizes it with the word
        classifier and ``config.vocab_size``); :meth:`resize_source_token_embeddings` resizes the
        source's."""
        return self.decoder.embedding

    def set_input_embeddings(self, value):
        self.decoder.embedding = value

    def get_output_embeddings(self):
        return self.word_classifier

    def set_output_embeddings(self, value):
        self.word_classifier = value

    def resize_source_token_embeddings(self, new_num_tokens: int) -> nn.Embedding:
        """Resizes the source word embedding (new rows initialised as transformers initialises
        new tokens) and ``config.source_vocab_size``."""
        self.encoder.embedding = self._get_resized_embeddings(self.encoder.embedding, new_num_tokens)
        self.config.source_vocab_size = new_num_tokens
        return self.encoder.embedding

    def _source_mask(self, encoded: TranslationEncoderOutput, input_ids, attention_mask) -> torch.Tensor:
        """The mask of the source words of given encoder outputs: checked with the source ids when
        given too, else the ``attention_mask`` that ``generate()`` passes with the encoder's output
        (all words when there is none)."""
        if input_ids is not None:
            return check_source_inputs(self.config, input_ids, attention_mask)
        annotations = encoded.last_hidden_state
        if attention_mask is None:
            return torch.ones(annotations.shape[:2], dtype=torch.long, device=annotations.device)
        require_tensor("attention_mask", attention_mask)
        if attention_mask.shape != annotations.shape[:2]:
            raise ValueError(
                f"attention_mask has shape {tuple(attention_mask.shape)} but the encoder's output has {tuple(annotations.shape[:2])}"
            )
        check_mask_values("attention_mask", attention_mask)
        if not is_right_padded(attention_mask) or not bool(attention_mask.any(dim=1).all()):
            raise ValueError("attention_mask must be right-padded (1s for the source words, then 0s), with a word in every row")
        return attention_mask

    def start(self, encoded: TranslationEncoderOutput, source_mask: torch.Tensor) -> RecurrentStateCache:
        raise NotImplementedError

    def decode(self, decoder_input_ids: torch.Tensor, cache: RecurrentStateCache) -> DecodedTarget:
        raise NotImplementedError

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        encoder_outputs: TranslationEncoderOutput | tuple | None = None,
        cache: RecurrentStateCache | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: RecurrentStateCache | None = None,
    ) -> TranslationOutput | tuple:
        r"""
        input_ids (`torch.LongTensor` of shape `(batch, source_len)`):
            The source sentence (ids of the source vocabulary), right-padded; not needed with
            `encoder_outputs` or a `cache`.
        attention_mask (`torch.LongTensor` of shape `(batch, source_len)`, *optional*):
            1 for source words, 0 for padding; inferred from `config.source_pad_token_id` if missing.
        decoder_input_ids (`torch.LongTensor` of shape `(batch, target_len)`, *optional*):
            The target so far, starting with `config.decoder_start_token_id`; with `cache`, only
            the words the cache has not seen. Made from `labels` when missing.
        encoder_outputs ([`TranslationEncoderOutput`], *optional*):
            The encoder's output for `input_ids` (`generate()` computes it once).
        cache ([`RecurrentStateCache`], *optional*):
            The state returned by the previous call.
        labels (`torch.LongTensor` of shape `(batch, target_len)`, *optional*):
            The target ids, -100 where ignored; the loss is the mean negative log-likelihood of
            the others.
        past_key_values ([`RecurrentStateCache`], *optional*):
            `cache` under the name transformers' `generate()` used before 5.25; give one or the other.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        use_cache = use_cache if use_cache is not None else self.config.use_cache
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        refuse_hidden_states(
            self.config, output_hidden_states, "translators", "the source annotations (encoder_last_hidden_state)",
            maps="the alignment of each target word (cross_attentions)",
        )
        cache = resolve_cache_argument(cache, past_key_values)
        check_target_inputs(self.config, decoder_input_ids, labels)
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError(
                    "give decoder_input_ids (the target so far, starting with the start token "
                    f"{self.config.decoder_start_token_id}) or labels (shifted right into decoder_input_ids)"
                )
            decoder_input_ids = shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

        encoder_last_hidden_state = None
        if cache is None or cache.get_seq_length() == 0:
            if encoder_outputs is None:
                source_mask = check_source_inputs(self.config, input_ids, attention_mask)
                encoder_outputs = self.encoder.encode(input_ids, source_mask)
            else:
                if not isinstance(encoder_outputs, TranslationEncoderOutput):
                    encoder_outputs = TranslationEncoderOutput(*encoder_outputs)
                source_mask = self._source_mask(encoder_outputs, input_ids, attention_mask)
            encoder_last_hidden_state = encoder_outputs.last_hidden_state
            if encoder_last_hidden_state.shape[0] != decoder_input_ids.shape[0]:
                raise ValueError(
                    f"batch mismatch: {encoder_last_hidden_state.shape[0]} source sentences but {decoder_input_ids.shape[0]} targets"
                )
            first = decoder_input_ids[:, 0]
            if (first != self.config.decoder_start_token_id).any():
                raise ValueError(
                    f"a target must begin with the start token (decoder_start_token_id {self.config.decoder_start_token_id}); one begins "
                    f"with id {first[first != self.config.decoder_start_token_id][0].item()}. Pass labels instead, or prepend it"
                )
            cache = self.start(encoder_outputs, source_mask)
        elif decoder_input_ids.shape[0] != cache.batch_size:
            raise ValueError(f"batch mismatch: {decoder_input_ids.shape[0]} targets but the cache holds {cache.batch_size}")

        decoded = self.decode(decoder_input_ids, cache)
        cache.seen_tokens += decoder_input_ids.shape[1]
        loss = None
        if labels is not None:
            logits = decoded.logits.to(torch.promote_types(decoded.logits.dtype, torch.float32))
            loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        output = TranslationOutput(
            loss=loss,
            logits=decoded.logits,
            cache=cache if use_cache else None,
            cross_attentions=(decoded.alignments,) if output_attentions and decoded.alignments is not None else None,
            encoder_last_hidden_state=encoder_last_hidden_state,
        )
        return output if return_dict else output.to_tuple()


__all__ = [
    "DecodedTarget",
    "MMAttnTranslationPreTrainedModel",
    "RNN_TYPES",
    "TranslationEncoder",
    "TranslationEncoderOutput",
    "TranslationOutput",
    "check_source_inputs",
    "check_target_inputs",
    "shift_tokens_right",
]
