"""Tests of the captioners, Show and Tell (Vinyals et al., CVPR 2015) and Show, Attend and Tell
(Xu et al., ICML 2015; soft and hard attention, and the "sgrvinod" PyTorch-tutorial preset), on
tiny configs: round trips, ``generate()`` against hand-written decoding, the paper equations
against the forward pass, the losses, REINFORCE for hard attention, and bad inputs."""

from __future__ import annotations

import copy
import struct
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText, AutoProcessor, DynamicCache, PreTrainedTokenizerFast

from hf_mmattn import (
    CaptioningProcessor,
    ShowAttendTellConfig,
    ShowAttendTellForConditionalGeneration,
    ShowTellConfig,
    ShowTellForConditionalGeneration,
    VQAImageProcessor,
)
from hf_mmattn.layers.recurrent_generation import RecurrentStateCache
from hf_mmattn.models.show_attend_tell import modeling_show_attend_tell
from hf_mmattn.processing.captioning import wrap_caption_tokenizer

WORDS = ("a", "red", "blue", "green", "circle", "square", "triangle", "above", "below", "left", "of", "the")
VOCAB = {token: index for index, token in enumerate(("<pad>", "<unk>", "<start>", "<end>", *WORDS))}
PAD, UNK, START, END = 0, 1, 2, 3
FEATURE_SIZE = 6
NUM_REGIONS = 5
KINDS = ("show_tell", "soft", "hard", "sgrvinod")
ATTENTION_KINDS = ("soft", "hard", "sgrvinod")


# --- tiny models and inputs ---------------------------------------------------------------------

def tiny_config(kind: str, image_encoder: str = "features", **overrides):
    """A tiny config of ``kind``: "show_tell", "soft" / "hard" (the paper's switches) or
    "sgrvinod" (the PyTorch tutorial's preset), reading 6-d region features or 16x16 pixels
    through a [4, 8] scratch CNN (a 4x4 grid)."""
    settings = dict(vocab_size=len(VOCAB), embedding_size=8, hidden_size=10, dropout=0.0, image_encoder=image_encoder)
    if image_encoder == "features":
        settings["image_feature_size"] = FEATURE_SIZE
    else:
        settings["scratch_cnn_channels"] = [4, 8]
    if kind == "show_tell":
        return ShowTellConfig(**{**settings, **overrides})
    settings["attention_size"] = 7
    if kind == "sgrvinod":
        if image_encoder != "features":
            settings["image_grid_pool_size"] = [2, 2]
        return ShowAttendTellConfig.from_preset("sgrvinod", **{**settings, **overrides})
    return ShowAttendTellConfig(**{**settings, "attention_type": kind, **overrides})


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


# --- configs, models and processors round-trip ----------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trips_through_auto_config(kind, tmp_path):
    config = tiny_config(kind, "scratch_cnn", bos_token_id=START, eos_token_id=END)
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert type(loaded) is type(config)
    saved_fields = {key: value for key, value in config.to_dict().items() if key != "_name_or_path"}
    assert {key: value for key, value in loaded.to_dict().items() if key != "_name_or_path"} == saved_fields
    if kind == "sgrvinod":
        switches = (loaded.attention_activation, loaded.gate, loaded.deep_output, loaded.caption_loss_reduction)
        assert switches == ("relu", "vector", False, "token")
        assert loaded.image_grid_pool_size == [2, 2]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("image_encoder", ["features", "scratch_cnn"])
def test_model_round_trips_through_every_auto_class(kind, image_encoder, tmp_path):
    model = make_captioner(kind, image_encoder=image_encoder)
    if kind == "hard":
        model.baseline.value.fill_(-2.5)  # the REINFORCE baseline is saved with the weights
    model.save_pretrained(tmp_path)
    images = random_images(model.config, seed=1)
    captions = random_captions()
    with torch.no_grad():
        expected = model(**images, input_ids=captions["input_ids"], attention_mask=captions["attention_mask"]).logits
    for loader in (AutoModel, AutoModelForImageTextToText, model_class(kind)):
        loaded = loader.from_pretrained(tmp_path).eval()
        assert type(loaded) is model_class(kind)
        loaded_state = loaded.state_dict()
        assert loaded_state.keys() == model.state_dict().keys()
        assert all(torch.equal(loaded_state[name], tensor) for name, tensor in model.state_dict().items())
        with torch.no_grad():
            actual = loaded(**images, input_ids=captions["input_ids"], attention_mask=captions["attention_mask"]).logits
        # The same weights; transformers >= 5.25 may load them at an address of another alignment,
        # where the CPU kernels sum in another order: equal to float32 rounding, not bitwise.
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
        if kind == "hard":
            assert loaded.baseline.value.item() == -2.5
    generated = AutoModelForImageTextToText.from_pretrained(tmp_path).generate(input_ids=start_prompt(3), **images, max_new_tokens=5)
    assert torch.equal(generated, model.generate(input_ids=start_prompt(3), **images, max_new_tokens=5))


def test_processor_round_trips_through_auto_processor(tmp_path):
    processor = caption_processor()
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is CaptioningProcessor and type(loaded.image_processor) is VQAImageProcessor
    assert isinstance(loaded.tokenizer, PreTrainedTokenizerFast)
    assert loaded.tokenizer.get_vocab() == VOCAB
    tokenizer = loaded.tokenizer
    assert [tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id] == [PAD, UNK, START, END]
    images = [Image.new("RGB", (20, 12), (200, 10, 10)), Image.new("L", (9, 9), 77)]
    captions = ["A red circle above the blue square.", "a purple thing"]
    expected = processor(images=images, text=captions, add_end_token=True)
    actual = loaded(images=images, text=captions, add_end_token=True)
    for key in ("input_ids", "attention_mask", "labels", "pixel_values"):
        assert torch.equal(actual[key], expected[key]), key
    # The ids by hand: start, words (unknown "purple", "thing" and "." → <unk>), end, padding.
    ids = [VOCAB[w] for w in "a red circle above the blue square".split()]
    assert actual["input_ids"][0].tolist() == [START, *ids, UNK, END]
    assert actual["input_ids"][1].tolist() == [START, VOCAB["a"], UNK, UNK, END] + [PAD] * 5
    assert actual["labels"][1].tolist() == [START, VOCAB["a"], UNK, UNK, END] + [-100] * 5
    # Decoding drops the special tokens, <unk> included.
    assert loaded.post_process_image_text_to_text(actual["input_ids"][:1]) == ["a red circle above the blue square"]


@pytest.mark.parametrize(
    "kind, overrides, message",
    [
        ("soft", {"gate": "bogus"}, "gate must be one of"),
        ("soft", {"attention_type": "medium"}, "attention_type must be one of"),
        ("soft", {"attention_activation": "gelu"}, "attention_activation must be one of"),
        ("soft", {"attention_penalty_reduction": "max"}, "attention_penalty_reduction must be one of"),
        ("hard", {"expected_attention_probability": 1.5}, "expected_attention_probability must be in"),
        ("hard", {"baseline_decay": 1.0}, "baseline_decay must be in"),
        ("hard", {"hard_attention_inference": "sample"}, "hard_attention_inference must be one of"),
        ("hard", {"reinforce_normalization": "sum"}, "reinforce_normalization must be one of"),
        ("soft", {"initialization": "xavier"}, "initialization must be one of"),
        ("show_tell", {"caption_loss_reduction": "batch"}, "caption_loss_reduction must be one of"),
        ("show_tell", {"eos_token_id": None}, "needs bos_token_id"),
        ("show_tell", {"bos_token_id": len(VOCAB)}, "bos_token_id=16 is outside the vocabulary"),
    ],
)
def test_invalid_config_values_raise(kind, overrides, message):
    with pytest.raises(ValueError, match=message):
        model_class(kind)(tiny_config(kind, **overrides))


def test_unknown_preset_raises():
    with pytest.raises(ValueError, match="unknown preset 'xu2016'"):
        ShowAttendTellConfig.from_preset("xu2016")


# --- generate() ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_greedy_generate_equals_a_hand_written_loop_with_and_without_cache(kind):
    model = make_captioner(kind, eos_bias=1.0)
    images = random_images(model.config, batch=4, seed=2)
    generated = model.generate(input_ids=start_prompt(4), **images, max_new_tokens=8)
    by_hand = greedy_by_hand(model, images, start_prompt(4), 8, use_cache=True)
    recomputed = greedy_by_hand(model, images, start_prompt(4), 8, use_cache=False)
    assert torch.equal(generated, by_hand)
    assert torch.equal(generated, recomputed)
    assert torch.equal(generated, model.generate(input_ids=start_prompt(4), **images, max_new_tokens=8, use_cache=False))
    # The captions are not all the same: the image matters.
    assert len({tuple(row) for row in generated.tolist()}) > 1


