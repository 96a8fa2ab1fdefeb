"""Tests of MUTAN, Multimodal Tucker fusion with attention (Ben-Younes et al., ICCV 2017), on
tiny configs."""

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

from hf_mmattn import MutanConfig, MutanForVisualQuestionAnswering, MutanModel
from hf_mmattn.layers.fusion import BlockDiagonalLinear, MutanFusion, TuckerFusion


def mutan_config(image_encoder: str = "features", vocab_size: int = 9, **overrides) -> MutanConfig:
    """A tiny MutanConfig (see conftest.tiny_vqa_config): t_q = t_v = 5, t_o = 7, R = 3 in the
    attention; t_q = 4, t_v = 2 x 3, t_o = 6, R = 2 in the answer."""
    return tiny_vqa_config(MutanConfig, image_encoder, vocab_size, **overrides)


make_mutan = partial(make_vqa_model, MutanConfig)


def _tucker_product(fusion, q_tilde, v_tilde):
    """z = τ_c ×_1 q̃ ×_2 ṽ, with the core τ_c written out as a (t_q, t_v, t_o) tensor: for MUTAN
    τ_c[:, :, k] = Σ_r w_q^{r,k} (w_v^{r,k})^T (eq. 8-9) and the factor biases as the extra
    terms they add; for Tucker the nn.Bilinear weight."""
    if isinstance(fusion, TuckerFusion):
        return torch.einsum("...i,kij,...j->...k", q_tilde, fusion.core.weight, v_tilde) + fusion.core.bias
    rank, t_o = fusion.rank, fusion.fused_size
    w_q = fusion.question_factors.weight.view(rank, t_o, -1)  # W_q^r rows
    w_v = fusion.image_factors.weight.view(rank, t_o, -1)
    b_q, b_v = fusion.question_factors.bias.view(rank, t_o), fusion.image_factors.bias.view(rank, t_o)
    core = torch.einsum("rki,rkj->ijk", w_q, w_v)
    bilinear = torch.einsum("...i,ijk,...j->...k", q_tilde, core, v_tilde)
    linear_terms = torch.einsum("...i,rki,rk->...k", q_tilde, w_q, b_v) + torch.einsum("...j,rkj,rk->...k", v_tilde, w_v, b_q)
    return bilinear + linear_terms + (b_q * b_v).sum(0)


def _expected_mutan(model, question, regions, region_mask):
    """The attention and answer of the paper written out with the model's weights, one glimpse at
    a time, the fusions as Tucker products with an explicit core tensor."""
    config = model.config
    squash = torch.tanh if config.fusion_output_activation == "tanh" else (lambda z: z)
    project = torch.tanh if config.fusion_projection_activation == "tanh" else (lambda z: z)
    fusion = model.attention.fusion
    q_tilde = project(linear_by_hand(fusion.question_projection, question))[:, None]
    v_tilde = project(linear_by_hand(fusion.image_projection, regions))
    scores = linear_by_hand(model.attention.score[-1], squash(_tucker_product(fusion, q_tilde, v_tilde)))  # (batch, regions, G)
    if region_mask is not None:
        scores = scores.masked_fill(region_mask[:, :, None] == 0, -torch.inf)
    alphas = [torch.softmax(scores[:, :, g], dim=1) for g in range(config.num_glimpses)]
    glimpses = [(alpha[:, :, None] * regions).sum(1) for alpha in alphas]
    answer = model.answer_fusion
    if config.glimpse_projection == "per_glimpse":
        v_tilde = torch.cat([project(linear_by_hand(block, v)) for block, v in zip(answer.image_projection.blocks, glimpses, strict=True)], dim=-1)
    else:
        v_tilde = project(linear_by_hand(answer.image_projection, torch.cat(glimpses, dim=-1)))
    q_tilde = project(linear_by_hand(answer.question_projection, question))
    return alphas, squash(_tucker_product(answer, q_tilde, v_tilde))


# --- the model against its equations ----------------------------------------------------------

