"""Tests of MUTAN, Multimodal Tucker fusion with attention (Ben-Younes et al., ICCV 2017), on
tiny configs."""

import numpy as np
import pytest
import torch
from conftest import IMAGE_FEATURE_SIZE, TINY_RESNET, color_image, label_maps, random_inputs
from test_models import _bad_input_cases, _color_task
from transformers import AutoConfig, AutoModel, AutoModelForVisualQuestionAnswering, pipeline

from hf_mmattn import MutanConfig, MutanForVisualQuestionAnswering, MutanModel
from hf_mmattn.layers.fusion import BlockDiagonalLinear, MutanFusion, TuckerFusion

# t_q = t_v = 5, t_o = 7, R = 3 in the attention; t_q = 4, t_v = 2 x 3, t_o = 6, R = 2 in the answer.
TINY_SIZES = dict(
    attention_projected_size=5, attention_fused_size=7, attention_rank=3,
    question_projected_size=4, glimpse_projected_size=3, fused_size=6, rank=2,
)


def mutan_config(image_encoder: str = "features", vocab_size: int = 9, **overrides) -> MutanConfig:
    """A tiny MutanConfig reading 64x64 pixels (scratch CNN -> 8x8 grid, tiny ResNet -> 2x2 grid)
    or 6-d region features."""
    settings = dict(
        vocab_size=vocab_size, pad_token_id=0, word_embedding_size=8, question_hidden_size=6, num_glimpses=2,
        answer_hidden_size=16, image_encoder=image_encoder, **TINY_SIZES, **label_maps(),
    )
    if image_encoder == "scratch_cnn":
        settings["scratch_cnn_channels"] = [4, 8, 8]
    elif image_encoder == "backbone":
        settings["backbone_config"] = dict(TINY_RESNET)
    else:
        settings["image_feature_size"] = IMAGE_FEATURE_SIZE
    settings.update(overrides)
    return MutanConfig(**settings)


def make_mutan(image_encoder: str = "features", head: bool = True, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    config = mutan_config(image_encoder, **overrides)
    return (MutanForVisualQuestionAnswering if head else MutanModel)(config).eval()


def _linear(layer, x):
    return x @ layer.weight.T + layer.bias


def _question_vectors(model, input_ids, attention_mask):
    """q: the GRU's last hidden state, each question run alone over its real words."""
    encoder = model.question_encoder
    vectors = []
    for ids, mask in zip(input_ids, attention_mask):
        _, h_n = encoder.lstm(encoder.embedding(ids[: int(mask.sum())])[None])
        vectors.append(h_n[-1, 0])
    return torch.stack(vectors)


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
    fusion = model.attention.fusion
    q_tilde = torch.tanh(_linear(fusion.question_projection, question))[:, None]
    v_tilde = torch.tanh(_linear(fusion.image_projection, regions))
    scores = _linear(model.attention.score[-1], squash(_tucker_product(fusion, q_tilde, v_tilde)))  # (batch, regions, G)
    if region_mask is not None:
        scores = scores.masked_fill(region_mask[:, :, None] == 0, -torch.inf)
    alphas = [torch.softmax(scores[:, :, g], dim=1) for g in range(config.num_glimpses)]
    glimpses = [(alpha[:, :, None] * regions).sum(1) for alpha in alphas]
    answer = model.answer_fusion
    if config.glimpse_projection == "per_glimpse":
        v_tilde = torch.cat([torch.tanh(_linear(block, v)) for block, v in zip(answer.image_projection.blocks, glimpses)], dim=-1)
    else:
        v_tilde = torch.tanh(_linear(answer.image_projection, torch.cat(glimpses, dim=-1)))
    q_tilde = torch.tanh(_linear(answer.question_projection, question))
    return alphas, squash(_tucker_product(answer, q_tilde, v_tilde))


# --- the model against its equations ----------------------------------------------------------

@pytest.mark.parametrize(
    ("fusion", "output_activation", "glimpse_projection"),
    [("mutan", "none", "per_glimpse"), ("mutan", "tanh", "joint"), ("tucker", "none", "per_glimpse"), ("tucker", "tanh", "joint")],
)
def test_attention_and_answer_match_the_tucker_equations_in_float64(fusion, output_activation, glimpse_projection):
    model = make_mutan(
        "features", head=False, fusion=fusion, fusion_output_activation=output_activation,
        glimpse_projection=glimpse_projection, num_glimpses=3,
    ).double()
    inputs = random_inputs(model.config, batch=3)
    inputs["image_features"] = inputs["image_features"].double()
    inputs["image_attention_mask"] = torch.tensor([[1] * 7, [1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0, 0]])
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
        question = _question_vectors(model, inputs["input_ids"], inputs["attention_mask"])
        alphas, pooled = _expected_mutan(model, question, inputs["image_features"], inputs["image_attention_mask"])
    torch.testing.assert_close(output.question_embeds, question, rtol=1e-12, atol=1e-12)
    assert len(output.attentions) == 3
    for actual, expected in zip(output.attentions, alphas):
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
    torch.testing.assert_close(output.logits, _linear(model.classifier.layers[-1], pooled))


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
    model = make_mutan("features", fusion=fusion)
    features = torch.randn(2, 6, IMAGE_FEATURE_SIZE, generator=torch.Generator().manual_seed(3))
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]])
    inputs = random_inputs(model.config, batch=2)
    inputs.update(image_features=features, image_attention_mask=mask)
    changed = features.clone()
    changed[mask == 0] = 1000.0
    with torch.no_grad():
        a = model(**inputs, output_attentions=True)
        b = model(**dict(inputs, image_features=changed), output_attentions=True)
        alone = [
            model(**{k: v[row : row + 1] for k, v in inputs.items() if k not in ("image_features", "image_attention_mask")},
                  image_features=features[row : row + 1, : int(mask[row].sum())]).logits[0]
            for row in range(2)
        ]
    torch.testing.assert_close(a.logits, b.logits)
    torch.testing.assert_close(a.logits, torch.stack(alone))
    assert a.image_grid_size is None and len(a.attentions) == 2
    for attention in a.attentions:
        assert (attention[mask == 0] == 0).all()
        torch.testing.assert_close(attention.sum(-1), torch.ones(2))