@pytest.mark.parametrize("kind", ["show_tell", "soft", "sgrvinod"])
def test_greedy_generate_from_pixels_equals_the_hand_written_loop(kind):
    model = make_captioner(kind, image_encoder="scratch_cnn", eos_bias=1.0)
    images = random_images(model.config, batch=3, seed=3)
    generated = model.generate(input_ids=start_prompt(3), **images, max_new_tokens=7)
    assert torch.equal(generated, greedy_by_hand(model, images, start_prompt(3), 7))
    assert torch.equal(generated, model.generate(input_ids=start_prompt(3), **images, max_new_tokens=7, use_cache=False))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_beams", [3, 4])
def test_beam_search_with_cache_equals_full_recompute(kind, num_beams):
    """The cache's reorder_cache must follow the beams: with use_cache=False every step re-reads
    the whole caption, so any reordering mistake shows as different sequences or scores."""
    model = make_captioner(kind, eos_bias=1.0)
    images = random_images(model.config, batch=3, seed=4)
    settings = dict(input_ids=start_prompt(3), **images, max_new_tokens=7, num_beams=num_beams, num_return_sequences=2,
                    return_dict_in_generate=True, output_scores=True)
    cached = model.generate(**settings)
    recomputed = model.generate(**settings, use_cache=False)
    assert torch.equal(cached.sequences, recomputed.sequences)
    torch.testing.assert_close(cached.sequences_scores, recomputed.sequences_scores)
    # Beams really differ (the test would be weak if every beam were the same caption).
    assert len({tuple(row) for row in cached.sequences.tolist()}) >= 4


@pytest.mark.parametrize("kind", KINDS)
def test_beam_search_scores_are_the_caption_log_probabilities(kind):
    """With length_penalty=0 a beam's score is the sum of its words' log-probabilities, which a
    teacher-forced forward pass of the returned caption must give back."""
    model = make_captioner(kind, eos_bias=1.0).double()
    images = random_images(model.config, batch=3, seed=5, dtype=torch.float64)
    output = model.generate(input_ids=start_prompt(3), **images, max_new_tokens=6, num_beams=3, length_penalty=0.0,
                            return_dict_in_generate=True, output_scores=True)
    expected = sequence_log_probability(model, images, output.sequences)
    torch.testing.assert_close(output.sequences_scores.double(), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_beam_search_with_a_beam_per_word_is_exhaustive_over_two_words(kind):
    """With as many beams as words and two new words, beam search keeps every one-word prefix,
    so it must return the most likely caption of at most two words: checked against all 16 + 16²
    captions scored by teacher forcing."""
    model = make_captioner(kind, eos_bias=1.5).double()
    vocab = len(VOCAB)
    for seed in range(3):
        images = random_images(model.config, batch=1, seed=10 + seed, dtype=torch.float64)
        beam = model.generate(input_ids=start_prompt(1), **images, max_new_tokens=2, num_beams=vocab, length_penalty=0.0,
                              return_dict_in_generate=True, output_scores=True)
        first, second = torch.meshgrid(torch.arange(vocab), torch.arange(vocab), indexing="ij")
        candidates = torch.stack([torch.full((vocab * vocab,), START), first.flatten(), second.flatten()], dim=1)
        batch_images = {key: value.expand(len(candidates), -1, -1) for key, value in images.items()}
        scores = sequence_log_probability(model, batch_images, candidates)
        best = scores.argmax()
        best_caption = candidates[best].tolist()
        best_caption = best_caption[:2] if best_caption[1] == END else best_caption
        assert beam.sequences[0].tolist()[: len(best_caption)] == best_caption
        assert beam.sequences_scores[0].item() == pytest.approx(scores[best].item(), abs=1e-6)  # scores are float32


@pytest.mark.parametrize("kind", KINDS)
def test_beam_search_finds_a_caption_at_least_as_likely_as_greedy(kind):
    """Not a theorem of beam search (the greedy prefix can be pruned), but what it is for: on
    several random models and images the beam caption is never less likely than the greedy one,
    and more likely on some."""
    better = 0
    for seed in range(4):
        model = make_captioner(kind, seed=seed, eos_bias=1.0).double()
        images = random_images(model.config, batch=4, seed=seed, dtype=torch.float64)
        greedy = model.generate(input_ids=start_prompt(4), **images, max_new_tokens=6)
        beam = model.generate(input_ids=start_prompt(4), **images, max_new_tokens=6, num_beams=4, length_penalty=0.0)
        greedy_score = sequence_log_probability(model, images, greedy)
        beam_score = sequence_log_probability(model, images, beam)
        assert (beam_score >= greedy_score - 1e-9).all(), (seed, greedy_score, beam_score)
        better += int((beam_score > greedy_score + 1e-6).sum())
    assert better > 0


@pytest.mark.parametrize("kind", KINDS)
def test_sampling_reproduces_with_a_seed_and_top_k_1_is_greedy(kind):
    model = make_captioner(kind, eos_bias=1.0)
    images = random_images(model.config, batch=4, seed=6)
    settings = dict(input_ids=start_prompt(4), **images, max_new_tokens=8, do_sample=True, top_k=0, temperature=2.0)
    torch.manual_seed(123)
    first = model.generate(**settings)
    torch.manual_seed(123)
    again = model.generate(**settings)
    torch.manual_seed(124)
    other = model.generate(**settings)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    greedy = model.generate(input_ids=start_prompt(4), **images, max_new_tokens=8)
    assert torch.equal(model.generate(input_ids=start_prompt(4), **images, max_new_tokens=8, do_sample=True, top_k=1), greedy)


@pytest.mark.parametrize("kind", KINDS)
def test_max_new_tokens_is_respected_and_generation_stops_at_the_end_token(kind):
    never_ends = make_captioner(kind, eos_bias=-1e4)
    images = random_images(never_ends.config, batch=3, seed=7)
    for max_new_tokens in (1, 5):
        generated = never_ends.generate(input_ids=start_prompt(3), **images, max_new_tokens=max_new_tokens)
        assert generated.shape == (3, 1 + max_new_tokens)
        assert (generated[:, 1:] != END).all()
    ends_at_once = make_captioner(kind, eos_bias=1e4)
    assert ends_at_once.generate(input_ids=start_prompt(3), **images, max_new_tokens=5).tolist() == [[START, END]] * 3
    # Rows that end early are padded after their end token while the others go on.
    model = make_captioner(kind, eos_bias=1.0)
    generated = model.generate(input_ids=start_prompt(4), **random_images(model.config, batch=4, seed=2), max_new_tokens=8)
    ended = [row.index(END) if END in row else None for row in generated.tolist()]
    assert any(position is not None and position < generated.shape[1] - 1 for position in ended), generated
    for row, position in zip(generated.tolist(), ended, strict=True):
        if position is not None:
            assert row[position + 1 :] == [PAD] * (len(row) - position - 1)


@pytest.mark.parametrize("kind", KINDS)
def test_generation_continues_a_caption_prefix(kind):
    model = make_captioner(kind, seed=2, eos_bias=1.0)  # seed 1 says "a" whatever the prefix
    images = random_images(model.config, batch=2, seed=8)
    prefix = torch.tensor([[START, VOCAB["a"], VOCAB["red"]]] * 2)
    generated = model.generate(input_ids=prefix, **images, max_new_tokens=5)
    assert torch.equal(generated[:, :3], prefix)
    assert torch.equal(generated, greedy_by_hand(model, images, prefix, 5))
    # The prefix changes the continuation (the LSTM read it).
    from_start = model.generate(input_ids=start_prompt(2), **images, max_new_tokens=7)
    assert not torch.equal(generated[:, 3:], from_start[:, 1:6])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_beams", [1, 3])
def test_left_padded_prompts_give_what_each_prompt_gives_alone(kind, num_beams):
    """The processor pads prompts of different lengths on the left; the decoder state passes over
    the padding unchanged, so each caption is what its prompt alone gives."""
    model = make_captioner(kind, eos_bias=1.0)
    processor = caption_processor()
    prompts = ["", "a red", "the blue circle above"]
    encoded = processor(text=prompts)
    assert encoded["attention_mask"].tolist() == [[0, 0, 0, 0, 1], [0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]
    images = random_images(model.config, batch=3, seed=9)
    batched = model.generate(**encoded, **images, max_new_tokens=5, num_beams=num_beams)
    with torch.no_grad():
        batched_logits = model(**encoded, **images).logits[:, -1]
    for row, prompt in enumerate(prompts):
        alone = processor(text=prompt)
        image = {key: value[row : row + 1] for key, value in images.items()}
        with torch.no_grad():
            torch.testing.assert_close(batched_logits[row], model(**alone, **image).logits[0, -1])
        expected = model.generate(**alone, **image, max_new_tokens=5, num_beams=num_beams)[0]
        padding = 4 - len(prompt.split())
        actual = batched[row, padding:]
        assert actual[: len(expected)].tolist() == expected.tolist(), (row, batched, expected)
        # Beam search fills after the end with pad_token_id, or with the end token when the pad id
        # is 0 (transformers 5.23 writes `pad_token_id or eos_token_id`); decoding drops both.
        assert set(actual[len(expected) :].tolist()) <= ({PAD} if num_beams == 1 else {PAD, END})


def test_generate_rejects_max_new_tokens_of_zero_or_less():
    model = make_captioner("soft")
    images = random_images(model.config, batch=1)
    for value in (0, -3):
        with pytest.raises(ValueError, match="max_new_tokens must be an integer >= 1"):
            model.generate(input_ids=start_prompt(1), **images, max_new_tokens=value)


# --- teacher forcing against the papers' equations ------------------------------------------------

def show_attend_tell_by_hand(model, annotations, region_mask, input_ids):
    """Section 3.1.2 of Xu et al. written out with the model's weights, one word at a time:
    h_0, c_0 = f_init(mean a); e_ti = w·act(W_a a_i + W_h h_{t-1}) + b; α_t = softmax(e_t) over
    the real regions; ẑ_t = β_t Σ_i α_ti a_i with β_t = σ(f_β(h_{t-1})); the LSTM on [E y_t; ẑ_t];
    deep output L_o(E y_t + L_h h_t + L_z ẑ_t) (or L_o h_t without it). Returns (logits, alphas)."""
    config = model.config
    mask = region_mask.to(annotations.dtype)
    mean_annotation = (annotations * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    hidden, cell = linear(model.init_hidden, mean_annotation), linear(model.init_cell, mean_annotation)
    if config.init_state_activation == "tanh":
        hidden, cell = torch.tanh(hidden), torch.tanh(cell)
    activation = torch.tanh if config.attention_activation == "tanh" else torch.relu
    all_logits, alphas = [], []
    for t in range(input_ids.shape[1]):
        word = model.embedding.weight[input_ids[:, t]]
        hidden_projection = hidden @ model.attention_state.weight.T
        hidden_layer = activation(linear(model.attention_annotations, annotations) + hidden_projection[:, None])
        scores = linear(model.attention_score, hidden_layer)[..., 0]
        alpha = torch.softmax(scores.masked_fill(region_mask == 0, -torch.inf), dim=-1)
        context = (alpha[..., None] * annotations).sum(1)
        if config.gate != "none":
            context = torch.sigmoid(linear(model.gate, hidden)) * context  # (B, 1) or (B, D)
        lstm = model.lstm
        hidden, cell = lstm_cell(torch.cat([word, context], -1), hidden, cell, lstm.weight_ih, lstm.weight_hh, lstm.bias_ih, lstm.bias_hh)
        if config.deep_output:
            deep = word + linear(model.output_hidden, hidden) + linear(model.output_context, context)
            if config.deep_output_activation == "tanh":
                deep = torch.tanh(deep)
            all_logits.append(linear(model.word_classifier, deep))
        else:
            all_logits.append(linear(model.word_classifier, hidden))
        alphas.append(alpha)
    return torch.stack(all_logits, 1), torch.stack(alphas, 1)


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # the paper: tanh attention, scalar gate, tanh f_init, deep output
        {"deep_output_activation": "tanh", "gate": "none"},  # arctic-captions' tanh before L_o
        "sgrvinod",  # ReLU attention, vector gate, linear f_init, no deep output
    ],
)
def test_soft_attention_logits_follow_the_paper_equations_in_float64(overrides):
    kind = "sgrvinod" if overrides == "sgrvinod" else "soft"
    model = make_captioner(kind, **({} if overrides == "sgrvinod" else overrides)).double()
    images = random_images(model.config, batch=3, seed=11, dtype=torch.float64)
    region_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 1, 1, 0, 1]])
    captions = random_captions(batch=3, length=5)
    with torch.no_grad():
        # Every id read as a word (padding too), as the equations below do: an explicit all-ones mask
        # (without one, the padding id would be masked).
        output = model(**images, image_attention_mask=region_mask, input_ids=captions["input_ids"],
                       attention_mask=torch.ones_like(captions["input_ids"]), output_attentions=True)
        logits, alphas = show_attend_tell_by_hand(model, images["image_features"], region_mask, captions["input_ids"])
    torch.testing.assert_close(output.logits, logits, rtol=1e-12, atol=1e-12)
    assert len(output.attentions) == 5
    torch.testing.assert_close(torch.stack(output.attentions, 1), alphas, rtol=1e-12, atol=1e-12)
    attentions = torch.stack(output.attentions, 1)
    torch.testing.assert_close(attentions.sum(-1), torch.ones(3, 5, dtype=torch.float64))
    assert (attentions.masked_select(region_mask[:, None, :].expand_as(attentions) == 0) == 0).all()
    gate_shape = {"scalar": (3, 5), "vector": (3, 5, FEATURE_SIZE)}.get(model.config.gate)
    assert (output.gates is None) if gate_shape is None else (output.gates.shape == gate_shape)


