"""What the captioning models of the package share (Show and Tell, Show, Attend and Tell).

A captioner reads an image and a caption prefix ``input_ids`` that starts with the start token
(``config.bos_token_id``) and returns next-word ``logits`` at every position, like a causal
language model: training passes the whole caption with ``labels`` (the same ids, padding set to
-100, shifted inside), ``generate()`` passes the start token and continues it one word at a time
with the LSTM state and the encoded image carried in a
[`~hf_mmattn.layers.recurrent_generation.RecurrentStateCache`].

Each model implements three steps, in its own file, with its paper's equations:

* ``start(regions, region_mask)``: the decoder's initial state from the encoded image (a cache);
* ``decode(input_ids, attention_mask, cache, sample_attention)``: one LSTM step per word,
  returning the logits and, for attention models, one attention map per word;
* ``compute_loss(...)``: the caption log-likelihood plus the model's own terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from transformers.utils import ModelOutput

from ...generation import CacheNameAliases, RecurrentGenerationMixin, check_generation_settings, resolve_cache_argument
from ...layers.image_encoders import ImageEncoder
from ...layers.recurrent_generation import RecurrentStateCache
from ...modeling_base import (
    MMAttnPreTrainedModel,
    check_image_inputs,
    check_mask_values,
    check_same_device,
    prepare_image_inputs,
    require_tensor,
)

DEFAULT_MAX_NEW_TOKENS = 50


@dataclass
class CaptioningOutput(CacheNameAliases, ModelOutput):
    """Output of the captioners.

    loss: with ``labels``, the training objective (caption negative log-likelihood plus the
        model's regularisers, see the model's ``compute_loss``).
    logits: next-word scores ``(batch, words, vocab_size)``; position t predicts word t + 1.
    cache: the decoder state after the last word and the encoded image
        ([`RecurrentStateCache`]); pass it back as ``cache`` with the next word to continue.
        ``past_key_values`` is the same object under the name transformers used before 5.25.
    hidden_states: with ``output_hidden_states=True``, ``(word embeddings, LSTM outputs)``, each
        ``(batch, words, size)``: the decoder's input and its recurrent layer's output per word.
    attentions: with ``output_attentions=True``, for attention models, one map per word,
        each ``(batch, num_regions)`` summing to 1: the α_t used to predict word t + 1.
    gates: with ``output_attentions=True``, Show, Attend and Tell's gate β_t per word,
        ``(batch, words)`` (scalar gate) or ``(batch, words, dim)`` (vector gate); else ``None``.
    image_grid_size: ``(height, width)`` of the annotation grid for pixel inputs, so
        ``attentions[t][b].reshape(image_grid_size)`` lays over the image.
    caption_loss: with ``labels``, the caption negative log-likelihood alone.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    cache: RecurrentStateCache | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    gates: torch.FloatTensor | None = None
    image_grid_size: tuple[int, int] | None = None
    caption_loss: torch.FloatTensor | None = None


class DecodedWords(NamedTuple):
    """What a model's ``decode`` returns for ``T`` input words.

    logits: ``(batch, T, vocab_size)``.
    attentions: ``(batch, T, num_regions)``, the attention α_t of each step, or ``None``.
    used_attentions: the weights the context was actually built with: α_t (soft attention, and hard
        attention's expected-value images), one-hot samples s_t (hard attention); or ``None``.
    gates: β_t ``(batch, T)`` or ``(batch, T, dim)``, or ``None``.
    hidden_states: ``(word embeddings, LSTM outputs)`` of the T words, for
        ``output_hidden_states``.
    """

    logits: torch.Tensor
    attentions: torch.Tensor | None = None
    used_attentions: torch.Tensor | None = None
    gates: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, torch.Tensor] | None = None


