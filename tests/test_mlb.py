"""Tests of MLB attention, Multimodal Low-rank Bilinear attention networks (Kim et al., ICLR 2017),
on tiny configs."""

from functools import partial

import pytest
import torch
from conftest import IMAGE_FEATURE_SIZE, linear_by_hand, make_vqa_model, question_vectors_by_hand, random_inputs, tiny_vqa_config
from vqa_checks import (
    assert_auto_classes_round_trip,
    assert_image_index_equals_repeating_the_image,
    assert_learns_color_task,
    assert_masked_regions_ignored,
    assert_pipeline_matches_model,
    assert_rejects_bad_inputs,
)

from hf_mmattn import MlbConfig, MlbForVisualQuestionAnswering, MlbModel
from hf_mmattn.layers.fusion import BlockDiagonalLinear


def mlb_config(image_encoder: str = "features", vocab_size: int = 9, **overrides) -> MlbConfig:
    """A tiny MlbConfig (see conftest.tiny_vqa_config)."""
    return tiny_vqa_config(MlbConfig, image_encoder, vocab_size, **overrides)


make_mlb = partial(make_vqa_model, MlbConfig)


def _expected_mlb(model, question, regions, region_mask):
    """The attention and answer equations of the paper (section 4) written out with the model's
    weights, one glimpse at a time."""
    fusion, config = model.attention.fusion, model.config
    joint = torch.tanh(linear_by_hand(fusion.question_projection, question))[:, None] * torch.tanh(linear_by_hand(fusion.image_projection, regions))
    scores = linear_by_hand(model.attention.score[-1], joint)  # P_α: (batch, regions, G)
    if region_mask is not None:
        scores = scores.masked_fill(region_mask[:, :, None] == 0, -torch.inf)
    alphas = [torch.softmax(scores[:, :, g], dim=1) for g in range(config.num_glimpses)]
    glimpses = [(alpha[:, :, None] * regions).sum(1) for alpha in alphas]
    answer = model.answer_fusion
    if config.glimpse_projection == "per_glimpse":
        image = torch.cat([torch.tanh(linear_by_hand(block, v)) for block, v in zip(answer.image_projection.blocks, glimpses, strict=True)], dim=-1)
    else:
        image = torch.tanh(linear_by_hand(answer.image_projection, torch.cat(glimpses, dim=-1)))
    pooled = torch.tanh(linear_by_hand(answer.question_projection, question)) * image
    return alphas, pooled


# --- the model against its equations ----------------------------------------------------------

@pytest.mark.parametrize("glimpse_projection", ["per_glimpse", "joint"])
def test_attention_and_answer_match_the_equations_in_float64(glimpse_projection):
    model = make_mlb("features", head=False, glimpse_projection=glimpse_projection, num_glimpses=3).double()
    inputs = random_inputs(model.config, batch=3)
    inputs["image_features"] = inputs["image_features"].double()
    inputs["image_attention_mask"] = torch.tensor([[1] * 7, [1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0, 0]])
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
        question = question_vectors_by_hand(model, inputs["input_ids"], inputs["attention_mask"])
        alphas, pooled = _expected_mlb(model, question, inputs["image_features"], inputs["image_attention_mask"])
    torch.testing.assert_close(output.question_embeds, question, rtol=1e-12, atol=1e-12)
    assert len(output.attentions) == 3
    for actual, expected in zip(output.attentions, alphas, strict=True):
        torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-12)
    assert output.pooled_output.shape == (3, 3 * 5)
    torch.testing.assert_close(output.pooled_output, pooled, rtol=1e-12, atol=1e-12)


def test_answer_is_the_classifier_of_the_answer_product():
    model = make_mlb("features")
    inputs = random_inputs(model.config)
    with torch.no_grad():
        output = model(**inputs)
        pooled = model.model(**inputs).pooled_output
    torch.testing.assert_close(output.pooled_output, pooled)
    torch.testing.assert_close(output.logits, linear_by_hand(model.classifier.layers[-1], pooled))


def test_per_glimpse_projection_is_a_block_diagonal_map():
    """The code's separate Linear per glimpse equals one Linear over the concatenated glimpses
    whose off-diagonal blocks are zero; the "joint" form learns those blocks too."""
    per_glimpse = make_mlb("features", head=False).answer_fusion.image_projection
    assert isinstance(per_glimpse, BlockDiagonalLinear) and len(per_glimpse.blocks) == 2
    assert [tuple(block.weight.shape) for block in per_glimpse.blocks] == [(5, IMAGE_FEATURE_SIZE)] * 2
    dense = torch.block_diag(*(block.weight for block in per_glimpse.blocks))
    bias = torch.cat([block.bias for block in per_glimpse.blocks])
    glimpses = torch.randn(4, 2 * IMAGE_FEATURE_SIZE)
    with torch.no_grad():
        torch.testing.assert_close(per_glimpse(glimpses), glimpses @ dense.T + bias)
    joint = make_mlb("features", head=False, glimpse_projection="joint").answer_fusion.image_projection
    assert isinstance(joint, torch.nn.Linear) and joint.weight.shape == (10, 2 * IMAGE_FEATURE_SIZE)