@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "features"])
def test_image_index_equals_repeating_the_image(image_encoder):
    model = make_mutan(image_encoder)
    inputs = random_inputs(model.config, batch=5)
    image_key = "image_features" if image_encoder == "features" else "pixel_values"
    images = inputs[image_key][:2]
    image_index = torch.tensor([1, 0, 1, 1, 0])
    with torch.no_grad():
        shared = model(**dict(inputs, **{image_key: images}, image_index=image_index), output_attentions=True)
        repeated = model(**dict(inputs, **{image_key: images[image_index]}), output_attentions=True)
        other = model(**dict(inputs, **{image_key: images}, image_index=1 - image_index))
    torch.testing.assert_close(shared.logits, repeated.logits)
    for x, y in zip(shared.attentions, repeated.attentions):
        torch.testing.assert_close(x, y)
    assert not torch.allclose(shared.logits, other.logits)


# --- the three image inputs and save / load ----------------------------------------------------

@pytest.mark.parametrize(
    ("image_encoder", "grid", "fusion"),
    [("scratch_cnn", (8, 8), "mutan"), ("backbone", (2, 2), "mutan"), ("features", None, "mutan"), ("features", None, "tucker")],
)
def test_round_trip_through_the_auto_classes(tmp_path, image_encoder, grid, fusion):
    model = make_mutan(image_encoder, freeze_backbone=False, fusion=fusion)
    inputs = random_inputs(model.config)
    if image_encoder != "features":  # move the BatchNorm statistics off their defaults
        model.train()
        with torch.no_grad():
            model(**inputs)
        model.eval()
    with torch.no_grad():
        expected = model(**inputs, output_attentions=True)
    assert expected.image_grid_size == grid
    regions = 7 if grid is None else grid[0] * grid[1]
    assert [a.shape for a in expected.attentions] == [(3, regions)] * 2
    model.save_pretrained(tmp_path)

    config = AutoConfig.from_pretrained(tmp_path)
    assert type(config) is MutanConfig and config.model_type == "mmattn_mutan"
    assert (config.fusion, config.attention_rank, config.rank, config.fused_size) == (fusion, 3, 2, 6)
    loaded = AutoModelForVisualQuestionAnswering.from_pretrained(tmp_path)
    assert type(loaded) is MutanForVisualQuestionAnswering and not loaded.training
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, rtol=0, atol=0)
    with torch.no_grad():
        actual = loaded(**inputs, output_attentions=True)
    torch.testing.assert_close(actual.logits, expected.logits, rtol=1e-6, atol=1e-6)
    for x, y in zip(actual.attentions, expected.attentions):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-6)

    base = AutoModel.from_pretrained(tmp_path).eval()
    assert type(base) is MutanModel
    with torch.no_grad():
        torch.testing.assert_close(base(**inputs).pooled_output, expected.pooled_output, rtol=1e-6, atol=1e-6)
    card = (tmp_path / "README.md").read_text()
    assert "Tucker" in card and f"| `fusion` | {fusion} |" in card and "| `attention_rank` | 3 |" in card