def caption_negative_log_likelihood(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-word negative log-likelihood of the caption: position t of ``logits`` predicts
    ``labels[:, t + 1]``; -100 labels are ignored. Returns ``(nll, predicted)``, both
    ``(batch, words - 1)``: the loss of each predicted word (0 where ignored) and the mask of the
    positions that predict a word."""
    targets = labels[:, 1:]
    predicted = targets != -100
    # At least float32 (half-precision logits are upcast; float64 stays float64).
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), targets.masked_fill(~predicted, 0), reduction="none")
    return nll * predicted, predicted


def reduce_caption_loss(nll: torch.Tensor, predicted: torch.Tensor, reduction: str) -> torch.Tensor:
    """``"sentence"``: sum over each caption's words, mean over captions; ``"token"``: mean over
    every predicted word of the batch."""
    if reduction == "sentence":
        return nll.sum(dim=1).mean()
    return nll.sum() / predicted.sum().clamp(min=1)


def keep_state_at_padding(step_mask: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """The decoder state after a step: ``new`` where the word is real, ``old`` where it is padding,
    so a left-padded prompt starts from the image's own initial state."""
    return torch.where(step_mask.bool().unsqueeze(-1), new, old)


def check_caption_inputs(config, input_ids, attention_mask, infer_padding: bool = True) -> torch.Tensor:
    """Checks the word inputs; returns the attention mask.

    Without an ``attention_mask``, and with ``infer_padding`` (a caption read from its start, not
    words continuing a cache), the left padding is inferred from ``config.pad_token_id``: the run
    of padding ids before a caption's first word gets 0, everything from the first word on 1, so
    a left-padded prompt (the processor's) reads the same with or without the processor's mask.
    Padding ids after the first word are read as words: a generated word is a word whatever its
    id (``generate()`` leaves out an all-ones mask, and a poorly trained model may generate the
    padding id; masking it would make a caption differ alone, in a batch, or re-read without a
    cache), and right padding after a training caption changes none of the caption's logits.
    Words continuing a cache are all read. When the padding id is also the start or end token
    (or there is none), nothing can be told apart and the mask is all ones. Refused: inputs that
    are not torch tensors, an empty batch, ids outside the vocabulary and masks holding anything
    but 0/1 (booleans are fine)."""
    require_tensor("input_ids", input_ids)
    require_tensor("attention_mask", attention_mask)
    if input_ids is None:
        raise ValueError(
            "input_ids is required: the caption so far, starting with the start token "
            f"(id {config.bos_token_id}); generate() and the processor add it"
        )
    if input_ids.dim() != 2 or input_ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"input_ids must be a 2-D integer tensor (batch, words); got shape {tuple(input_ids.shape)} of dtype {input_ids.dtype}")
    if input_ids.shape[0] == 0:
        raise ValueError("input_ids is an empty batch (0 captions)")
    if input_ids.shape[1] == 0:
        raise ValueError("input_ids has no words: start the caption with the start token")
    check_same_device(input_ids=input_ids, attention_mask=attention_mask)
    if input_ids.min() < 0 or input_ids.max() >= config.vocab_size:
        raise ValueError(f"input_ids contain ids outside the vocabulary [0, {config.vocab_size})")
    if attention_mask is None:
        pad_token_id = config.pad_token_id
        if not infer_padding or pad_token_id is None or pad_token_id in (config.bos_token_id, config.eos_token_id):
            return torch.ones_like(input_ids)
        left_padding = (input_ids == pad_token_id).long().cumprod(dim=1)  # 1 until the first other id
        return 1 - left_padding
    if attention_mask.dim() != 2 or attention_mask.shape[0] != input_ids.shape[0] or attention_mask.shape[1] < input_ids.shape[1]:
        raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids has {tuple(input_ids.shape)}")
    check_mask_values("attention_mask", attention_mask)
    # generate() passes the mask of the whole sequence and, with a cache, only the new words.
    return attention_mask[:, -input_ids.shape[1]:]


