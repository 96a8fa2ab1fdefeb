"""The translators (Bahdanau et al. 2015, Luong et al. 2015) against their equations, computed by
hand in float64, and generate(): greedy = a hand loop = no cache, beam search with its cache =
beam search recomputing everything, padding never read, inputs refused with clear errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from translation_utils import END, PAD, START, random_translation_inputs, tiny_translation_config

import hf_mmattn  # noqa: F401  (registers the models)
from hf_mmattn import BahdanauConfig, BahdanauForConditionalGeneration, LuongConfig, LuongForConditionalGeneration
from hf_mmattn.layers.luong_attention import LuongAttention
from hf_mmattn.layers.maxout import Maxout
from hf_mmattn.layers.recurrent_generation import RecurrentStateCache
from hf_mmattn.tasks.translation import shift_tokens_right

VARIANTS = {
    "luong_general_feeding": (LuongForConditionalGeneration, LuongConfig, {}),
    "luong_dot_bidirectional": (
        LuongForConditionalGeneration, LuongConfig, dict(attention="dot", input_feeding=False, encoder_bidirectional=True)
    ),
    "luong_concat": (LuongForConditionalGeneration, LuongConfig, dict(attention="concat", num_layers=1)),
    "luong_none": (LuongForConditionalGeneration, LuongConfig, dict(attention="none", input_feeding=False)),
    "bahdanau": (BahdanauForConditionalGeneration, BahdanauConfig, {}),
    "bahdanau_rnnencdec": (BahdanauForConditionalGeneration, BahdanauConfig, dict(attention="none")),
    "bahdanau_previous_readout": (BahdanauForConditionalGeneration, BahdanauConfig, dict(readout_state="previous")),
}


def build(variant: str, seed: int = 0, dtype=torch.float64, **overrides):
    model_class, config_class, settings = VARIANTS[variant]
    torch.manual_seed(seed)
    return model_class(tiny_translation_config(config_class, **settings, **overrides)).to(dtype).eval()


# --- score functions and layers against hand computations -------------------------------------

def test_luong_scores_against_hand_computation():
    torch.manual_seed(0)
    queries, keys = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 5, 4, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    for score in ("dot", "general", "concat"):
        attention = LuongAttention(4, 4, score, attention_size=6).double()
        weights, context = attention(queries, attention.project_keys(keys), keys, mask)
        for b in range(2):
            for t in range(3):
                h = queries[b, t]
                expected = []
                for s in range(5):
                    hs = keys[b, s]
                    if score == "dot":
                        value = h @ hs
                    elif score == "general":
                        value = h @ attention.projection.weight @ hs  # h_tᵀ W_a h̄_s
                    else:
                        w = torch.cat([attention.additive.query_projection.weight, attention.additive.key_projection.weight], dim=1)
                        value = attention.additive.score.weight[0] @ torch.tanh(w @ torch.cat([h, hs]))  # v_aᵀ tanh(W_a [h_t; h̄_s])
                    expected.append(value if mask[b, s] else torch.tensor(float("-inf"), dtype=torch.float64))
                expected = torch.softmax(torch.stack(expected), dim=0)
                torch.testing.assert_close(weights[b, t], expected)
                torch.testing.assert_close(context[b, t], expected @ keys[b])
        assert (weights[1, :, 3:] == 0).all()


def test_luong_dot_score_needs_equal_sizes_and_unknown_scores_are_refused():
    with pytest.raises(ValueError, match="one size"):
        LuongAttention(4, 6, "dot")
    with pytest.raises(ValueError, match="score must be one of"):
        LuongAttention(4, 4, "location")


def test_maxout_takes_the_maximum_of_consecutive_pairs():
    torch.manual_seed(0)
    maxout = Maxout(3, 2).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    linear = x @ maxout.linear.weight.T + maxout.linear.bias
    expected = torch.stack([torch.maximum(linear[:, 0], linear[:, 1]), torch.maximum(linear[:, 2], linear[:, 3])], dim=1)
    torch.testing.assert_close(maxout(x), expected)


def lstm_step(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    i, f, g, o = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def gru_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """PyTorch's GRU: n = tanh(W_n x + b_in + r ∘ (U_n h + b_hn))."""
    xr, xz, xn = (x @ weight_ih.T + bias_ih).chunk(3, dim=-1)
    hr, hz, hn = (h @ weight_hh.T + bias_hh).chunk(3, dim=-1)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    return (1 - z) * torch.tanh(xn + r * hn) + z * h


