"""Tests of the Hierarchical Co-Attention model (Lu et al., NeurIPS 2016) and its co-attention
layers, on tiny configs."""

import json
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import make_vqa_model, random_inputs, tiny_vqa_config
from transformers import AutoConfig, AutoModelForVisualQuestionAnswering
from vqa_checks import (
    assert_auto_classes_round_trip,
    assert_image_index_equals_repeating_the_image,
    assert_learns_color_task,
    assert_masked_regions_ignored,
    assert_pipeline_matches_model,
    assert_rejects_bad_inputs,
)

import hf_mmattn
from hf_mmattn import HieCoAttConfig, HieCoAttForVisualQuestionAnswering, HieCoAttModel
from hf_mmattn.hub import build_model_card
from hf_mmattn.layers.coattention import AlternatingCoAttention, GuidedAttention, ParallelCoAttention
from hf_mmattn.models.hiecoatt.modeling_hiecoatt import HieCoAttPhraseEncoder

MODES = ["parallel", "alternating"]
ENCODERS = ["scratch_cnn", "backbone", "features"]


def hiecoatt_config(image_encoder: str = "features", vocab_size: int = 9, **overrides) -> HieCoAttConfig:
    """A tiny HieCoAttConfig (see conftest.tiny_vqa_config)."""
    return tiny_vqa_config(HieCoAttConfig, image_encoder, vocab_size, **overrides)


make_model = partial(make_vqa_model, HieCoAttConfig)


def _masks(generator):
    """Questions of 5, 3 and 1 words out of 5; 4, 6 and 2 regions out of 6."""
    word_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    region_mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1] * 6, [1, 1, 0, 0, 0, 0]])
    question = torch.randn(3, 5, 4, dtype=torch.float64, generator=generator)
    regions = torch.randn(3, 6, 7, dtype=torch.float64, generator=generator)
    return question, regions, word_mask, region_mask


def _linear(layer, x):
    """W x + b on one column vector (this file's hand computations are per position)."""
    return layer.weight @ x + (layer.bias if layer.bias is not None else 0)


def _softmax(scores):
    weights = [np.exp(s) for s in scores]
    return [w / sum(weights) for w in weights]


# --- co-attention layers against the equations, one word and region at a time ----------------

@pytest.mark.parametrize("bias", [False, True])
def test_parallel_co_attention_matches_the_equations(bias):
    """C = tanh(QᵀW_bV), H^v = tanh(W_vV + (W_qQ)C), H^q = tanh(W_qQ + (W_vV)Cᵀ), a = softmax(w_hᵀH),
    summed over the real words and regions only (eq. 3-5)."""
    generator = torch.Generator().manual_seed(0)
    question, regions, word_mask, region_mask = _masks(generator)
    torch.manual_seed(1)
    layer = ParallelCoAttention(4, 7, 5, bias=bias).double().eval()
    assert (layer.question_projection.bias is not None) == bias
    with torch.no_grad():
        output = layer(question, regions, word_mask, region_mask)
        for b in range(3):
            words = [question[b, t] for t in range(5) if word_mask[b, t]]
            vs = [regions[b, n] for n in range(6) if region_mask[b, n]]
            C = [[torch.tanh(q @ _linear(layer.affinity_projection, v)) for v in vs] for q in words]
            image_hidden = [
                torch.tanh(_linear(layer.image_projection, v) + sum(_linear(layer.question_projection, q) * C[t][n] for t, q in enumerate(words)))
                for n, v in enumerate(vs)
            ]
            question_hidden = [
                torch.tanh(_linear(layer.question_projection, q) + sum(_linear(layer.image_projection, v) * C[t][n] for n, v in enumerate(vs)))
                for t, q in enumerate(words)
            ]
            a_v = _softmax([_linear(layer.image_score, h).item() for h in image_hidden])
            a_q = _softmax([_linear(layer.question_score, h).item() for h in question_hidden])
            real_regions, real_words = region_mask[b].bool(), word_mask[b].bool()
            torch.testing.assert_close(output.image_attention[b, real_regions], torch.tensor(a_v, dtype=torch.float64))
            torch.testing.assert_close(output.question_attention[b, real_words], torch.tensor(a_q, dtype=torch.float64))
            assert (output.image_attention[b, ~real_regions] == 0).all() and (output.question_attention[b, ~real_words] == 0).all()
            torch.testing.assert_close(output.attended_image[b], sum(a * v for a, v in zip(a_v, vs, strict=True)))
            torch.testing.assert_close(output.attended_question[b], sum(a * q for a, q in zip(a_q, words, strict=True)))