def test_attention_maps_lay_over_the_pixel_grid():
    for kind, grid in (("soft", (4, 4)), ("sgrvinod", (2, 2))):  # sgrvinod pools the 4x4 grid to 2x2
        model = make_captioner(kind, image_encoder="scratch_cnn")
        captions = random_captions(batch=2, length=4)
        with torch.no_grad():
            output = model(**random_images(model.config, batch=2), input_ids=captions["input_ids"], output_attentions=True)
        assert output.image_grid_size == grid
        assert [tuple(a.shape) for a in output.attentions] == [(2, grid[0] * grid[1])] * 4
        torch.testing.assert_close(torch.stack(output.attentions).sum(-1), torch.ones(4, 2))


def test_show_and_tell_reads_the_image_embedding_as_its_first_lstm_input_in_float64():
    """x_{-1} = W_I mean(a) from a zero state, then x_t = W_e S_t, p_{t+1} = softmax(W_o m_t)."""
    model = make_captioner("show_tell").double()
    images = random_images(model.config, batch=2, seed=12, dtype=torch.float64)
    captions = random_captions(batch=2, length=4)
    with torch.no_grad():
        output = model(**images, input_ids=captions["input_ids"], attention_mask=torch.ones_like(captions["input_ids"]))
        lstm = model.lstm
        weights = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
        image_input = linear(model.image_embedding, images["image_features"].mean(1))
        zeros = torch.zeros(2, model.config.hidden_size, dtype=torch.float64)
        hidden, cell = lstm_cell(image_input, zeros, zeros, *weights)
        logits = []
        for t in range(4):
            hidden, cell = lstm_cell(model.embedding.weight[captions["input_ids"][:, t]], hidden, cell, *weights)
            logits.append(linear(model.word_classifier, hidden))
    torch.testing.assert_close(output.logits, torch.stack(logits, 1), rtol=1e-12, atol=1e-12)
    assert output.attentions is None


# --- losses --------------------------------------------------------------------------------------

def caption_nll_by_hand(logits, labels):
    """-log p of each word labels[:, t + 1] from position t's logits, 0 where the label is -100."""
    log_probs = logits[:, :-1].log_softmax(-1)
    targets = labels[:, 1:]
    predicted = targets != -100
    nll = -log_probs.gather(-1, targets.clamp(min=0)[..., None])[..., 0]
    return nll * predicted, predicted


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reduction", ["sentence", "token"])
def test_caption_loss_is_the_negative_log_likelihood(kind, reduction):
    model = make_captioner(kind, caption_loss_reduction=reduction, attention_penalty_weight=0.0).double()
    captions = random_captions(batch=3, length=6)
    with torch.no_grad():
        output = model(**random_images(model.config, dtype=torch.float64), **captions)
    nll, predicted = caption_nll_by_hand(output.logits, captions["labels"])
    assert predicted.sum(1).tolist() == [5, 4, 3]
    expected = nll.sum(1).mean() if reduction == "sentence" else nll.sum() / predicted.sum()
    torch.testing.assert_close(output.caption_loss, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(output.loss, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("with_region_mask", [False, True])
def test_doubly_stochastic_penalty_against_the_attention_maps(reduction, with_region_mask):
    """loss = caption NLL + λ Σ_i (1 − Σ_t α_ti)² (eq. 14), the sum over t running over the steps
    that predict a word, the sum over i over the real regions (divided by their number for
    "mean"), averaged over captions."""
    weight = 0.7
    model = make_captioner("soft", attention_penalty_weight=weight, attention_penalty_reduction=reduction).double()
    captions = random_captions(batch=3, length=6)
    images = random_images(model.config, dtype=torch.float64)
    region_mask = torch.ones(3, NUM_REGIONS, dtype=torch.long)
    if with_region_mask:
        region_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 1, 1, 0, 1]])
    if with_region_mask:
        images["image_attention_mask"] = region_mask
    with torch.no_grad():
        output = model(**images, **captions, output_attentions=True)
    alphas = torch.stack(output.attentions, 1)  # (batch, words, regions)
    predicts = captions["labels"][:, 1:] != -100  # step t predicts labels[:, t + 1]
    coverage = (alphas[:, :-1] * predicts[..., None]).sum(1)
    penalty = ((1 - coverage) ** 2 * region_mask).sum(1)
    if reduction == "mean":
        penalty = penalty / region_mask.sum(1)
    torch.testing.assert_close(output.loss - output.caption_loss, weight * penalty.mean(), rtol=1e-12, atol=1e-12)
    assert penalty.min() > 0  # the check above is not a comparison of zeros