def test_luong_with_input_feeding_follows_the_equations_by_hand():
    """One layer, general score: encoder LSTM, decoder from its last state, input [E y; h̃_{t-1}]
    with h̃_0 = 0, h̃_t = tanh(W_c [c_t; h_t]), logits W_s h̃_t + b, at every target step."""
    model = build("luong_general_feeding", num_layers=1)
    inputs = random_translation_inputs(model.config, batch=2, seed=1)
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
    encoder, decoder = model.encoder, model.decoder
    rnn = encoder.rnn
    for b in range(2):
        length = int(inputs["attention_mask"][b].sum())
        h = c = torch.zeros(model.config.hidden_size, dtype=torch.float64)
        annotations = []
        for s in range(length):
            x = encoder.embedding.weight[inputs["input_ids"][b, s]]
            h, c = lstm_step(x, h, c, rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)
            annotations.append(h)
        annotations = torch.stack(annotations)
        feed = torch.zeros(model.config.hidden_size, dtype=torch.float64)
        d = decoder.rnn
        for t, word in enumerate(inputs["decoder_input_ids"][b]):
            x = torch.cat([decoder.embedding.weight[word], feed])
            h, c = lstm_step(x, h, c, d.weight_ih_l0, d.weight_hh_l0, d.bias_ih_l0, d.bias_hh_l0)
            alignment = torch.softmax(annotations @ decoder.attention.projection.weight.T @ h, dim=0)
            context = alignment @ annotations
            feed = torch.tanh(decoder.attentional_layer.weight @ torch.cat([context, h]))
            logits = model.word_classifier.weight @ feed + model.word_classifier.bias
            torch.testing.assert_close(output.logits[b, t], logits)
            torch.testing.assert_close(output.cross_attentions[0][b, t, :length], alignment)
            assert (output.cross_attentions[0][b, t, length:] == 0).all()