def test_dropout_sits_where_the_authors_code_puts_it():
    """netdef/MLB.lua: dropout before every projection of q, the regions and the glimpses, and
    before the classifier; none between the attention's product and its 1x1 convolution."""
    model = make_mlb("features", dropout=0.3)
    assert model.model.attention.fusion.dropout.p == 0.3
    assert model.model.answer_fusion.dropout.p == 0.3
    assert model.classifier.layers[0].p == 0.3
    assert [type(layer) for layer in model.model.attention.score] == [torch.nn.Dropout, torch.nn.Linear]
    assert model.model.attention.score[0].p == 0.0
    # In training mode dropout changes the answer; in eval mode it does not.
    inputs = random_inputs(model.config)
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, model(**inputs).logits)
        model.train()
        assert not torch.allclose(model(**inputs).logits, model(**inputs).logits)


@pytest.mark.parametrize("activation", ["relu", "none"])
def test_fusion_activation_switch(activation):
    model = make_mlb("features", head=False, fusion_activation=activation)
    inputs = random_inputs(model.config, batch=2)
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
        answer = model.answer_fusion
        glimpses = [(a[:, :, None] * inputs["image_features"]).sum(1) for a in output.attentions]
        sigma = torch.relu if activation == "relu" else (lambda x: x)
        image = torch.cat([sigma(linear_by_hand(block, v)) for block, v in zip(answer.image_projection.blocks, glimpses, strict=True)], -1)
        expected = sigma(linear_by_hand(answer.question_projection, output.question_embeds)) * image
    torch.testing.assert_close(output.pooled_output, expected)


# --- attention maps, masks, image_index --------------------------------------------------------

@pytest.mark.parametrize(("image_encoder", "grid"), [("scratch_cnn", (8, 8)), ("backbone", (2, 2))])
def test_glimpse_maps_sum_to_one_over_the_grid(image_encoder, grid):
    model = make_mlb(image_encoder, num_glimpses=3)
    inputs = random_inputs(model.config, batch=2)
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
        quiet = model(**inputs)
    assert output.image_grid_size == grid and quiet.attentions is None
    assert len(output.attentions) == 3
    for attention in output.attentions:
        assert attention.shape == (2, grid[0] * grid[1]) and (attention >= 0).all()
        torch.testing.assert_close(attention.sum(-1), torch.ones(2))
    assert not torch.allclose(output.attentions[0], output.attentions[1])  # each glimpse its own map
    torch.testing.assert_close(quiet.logits, output.logits)


def test_masked_regions_get_zero_weight_and_do_not_change_the_answer():
    output = assert_masked_regions_ignored(make_mlb("features"))
    assert len(output.attentions) == 2


@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "features"])
def test_image_index_equals_repeating_the_image(image_encoder):
    assert_image_index_equals_repeating_the_image(make_mlb(image_encoder))


# --- the three image inputs and save / load ----------------------------------------------------

@pytest.mark.parametrize(("image_encoder", "grid"), [("scratch_cnn", (8, 8)), ("backbone", (2, 2)), ("features", None)])
def test_round_trip_through_the_auto_classes(tmp_path, image_encoder, grid):
    model = make_mlb(image_encoder, freeze_backbone=False, glimpse_projection="per_glimpse")
    expected, config, card = assert_auto_classes_round_trip(tmp_path, model, random_inputs(model.config), MlbConfig, MlbModel)
    assert expected.image_grid_size == grid
    regions = 7 if grid is None else grid[0] * grid[1]
    assert [a.shape for a in expected.attentions] == [(3, regions)] * 2
    assert (config.joint_size, config.num_glimpses, config.glimpse_projection) == (5, 2, "per_glimpse")
    assert "Low-rank Bilinear" in card and "| `joint_size` | 5 |" in card and "| `glimpse_projection` | per_glimpse |" in card


def test_config_defaults_are_the_papers_and_fields_are_validated():
    config = MlbConfig()
    assert (config.word_embedding_size, config.question_hidden_size, config.joint_size, config.num_glimpses) == (620, 2400, 1200, 2)
    assert (config.image_feature_size, config.dropout, config.fusion_activation, config.answer_head) == (2048, 0.5, "tanh", "linear")
    assert config.glimpse_projection == "per_glimpse" and config.answer_joint_size == 2400
    model = MlbModel(mlb_config("features"))
    assert isinstance(model.question_encoder.lstm, torch.nn.GRU) and not model.question_encoder.lstm.bidirectional
    for field, value in (("glimpse_projection", "dense"), ("fusion_activation", "sigmoid"), ("num_glimpses", 0), ("joint_size", 0)):
        with pytest.raises(ValueError, match=field):
            MlbConfig(**{field: value})


# --- bad inputs -----------------------------------------------------------------------------

@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "features"])
def test_bad_inputs_raise_clear_errors(image_encoder):
    assert_rejects_bad_inputs(make_mlb(image_encoder), make_mlb(image_encoder, head=False))


# --- learning and the pipeline ----------------------------------------------------------------

def test_tiny_model_learns_the_color_task(color_processor_16):
    torch.manual_seed(0)
    config = mlb_config(
        "scratch_cnn", vocab_size=len(color_processor_16.tokenizer), question_hidden_size=12, joint_size=10,
        scratch_cnn_channels=[8, 8], answer_head="mlp", dropout=0.0,
    )
    assert_learns_color_task(MlbForVisualQuestionAnswering(config), color_processor_16)


def test_pipeline_returns_the_glimpse_maps(tmp_path, color_processor_16):
    model = make_mlb("scratch_cnn", vocab_size=len(color_processor_16.tokenizer), scratch_cnn_channels=[4, 8])
    result = assert_pipeline_matches_model(tmp_path, model, color_processor_16, "red", "is it red?")
    assert len(result["attentions"]) == 2 and "question_attentions" not in result