# --- hard attention -------------------------------------------------------------------------------

def hard_model(**overrides):
    """A hard-attention captioner in train mode (dropout 0), float64, with a non-zero baseline."""
    model = make_captioner("hard", **overrides).double().train()
    model.baseline.value.fill_(-3.0)
    return model


@pytest.mark.parametrize("normalization", ["mean", "arctic"])
def test_reinforce_gradient_on_the_attention_scores(normalization):
    """Every image samples its locations (expected_attention_probability=0). The attention scores
    e_t then reach the loss only through log p(s̃|a) and the entropy, so
    ∂loss/∂e_t = −(λ_r/B)(R − b)(onehot(s̃_t) − α_t) + (λ_e/B) α_t (log α_t + H_t)
    with R = log p(y|s̃,a) ("mean"), and ∂loss/∂e_t = −λ_r (R − b)(onehot(s̃_t) − α_t) +
    λ_e α_t (log α_t + H_t) with R = log p(y|s̃,a) / T, T the caption's predicted words ("arctic",
    arctic-captions' known gradients), at the steps that predict a word, and 0 at the others (the
    last word and the padding). The loss is the caption loss − λ_r (1/B or 1) Σ (R − b) log p(s̃|a)
    − λ_e (1/B or 1) Σ H, and the baseline moves towards the batch's mean R."""
    reinforce_weight, entropy_weight = 0.3, 0.05
    model = hard_model(expected_attention_probability=0.0, attention_penalty_weight=0.0, reinforce_weight=reinforce_weight,
                       entropy_weight=entropy_weight, reinforce_normalization=normalization)
    scores = capture_attention_scores(model)
    read = capture_read_weights(model)
    captions = random_captions(batch=3, length=6)
    torch.manual_seed(0)
    output = model(**random_images(model.config, dtype=torch.float64), **captions, output_attentions=True)
    output.loss.backward()

    alphas = torch.stack(output.attentions, 1).detach()
    samples = torch.stack(read, 1)
    assert ((samples == 0) | (samples == 1)).all() and (samples.sum(-1) == 1).all()
    nll, predicted = caption_nll_by_hand(output.logits.detach(), captions["labels"])
    log_likelihood = -nll.sum(1)
    batch = 3
    lengths = predicted.sum(1)
    assert lengths.tolist() == [5, 4, 3]
    reward = log_likelihood / lengths if normalization == "arctic" else log_likelihood
    scale = 1.0 if normalization == "arctic" else 1.0 / batch  # arctic sums over the batch
    advantage = reward - (-3.0)
    entropy = -(alphas * alphas.log()).sum(-1, keepdim=True)
    expected = -(reinforce_weight * scale) * advantage[:, None, None] * (samples - alphas)
    expected = expected + (entropy_weight * scale) * alphas * (alphas.log() + entropy)
    steps = torch.cat([predicted, torch.zeros(batch, 1, dtype=torch.bool)], dim=1)  # the last word predicts nothing
    expected = expected * steps[..., None]
    actual = torch.stack([score.grad[..., 0] for score in scores], 1)
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-12)
    location_log_prob = ((alphas * samples).sum(-1).log()[:, :-1] * predicted).sum(1)
    total_entropy = (entropy[:, :-1, 0] * predicted).sum(1)
    expected_loss = nll.sum(1).mean() - scale * (reinforce_weight * (advantage * location_log_prob).sum() + entropy_weight * total_entropy.sum())
    torch.testing.assert_close(output.loss.detach(), expected_loss, rtol=1e-12, atol=1e-12)
    # The baseline moved towards the batch's mean reward: b ← 0.9 b + 0.1 mean R.
    assert model.baseline.value.item() == pytest.approx(0.9 * -3.0 + 0.1 * reward.mean().item(), rel=1e-12)


def replay_read_locations(model, one_hots: list[torch.Tensor]):
    """Makes ``model`` read, at word t, the one-hot locations ``one_hots[t]`` (batch, regions)
    where an image samples (α_t where it uses the expectation), instead of drawing them: two runs
    then share their samples."""
    steps = iter(one_hots)
    model.locations_to_read = lambda alpha, use_expected: torch.where(use_expected.unsqueeze(-1), alpha, next(steps).to(alpha.dtype))


def hard_loss_by_hand(output, read, captions, reinforce_weight, entropy_weight, baseline, entropy_of, normalization="mean"):
    """The hard-attention loss of the unpadded images, written out in float64 from the output's
    logits and attention maps (still attached to the graph), the read locations and the baseline
    before the update: the caption NLL summed over words and averaged over captions, λ Σ_i (1 − Σ_t
    α_ti)², −λ_r (R_n − b) log p(s̃|a) over the sampling images and −λ_e Σ_t H(α_t), both averaged
    over captions with R_n = log p(y|s̃,a) ("mean") or summed over them with R_n = log p(y|s̃,a) / T_n
    ("arctic"), the sums over t over the steps that predict a word; ``entropy_of(α)`` gives α log α."""
    alphas = torch.stack(output.attentions, 1)[:, :-1]
    samples = torch.stack(read, 1)[:, : alphas.shape[1]]
    nll, predicted = caption_nll_by_hand(output.logits, captions["labels"])
    caption_loss = nll.sum(1).mean()
    coverage = (alphas * predicted[..., None]).sum(1)
    loss = caption_loss + ((1.0 - coverage) ** 2).sum(1).mean()
    log_likelihood = -nll.sum(1)
    reward = log_likelihood / predicted.sum(1) if normalization == "arctic" else log_likelihood
    reduce = torch.sum if normalization == "arctic" else torch.mean
    sampled = (~output.cache["use_expected"]).double()
    location_log_prob = ((alphas * samples).sum(-1).log() * predicted).sum(1)
    advantage = (reward - baseline).detach()
    loss = loss - reinforce_weight * reduce(advantage * location_log_prob * sampled)
    entropy = (-entropy_of(alphas).sum(-1) * predicted).sum(1)
    return loss - entropy_weight * reduce(entropy)


def hard_loss_and_gradients(model, images, captions, seed):
    """A training forward pass from ``seed`` (the draws of s̃) and the gradient of its loss with
    respect to every parameter (by name, None for those the loss does not reach)."""
    torch.manual_seed(seed)
    output = model(**images, **captions, output_attentions=True)
    names, parameters = zip(*model.named_parameters(), strict=True)
    gradients = torch.autograd.grad(output.loss, parameters, retain_graph=True, allow_unused=True)
    return output, dict(zip(names, gradients, strict=True))


@pytest.mark.parametrize("normalization", ["mean", "arctic"])
@pytest.mark.parametrize("expected_attention_probability", [0.0, 0.5])
def test_hard_attention_without_padding_is_unchanged_by_the_nan_free_entropy(expected_attention_probability, normalization, monkeypatch):
    """The NaN-free entropy changes nothing where no region is padded: the loss and every
    parameter's gradient are bit for bit those of the model computing H with
    ``torch.special.xlogy(α, α)`` (the formula before the fix), and agree to 1e-12 with the loss
    written out by hand (``hard_loss_by_hand``)."""
    model = hard_model(expected_attention_probability=expected_attention_probability, reinforce_weight=0.3, entropy_weight=0.05,
                       reinforce_normalization=normalization)
    images, captions = random_images(model.config, dtype=torch.float64), random_captions(batch=3, length=6)
    read = capture_read_weights(model)
    output, gradients = hard_loss_and_gradients(model, images, captions, seed=2)
    by_hand = hard_loss_by_hand(output, read, captions, 0.3, 0.05, -3.0, lambda a: torch.special.xlogy(a, a), normalization)
    by_hand_gradients = torch.autograd.grad(by_hand, list(model.parameters()), allow_unused=True)
    model.baseline.value.fill_(-3.0)
    monkeypatch.setattr(modeling_show_attend_tell, "attention_entropy", lambda a: -torch.special.xlogy(a, a).sum(-1))
    xlogy_output, xlogy_gradients = hard_loss_and_gradients(model, images, captions, seed=2)
    assert torch.equal(output.loss, xlogy_output.loss)
    torch.testing.assert_close(output.loss, by_hand, rtol=1e-12, atol=1e-12)
    assert gradients.keys() == xlogy_gradients.keys()
    for (name, gradient), reference in zip(gradients.items(), by_hand_gradients, strict=True):
        assert gradient is not None and torch.isfinite(gradient).all(), name
        assert torch.equal(gradient, xlogy_gradients[name]), name
        torch.testing.assert_close(gradient, reference, rtol=1e-12, atol=1e-12, msg=name)
    if expected_attention_probability:
        assert 0 < output.cache["use_expected"].sum() < 3  # both kinds of image in the batch