@pytest.mark.parametrize("readout_state", ["current", "previous"])
def test_bahdanau_follows_the_equations_by_hand(readout_state):
    """s_0 = tanh(W_s ←h_1); α from v_aᵀ tanh(W_a s_{i-1} + U_a h_j); s_i = GRU([E y; c_i], s_{i-1});
    t_i = maxout(U_o s + V_o E y + C_o c_i); logits W_o t_i + b."""
    model = build("bahdanau", readout_state=readout_state)
    inputs = random_translation_inputs(model.config, batch=2, seed=2)
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
    rnn, decoder = model.encoder.rnn, model.decoder
    n = model.config.encoder_hidden_size
    for b in range(2):
        length = int(inputs["attention_mask"][b].sum())
        words = [model.encoder.embedding.weight[i] for i in inputs["input_ids"][b, :length]]
        forward, backward = [], []
        h = torch.zeros(n, dtype=torch.float64)
        for x in words:
            h = gru_step(x, h, rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)
            forward.append(h)
        h = torch.zeros(n, dtype=torch.float64)
        for x in reversed(words):
            h = gru_step(x, h, rnn.weight_ih_l0_reverse, rnn.weight_hh_l0_reverse, rnn.bias_ih_l0_reverse, rnn.bias_hh_l0_reverse)
            backward.insert(0, h)
        annotations = torch.stack([torch.cat([f, r]) for f, r in zip(forward, backward, strict=True)])
        s = torch.tanh(decoder.initial_state.weight @ backward[0] + decoder.initial_state.bias)
        attention, gru = decoder.attention, decoder.rnn
        for i, word in enumerate(inputs["decoder_input_ids"][b]):
            hidden = torch.tanh(attention.query_projection.weight @ s + annotations @ attention.key_projection.weight.T)
            e = hidden @ attention.score.weight[0]
            alpha = torch.softmax(e, dim=0)
            context = alpha @ annotations
            y = decoder.embedding.weight[word]
            new_s = gru_step(torch.cat([y, context]), s, gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
            readout = torch.cat([new_s if readout_state == "current" else s, y, context])
            pre = decoder.readout.linear.weight @ readout + decoder.readout.linear.bias
            t_i = pre.view(-1, 2).amax(dim=1)
            torch.testing.assert_close(output.logits[b, i], model.word_classifier.weight @ t_i + model.word_classifier.bias)
            torch.testing.assert_close(output.cross_attentions[0][b, i, :length], alpha)
            s = new_s


def test_rnnencdec_reads_the_same_context_at_every_step():
    """attention="none": every step's context is [→h_T; ←h_1], whatever the step."""
    model = build("bahdanau_rnnencdec")
    inputs = random_translation_inputs(model.config, batch=2, seed=3)
    encoded = model.encoder(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    cache = model.start(encoded, inputs["attention_mask"])
    n = model.config.encoder_hidden_size
    for b in range(2):
        length = int(inputs["attention_mask"][b].sum())
        torch.testing.assert_close(cache["context"][b, :n], encoded.last_hidden_state[b, length - 1, :n])
        torch.testing.assert_close(cache["context"][b, n:], encoded.last_hidden_state[b, 0, n:])


# --- padding, batching, input feeding ---------------------------------------------------------

@pytest.mark.parametrize("variant", list(VARIANTS))
def test_source_padding_is_never_read(variant):
    """Extra padding on the source, and translating a sentence alone or in a batch, change nothing."""
    model = build(variant)
    inputs = random_translation_inputs(model.config, batch=3, seed=4)
    with torch.no_grad():
        batched = model(**inputs, output_attentions=True)
        padded = {**inputs, "input_ids": F.pad(inputs["input_ids"], (0, 3), value=PAD),
                  "attention_mask": F.pad(inputs["attention_mask"], (0, 3))}
        more_padding = model(**padded, output_attentions=True)
        torch.testing.assert_close(more_padding.logits, batched.logits)
        for b in range(3):
            length = int(inputs["attention_mask"][b].sum())
            alone = model(input_ids=inputs["input_ids"][b : b + 1, :length], decoder_input_ids=inputs["decoder_input_ids"][b : b + 1])
            torch.testing.assert_close(alone.logits[0], batched.logits[b])
    if batched.cross_attentions is not None:
        assert (more_padding.cross_attentions[0][..., -3:] == 0).all()


def test_input_feeding_carries_the_previous_attentional_state():
    """With input feeding, the logits at step 2 depend on h̃_1 through the fed columns of the
    decoder's input weights; without it they do not exist."""
    model = build("luong_general_feeding")
    inputs = random_translation_inputs(model.config, batch=2, seed=5)
    with torch.no_grad():
        before = model(**inputs).logits
        model.decoder.rnn.weight_ih_l0[:, model.config.embedding_size :] = 0  # cut the fed h̃_{t-1}
        cut = model(**inputs).logits
    torch.testing.assert_close(cut[:, 0], before[:, 0])  # h̃_0 = 0: the first step is unchanged
    assert not torch.allclose(cut[:, 1:], before[:, 1:])
    assert model.decoder.rnn.input_size == model.config.embedding_size + model.config.hidden_size
    assert build("luong_dot_bidirectional").decoder.rnn.input_size == model.config.embedding_size


def test_labels_are_shifted_behind_the_start_token():
    model = build("bahdanau")
    inputs = random_translation_inputs(model.config, batch=3, seed=6, labels=True)
    decoder_input_ids = shift_tokens_right(inputs["labels"], PAD, START)
    assert (decoder_input_ids[:, 0] == START).all() and (decoder_input_ids[:, 1:][inputs["labels"][:, :-1] == -100] == PAD).all()
    with torch.no_grad():
        output = model(**inputs)
        explicit = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], decoder_input_ids=decoder_input_ids)
    log_probs = explicit.logits.log_softmax(-1)
    kept = inputs["labels"] != -100
    expected = -log_probs.gather(-1, inputs["labels"].clamp(min=0).unsqueeze(-1)).squeeze(-1)[kept].mean()
    torch.testing.assert_close(output.loss, expected)


