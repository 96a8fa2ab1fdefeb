"""The captioners' ``generate()``: greedy, beam search and sampling against hand-written
decoding and the captions' log-probabilities, with and without the cache, from features and
pixels, continuing prefixes and left-padded prompts."""

from __future__ import annotations

import pytest
import torch
from captioning_utils import (
    END,
    KINDS,
    PAD,
    START,
    VOCAB,
    caption_processor,
    greedy_by_hand,
    make_captioner,
    random_images,
    sequence_log_probability,
    start_prompt,
)


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