@pytest.mark.parametrize("entropy_weight", [0.0, 0.05])
@pytest.mark.parametrize("expected_attention_probability", [0.0, 1.0])
def test_hard_attention_with_padded_regions_has_finite_gradients(expected_attention_probability, entropy_weight):
    """Region features with padding (image_attention_mask 0, α = 0 exactly there): the loss and
    every parameter's gradient are finite, also with λ_e = 0 (xlogy's NaN gradient at α = 0 made
    them all NaN whatever the weight)."""
    model = hard_model(expected_attention_probability=expected_attention_probability, entropy_weight=entropy_weight)
    images = random_images(model.config, dtype=torch.float64)
    images["image_attention_mask"] = torch.tensor([[1, 1, 0, 1, 1], [1, 1, 1, 1, 1], [1, 0, 0, 1, 1]])
    torch.manual_seed(0)
    output = model(**images, **random_captions(), output_attentions=True)
    output.loss.backward()
    assert torch.isfinite(output.loss)
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    assert model.word_classifier.weight.grad.abs().sum() > 0 and model.attention_score.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("normalization", ["mean", "arctic"])
@pytest.mark.parametrize("entropy_weight", [0.0, 0.05])
@pytest.mark.parametrize("expected_attention_probability", [0.0, 0.5, 1.0])
def test_padded_regions_contribute_nothing_to_hard_attention(expected_attention_probability, entropy_weight, normalization):
    """Three images, each with one padded region (in the middle, at the end, at the start) holding
    large garbage, against the same images with that region removed, reading the same sampled
    locations: the same loss, caption loss, parameter gradients and baseline update, in float64."""
    padded = hard_model(expected_attention_probability=expected_attention_probability, reinforce_weight=0.3, entropy_weight=entropy_weight,
                        reinforce_normalization=normalization)
    unpadded = copy.deepcopy(padded)
    region_mask = torch.tensor([[1, 1, 0, 1, 1], [1, 1, 1, 1, 0], [0, 1, 1, 1, 1]]).bool()
    features = random_images(padded.config, dtype=torch.float64)["image_features"]
    features = torch.where(region_mask[..., None], features, 100 * torch.randn(features.shape, dtype=torch.float64))
    captions = random_captions(batch=3, length=6)
    read = capture_read_weights(padded)
    torch.manual_seed(4)
    padded_output = padded(image_features=features, image_attention_mask=region_mask.long(), **captions)
    padded_output.loss.backward()
    replay_read_locations(unpadded, [one_hot[region_mask].view(3, NUM_REGIONS - 1) for one_hot in read])
    torch.manual_seed(4)  # the same expected-attention draws
    unpadded_output = unpadded(image_features=features[region_mask].view(3, NUM_REGIONS - 1, FEATURE_SIZE), **captions)
    unpadded_output.loss.backward()
    assert torch.equal(padded_output.cache["use_expected"], unpadded_output.cache["use_expected"])
    torch.testing.assert_close(padded_output.loss, unpadded_output.loss, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(padded_output.caption_loss, unpadded_output.caption_loss, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(padded.baseline.value, unpadded.baseline.value, rtol=1e-12, atol=1e-12)
    for (name, parameter), other in zip(padded.named_parameters(), unpadded.parameters(), strict=True):
        assert torch.isfinite(parameter.grad).all(), name
        torch.testing.assert_close(parameter.grad, other.grad, rtol=1e-12, atol=1e-12, msg=name)


def test_hard_attention_with_the_expectation_everywhere_is_soft_attention_plus_entropy():
    """expected_attention_probability=1: every image reads Σ_i α_ti a_i, so the logits, the
    caption loss and the penalty are soft attention's; no REINFORCE term is left, only the entropy
    bonus −λ_e mean Σ_t H(α_t)."""
    hard = hard_model(expected_attention_probability=1.0, entropy_weight=0.05)
    soft = make_captioner("soft").double().train()
    soft.load_state_dict(hard.state_dict(), strict=False)
    images, captions = random_images(hard.config, dtype=torch.float64), random_captions()
    hard_output = hard(**images, **captions, output_attentions=True)
    soft_output = soft(**images, **captions, output_attentions=True)
    torch.testing.assert_close(hard_output.logits, soft_output.logits, rtol=0, atol=0)
    torch.testing.assert_close(hard_output.caption_loss, soft_output.caption_loss, rtol=0, atol=0)
    alphas = torch.stack(hard_output.attentions, 1)[:, :-1].detach()
    predicts = captions["labels"][:, 1:] != -100
    entropy = (-(alphas * alphas.log()).sum(-1) * predicts).sum(1).mean()
    torch.testing.assert_close(hard_output.loss, soft_output.loss - 0.05 * entropy, rtol=1e-12, atol=1e-12)
    assert (hard_output.cache["use_expected"]).all()


def test_hard_attention_samples_locations_from_alpha():
    """With expected_attention_probability=0 every image reads one location per word, never a
    masked one; over 4000 copies of one image the first word's locations follow α_1."""
    model = hard_model(expected_attention_probability=0.0)
    read = capture_read_weights(model)
    images = random_images(model.config, batch=1, seed=13, dtype=torch.float64)
    region_mask = torch.tensor([[1, 1, 0, 1, 1]])
    copies = 4000
    torch.manual_seed(1)
    with torch.no_grad():
        output = model(image_features=images["image_features"].expand(copies, -1, -1), image_attention_mask=region_mask.expand(copies, -1),
                       input_ids=start_prompt(copies), output_attentions=True)
    assert not output.cache["use_expected"].any()
    first = read[0]
    assert ((first == 0) | (first == 1)).all() and (first.sum(-1) == 1).all()
    assert (first[:, 2] == 0).all()
    frequencies = first.mean(0)
    alpha = output.attentions[0][0]
    assert alpha.min() > 0.02 or alpha[2] == 0  # several locations are likely
    np.testing.assert_allclose(frequencies.numpy(), alpha.numpy(), atol=0.03)


def test_expected_attention_is_drawn_per_image_or_per_batch():
    images = random_images(tiny_config("hard"), batch=64, dtype=torch.float64)
    per_image = hard_model(expected_attention_probability=0.5)
    torch.manual_seed(2)
    flags = per_image(**images, input_ids=start_prompt(64)).cache["use_expected"]
    assert 16 < int(flags.sum()) < 48
    per_batch = hard_model(expected_attention_probability=0.5, expected_attention_scope="batch")
    draws = set()
    for seed in range(8):
        torch.manual_seed(seed)
        flags = per_batch(**images, input_ids=start_prompt(64)).cache["use_expected"]
        assert flags.all() or not flags.any()
        draws.add(bool(flags[0]))
    assert draws == {True, False}


@pytest.mark.parametrize("inference", ["expected", "argmax"])
def test_hard_attention_is_deterministic_in_eval_mode(inference):
    hard = make_captioner("hard", hard_attention_inference=inference).double()
    read = capture_read_weights(hard)
    images, captions = random_images(hard.config, dtype=torch.float64), random_captions()
    with torch.no_grad():
        first = hard(**images, **captions, output_attentions=True)
        second = hard(**images, **captions)
    torch.testing.assert_close(first.logits, second.logits, rtol=0, atol=0)
    assert hard.baseline.value.item() == 0.0  # eval mode trains nothing
    alphas = torch.stack(first.attentions, 1)
    used = torch.stack(read[: captions["input_ids"].shape[1]], 1)
    if inference == "expected":
        soft = make_captioner("soft").double()
        soft.load_state_dict(hard.state_dict(), strict=False)
        with torch.no_grad():
            torch.testing.assert_close(first.logits, soft(**images, **captions).logits, rtol=0, atol=0)
        torch.testing.assert_close(used, alphas, rtol=0, atol=0)
    else:
        assert torch.equal(used, F.one_hot(alphas.argmax(-1), NUM_REGIONS).double())


def marked_region_task(num_images: int = 32, seed: int = 0):
    """Each "image" has 4 regions, each showing one of 4 colours (one-hot) with a marker channel
    that is 1 on exactly one region; the caption "<start> colour <end>" names the marked region's
    colour. The mean annotation does not say which region is marked: attention must find it."""
    generator = torch.Generator().manual_seed(seed)
    colours = torch.randint(0, 4, (num_images, 4), generator=generator)
    marked = torch.randint(0, 4, (num_images,), generator=generator)
    features = torch.zeros(num_images, 4, FEATURE_SIZE)
    features[..., :4] = F.one_hot(colours, 4).float()
    features[torch.arange(num_images), marked, 4] = 1.0
    features[..., 5] = 0.1 * torch.randn(num_images, 4, generator=generator)
    words = torch.tensor([VOCAB[w] for w in ("red", "blue", "green", "the")])[colours[torch.arange(num_images), marked]]
    input_ids = torch.stack([torch.full((num_images,), START), words, torch.full((num_images,), END)], dim=1)
    return {"image_features": features, "input_ids": input_ids, "labels": input_ids.clone()}, marked


@pytest.mark.parametrize("expected_attention_probability, normalization", [(0.5, "mean"), (0.0, "mean"), (0.0, "arctic")])
def test_hard_attention_learns_to_read_the_marked_region(expected_attention_probability, normalization):
    """200 full-batch Adam steps (about a second): the caption loss falls over tenfold and, in
    eval mode, the arg max of α_1 is the marked region of held-out images. With probability 0
    the attention is trained by REINFORCE alone (no image reads α directly). REINFORCE alone can
    settle on a wrong region from an unlucky initialisation (seed 0 does on torch 2.6, not on
    2.13); seeds 1-3 learn it on both, seed 1 with the widest margin. arctic-captions'
    normalisation (REINFORCE summed over the 32 images, reward per word) learns it too."""
    torch.manual_seed(1)
    config = tiny_config("hard", hidden_size=16, attention_size=16, attention_penalty_weight=0.0, hard_attention_inference="argmax",
                         expected_attention_probability=expected_attention_probability, reinforce_normalization=normalization)
    model = ShowAttendTellForConditionalGeneration(config).train()
    train, _ = marked_region_task(seed=0)
    held_out, marked = marked_region_task(seed=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    first_loss = None
    for _ in range(200):
        output = model(**train)
        first_loss = first_loss if first_loss is not None else output.caption_loss.item()
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
    assert first_loss > 4.0  # about 2 log 16 before training
    model.eval()
    with torch.no_grad():
        train_loss = model(**train).caption_loss.item()
        output = model(**held_out, output_attentions=True)
    assert train_loss < 0.1 * first_loss, (first_loss, train_loss)
    assert (output.attentions[0].argmax(-1) == marked).float().mean() > 0.8
    assert (output.logits[:, 0].argmax(-1) == held_out["input_ids"][:, 1]).float().mean() > 0.75


# --- initialisation ------------------------------------------------------------------------------

def test_presets_follow_the_released_code():
    """The class defaults keep PyTorch's initialisation and the per-caption REINFORCE scale; the
    xu2015 presets draw the weights as arctic-captions does, and xu2015-hard weighs REINFORCE and
    the entropy on its scale; the PyTorch tutorial's preset keeps PyTorch's initialisation."""
    default = ShowAttendTellConfig()
    assert (default.initialization, default.reinforce_normalization) == ("pytorch", "mean")
    soft, hard = ShowAttendTellConfig.from_preset("xu2015-soft"), ShowAttendTellConfig.from_preset("xu2015-hard")
    assert (soft.attention_type, soft.initialization) == ("soft", "arctic")
    assert (hard.attention_type, hard.initialization, hard.reinforce_normalization) == ("hard", "arctic", "arctic")
    assert (hard.reinforce_weight, hard.entropy_weight) == (0.1, 0.002)
    assert ShowAttendTellConfig.from_preset("sgrvinod").initialization == "pytorch"


def assert_orthogonal(matrix: torch.Tensor, name: str) -> None:
    identity = torch.eye(matrix.shape[0], dtype=matrix.dtype)
    torch.testing.assert_close(matrix @ matrix.T, identity, rtol=0, atol=1e-5, msg=f"{name} is not orthogonal")


# Sizes that make arctic's norm_weight square (orthogonal) or not, for every decoder weight:
# (overrides, {parameter or parameter block: "orthogonal" or "normal"}). "square": E = H = attention
# = 8 and D = 4H = 32; "oblong": E = 6, H = 10, attention = D = 24 (attention_annotations is square
# but arctic's Wc_att is N(0, 0.01²) whatever its shape).
ARCTIC_LAYOUTS = {
    "square": (dict(embedding_size=8, hidden_size=8, attention_size=8, image_feature_size=32), {
        "embedding.weight": "normal", "init_hidden.weight": "normal", "init_cell.weight": "normal",
        "attention_annotations.weight": "normal", "attention_state.weight": "orthogonal", "attention_score.weight": "normal",
        "gate.weight": "normal", "lstm.weight_ih word": "orthogonal", "lstm.weight_ih context": "orthogonal",
        "lstm.weight_hh": "orthogonal", "output_hidden.weight": "orthogonal", "output_context.weight": "normal",
        "word_classifier.weight": "normal",
    }),
    "oblong": (dict(embedding_size=6, hidden_size=10, attention_size=24, image_feature_size=24), {
        "embedding.weight": "normal", "init_hidden.weight": "normal", "init_cell.weight": "normal",
        "attention_annotations.weight": "normal", "attention_state.weight": "normal", "attention_score.weight": "normal",
        "gate.weight": "normal", "lstm.weight_ih word": "normal", "lstm.weight_ih context": "normal",
        "lstm.weight_hh": "orthogonal", "output_hidden.weight": "normal", "output_context.weight": "normal",
        "word_classifier.weight": "normal",
    }),
}


@pytest.mark.parametrize("layout", sorted(ARCTIC_LAYOUTS))
def test_arctic_initialization_draws_what_capgen_draws(layout):
    """initialization="arctic" (capgen.py's init_params): every decoder weight orthogonal where
    norm_weight makes it square (the LSTM's input weights block by block: four (H, E) blocks for
    the word, one (4H, D) block for the context; its recurrent weight four orthogonal (H, H)
    blocks, one per gate, always), N(0, 0.01²) elsewhere, every decoder bias 0, the embedding's
    padding row 0, the REINFORCE baseline 0; the image encoder is not the decoder's business."""
    overrides, expected = ARCTIC_LAYOUTS[layout]
    torch.manual_seed(0)
    config = tiny_config("hard", initialization="arctic", **overrides)
    model = ShowAttendTellForConditionalGeneration(config)
    state = {name: tensor.detach() for name, tensor in model.state_dict().items()}
    embedding, hidden = config.embedding_size, config.hidden_size
    blocks = {
        "lstm.weight_ih word": [block for block in state["lstm.weight_ih"][:, :embedding].split(hidden)],
        "lstm.weight_ih context": [state["lstm.weight_ih"][:, embedding:]],
        "lstm.weight_hh": list(state["lstm.weight_hh"].split(hidden)),
    }
    normal = []
    for name, kind in expected.items():
        for matrix in blocks.get(name, [state.get(name)]):
            if name == "embedding.weight":
                assert (matrix[PAD] == 0).all()
                matrix = torch.cat([matrix[:PAD], matrix[PAD + 1:]])
            if kind == "orthogonal":
                assert matrix.shape[0] == matrix.shape[1], name
                assert_orthogonal(matrix, name)
            else:
                assert matrix.shape[0] != matrix.shape[1] or name == "attention_annotations.weight", name
                assert 0 < matrix.abs().max() < 6 * 0.01, name  # N(0, 0.01²): nothing beyond 6 standard deviations
                normal.append(matrix.flatten())
    normal = torch.cat(normal)
    assert normal.numel() > 500
    assert normal.std().item() == pytest.approx(0.01, rel=0.1) and abs(normal.mean().item()) < 0.002
    first, *others = blocks["lstm.weight_hh"]
    assert all(not torch.allclose(first, other) for other in others)  # four independent draws
    decoder_biases = [name for name in state if name.endswith(("bias", "bias_ih", "bias_hh")) and not name.startswith("image_encoder")]
    assert len(decoder_biases) == 10
    for name in decoder_biases:
        assert (state[name] == 0).all(), name
    assert state["baseline.value"] == 0
    decoder_weights = {name for name in state if "weight" in name and not name.startswith("image_encoder")}
    assert decoder_weights == {name.split(" ")[0] for name in expected}  # every decoder weight checked


def test_arctic_initialization_never_redraws_loaded_weights(tmp_path):
    """A saved arctic-initialised model loads with exactly its weights (from_pretrained runs
    _init_weights only on what the checkpoint lacks); its missing tensors get arctic's draw."""
    torch.manual_seed(0)
    model = ShowAttendTellForConditionalGeneration(tiny_config("hard", initialization="arctic"))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)  # "trained": far from any initialisation
    model.save_pretrained(tmp_path)
    loaded = ShowAttendTellForConditionalGeneration.from_pretrained(tmp_path)
    for (name, tensor), other in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(tensor, other), name
    state = {name: tensor for name, tensor in model.state_dict().items() if not name.startswith("lstm.")}
    partial = ShowAttendTellForConditionalGeneration.from_pretrained(None, config=model.config, state_dict=state)
    assert torch.equal(partial.word_classifier.weight, model.word_classifier.weight)
    assert (partial.lstm.bias_ih == 0).all() and (partial.lstm.bias_hh == 0).all()
    for block in partial.lstm.weight_hh.detach().split(model.config.hidden_size):
        assert_orthogonal(block, "lstm.weight_hh")


# --- bad inputs ----------------------------------------------------------------------------------

def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels: Pillow reads the size without
    decoding anything, so a "huge image" costs no memory."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_processor_turns_grayscale_rgba_and_16_bit_images_into_rgb():
    processor = caption_processor()
    images = [
        Image.new("L", (10, 7), 255),  # white
        Image.new("RGBA", (16, 16), (0, 0, 0, 0)),  # fully transparent: composited on white
        Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16)),  # 16-bit white ("I;16")
        np.zeros((5, 5), dtype=np.uint16),  # 16-bit black array
        Image.new("RGB", (16, 16), (255, 0, 0)),
    ]
    assert images[2].mode == "I;16"
    pixels = processor(images=images, text="")["pixel_values"]
    assert pixels.shape == (5, 3, 16, 16)
    # (value / 255 - 0.5) / 0.5: white → 1, black → -1.
    assert torch.allclose(pixels[:3], torch.ones(3, 3, 16, 16))
    assert torch.allclose(pixels[3], -torch.ones(3, 16, 16))
    assert torch.allclose(pixels[4, 0], torch.ones(16, 16)) and torch.allclose(pixels[4, 1:], -torch.ones(2, 16, 16))
    model = make_captioner("soft", image_encoder="scratch_cnn")
    encoded = processor(images=images, text="")
    assert encoded["input_ids"].tolist() == [[START]] * 5  # one prompt for every image
    assert model.generate(**encoded, max_new_tokens=3).shape[0] == 5