# --- generate() ---------------------------------------------------------------------------------

def greedy_by_hand(model, inputs, steps: int) -> torch.Tensor:
    """Greedy decoding re-reading the whole target at every step (no cache)."""
    generated = torch.full((inputs["input_ids"].shape[0], 1), START)
    finished = torch.zeros(generated.shape[0], dtype=torch.bool)
    for _ in range(steps):
        with torch.no_grad():
            logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], decoder_input_ids=generated).logits
        word = logits[:, -1].argmax(-1).masked_fill(finished, PAD)
        generated = torch.cat([generated, word.unsqueeze(1)], dim=1)
        finished |= word == END
        if finished.all():
            break
    return generated


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_greedy_equals_a_hand_loop_and_no_cache(variant):
    model = build(variant, dtype=torch.float32, seed=7)
    inputs = random_translation_inputs(model.config, batch=3, seed=7)
    source = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    cached = model.generate(**source, max_new_tokens=6)
    uncached = model.generate(**source, max_new_tokens=6, use_cache=False)
    by_hand = greedy_by_hand(model, source, 6)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached, by_hand[:, : cached.shape[1]])


def sequence_log_likelihood(model, source: dict, sequences: torch.Tensor) -> torch.Tensor:
    """log p(y | x) of each generated sequence (start token first; the words up to the end token)."""
    with torch.no_grad():
        logits = model(**source, decoder_input_ids=sequences[:, :-1]).logits
    log_probs = logits.log_softmax(-1).gather(-1, sequences[:, 1:].unsqueeze(-1)).squeeze(-1)
    after_end = (sequences[:, 1:-1] == END).cumsum(dim=1) > 0
    keep = torch.cat([torch.ones_like(after_end[:, :1]), ~after_end], dim=1)
    return (log_probs * keep).sum(dim=1)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_beam_search_with_its_cache_equals_beam_search_recomputing_everything(variant):
    """generate() reorders the cache after each step (RecurrentStateCache.reorder_cache); a wrong
    reordering gives other beams than recomputing the whole prefix, which needs no reordering."""
    model = build(variant, dtype=torch.float32, seed=8)
    inputs = random_translation_inputs(model.config, batch=3, seed=8)
    source = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    settings = dict(num_beams=4, num_return_sequences=2, max_new_tokens=7, output_scores=True, return_dict_in_generate=True)
    cached = model.generate(**source, **settings)
    recomputed = model.generate(**source, **settings, use_cache=False)
    assert torch.equal(cached.sequences, recomputed.sequences)
    torch.testing.assert_close(cached.sequences_scores, recomputed.sequences_scores)


def test_reorder_cache_selects_every_tensor_along_the_batch():
    cache = RecurrentStateCache({"hidden": torch.arange(6.0).view(3, 2), "annotations": torch.arange(12.0).view(3, 2, 2)})
    cache.reorder_cache(torch.tensor([2, 2, 0]))
    assert torch.equal(cache["hidden"], torch.tensor([[4.0, 5.0], [4.0, 5.0], [0.0, 1.0]]))
    assert torch.equal(cache["annotations"][:, 0, 0], torch.tensor([8.0, 8.0, 0.0]))


