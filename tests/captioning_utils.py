"""Tiny captioners and what their tests share: configs from each model's "tiny" preset, random
images and captions, and the hand computations (an LSTM step, greedy decoding, a caption's
log-probability) the tests compare the models with."""

from __future__ import annotations

import torch
from conftest import TINY_RESNET

from hf_mmattn import (
    CaptioningProcessor,
    ShowAttendTellConfig,
    ShowAttendTellForConditionalGeneration,
    ShowTellConfig,
    ShowTellForConditionalGeneration,
    VQAImageProcessor,
)
from hf_mmattn.models.show_attend_tell import SHOW_ATTEND_TELL_PRESETS
from hf_mmattn.tasks.captioning.processing import wrap_caption_tokenizer

WORDS = ("a", "red", "blue", "green", "circle", "square", "triangle", "above", "below", "left", "of", "the")
VOCAB = {token: index for index, token in enumerate(("<pad>", "<unk>", "<start>", "<end>", *WORDS))}
PAD, UNK, START, END = 0, 1, 2, 3
FEATURE_SIZE = 6
NUM_REGIONS = 5
KINDS = ("show_tell", "soft", "hard", "sgrvinod")
ATTENTION_KINDS = ("soft", "hard", "sgrvinod")


def tiny_captioning_config(config_class, image_encoder: str = "features", **overrides):
    """``config_class`` at its "tiny" preset's sizes, with the test vocabulary, reading 6-d region
    features, 16x16 pixels through a [4, 8] scratch CNN (a 4x4 grid) or a tiny ResNet."""
    settings = dict(config_class.presets["tiny"], vocab_size=len(VOCAB), image_encoder=image_encoder)
    if image_encoder == "features":
        settings["image_feature_size"] = FEATURE_SIZE
    elif image_encoder == "scratch_cnn":
        settings["scratch_cnn_channels"] = [4, 8]
    else:
        settings["backbone_config"] = dict(TINY_RESNET)
    return config_class(**{**settings, **overrides})


def sgrvinod_settings(image_encoder: str) -> dict:
    """The PyTorch tutorial's preset at the tiny sizes, its grid pooled to 2x2 when it reads pixels."""
    switches = {k: v for k, v in SHOW_ATTEND_TELL_PRESETS["sgrvinod"].items() if k != "image_feature_size"}
    pooling = {} if image_encoder == "features" else {"image_grid_pool_size": [2, 2]}
    return {**switches, **SHOW_ATTEND_TELL_PRESETS["tiny"], **pooling}


def tiny_config(kind: str, image_encoder: str = "features", **overrides):
    """A tiny config of ``kind`` (see :func:`tiny_captioning_config`): "show_tell", "soft" /
    "hard" (the paper's switches) or "sgrvinod" (the PyTorch tutorial's preset, its grid pooled
    to 2x2 when it reads pixels)."""
    if kind == "show_tell":
        return tiny_captioning_config(ShowTellConfig, image_encoder, **overrides)
    if kind == "sgrvinod":
        return tiny_captioning_config(ShowAttendTellConfig, image_encoder, **{**sgrvinod_settings(image_encoder), **overrides})
    return tiny_captioning_config(ShowAttendTellConfig, image_encoder, **{"attention_type": kind, **overrides})


def model_class(kind: str):
    return ShowTellForConditionalGeneration if kind == "show_tell" else ShowAttendTellForConditionalGeneration


def make_captioner(kind: str, seed: int = 1, image_encoder: str = "features", scale: float = 3.0, eos_bias: float = 0.0, **overrides):
    """A tiny captioner in eval mode whose weights (all but the embeddings) are multiplied by
    ``scale``: PyTorch's default initialisation on such small layers gives almost the same word
    at every step whatever the image; scaled up, captions vary with the image and the step.
    ``eos_bias`` is added to the end token's score. The default seed gives, for every kind,
    different captions for different images, some ending before 8 words and some not."""
    torch.manual_seed(seed)
    model = model_class(kind)(tiny_config(kind, image_encoder, **overrides))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "embedding" not in name and "image_encoder" not in name:
                parameter.mul_(scale)
        model.word_classifier.bias[END] += eos_bias
    return model.eval()


def random_images(config, batch: int = 3, seed: int = 0, dtype=torch.float32) -> dict:
    generator = torch.Generator().manual_seed(seed)
    if config.image_encoder == "features":
        return {"image_features": (3 * torch.randn(batch, NUM_REGIONS, FEATURE_SIZE, generator=generator)).to(dtype)}
    return {"pixel_values": torch.randn(batch, 3, 16, 16, generator=generator).to(dtype)}