def test_processor_refuses_a_huge_image_and_bad_text(tmp_path):
    processor = caption_processor()
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_header(40_000, 40_000))
    with pytest.raises(ValueError, match="too large|over the limit"):
        processor(images=str(huge), text="")
    with pytest.raises(ValueError, match="give images, text"):
        processor()
    for text in (5, ["a red circle", 3], []):
        with pytest.raises(TypeError, match="string"):
            processor(images=Image.new("RGB", (4, 4)), text=text)
    with pytest.raises(ValueError, match="got 2 images but 3 captions"):
        processor(images=[Image.new("RGB", (4, 4))] * 2, text=["a", "b", "c"], add_end_token=True)
    with pytest.raises(ValueError, match="no image given|empty list"):
        processor(images=[], text="")
    for text in ("\ud800", ["a red circle", "a \udcff"]):
        with pytest.raises(ValueError, match="not valid Unicode text"):
            processor(images=Image.new("RGB", (4, 4)), text=text)
    with pytest.raises(TypeError, match="one caption, a string; got list"):
        processor.unknown_words(["a red circle"])


def test_processor_refuses_unknown_keywords():
    """A misspelled option was swallowed; ``padding=True`` (transformers' image-text-to-text
    pipeline passes it with several prompts) is what the processor does anyway."""
    processor = caption_processor()
    image = Image.new("RGB", (4, 4))
    for typo in ({"return_tensor": "np"}, {"add_end_tokens": True}, {"max_length": 5}):
        with pytest.raises(TypeError, match=f"unexpected keyword argument.*{next(iter(typo))}"):
            processor(images=image, text="a red", **typo)
    with pytest.raises(TypeError, match="add_end_token must be True .* or False"):
        processor(images=image, text="a red", add_end_token="no")  # a true string made training captions
    with pytest.raises(ValueError, match="padding='max_length' is not supported"):
        processor(images=image, text="a red", padding="max_length")
    padded = processor(images=[image] * 2, text=["a", "a red"], padding=True)
    assert padded["input_ids"].tolist() == processor(images=[image] * 2, text=["a", "a red"])["input_ids"].tolist()