@pytest.mark.parametrize("variant", ["luong_general_feeding", "bahdanau", "luong_none"])
def test_beam_search_finds_translations_at_least_as_likely_as_greedy(variant):
    """Beam search with no length penalty keeps the most likely prefixes: over several random
    models its best translation is never less likely than greedy's."""
    compared = 0
    for seed in range(5):
        model = build(variant, dtype=torch.float32, seed=seed, eos_token_id=END)
        model.word_classifier.bias.data[END] += 1.0  # translations end within the budget
        inputs = random_translation_inputs(model.config, batch=3, seed=seed)
        source = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
        greedy = model.generate(**source, max_new_tokens=8)
        beam = model.generate(**source, max_new_tokens=8, num_beams=5, length_penalty=0.0, early_stopping=True)
        for row in range(3):
            g, b = greedy[row : row + 1], beam[row : row + 1]
            if not ((g == END).any() and (b == END).any()):
                continue  # compare finished translations only
            one = {k: v[row : row + 1] for k, v in source.items()}
            assert sequence_log_likelihood(model, one, b) >= sequence_log_likelihood(model, one, g) - 1e-5
            compared += 1
    assert compared >= 5


def test_sampling_is_reproducible_with_a_seed():
    model = build("luong_general_feeding", dtype=torch.float32)
    inputs = random_translation_inputs(model.config, batch=2, seed=9)
    source = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    torch.manual_seed(3)
    first = model.generate(**source, do_sample=True, max_new_tokens=6, top_k=0)
    torch.manual_seed(3)
    assert torch.equal(first, model.generate(**source, do_sample=True, max_new_tokens=6, top_k=0))


def test_generate_returns_the_alignment_of_each_generated_word():
    model = build("bahdanau", dtype=torch.float32)
    inputs = random_translation_inputs(model.config, batch=2, seed=10)
    source = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    output = model.generate(**source, max_new_tokens=5, output_attentions=True, return_dict_in_generate=True)
    steps = torch.cat([step[0] for step in output.cross_attentions], dim=1)  # (batch, generated, source)
    with torch.no_grad():
        forced = model(**source, decoder_input_ids=output.sequences[:, :-1], output_attentions=True)
    torch.testing.assert_close(steps, forced.cross_attentions[0])


# --- bad inputs ---------------------------------------------------------------------------------

def test_bad_inputs_are_refused_with_clear_errors():
    model = build("luong_general_feeding", dtype=torch.float32)
    inputs = random_translation_inputs(model.config, batch=2, seed=11)
    source = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    with pytest.raises(ValueError, match="no tokens"):
        model(input_ids=torch.full((1, 3), PAD), decoder_input_ids=torch.tensor([[START]]))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(input_ids=torch.tensor([[model.config.source_vocab_size]]), decoder_input_ids=torch.tensor([[START]]))
    with pytest.raises(ValueError, match="right-padded"):
        model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"].flip(1), decoder_input_ids=inputs["decoder_input_ids"])
    with pytest.raises(ValueError, match="must begin with the start token"):
        model(**source, decoder_input_ids=inputs["decoder_input_ids"][:, 1:])
    with pytest.raises(ValueError, match="decoder_input_ids .* or labels"):
        model(**source)
    with pytest.raises(ValueError, match="outside the target vocabulary"):
        model(**source, labels=torch.full((2, 2), model.config.vocab_size))
    with pytest.raises(ValueError, match="batch mismatch"):
        model(**source, decoder_input_ids=inputs["decoder_input_ids"][:1])
    for settings in (dict(max_new_tokens=0), dict(max_new_tokens=-1), dict(num_beams=0), dict(max_new_tokens=2.5)):
        with pytest.raises(ValueError, match="must be an integer"):
            model.generate(**source, **settings)
    with pytest.raises(TypeError, match="RecurrentStateCache"):
        model(**source, decoder_input_ids=inputs["decoder_input_ids"], cache=(torch.zeros(1),))


def test_configs_refuse_impossible_settings():
    with pytest.raises(ValueError, match="input_feeding"):
        LuongConfig(attention="none", input_feeding=True)
    with pytest.raises(ValueError, match="attention must be one of"):
        LuongConfig(attention="location")
    with pytest.raises(ValueError, match="even"):
        LuongConfig(encoder_bidirectional=True, hidden_size=7)
    with pytest.raises(ValueError, match="output_layer must be one of"):
        BahdanauConfig(output_layer="softmax")
    with pytest.raises(ValueError, match="outside the target vocabulary"):
        BahdanauForConditionalGeneration(BahdanauConfig.from_preset("tiny", eos_token_id=40))