@pytest.mark.parametrize("bias", [False, True])
def test_alternating_co_attention_matches_the_equations(bias):
    """ŝ = A(Q; 0), v̂ = A(V; ŝ), q̂ = A(Q; v̂) with A: H = tanh(W_x X + (W_g g)1ᵀ), a = softmax(w_hxᵀH),
    x̂ = Σ a_i x_i (eq. 6), each step with its own weights."""
    generator = torch.Generator().manual_seed(2)
    question, regions, word_mask, region_mask = _masks(generator)
    torch.manual_seed(3)
    layer = AlternatingCoAttention(4, 7, 5, bias=bias).double().eval()
    assert layer.question_summary.guide_projection is None

    def attend(step, xs, guide):
        guide_part = _linear(step.guide_projection, guide) if guide is not None else 0
        weights = _softmax([_linear(step.score, torch.tanh(_linear(step.input_projection, x) + guide_part)).item() for x in xs])
        return sum(w * x for w, x in zip(weights, xs, strict=True)), torch.tensor(weights, dtype=torch.float64)

    with torch.no_grad():
        output = layer(question, regions, word_mask, region_mask)
        for b in range(3):
            words = [question[b, t] for t in range(5) if word_mask[b, t]]
            vs = [regions[b, n] for n in range(6) if region_mask[b, n]]
            summary, _ = attend(layer.question_summary, words, None)
            v_hat, a_v = attend(layer.image_attention, vs, summary)
            q_hat, a_q = attend(layer.question_attention, words, v_hat)
            torch.testing.assert_close(output.attended_image[b], v_hat)
            torch.testing.assert_close(output.attended_question[b], q_hat)
            torch.testing.assert_close(output.image_attention[b, region_mask[b].bool()], a_v)
            torch.testing.assert_close(output.question_attention[b, word_mask[b].bool()], a_q)
            assert (output.image_attention[b, ~region_mask[b].bool()] == 0).all()
            assert (output.question_attention[b, ~word_mask[b].bool()] == 0).all()


@pytest.mark.parametrize("layer_class", [ParallelCoAttention, AlternatingCoAttention])
def test_co_attention_ignores_padded_words_and_masked_regions(layer_class):
    generator = torch.Generator().manual_seed(4)
    question, regions, word_mask, region_mask = _masks(generator)
    torch.manual_seed(5)
    layer = layer_class(4, 7, 5, bias=True).double().eval()
    garbage_question, garbage_regions = question.clone(), regions.clone()
    garbage_question[word_mask == 0] = 100.0
    garbage_regions[region_mask == 0] = -1000.0
    with torch.no_grad():
        clean = layer(question, regions, word_mask, region_mask)
        dirty = layer(garbage_question, garbage_regions, word_mask, region_mask)
        for a, b in zip(clean, dirty, strict=True):
            torch.testing.assert_close(a, b)
        for row in range(3):  # ... and each row gets what its real words and regions alone give
            length, count = int(word_mask[row].sum()), int(region_mask[row].sum())
            real = region_mask[row].bool()
            alone = layer(question[row : row + 1, :length], regions[row : row + 1, real])
            torch.testing.assert_close(clean.attended_question[row], alone.attended_question[0])
            torch.testing.assert_close(clean.attended_image[row], alone.attended_image[0])
            torch.testing.assert_close(clean.question_attention[row, :length], alone.question_attention[0])
            torch.testing.assert_close(clean.image_attention[row, real], alone.image_attention[0])
            assert count == alone.image_attention.shape[1]