def random_captions(batch: int = 3, length: int = 6, seed: int = 0) -> dict:
    """Right-padded training captions <start> words <end>, of lengths length, length - 1, ..."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.full((batch, length), PAD)
    for row in range(batch):
        size = max(length - row, 3)
        input_ids[row, :size] = torch.randint(4, len(VOCAB), (size,), generator=generator)
        input_ids[row, 0], input_ids[row, size - 1] = START, END
    attention_mask = (input_ids != PAD).long()
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": input_ids.masked_fill(attention_mask == 0, -100)}


def start_prompt(batch: int) -> torch.Tensor:
    return torch.full((batch, 1), START)


def caption_processor(image_size: int = 16) -> CaptioningProcessor:
    image_processor = VQAImageProcessor(size={"height": image_size, "width": image_size}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    return CaptioningProcessor(image_processor, wrap_caption_tokenizer(VOCAB, max_length=12))


def linear(layer, x):
    return x @ layer.weight.T + (layer.bias if layer.bias is not None else 0)


def lstm_cell(x, hidden, cell, weight_ih, weight_hh, bias_ih, bias_hh):
    """One LSTM step written out (PyTorch packs the gates i, f, g, o)."""
    i, f, g, o = (x @ weight_ih.T + bias_ih + hidden @ weight_hh.T + bias_hh).chunk(4, dim=-1)
    cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cell), cell


def sequence_log_probability(model, images: dict, sequences: torch.Tensor, prompt_length: int = 1) -> torch.Tensor:
    """log p(generated words | image, prompt) of each row by a teacher-forced forward pass: the
    words after the prompt up to and including the first end token."""
    with torch.no_grad():
        logits = model(input_ids=sequences, **images, use_cache=False).logits
    log_probs = logits[:, :-1].double().log_softmax(-1).gather(-1, sequences[:, 1:, None])[..., 0]
    targets = sequences[:, 1:]
    generated = torch.arange(targets.shape[1]) >= prompt_length - 1
    ended_before = torch.cumsum((targets == END).long(), dim=1) - (targets == END).long() > 0
    counted = generated & ~ended_before
    return (log_probs * counted).sum(dim=1)


def greedy_by_hand(model, images: dict, prompt: torch.Tensor, max_new_tokens: int, use_cache: bool = True, attention_mask=None):
    """Greedy decoding written as a loop over forward passes: with the cache, each step feeds
    only the new word; without it, each step re-reads the whole sequence and the image. Finished
    captions are padded, as generate() does."""
    sequences, finished = prompt, torch.zeros(prompt.shape[0], dtype=torch.bool)
    mask = attention_mask if attention_mask is not None else torch.ones_like(prompt)
    with torch.no_grad():
        output = model(input_ids=prompt, attention_mask=mask, **images)
        for _ in range(max_new_tokens):
            next_word = output.logits[:, -1].argmax(-1).masked_fill(finished, PAD)
            sequences = torch.cat([sequences, next_word[:, None]], dim=1)
            mask = torch.cat([mask, torch.ones_like(next_word)[:, None]], dim=1)
            finished |= next_word == END
            if finished.all():
                break
            if use_cache:
                output = model(input_ids=next_word[:, None], attention_mask=mask, cache=output.cache)
            else:
                output = model(input_ids=sequences, attention_mask=mask, **images, use_cache=False)
    return sequences


def capture_attention_scores(model) -> list[torch.Tensor]:
    """The pre-softmax scores e_t of every step (the attention_score layer's outputs), kept with
    their gradients."""
    scores = []

    def keep(module, inputs, output):
        output.retain_grad()
        scores.append(output)

    model.attention_score.register_forward_hook(keep)
    return scores


def capture_read_weights(model) -> list[torch.Tensor]:
    """The weights each step read the annotations with (α_t, or a one-hot sample for hard
    attention), recorded from the model's own ``locations_to_read``."""
    read = []
    original = model.locations_to_read

    def recording(alpha, use_expected):
        weights = original(alpha, use_expected)
        read.append(weights.detach())
        return weights

    model.locations_to_read = recording
    return read

def caption_nll_by_hand(logits, labels):
    """-log p of each word labels[:, t + 1] from position t's logits, 0 where the label is -100."""
    log_probs = logits[:, :-1].log_softmax(-1)
    targets = labels[:, 1:]
    predicted = targets != -100
    nll = -log_probs.gather(-1, targets.clamp(min=0)[..., None])[..., 0]
    return nll * predicted, predicted
