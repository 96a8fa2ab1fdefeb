"""Tests of r-DAN, the reasoning Dual Attention Network (Nam, Ha, Kim, CVPR 2017), on tiny configs."""

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from conftest import linear_by_hand, make_vqa_model, random_inputs, tiny_vqa_config
from vqa_checks import (
    assert_auto_classes_round_trip,
    assert_image_index_equals_repeating_the_image,
    assert_learns_color_task,
    assert_masked_regions_ignored,
    assert_pipeline_matches_model,
    assert_rejects_bad_inputs,
)

from hf_mmattn import DanConfig, DanForVisualQuestionAnswering, DanModel
from hf_mmattn.layers.dual_attention import DualAttentionStep
from hf_mmattn.layers.masking import masked_mean

ENCODERS = ["scratch_cnn", "backbone", "features"]


def dan_config(image_encoder: str = "features", vocab_size: int = 9, **overrides) -> DanConfig:
    """A tiny DanConfig (see conftest.tiny_vqa_config)."""
    return tiny_vqa_config(DanConfig, image_encoder, vocab_size, **overrides)


make_dan = partial(make_vqa_model, DanConfig)


def _expected_step(step, regions, words, visual_memory, textual_memory, region_mask, word_mask):
    """One DAN step written out from the paper's equations with the step's weights."""
    visual_fusion, textual_fusion = step.visual_attention.fusion, step.textual_attention.fusion
    h_v = torch.tanh(linear_by_hand(visual_fusion.image_projection, regions)) * torch.tanh(linear_by_hand(visual_fusion.question_projection, visual_memory))[:, None]
    scores_v = linear_by_hand(step.visual_attention.score[-1], h_v).squeeze(-1)
    if region_mask is not None:
        scores_v = scores_v.masked_fill(region_mask == 0, -torch.inf)
    alpha_v = torch.softmax(scores_v, dim=-1)
    v = torch.tanh(linear_by_hand(step.visual_projection[0], (alpha_v[:, :, None] * regions).sum(1)))
    h_u = torch.tanh(linear_by_hand(textual_fusion.image_projection, words)) * torch.tanh(linear_by_hand(textual_fusion.question_projection, textual_memory))[:, None]
    scores_u = linear_by_hand(step.textual_attention.score[-1], h_u).squeeze(-1).masked_fill(word_mask == 0, -torch.inf)
    alpha_u = torch.softmax(scores_u, dim=-1)
    u = (alpha_u[:, :, None] * words).sum(1)
    return v, u, alpha_v, alpha_u


# --- the dual attention step ------------------------------------------------------------------

def test_dual_attention_step_matches_a_float64_hand_computation():
    torch.manual_seed(0)
    step = DualAttentionStep(region_size=5, text_size=4, attention_size=3).double().eval()
    generator = torch.Generator().manual_seed(1)
    regions = torch.randn(2, 6, 5, generator=generator, dtype=torch.float64)
    words = torch.randn(2, 4, 4, generator=generator, dtype=torch.float64)
    # Different visual and textual memories, as m-DAN uses them.
    visual_memory = torch.randn(2, 4, generator=generator, dtype=torch.float64)
    textual_memory = torch.randn(2, 4, generator=generator, dtype=torch.float64)
    region_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    word_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    with torch.no_grad():
        output = step(regions, words, visual_memory, textual_memory, region_mask, word_mask)
        expected = _expected_step(step, regions, words, visual_memory, textual_memory, region_mask, word_mask)
    for actual, reference in zip(output, expected, strict=True):
        assert actual.dtype == torch.float64
        torch.testing.assert_close(actual, reference, rtol=1e-12, atol=1e-12)
    assert output.visual.shape == (2, 4) and output.textual.shape == (2, 4)
    assert output.visual_attention.shape == (2, 6) and output.textual_attention.shape == (2, 4)
    assert (output.visual_attention[1, 3:] == 0).all() and (output.textual_attention[1, 2:] == 0).all()
    # Each attention reads its own memory.
    with torch.no_grad():
        swapped = step(regions, words, textual_memory, visual_memory, region_mask, word_mask)
    assert not torch.allclose(swapped.visual_attention, output.visual_attention)
    assert not torch.allclose(swapped.textual_attention, output.textual_attention)