@pytest.mark.parametrize(
    ("fusion", "projection_activation", "output_activation", "glimpse_projection"),
    [
        ("mutan", "tanh", "none", "per_glimpse"), ("mutan", "tanh", "tanh", "joint"), ("mutan", "none", "none", "per_glimpse"),
        ("tucker", "tanh", "none", "per_glimpse"), ("tucker", "none", "tanh", "joint"),
    ],
)
def test_attention_and_answer_match_the_tucker_equations_in_float64(fusion, projection_activation, output_activation, glimpse_projection):
    model = make_mutan(
        "features", head=False, fusion=fusion, fusion_projection_activation=projection_activation,
        fusion_output_activation=output_activation, glimpse_projection=glimpse_projection, num_glimpses=3,
    ).double()
    inputs = random_inputs(model.config, batch=3)
    inputs["image_features"] = inputs["image_features"].double()
    inputs["image_attention_mask"] = torch.tensor([[1] * 7, [1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0, 0]])
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
        question = question_vectors_by_hand(model, inputs["input_ids"], inputs["attention_mask"])
        alphas, pooled = _expected_mutan(model, question, inputs["image_features"], inputs["image_attention_mask"])
    torch.testing.assert_close(output.question_embeds, question, rtol=1e-12, atol=1e-12)
    assert len(output.attentions) == 3
    for actual, expected in zip(output.attentions, alphas, strict=True):
        torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-12)
    assert output.pooled_output.shape == (3, 6)
    torch.testing.assert_close(output.pooled_output, pooled, rtol=1e-10, atol=1e-12)
    if output_activation == "tanh":
        assert output.pooled_output.abs().max() < 1


def test_answer_is_the_classifier_of_the_fused_vector():
    model = make_mutan("features")
    inputs = random_inputs(model.config)
    with torch.no_grad():
        output = model(**inputs)
        pooled = model.model(**inputs).pooled_output
    torch.testing.assert_close(output.pooled_output, pooled)
    torch.testing.assert_close(output.logits, linear_by_hand(model.classifier.layers[-1], pooled))


def test_mutan_and_tucker_switch_builds_the_named_fusion_in_both_places():
    mutan, tucker = make_mutan("features", head=False), make_mutan("features", head=False, fusion="tucker")
    assert isinstance(mutan.attention.fusion, MutanFusion) and isinstance(mutan.answer_fusion, MutanFusion)
    assert isinstance(tucker.attention.fusion, TuckerFusion) and isinstance(tucker.answer_fusion, TuckerFusion)
    # Core sizes (t_q, t_v, t_o): the attention 5 x 5 x 7, the answer 4 x (2 x 3) x 6.
    assert tucker.attention.fusion.core.weight.shape == (7, 5, 5)
    assert tucker.answer_fusion.core.weight.shape == (6, 4, 6)
    assert mutan.attention.fusion.question_factors.weight.shape == (3 * 7, 5)
    assert mutan.answer_fusion.question_factors.weight.shape == (2 * 6, 4)
    assert mutan.answer_fusion.image_factors.weight.shape == (2 * 6, 6)
    # Everything but the fusions' cores is shared, so the two forms differ only there.
    shared = {name for name, _ in tucker.named_parameters() if ".core." not in name}
    assert shared <= {name for name, _ in mutan.named_parameters()}
    inputs = random_inputs(mutan.config)
    with torch.no_grad():
        assert not torch.allclose(mutan(**inputs).pooled_output, tucker(**inputs).pooled_output)