def test_guided_attention_checks_its_guide():
    with pytest.raises(ValueError, match="guide"):
        GuidedAttention(4, None, 3)(torch.randn(1, 2, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match="guide"):
        GuidedAttention(4, 4, 3)(torch.randn(1, 2, 4))


@pytest.mark.parametrize("windows", ["paper", "code"])
def test_phrase_encoder_matches_the_n_gram_windows(windows):
    """q^p_t = tanh(max_s W_c^s q^w_window(s, t)), windows zero-padded, padding words zeroed (eq. 1-2)."""
    torch.manual_seed(6)
    encoder = HieCoAttPhraseEncoder(3, windows).double()
    words = torch.randn(2, 5, 3, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    garbage = words.clone()
    garbage[mask == 0] = 50.0
    starts = {1: 0, 2: 0, 3: 0} if windows == "paper" else {1: 0, 2: -1, 3: -1}
    with torch.no_grad():
        output = encoder(garbage, mask)
        for b in range(2):
            for t in range(5):
                if not mask[b, t]:
                    assert (output[b, t] == 0).all()
                    continue
                ngrams = []
                for size, convolution in zip((1, 2, 3), encoder.convolutions, strict=True):
                    value = convolution.bias.clone()
                    for k in range(size):
                        position = t + starts[size] + k
                        if 0 <= position < 5 and mask[b, position]:
                            value += convolution.weight[:, :, k] @ words[b, position]
                    ngrams.append(value)
                torch.testing.assert_close(output[b, t], torch.tanh(torch.stack(ngrams).max(dim=0).values))


# --- the whole model ----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_model_matches_the_hierarchy_built_by_hand(mode):
    """Words → phrases → LSTM per question alone, co-attention per level with its own weights,
    then h^w, h^p, h^s of eq. 7 (with biases, as Linear layers)."""
    model = make_model("features", head=False, co_attention=mode, attention_form="code")
    inputs = random_inputs(model.config, batch=3)
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
        regions = torch.tanh(model.image_projection[0](inputs["image_features"]))
        for row in range(3):
            length = int(inputs["attention_mask"][row].sum())
            ids = inputs["input_ids"][row : row + 1, :length]
            words = torch.tanh(model.embedding(ids))
            phrases = model.phrase_encoder(words, torch.ones_like(ids))
            sentence, _ = model.lstm(phrases)
            levels = [
                co_attention(features, regions[row : row + 1])
                for co_attention, features in (
                    (model.word_co_attention, words), (model.phrase_co_attention, phrases), (model.question_co_attention, sentence),
                )
            ]
            assert len({id(level) for level in (model.word_co_attention, model.phrase_co_attention, model.question_co_attention)}) == 3
            encoder = model.recursive_encoder
            (q_w, v_w, *_), (q_p, v_p, *_), (q_s, v_s, *_) = levels
            h_w = torch.tanh(encoder.word_layer(q_w + v_w))
            h_p = torch.tanh(encoder.phrase_layer(torch.cat([q_p + v_p, h_w], -1)))
            h_s = torch.tanh(encoder.question_layer(torch.cat([q_s + v_s, h_p], -1)))
            torch.testing.assert_close(output.pooled_output[row], h_s[0])
            torch.testing.assert_close(output.question_embeds[row], q_s[0])
            for level, image_map, word_map in zip(levels, output.attentions, output.question_attentions, strict=True):
                torch.testing.assert_close(image_map[row], level.image_attention[0])
                torch.testing.assert_close(word_map[row, :length], level.question_attention[0])
                assert (word_map[row, length:] == 0).all()


@pytest.mark.parametrize("windows", ["paper", "code"])
@pytest.mark.parametrize("mode", MODES)
def test_model_is_padding_invariant(mode, windows):
    model = make_model("features", co_attention=mode, phrase_windows=windows)
    inputs = random_inputs(model.config, batch=3)
    padded = dict(inputs, input_ids=F.pad(inputs["input_ids"], (0, 3)), attention_mask=F.pad(inputs["attention_mask"], (0, 3)))
    with torch.no_grad():
        a = model(**inputs, output_attentions=True)
        b = model(**padded, output_attentions=True)
        # The id stored at padding does not matter either.
        b_ids = padded["input_ids"].clone()
        b_ids[padded["attention_mask"] == 0] = 5
        c = model(**dict(padded, input_ids=b_ids))
    torch.testing.assert_close(a.logits, b.logits)
    torch.testing.assert_close(a.logits, c.logits)
    for x, y in zip(a.question_attentions, b.question_attentions, strict=True):
        torch.testing.assert_close(x, y[:, :5])
        assert (y[:, 5:] == 0).all()


@pytest.mark.parametrize("mode", MODES)
def test_masked_regions_do_not_influence_the_output(mode):
    output = assert_masked_regions_ignored(make_model("features", co_attention=mode))
    assert len(output.attentions) == 3


@pytest.mark.parametrize(("image_encoder", "grid"), [("scratch_cnn", (8, 8)), ("backbone", (2, 2))])
@pytest.mark.parametrize("mode", MODES)
def test_attention_maps_of_the_three_levels(mode, image_encoder, grid):
    model = make_model(image_encoder, co_attention=mode)
    inputs = random_inputs(model.config, batch=3)
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
        quiet = model(**inputs)
    assert output.image_grid_size == grid
    assert len(output.attentions) == len(output.question_attentions) == 3
    for image_map, word_map in zip(output.attentions, output.question_attentions, strict=True):
        assert image_map.shape == (3, grid[0] * grid[1]) and word_map.shape == (3, 5)
        torch.testing.assert_close(image_map.sum(-1), torch.ones(3))
        torch.testing.assert_close(word_map.sum(-1), torch.ones(3))
        assert (word_map[inputs["attention_mask"] == 0] == 0).all()
    assert quiet.attentions is None and quiet.question_attentions is None
    torch.testing.assert_close(quiet.logits, output.logits)


@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "features"])
def test_image_index_equals_repeating_the_image(image_encoder):
    assert_image_index_equals_repeating_the_image(make_model(image_encoder))