def bad_forward_cases(model) -> list[tuple[str, dict, str]]:
    """(name, forward inputs, the error expected) for a pixel-reading captioner."""
    pixels = random_images(model.config, batch=2)["pixel_values"]
    captions = random_captions(batch=2, length=4)
    good = dict(pixel_values=pixels, input_ids=captions["input_ids"], attention_mask=captions["attention_mask"])
    nan_pixels = pixels.clone()
    nan_pixels[1, 0, 3, 3] = float("nan")
    return [
        ("no image", dict(good, pixel_values=None), "pixel_values is required"),
        ("features to a pixel model", dict(good, pixel_values=None, image_features=torch.randn(2, 5, 8)), "reads pixel_values"),
        ("one channel", dict(good, pixel_values=pixels[:, :1]), r"pixel_values must have shape \(batch, 3, height, width\)"),
        ("3-D pixels", dict(good, pixel_values=pixels[0]), "pixel_values must have shape"),
        ("integer pixels", dict(good, pixel_values=(pixels * 100).long()), "floating point"),
        ("NaN pixels", dict(good, pixel_values=nan_pixels), "NaN or infinite"),
        ("no input_ids", dict(good, input_ids=None, attention_mask=None), "input_ids is required"),
        ("id out of vocab", dict(good, input_ids=captions["input_ids"].clone().fill_(len(VOCAB))), "outside the vocabulary"),
        ("negative id", dict(good, input_ids=captions["input_ids"].clone().fill_(-1)), "outside the vocabulary"),
        ("empty input_ids", dict(good, input_ids=torch.zeros(2, 0, dtype=torch.long), attention_mask=None), "has no words"),
        ("float input_ids", dict(good, input_ids=captions["input_ids"].float()), "2-D integer tensor"),
        ("mask shape", dict(good, attention_mask=captions["attention_mask"][:1]), "attention_mask has shape"),
        ("batch mismatch", dict(good, pixel_values=pixels[:1]), "batch mismatch: 2 captions but 1 images"),
        ("labels shape", dict(good, labels=captions["labels"][:, :3]), "labels must have the shape of input_ids"),
        ("labels outside the vocabulary", dict(good, labels=captions["labels"].clamp(min=0) + len(VOCAB)), r"word ids in \[0, 16\) or -100"),
        ("negative labels", dict(good, labels=captions["labels"].masked_fill(captions["labels"] == -100, -1)), r"word ids in \[0, 16\) or -100"),
        ("float labels", dict(good, labels=captions["labels"].float()), "labels must be integer word ids"),
        ("empty batch", dict(good, input_ids=captions["input_ids"][:0], attention_mask=None, pixel_values=pixels[:0]), r"empty batch \(0 captions\)"),
        ("mask holding 2", dict(good, attention_mask=captions["attention_mask"] * 2), r"only 0 \(padding\) and 1 \(read\).*\[2\]"),
        ("mask holding -1", dict(good, attention_mask=-captions["attention_mask"]), r"only 0 \(padding\) and 1.*\[-1\]"),
        ("raw 0-255 pixels", dict(good, pixel_values=torch.randint(0, 256, pixels.shape).float()), "look like raw 0-255 pixels"),
        ("pixels smaller than the CNN reads", dict(good, pixel_values=pixels[..., :3, :3]), r"3x3 pixels are too small .* at least 4x4"),
        ("meta pixels", dict(good, pixel_values=pixels.to("meta")), "pixel_values is a meta tensor"),
        ("no start token", dict(good, input_ids=captions["input_ids"][:, 1:], attention_mask=None),
         r"must begin with the start token \(id 2\)"),
        ("a caption of padding only", dict(good, attention_mask=torch.tensor([[1, 1, 1, 1], [0, 0, 0, 0]])), "a caption has no words"),
    ]