def test_per_glimpse_projection_is_a_block_diagonal_map():
    per_glimpse = make_mutan("features", head=False).answer_fusion.image_projection
    assert isinstance(per_glimpse, BlockDiagonalLinear) and len(per_glimpse.blocks) == 2
    assert [tuple(block.weight.shape) for block in per_glimpse.blocks] == [(3, IMAGE_FEATURE_SIZE)] * 2
    dense = torch.block_diag(*(block.weight for block in per_glimpse.blocks))
    bias = torch.cat([block.bias for block in per_glimpse.blocks])
    glimpses = torch.randn(4, 2 * IMAGE_FEATURE_SIZE)
    with torch.no_grad():
        torch.testing.assert_close(per_glimpse(glimpses), glimpses @ dense.T + bias)
    joint = make_mutan("features", head=False, glimpse_projection="joint").answer_fusion.image_projection
    assert isinstance(joint, torch.nn.Linear) and joint.weight.shape == (6, 2 * IMAGE_FEATURE_SIZE)


@pytest.mark.parametrize("fusion", ["mutan", "tucker"])
def test_factor_init_gain_scales_only_the_factor_matrices_and_reloads(tmp_path, fusion):
    gain = 3.0
    model = make_mutan(fusion=fusion, factor_init_gain=gain, attention_fused_size=64, fused_size=64)
    plain = make_mutan(fusion=fusion, attention_fused_size=64, fused_size=64)
    for scaled_fusion, plain_fusion in ((model.model.attention.fusion, plain.model.attention.fusion), (model.model.answer_fusion, plain.model.answer_fusion)):
        factors = [scaled_fusion.core] if fusion == "tucker" else [scaled_fusion.question_factors, scaled_fusion.image_factors]
        for layer in factors:
            bound = gain / layer.weight.shape[1] ** 0.5
            # U(±g/√fan_in): inside the bound and spread over it (the default would stay within bound/3).
            assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.9 * bound
            assert layer.weight.std().item() == pytest.approx(bound / 3**0.5, rel=0.15)
        for name in ("question_projection", "image_projection"):
            projection = getattr(scaled_fusion, name)
            weight = projection.weight if hasattr(projection, "weight") else projection.blocks[0].weight
            assert weight.abs().max() <= 1 / weight.shape[1] ** 0.5
    model.save_pretrained(tmp_path)
    reloaded = MutanForVisualQuestionAnswering.from_pretrained(tmp_path)
    for (name, expected), actual in zip(model.state_dict().items(), reloaded.state_dict().values(), strict=True):
        torch.testing.assert_close(actual, expected, rtol=0, atol=0, msg=name)


def test_dropout_sits_where_the_released_code_puts_it():
    """vqa.pytorch MutanAtt: dropout on q and the regions before the attention's projections, on
    the fused vectors before the 1x1 convolution, on q and the glimpses before the answer
    projections, and before the classifier."""
    model = make_mutan("features", dropout=0.3)
    assert model.model.attention.fusion.dropout.p == 0.3
    assert model.model.attention.score[0].p == 0.3
    assert model.model.answer_fusion.dropout.p == 0.3
    assert model.classifier.layers[0].p == 0.3
    inputs = random_inputs(model.config)
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, model(**inputs).logits)
        model.train()
        assert not torch.allclose(model(**inputs).logits, model(**inputs).logits)


# --- attention maps, masks, image_index --------------------------------------------------------

@pytest.mark.parametrize(("image_encoder", "grid"), [("scratch_cnn", (8, 8)), ("backbone", (2, 2))])
def test_glimpse_maps_sum_to_one_over_the_grid(image_encoder, grid):
    model = make_mutan(image_encoder, num_glimpses=3)
    inputs = random_inputs(model.config, batch=2)
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
        quiet = model(**inputs)
    assert output.image_grid_size == grid and quiet.attentions is None
    assert len(output.attentions) == 3
    for attention in output.attentions:
        assert attention.shape == (2, grid[0] * grid[1]) and (attention >= 0).all()
        torch.testing.assert_close(attention.sum(-1), torch.ones(2))
    assert not torch.allclose(output.attentions[0], output.attentions[1])
    torch.testing.assert_close(quiet.logits, output.logits)


@pytest.mark.parametrize("fusion", ["mutan", "tucker"])
def test_masked_regions_get_zero_weight_and_do_not_change_the_answer(fusion):
    output = assert_masked_regions_ignored(make_mutan("features", fusion=fusion))
    assert len(output.attentions) == 2