def test_attention_forms_and_modes_build_what_they_say():
    paper = make_model(head=False)
    code = make_model(head=False, attention_form="code")
    alternating = make_model(head=False, co_attention="alternating")
    assert isinstance(paper.word_co_attention, ParallelCoAttention) and paper.word_co_attention.affinity_projection.bias is None
    assert code.question_co_attention.affinity_projection.bias is not None
    assert isinstance(alternating.phrase_co_attention, AlternatingCoAttention)
    assert paper.lstm.num_layers == 2 and paper.recursive_encoder.question_layer.out_features == 10
    assert paper.config.attention_titles(3) == ["word level", "phrase level", "question level"]
    defaults = HieCoAttConfig()
    assert (defaults.hidden_size, defaults.attention_hidden_size, defaults.answer_encoding_size) == (512, 512, 1024)
    assert (defaults.co_attention, defaults.attention_form, defaults.phrase_windows, defaults.image_feature_size) == ("parallel", "paper", "paper", 2048)


def test_config_rejects_bad_values():
    for field, value in (("co_attention", "serial"), ("attention_form", "torch"), ("phrase_windows", "centered")):
        with pytest.raises(ValueError, match=field):
            HieCoAttConfig(**{field: value})
    with pytest.raises(ValueError, match="hidden_size must be positive"):
        HieCoAttConfig(hidden_size=0)


# --- save / load, learning, pipeline ---------------------------------------------------------------

@pytest.mark.parametrize(("image_encoder", "mode"), [("scratch_cnn", "parallel"), ("backbone", "alternating"), ("features", "parallel"), ("features", "alternating")])
def test_auto_classes_round_trip(tmp_path, image_encoder, mode):
    model = make_model(image_encoder, co_attention=mode, attention_form="code", phrase_windows="code", freeze_backbone=False)
    _, config, card = assert_auto_classes_round_trip(tmp_path, model, random_inputs(model.config), HieCoAttConfig, HieCoAttModel)
    assert (config.co_attention, config.attention_form, config.phrase_windows) == (mode, "code", "code")
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["auto_map"]["AutoModelForVisualQuestionAnswering"] == "hf_mmattn_auto.HieCoAttForVisualQuestionAnswering"
    assert f"| `co_attention` | {mode} |" in card and "Lu, Jiasen" in card


def test_card_renders_equations_and_results(tmp_path):
    model = make_model("scratch_cnn", co_attention="alternating")
    card = str(build_model_card(
        model, dataset_id="easy-vqa", dataset_name="easy-VQA",
        eval_results={"vqa_accuracy": 99.5, "per_answer_type": {"yes/no": 99.9}, "split": "test", "num_questions": 9673},
    ))
    assert r"C = \tanh\left(Q^\top W_b V\right)" in card and "{%" not in card
    assert "| VQA accuracy | 99.50 |" in card and "| VQA accuracy, yes/no | 99.90 |" in card
    assert 'co_attention="alternating"' in card and "9,673 questions" in card


@pytest.mark.parametrize("mode", MODES)
def test_tiny_model_learns_the_color_task(color_processor_16, mode):
    torch.manual_seed(0)
    config = hiecoatt_config(
        "scratch_cnn", vocab_size=len(color_processor_16.tokenizer), scratch_cnn_channels=[8, 8],
        co_attention=mode, answer_head="mlp", dropout=0.0, question_num_layers=1,
    )
    assert_learns_color_task(HieCoAttForVisualQuestionAnswering(config), color_processor_16)