def test_masked_mean():
    values = torch.arange(12.0).reshape(2, 3, 2)
    torch.testing.assert_close(masked_mean(values, None), values.mean(1))
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    torch.testing.assert_close(masked_mean(values, mask), torch.tensor([[1.0, 2.0], [6.0, 7.0]]))


# --- the whole model against the equations -----------------------------------------------------

@pytest.mark.parametrize("num_steps", [1, 2, 3])
def test_memory_recursion_matches_an_explicit_recomputation(num_steps):
    """u_t from the bi-LSTM run on each question alone, v^(0), u^(0), m^(0) and every step's
    attention and memory update recomputed from the module's weights in float64."""
    model = make_dan("features", head=False, num_steps=num_steps).double()
    inputs = random_inputs(model.config, batch=3)
    features = inputs["image_features"].double()
    region_mask = torch.tensor([[1] * 7, [1, 1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0]])
    with torch.no_grad():
        output = model(**dict(inputs, image_features=features, image_attention_mask=region_mask), output_attentions=True)

        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        encoder = model.question_encoder
        words = torch.zeros(3, ids.shape[1], 6, dtype=torch.float64)
        for row in range(3):
            length = int(mask[row].sum())
            states, _ = encoder.lstm(encoder.embedding(ids[row : row + 1, :length]))
            words[row, :length] = states[0, :, :6] + states[0, :, 6:]  # forward + backward
        real_regions = region_mask[:, :, None].double()
        v = torch.tanh(linear_by_hand(model.initial_visual_projection[0], (features * real_regions).sum(1) / real_regions.sum(1)))
        u = words.sum(1) / mask.sum(1, keepdim=True)
        memory = v * u
        torch.testing.assert_close(output.question_embeds, u, rtol=1e-10, atol=1e-10)
        assert len(output.attentions) == len(output.question_attentions) == num_steps
        for step, visual_attention, textual_attention in zip(model.steps, output.attentions, output.question_attentions, strict=True):
            v, u, alpha_v, alpha_u = _expected_step(step, features, words, memory, memory, region_mask, mask)
            torch.testing.assert_close(visual_attention, alpha_v, rtol=1e-10, atol=1e-10)
            torch.testing.assert_close(textual_attention, alpha_u, rtol=1e-10, atol=1e-10)
            memory = memory + v * u
    torch.testing.assert_close(output.pooled_output, memory, rtol=1e-10, atol=1e-10)


def test_answer_is_the_classifier_of_the_final_memory():
    model = make_dan("features")
    inputs = random_inputs(model.config)
    with torch.no_grad():
        output = model(**inputs)
        memory = model.model(**inputs).pooled_output
    torch.testing.assert_close(output.pooled_output, memory)
    torch.testing.assert_close(output.logits, linear_by_hand(model.classifier.layers[-1], memory))


def test_each_step_has_its_own_weights():
    model = make_dan("features", head=False, num_steps=3)
    pointers = [{p.data_ptr() for p in step.parameters()} for step in model.steps]
    assert all(not (a & b) for i, a in enumerate(pointers) for b in pointers[i + 1 :])
    per_step = sum(p.numel() for p in model.steps[0].parameters())
    assert model.num_parameters() - make_dan("features", head=False, num_steps=2).num_parameters() == per_step
    first, second = (dict(step.named_parameters()) for step in model.steps[:2])
    assert any(not torch.equal(first[name], second[name]) for name in first)
    # Changing step 2 changes the second attention map, not the first.
    inputs = random_inputs(model.config)
    with torch.no_grad():
        before = model(**inputs, output_attentions=True)
        model.steps[1].visual_attention.score[-1].weight.mul_(-3)
        after = model(**inputs, output_attentions=True)
    torch.testing.assert_close(after.attentions[0], before.attentions[0])
    assert not torch.allclose(after.attentions[1], before.attentions[1])


# --- masks, padding, image_index ------------------------------------------------------------