# --- learning -----------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["luong_general_feeding", "bahdanau"])
def test_attention_models_learn_to_reverse_short_sequences(variant):
    """A task only alignment solves quickly: output the source words in reverse order."""
    model = build(variant, dtype=torch.float32, seed=0, source_vocab_size=10, vocab_size=10, embedding_size=16, hidden_size=32,
                  **({"encoder_hidden_size": 16, "attention_size": 16, "maxout_size": 16} if variant == "bahdanau" else {"num_layers": 1}))
    generator = torch.Generator().manual_seed(0)
    words = torch.randint(4, 10, (256, 4), generator=generator)
    source = torch.cat([words, torch.full((256, 1), END)], dim=1)
    labels = torch.cat([words.flip(1), torch.full((256, 1), END)], dim=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for step in range(150):
        batch = torch.randint(0, 256, (32,), generator=generator)
        loss = model(input_ids=source[batch], labels=labels[batch]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    generated = model.generate(input_ids=source[:64], max_new_tokens=6)
    accuracy = (generated[:, 1:6] == labels[:64]).all(dim=1).float().mean().item()
    assert accuracy >= 0.9, accuracy


def test_local_p_attention_against_hand_computation():
    """Luong et al. section 3.2: p_t = S sigmoid(v_pᵀ tanh(W_p h_t)); softmax of the scores over the
    words of [p_t - D, p_t + D], times exp(-(s - p_t)² / (2 (D/2)²)); zero outside the window."""
    torch.manual_seed(0)
    queries, keys = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 9, 4, dtype=torch.float64)
    mask = torch.tensor([[1] * 9, [1] * 6 + [0] * 3])
    attention = LuongAttention(4, 4, "general", window=2).double()
    with torch.no_grad():
        attention.position_score.weight.mul_(3.0)  # spread the predicted positions
    weights, context = attention(queries, attention.project_keys(keys), keys, mask)
    inside = 0
    for b in range(2):
        length = int(mask[b].sum())
        for t in range(3):
            h = queries[b, t]
            p = length * torch.sigmoid(attention.position_score.weight[0] @ torch.tanh(attention.position_projection.weight @ h))
            window = [s for s in range(length) if abs(s - p) <= 2]
            scores = torch.stack([h @ attention.projection.weight @ keys[b, s] for s in window])
            align = torch.softmax(scores, dim=0)
            expected = torch.zeros(9, dtype=torch.float64)
            for k, s in enumerate(window):
                expected[s] = align[k] * torch.exp(-((s - p) ** 2) / (2 * 1.0**2))
            torch.testing.assert_close(weights[b, t], expected)
            torch.testing.assert_close(context[b, t], expected @ keys[b])
            inside += len(window)
    assert 0 < inside < 2 * 3 * 9  # the windows cut some words out
    with pytest.raises(ValueError, match="window must be a positive integer"):
        LuongAttention(4, 4, window=0)


def test_local_p_translator_generates_with_its_cache():
    model = build("luong_general_feeding", dtype=torch.float32, attention_window=1)
    inputs = random_translation_inputs(model.config, batch=3, seed=12)
    source = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    beams = dict(max_new_tokens=5, num_beams=3)
    assert torch.equal(model.generate(**source, **beams), model.generate(**source, **beams, use_cache=False))
    with torch.no_grad():
        alignment = model(**inputs, output_attentions=True).cross_attentions[0]
    padding = inputs["attention_mask"].unsqueeze(1).expand_as(alignment) == 0
    assert (alignment.sum(-1) <= 1 + 1e-6).all() and (alignment[padding] == 0).all()
    with pytest.raises(ValueError, match="attention_window"):
        LuongConfig(attention="none", input_feeding=False, attention_window=3)