def test_config_defaults_are_the_released_attention_model_and_fields_are_validated():
    config = MutanConfig()
    assert (config.word_embedding_size, config.question_hidden_size, config.image_feature_size) == (620, 2400, 2048)
    assert (config.attention_projected_size, config.attention_fused_size, config.attention_rank, config.num_glimpses) == (310, 510, 5, 2)
    assert (config.question_projected_size, config.glimpse_projected_size, config.fused_size, config.rank) == (310, 310, 510, 5)
    assert (config.fusion, config.fusion_output_activation, config.glimpse_projection) == ("mutan", "none", "per_glimpse")
    assert (config.dropout, config.answer_head) == (0.5, "linear")
    model = MutanModel(mutan_config("features"))
    assert isinstance(model.question_encoder.lstm, torch.nn.GRU) and not model.question_encoder.lstm.bidirectional
    for field, value in (
        ("fusion", "block"), ("fusion_output_activation", "relu"), ("glimpse_projection", "dense"),
        ("attention_rank", 0), ("rank", 0), ("num_glimpses", 0), ("fused_size", 0),
    ):
        with pytest.raises(ValueError, match=field):
            MutanConfig(**{field: value})


# --- bad inputs -----------------------------------------------------------------------------

@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "features"])
def test_bad_inputs_raise_clear_errors(image_encoder):
    model = make_mutan(image_encoder)
    for name, inputs, message in _bad_input_cases(model.config):
        with pytest.raises(ValueError, match=message):
            model(**inputs)
    with pytest.raises(ValueError, match="input_ids is required"):
        make_mutan(image_encoder, head=False)(image_features=torch.randn(1, 2, IMAGE_FEATURE_SIZE))


# --- learning and the pipeline ----------------------------------------------------------------

@pytest.mark.parametrize("fusion", ["mutan", "tucker"])
def test_tiny_model_learns_the_color_task(color_processor_16, fusion):
    torch.manual_seed(0)
    train = _color_task(color_processor_16, seed=0)
    held_out = _color_task(color_processor_16, seed=1000)
    config = mutan_config(
        "scratch_cnn", vocab_size=len(color_processor_16.tokenizer), question_hidden_size=12, fusion=fusion,
        scratch_cnn_channels=[8, 8], answer_head="mlp", dropout=0.0,
    )
    model = MutanForVisualQuestionAnswering(config).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def accuracy(batch):
        model.eval()
        with torch.no_grad():
            predictions = model(**{k: v for k, v in batch.items() if k != "labels"}).logits.argmax(-1)
        model.train()
        return (predictions == batch["labels"]).float().mean().item()

    assert accuracy(train) < 0.8
    first_loss = None
    for _ in range(120):
        loss = model(**train).loss
        first_loss = first_loss if first_loss is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * first_loss
    assert accuracy(train) > 0.95
    assert accuracy(held_out) > 0.95


def test_pipeline_returns_the_glimpse_maps(tmp_path, color_processor_16):
    import hf_mmattn  # noqa: F401  (registers the pipeline)

    torch.manual_seed(0)
    config = mutan_config("scratch_cnn", vocab_size=len(color_processor_16.tokenizer), scratch_cnn_channels=[4, 8])
    model = MutanForVisualQuestionAnswering(config).eval()
    model.save_pretrained(tmp_path)
    color_processor_16.save_pretrained(tmp_path)

    vqa = pipeline("visual-question-answering", model=str(tmp_path))
    image, question = color_image("blue", seed=7), "what color is it?"
    result = vqa(image=image, question=question, top_k=2, return_attention=True)
    with torch.no_grad():
        expected = model(**color_processor_16(images=image, text=question), output_attentions=True)
    scores = expected.logits[0].softmax(-1).double()
    order = scores.argsort(descending=True)[:2]
    assert [r["answer"] for r in result["answers"]] == [config.id2label[int(i)] for i in order]
    np.testing.assert_allclose([r["score"] for r in result["answers"]], scores[order].numpy(), rtol=1e-5)
    assert result["image_grid_size"] == (4, 4) and len(result["attentions"]) == 2
    for attention, reference in zip(result["attentions"], expected.attentions):
        assert attention.shape == (4, 4) and attention.sum() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(attention, reference[0].reshape(4, 4).numpy(), rtol=1e-5, atol=1e-7)