def test_padding_words_get_zero_weight_and_do_not_change_the_answer():
    model = make_dan("features")
    inputs = random_inputs(model.config, batch=3)
    padded = dict(inputs, input_ids=F.pad(inputs["input_ids"], (0, 3)), attention_mask=F.pad(inputs["attention_mask"], (0, 3)))
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
        longer = model(**padded, output_attentions=True)
    torch.testing.assert_close(longer.logits, output.logits)
    for short, long in zip(output.question_attentions, longer.question_attentions, strict=True):
        assert short.shape == (3, 5) and long.shape == (3, 8)
        assert (short[inputs["attention_mask"] == 0] == 0).all()
        assert (long[:, 5:] == 0).all()
        torch.testing.assert_close(long[:, :5], short)
        torch.testing.assert_close(short.sum(-1), torch.ones(3))


def test_masked_regions_get_zero_weight_and_do_not_change_the_answer():
    assert_masked_regions_ignored(make_dan("features"))


@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "features"])
def test_image_index_equals_repeating_the_image(image_encoder):
    assert_image_index_equals_repeating_the_image(make_dan(image_encoder))


def test_no_attentions_unless_asked():
    model = make_dan("features")
    inputs = random_inputs(model.config)
    with torch.no_grad():
        quiet = model(**inputs)
        loud = model(**inputs, output_attentions=True)
    assert quiet.attentions is None and quiet.question_attentions is None
    torch.testing.assert_close(quiet.logits, loud.logits)


# --- the three image inputs and save / load -----------------------------------------------------

@pytest.mark.parametrize(("image_encoder", "grid"), [("scratch_cnn", (8, 8)), ("backbone", (2, 2)), ("features", None)])
def test_round_trip_through_the_auto_classes(tmp_path, image_encoder, grid):
    model = make_dan(image_encoder, freeze_backbone=False)
    expected, config, card = assert_auto_classes_round_trip(tmp_path, model, random_inputs(model.config), DanConfig, DanModel)
    assert expected.image_grid_size == grid
    regions = 7 if grid is None else grid[0] * grid[1]
    assert [a.shape for a in expected.attentions] == [(3, regions)] * 2
    assert [a.shape for a in expected.question_attentions] == [(3, 5)] * 2
    assert (config.num_steps, config.question_hidden_size, config.attention_hidden_size) == (2, 6, 5)
    assert "| `num_steps` | 2 |" in card and "Dual Attention Networks" in card


def test_config_defaults_are_the_papers_and_fields_are_validated():
    config = DanConfig()
    assert (config.num_steps, config.question_hidden_size, config.attention_hidden_size, config.image_feature_size) == (2, 512, 512, 2048)
    assert config.hidden_size == 512 and config.answer_head == "linear"
    with pytest.raises(ValueError, match="num_steps"):
        DanConfig(num_steps=0)
    with pytest.raises(ValueError, match="attention_hidden_size"):
        DanConfig(attention_hidden_size=0)


# --- bad inputs -----------------------------------------------------------------------------

@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "features"])
def test_bad_inputs_raise_clear_errors(image_encoder):
    assert_rejects_bad_inputs(make_dan(image_encoder), make_dan(image_encoder, head=False))


# --- learning and the pipeline ----------------------------------------------------------------

def test_tiny_model_learns_the_color_task(color_processor_16):
    torch.manual_seed(0)
    config = dan_config(
        "scratch_cnn", vocab_size=len(color_processor_16.tokenizer), question_hidden_size=12, attention_hidden_size=10,
        scratch_cnn_channels=[8, 8], answer_head="mlp", dropout=0.0,
    )
    assert_learns_color_task(DanForVisualQuestionAnswering(config), color_processor_16)


def test_pipeline_returns_image_and_question_maps(tmp_path, color_processor_16):
    model = make_dan("scratch_cnn", vocab_size=len(color_processor_16.tokenizer), scratch_cnn_channels=[4, 8])
    result = assert_pipeline_matches_model(tmp_path, model, color_processor_16)
    assert len(result["attentions"]) == len(result["question_attentions"]) == 2