@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "features"])
def test_image_index_equals_repeating_the_image(image_encoder):
    assert_image_index_equals_repeating_the_image(make_mutan(image_encoder))


# --- the three image inputs and save / load ----------------------------------------------------

@pytest.mark.parametrize(
    ("image_encoder", "grid", "fusion"),
    [("scratch_cnn", (8, 8), "mutan"), ("backbone", (2, 2), "mutan"), ("features", None, "mutan"), ("features", None, "tucker")],
)
def test_round_trip_through_the_auto_classes(tmp_path, image_encoder, grid, fusion):
    model = make_mutan(image_encoder, freeze_backbone=False, fusion=fusion)
    expected, config, card = assert_auto_classes_round_trip(tmp_path, model, random_inputs(model.config), MutanConfig, MutanModel)
    assert expected.image_grid_size == grid
    regions = 7 if grid is None else grid[0] * grid[1]
    assert [a.shape for a in expected.attentions] == [(3, regions)] * 2
    assert (config.fusion, config.attention_rank, config.rank, config.fused_size) == (fusion, 3, 2, 6)
    assert "Tucker" in card and f"| `fusion` | {fusion} |" in card and "| `attention_rank` | 3 |" in card


def test_config_defaults_are_the_released_attention_model_and_fields_are_validated():
    config = MutanConfig()
    assert (config.word_embedding_size, config.question_hidden_size, config.image_feature_size) == (620, 2400, 2048)
    assert (config.attention_projected_size, config.attention_fused_size, config.attention_rank, config.num_glimpses) == (310, 510, 5, 2)
    assert (config.question_projected_size, config.glimpse_projected_size, config.fused_size, config.rank) == (310, 310, 510, 5)
    assert (config.fusion, config.fusion_projection_activation, config.fusion_output_activation) == ("mutan", "tanh", "none")
    assert (config.glimpse_projection, config.factor_init_gain) == ("per_glimpse", 1.0)
    assert (config.dropout, config.answer_head) == (0.5, "linear")
    model = MutanModel(mutan_config("features"))
    assert isinstance(model.question_encoder.lstm, torch.nn.GRU) and not model.question_encoder.lstm.bidirectional
    for field, value in (
        ("fusion", "block"), ("fusion_projection_activation", "sigmoid"), ("fusion_output_activation", "gelu"),
        ("glimpse_projection", "dense"), ("factor_init_gain", 0.0),
        ("attention_rank", 0), ("rank", 0), ("num_glimpses", 0), ("fused_size", 0),
    ):
        with pytest.raises(ValueError, match=field):
            MutanConfig(**{field: value})


# --- bad inputs -----------------------------------------------------------------------------

@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "features"])
def test_bad_inputs_raise_clear_errors(image_encoder):
    assert_rejects_bad_inputs(make_mutan(image_encoder), make_mutan(image_encoder, head=False))


# --- learning and the pipeline ----------------------------------------------------------------

@pytest.mark.parametrize("fusion", ["mutan", "tucker"])
def test_tiny_model_learns_the_color_task(color_processor_16, fusion):
    torch.manual_seed(0)
    config = mutan_config(
        "scratch_cnn", vocab_size=len(color_processor_16.tokenizer), question_hidden_size=12, fusion=fusion,
        scratch_cnn_channels=[8, 8], answer_head="mlp", dropout=0.0,
    )
    assert_learns_color_task(MutanForVisualQuestionAnswering(config), color_processor_16)


def test_pipeline_returns_the_glimpse_maps(tmp_path, color_processor_16):
    model = make_mutan("scratch_cnn", vocab_size=len(color_processor_16.tokenizer), scratch_cnn_channels=[4, 8])
    result = assert_pipeline_matches_model(tmp_path, model, color_processor_16, "blue", "what color is it?")
    assert len(result["attentions"]) == 2 and "question_attentions" not in result