def wrong_type_forward_cases(model) -> list[tuple[str, dict, str]]:
    """(name, forward inputs, the ``TypeError`` message expected): numpy arrays (a processor called
    with return_tensors="np"), lists."""
    pixels = random_images(model.config, batch=2)["pixel_values"]
    captions = random_captions(batch=2, length=4)
    good = dict(pixel_values=pixels, input_ids=captions["input_ids"], attention_mask=captions["attention_mask"])
    return [
        ("numpy input_ids", dict(good, input_ids=captions["input_ids"].numpy()), "input_ids is a numpy array.*return_tensors='pt'"),
        ("numpy pixels", dict(good, pixel_values=pixels.numpy()), "pixel_values is a numpy array"),
        ("numpy mask", dict(good, attention_mask=captions["attention_mask"].numpy()), "attention_mask is a numpy array"),
        ("list of pixel tensors", dict(good, pixel_values=list(pixels)), "pixel_values is a list of 2 tensors"),
        ("labels as a list", dict(good, labels=captions["labels"].tolist()), "labels must be a torch tensor; got list"),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_forward_refuses_bad_inputs_with_a_clear_error(kind):
    model = make_captioner(kind, image_encoder="scratch_cnn")
    for name, inputs, message in bad_forward_cases(model):
        with pytest.raises(ValueError, match=message):
            model(**inputs)
    for name, inputs, message in wrong_type_forward_cases(model):
        with pytest.raises(TypeError, match=message):
            model(**inputs)
    processor_output = caption_processor()(images=[Image.new("RGB", (16, 16))], text="", return_tensors="np")
    with pytest.raises(TypeError, match="is a numpy array.*return_tensors='pt'"):
        model(**processor_output)
    # Generation needs an image too, and the cache refuses captions of another batch size.
    with pytest.raises(ValueError, match="pixel_values is required"):
        model.generate(input_ids=start_prompt(2), max_new_tokens=3)
    cache = model(**random_images(model.config, batch=2), input_ids=start_prompt(2)).cache
    with pytest.raises(ValueError, match="batch mismatch: 3 captions but the cache holds 2"):
        model(input_ids=start_prompt(3), cache=cache)
    with pytest.raises(ValueError, match="as cache or as past_key_values, not both"):
        model(input_ids=start_prompt(2), cache=cache, past_key_values=RecurrentStateCache({"hidden": torch.zeros(2, 10)}))
    with pytest.raises(TypeError, match="must be the RecurrentStateCache .* got DynamicCache"):
        model(input_ids=start_prompt(2), cache=DynamicCache())
    # Misspelled or unsupported keyword arguments are refused, not swallowed.
    for typo in ("attention_masks", "past_key_value", "shift_labels", "pixel_value"):
        with pytest.raises(TypeError, match=typo):
            model(**random_images(model.config, batch=2), input_ids=start_prompt(2), **{typo: None})


@pytest.mark.parametrize("kind", KINDS)
def test_inputs_converted_rather_than_refused(kind):
    """float64 / float16 images into a float32 captioner are cast to its dtype; without an
    attention_mask, padding ids are masked (a left-padded prompt reads as with the processor's
    mask, where reading the padding as words began the caption without its start token); boolean
    masks are masks."""
    model = make_captioner(kind, image_encoder="scratch_cnn")
    images = random_images(model.config, batch=2)
    prompt = torch.tensor([[PAD, PAD, START, VOCAB["a"]], [START, VOCAB["a"], VOCAB["red"], VOCAB["circle"]]])
    mask = (prompt != PAD).long()
    with torch.no_grad():
        expected = model(**images, input_ids=prompt, attention_mask=mask).logits
        inferred = model(**images, input_ids=prompt).logits
        boolean = model(**images, input_ids=prompt, attention_mask=mask.bool()).logits
        double = model(pixel_values=images["pixel_values"].double(), input_ids=prompt, attention_mask=mask).logits
        half = model(pixel_values=images["pixel_values"].half(), input_ids=prompt, attention_mask=mask).logits
        generated = model.generate(**images, input_ids=prompt, max_new_tokens=3)
        generated_with_mask = model.generate(**images, input_ids=prompt, attention_mask=mask, max_new_tokens=3)
    torch.testing.assert_close(inferred, expected)
    # Reading the padding as words (what an all-ones mask says) begins a caption without its start token.
    with pytest.raises(ValueError, match=r"must begin with the start token \(id 2\); one begins with id 0"):
        model(**images, input_ids=prompt, attention_mask=torch.ones_like(prompt))
    torch.testing.assert_close(boolean, expected)
    torch.testing.assert_close(double, expected)
    assert double.dtype == half.dtype == torch.float32
    torch.testing.assert_close(half, expected, rtol=0.05, atol=0.05)
    assert torch.equal(generated, generated_with_mask)


@pytest.mark.parametrize("kind", KINDS)
def test_a_padding_id_continuing_a_cache_is_read_as_a_word(kind):
    """generate() leaves out an all-ones mask: a padding id the model generated (poorly trained
    models do) must then be read as the word it is, as a batch's mask says, not masked as prompt
    padding (a single caption then diverged from the same caption generated in a batch)."""
    model = make_captioner(kind, image_encoder="scratch_cnn")
    images = random_images(model.config, batch=2)
    with torch.no_grad():
        cache = model(**images, input_ids=torch.tensor([[START, VOCAB["a"]]] * 2)).cache
        words = torch.tensor([[PAD, VOCAB["red"]]] * 2)  # the next word reads the state the padding id left
        inferred = model(input_ids=words, cache=copy.deepcopy(cache)).logits[:, -1]
        as_word = model(input_ids=words, attention_mask=torch.ones(2, 4, dtype=torch.long), cache=copy.deepcopy(cache)).logits[:, -1]
        as_padding = model(input_ids=words, attention_mask=torch.tensor([[1, 1, 0, 1]] * 2), cache=copy.deepcopy(cache)).logits[:, -1]
    torch.testing.assert_close(inferred, as_word, rtol=0, atol=0)
    assert not torch.allclose(inferred, as_padding)


@pytest.mark.parametrize("kind", KINDS)
def test_only_left_padding_is_inferred(kind):
    """Without a mask, padding ids before the first word are padding; after it (a generated padding
    id re-read without a cache, right padding after a caption) they are read as words, so that a
    caption re-read in full gives what generate() with a cache gave."""
    model = make_captioner(kind, image_encoder="scratch_cnn")
    images = random_images(model.config, batch=2)
    ids = torch.tensor([[PAD, START, VOCAB["a"], PAD, VOCAB["red"]], [START, VOCAB["a"], PAD, VOCAB["red"], PAD]])
    with torch.no_grad():
        inferred = model(**images, input_ids=ids).logits
        expected = model(**images, input_ids=ids, attention_mask=torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]])).logits
        all_masked = model(**images, input_ids=ids, attention_mask=(ids != PAD).long()).logits
    torch.testing.assert_close(inferred, expected, rtol=0, atol=0)
    assert not torch.allclose(inferred[:, -1], all_masked[:, -1])


def test_no_mask_is_inferred_when_padding_is_the_start_token():
    """A vocabulary whose padding id is its start (or end) token cannot tell them apart: every id
    is then read as a word."""
    model = make_captioner("soft", image_encoder="scratch_cnn", pad_token_id=START)
    images = random_images(model.config, batch=1)
    prompt = torch.tensor([[START, VOCAB["a"], VOCAB["red"]]])
    with torch.no_grad():
        torch.testing.assert_close(model(**images, input_ids=prompt).logits,
                                   model(**images, input_ids=prompt, attention_mask=torch.ones_like(prompt)).logits)


@pytest.mark.parametrize("kind", KINDS)
def test_the_state_continues_under_either_cache_name(kind):
    """transformers' generate() hands the state back as ``cache`` (>= 5.25) or ``past_key_values``
    (before): both names continue the same caption, and the output answers to both."""
    model = make_captioner(kind)
    images, prompt = random_images(model.config, batch=2), start_prompt(2)
    with torch.no_grad():
        first = model(**images, input_ids=prompt)
        assert first.past_key_values is first.cache and first["past_key_values"] is first["cache"]
        assert "past_key_values" in first and "cache" in first
        words = first.logits[:, -1].argmax(-1, keepdim=True)
        by_new_name = model(input_ids=words, cache=copy.deepcopy(first.cache)).logits
        by_old_name = model(input_ids=words, past_key_values=copy.deepcopy(first.cache)).logits
        full = model(**images, input_ids=torch.cat([prompt, words], dim=1), use_cache=False).logits[:, -1:]
    torch.testing.assert_close(by_new_name, by_old_name, rtol=0, atol=0)
    torch.testing.assert_close(by_new_name, full, rtol=1e-5, atol=1e-5)


def test_region_features_without_any_real_region_are_refused():
    model = make_captioner("soft")
    images = random_images(model.config, batch=2)
    with pytest.raises(ValueError, match="has no regions"):
        model(**images, image_attention_mask=torch.tensor([[1, 1, 0, 0, 0], [0, 0, 0, 0, 0]]), input_ids=start_prompt(2))
    with pytest.raises(ValueError, match=r"image_features must have shape \(batch, regions, 6\)"):
        model(image_features=images["image_features"][..., :4], input_ids=start_prompt(2))
    with pytest.raises(ValueError, match=r"image_features has no regions \(shape \(2, 0, 6\)\)"):
        model(image_features=images["image_features"][:, :0], input_ids=start_prompt(2))
    with pytest.raises(ValueError, match=r"image_attention_mask must hold only 0 .*\[2\]"):
        model(**images, image_attention_mask=torch.full((2, 5), 2), input_ids=start_prompt(2))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"num_beams": 0}, "num_beams must be an integer >= 1; got 0"),
        ({"num_beams": -1}, "num_beams must be an integer >= 1"),
        ({"max_new_tokens": 2.5}, "max_new_tokens must be an integer >= 1; got 2.5"),
        ({"max_new_tokens": "5"}, "max_new_tokens must be an integer"),
        ({"max_new_tokens": True}, "max_new_tokens must be an integer"),
        ({"max_length": 0}, "max_length must be an integer >= 1"),
        ({"top_k": -1, "do_sample": True}, "top_k must be an integer >= 0"),
        ({"do_sample": "yes"}, "do_sample must be True or False"),
    ],
)
def test_generate_refuses_settings_that_would_crash_or_mislead(settings, message):
    """Before: num_beams=0 divided by zero inside the beam search, max_new_tokens="5" failed
    comparing a string, max_new_tokens=2.5 and do_sample="yes" were accepted silently."""
    from transformers import GenerationConfig

    model = make_captioner("soft")
    images = random_images(model.config, batch=2)
    with pytest.raises(ValueError, match=message):
        model.generate(input_ids=start_prompt(2), **images, **settings)
    if not isinstance(settings.get("max_new_tokens", 1), str):
        with pytest.raises(ValueError, match=message):
            model.generate(input_ids=start_prompt(2), **images, generation_config=GenerationConfig(**{"max_new_tokens": 3, **settings}))