def test_pipeline_returns_image_and_word_maps_of_every_level(tmp_path, color_processor_16):
    model = make_model("scratch_cnn", vocab_size=len(color_processor_16.tokenizer), scratch_cnn_channels=[4, 8])
    result = assert_pipeline_matches_model(tmp_path, model, color_processor_16)
    assert len(result["attentions"]) == len(result["question_attentions"]) == 3


# --- bad inputs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "features"])
def test_bad_inputs_raise_clear_errors(image_encoder):
    assert_rejects_bad_inputs(make_model(image_encoder, co_attention="alternating"), make_model(image_encoder, head=False))


def test_registered_with_the_auto_classes():
    assert type(AutoConfig.for_model("mmattn_hiecoatt")) is HieCoAttConfig
    assert type(AutoModelForVisualQuestionAnswering.from_config(hiecoatt_config())) is HieCoAttForVisualQuestionAnswering
    assert hf_mmattn.HieCoAttModel is HieCoAttModel


# --- the authors' code: dropout on the question level, presets ----------------------------------

def test_question_level_features_are_dropped_as_in_the_code():
    """The code's LSTM ends in Dropout(0.5) on every step's output (misc/LSTM.lua, 'drop_final'),
    so the question-level co-attention reads the LSTM's outputs dropped: in training each is 0 or
    twice the LSTM's (dropout 0.5), about half of them 0; in evaluation they are the LSTM's."""
    from torch.nn.utils.rnn import pad_packed_sequence

    model = make_model("features", head=False, question_num_layers=1, dropout=0.5)
    inputs = random_inputs(model.config, batch=3)
    captured = {}
    model.lstm.register_forward_hook(lambda module, args, output: captured.__setitem__("lstm", output[0]))
    model.question_co_attention.register_forward_pre_hook(lambda module, args: captured.__setitem__("read", args[0]))
    for training in (True, False):
        torch.manual_seed(0)
        with torch.no_grad():
            model.train(training)(**inputs)
        outputs, _ = pad_packed_sequence(captured["lstm"], batch_first=True, total_length=inputs["input_ids"].shape[1])
        read, real = captured["read"], outputs != 0
        if not training:
            torch.testing.assert_close(read, outputs, rtol=0, atol=0)
            continue
        kept = read[real] != 0
        torch.testing.assert_close(read[real][kept], 2 * outputs[real][kept], rtol=0, atol=0)
        assert 0.3 < 1 - kept.float().mean() < 0.7
        assert (read[~real] == 0).all()
    assert make_model("features", dropout=0.0).model.sentence_dropout.p == 0.0


def test_dropout_placements_are_the_authors_code():
    """Every dropout of jiasenlu/HieCoAttenVQA, each at `dropout` (0.5 there): word features,
    phrase features, between the LSTM layers and on its output, the projected regions, the
    co-attention hidden layers (one module per co-attention step), the recursive encoder's inputs
    and the classifier's."""
    model = make_model("features", dropout=0.5)
    rates = {name: module.p for name, module in model.named_modules() if isinstance(module, torch.nn.Dropout)}
    assert set(rates.values()) == {0.5}
    assert {"model.word_dropout", "model.phrase_dropout", "model.sentence_dropout", "model.image_projection.2",
            "model.word_co_attention.dropout", "model.phrase_co_attention.dropout", "model.question_co_attention.dropout",
            "model.recursive_encoder.dropout", "classifier.layers.0"} == set(rates)
    assert model.model.lstm.dropout == 0.5


@pytest.mark.parametrize(("name", "feature_size"), [("hiecoattenvqa-vgg", 512), ("hiecoattenvqa-residual", 2048)])
def test_presets_give_the_authors_code(tmp_path, name, feature_size):
    config = HieCoAttConfig.from_preset(name, vocab_size=40, num_labels=5)
    assert (config.co_attention, config.attention_form, config.phrase_windows, config.question_num_layers) == ("alternating", "code", "code", 2)
    assert (config.hidden_size, config.answer_encoding_size, config.dropout, config.answer_head) == (512, 1024, 0.5, "linear")
    assert (config.image_encoder, config.image_feature_size) == ("features", feature_size)
    assert HieCoAttConfig.from_preset(name, image_encoder="features", hidden_size=64).hidden_size == 64
    torch.manual_seed(0)
    model = HieCoAttForVisualQuestionAnswering(config).eval()
    inputs = random_inputs(config, batch=2)
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    config.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).co_attention == "alternating"
    with pytest.raises(ValueError, match="unknown HieCoAtt preset"):
        HieCoAttConfig.from_preset("hiecoatt")