def check_caption_start(config, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> None:
    """A caption read from the start (no cache) begins, after its left padding, with the start
    token: without it the decoder reads the first word where it learned to read the start token
    and continues a caption that was never begun (a silently wrong caption)."""
    real = attention_mask.bool()
    if not real.any(dim=1).all():
        raise ValueError("a caption has no words (its attention_mask row is all zero): start it with the start token")
    first = input_ids.gather(1, real.long().argmax(dim=1, keepdim=True)).squeeze(1)
    if (first != config.bos_token_id).any():
        raise ValueError(
            f"a caption must begin with the start token (id {config.bos_token_id}); one begins with id "
            f"{first[first != config.bos_token_id][0].item()}. The processor (text='' or a prefix) and generate() add it"
        )


def check_caption_labels(config, labels, input_ids) -> None:
    """``labels``: the ids of ``input_ids``' shape, each a word of the vocabulary or -100
    (ignored, as the processor marks padding)."""
    require_tensor("labels", labels)
    if labels.shape != input_ids.shape:
        raise ValueError(f"labels must have the shape of input_ids {tuple(input_ids.shape)}; got {tuple(labels.shape)}")
    if labels.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"labels must be integer word ids; got dtype {labels.dtype}")
    if ((labels < 0) & (labels != -100)).any() or (labels >= config.vocab_size).any():
        raise ValueError(f"labels must be word ids in [0, {config.vocab_size}) or -100 (ignored)")


class MMAttnCaptioningPreTrainedModel(RecurrentGenerationMixin, MMAttnPreTrainedModel):
    """Base class of the captioners: image encoding, the forward pass around the model's
    ``start`` / ``decode`` / ``compute_loss``, what ``generate()`` needs of a recurrent decoder and
    the remote-code entry points of an image-text-to-text checkpoint. The models list
    ``GenerationMixin`` among their own bases: transformers only grants ``generate()`` to a
    class that inherits it directly."""

    main_input_name = "input_ids"
    pipeline_tag = "image-text-to-text"
    remote_code_task = "mmattn-image-captioning"
    remote_code_pipeline = "ImageCaptioningPipeline"
    remote_code_auto_class = "AutoModelForImageTextToText"
    def __init__(self, config):
        config.validate_captioning()
        super().__init__(config)
        if self.generation_config is not None and self.generation_config.max_new_tokens is None:
            # transformers' model-agnostic default (max_length 20, prompt included) cuts long captions.
            self.generation_config.max_new_tokens = DEFAULT_MAX_NEW_TOKENS
        self.image_encoder = ImageEncoder(config)

    def get_input_embeddings(self):
        return self.embedding

    def set_input_embeddings(self, value):
        self.embedding = value

    def get_output_embeddings(self):
        """The word classifier: ``resize_token_embeddings`` resizes it with the word embedding, so
        new words can be generated."""
        return self.word_classifier

    def set_output_embeddings(self, value):
        self.word_classifier = value

    def start(self, regions: torch.Tensor, region_mask: torch.Tensor | None) -> RecurrentStateCache:
        raise NotImplementedError

    def decode(self, input_ids, attention_mask, cache: RecurrentStateCache) -> DecodedWords:
        raise NotImplementedError

    def compute_loss(self, decoded: DecodedWords, labels: torch.Tensor, cache: RecurrentStateCache):
        """Returns ``(loss, caption_loss)``; attention models add their regularisers."""
        nll, predicted = caption_negative_log_likelihood(decoded.logits, labels)
        caption_loss = reduce_caption_loss(nll, predicted, self.config.caption_loss_reduction)
        return caption_loss, caption_loss

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        pixel_values: torch.FloatTensor | None = None,
        image_features: torch.FloatTensor | None = None,
        image_attention_mask: torch.LongTensor | None = None,
        cache: RecurrentStateCache | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: RecurrentStateCache | None = None,
    ) -> CaptioningOutput | tuple:
        r"""
        input_ids (`torch.LongTensor` of shape `(batch, words)`):
            The caption so far, starting with the start token; with `cache`, only the words the
            cache has not seen.
        attention_mask (`torch.LongTensor` of shape `(batch, words)`, *optional*):
            1 for words, 0 for padding. Without it, the padding ids (`config.pad_token_id`) before
            the first word of a caption read from its start (left padding) are masked, and every
            other id is read (see `check_caption_inputs`).
        pixel_values / image_features (`torch.FloatTensor`):
            Floating point inputs of another dtype than the model's (float64 from numpy) are converted
            to the model's dtype; they must be on the model's device. Pixels must be normalised by the
            model's processor: raw 0-255 values are refused (see `check_image_inputs`).
        cache ([`RecurrentStateCache`], *optional*):
            The state returned by the previous call; the image is then not needed again.
        labels (`torch.LongTensor` of shape `(batch, words)`, *optional*):
            The caption ids (usually `input_ids` with padding set to -100); position t of the
            logits is trained to predict `labels[:, t + 1]`.
        past_key_values ([`RecurrentStateCache`], *optional*):
            `cache` under the name transformers' `generate()` used before 5.25; give one or the
            other.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        use_cache = use_cache if use_cache is not None else self.config.use_cache
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        cache = resolve_cache_argument(cache, past_key_values)
        fresh = cache is None or cache.get_seq_length() == 0  # the caption is read from its start
        attention_mask = check_caption_inputs(self.config, input_ids, attention_mask, infer_padding=fresh)
        pixel_values, image_features = prepare_image_inputs(self, pixel_values=pixel_values, image_features=image_features)
        if fresh:
            check_caption_start(self.config, input_ids, attention_mask)
            check_image_inputs(self.config, pixel_values, image_features, image_attention_mask)
            regions, region_mask, grid_size = self.image_encoder(pixel_values, image_features, image_attention_mask)
            if regions.shape[0] != input_ids.shape[0]:
                raise ValueError(f"batch mismatch: {input_ids.shape[0]} captions but {regions.shape[0]} images")
            cache = self.start(regions, region_mask)
            cache.grid_size = grid_size
        elif input_ids.shape[0] != cache.batch_size:
            raise ValueError(f"batch mismatch: {input_ids.shape[0]} captions but the cache holds {cache.batch_size}")
        if labels is not None:
            check_caption_labels(self.config, labels, input_ids)

        decoded = self.decode(input_ids, attention_mask, cache)
        cache.seen_tokens += input_ids.shape[1]
        loss = caption_loss = None
        if labels is not None:
            loss, caption_loss = self.compute_loss(decoded, labels, cache)

        attentions = gates = None
        if output_attentions and decoded.attentions is not None:
            attentions, gates = tuple(decoded.attentions.unbind(dim=1)), decoded.gates
        output = CaptioningOutput(
            loss=loss,
            logits=decoded.logits,
            cache=cache if use_cache else None,
            hidden_states=decoded.hidden_states if output_hidden_states else None,
            attentions=attentions,
            gates=gates,
            image_grid_size=cache.grid_size,
            caption_loss=caption_loss,
        )
        return output if return_dict else output.to_tuple()

    def _remote_code_entry_points(self) -> dict[str, str]:
        # A captioner is its own AutoModel: no headless base model.
        return {
            "AutoConfig": type(self.config).__name__,
            "AutoModel": type(self).__name__,
            self.remote_code_auto_class: type(self).__name__,
            "AutoProcessor": "CaptioningProcessor",
        }


__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "CaptioningOutput",
    "DecodedWords",
    "MMAttnCaptioningPreTrainedModel",
    "caption_negative_log_likelihood",
    "check_caption_inputs",
    "check_caption_labels",
    "check_caption_start",
    "check_generation_settings",
    "keep_state_at_padding",
    "reduce_caption_loss",
    "resolve_cache_argument",
]
