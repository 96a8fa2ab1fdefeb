"""Tests of MCAN, Deep Modular Co-Attention Networks (Yu et al., CVPR 2019), on tiny configs: the
layers against their formulas, the model against a functional re-statement of the released code,
the converter in both key layouts, masks, layouts, attention implementations, save/load, learning."""

import json
import math
import re

import numpy as np
import pytest
import torch
from conftest import IMAGE_FEATURE_SIZE, random_inputs, tiny_vqa_config
from transformers import pipeline
from vqa_checks import (
    assert_auto_classes_round_trip,
    assert_image_index_equals_repeating_the_image,
    assert_learns_color_task,
    assert_masked_regions_ignored,
    assert_rejects_bad_inputs,
)

from hf_mmattn import MCAN_PRESETS, McanConfig, McanForVisualQuestionAnswering, McanModel
from hf_mmattn.convert import main as convert_main
from hf_mmattn.layers.masking import SequencePacking
from hf_mmattn.layers.modular_coattention import (
    AttentionalReduction,
    MultiHeadAttention,
    ReleasedLayerNorm,
    _ReleasedLayerNormFunction,
)
from hf_mmattn.models.mcan.convert_mcan import build_processor, build_token_to_ix, question_words


def mcan_config(image_encoder: str = "features", vocab_size: int = 9, **overrides) -> McanConfig:
    return tiny_vqa_config(McanConfig, image_encoder, vocab_size, **overrides)


def make_mcan(image_encoder: str = "features", head: bool = True, seed: int = 0, attn: str | None = None, **overrides):
    torch.manual_seed(seed)
    config = mcan_config(image_encoder, **overrides)
    model = (McanForVisualQuestionAnswering if head else McanModel)(config).eval()
    if attn is not None:
        model.set_attn_implementation(attn)
    return model


def randomize(model, seed=1):
    """Random LayerNorm parameters (they start at 1 and 0, where mistakes would not show)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.copy_(torch.rand(parameter.shape, generator=generator) + 0.5)
    return model


# --- layers against their formulas --------------------------------------------------------------

def released_layer_norm(x, a, b, eps):
    """net_utils.LayerNorm of the released code, as written there."""
    return a * (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + eps) + b


@pytest.mark.parametrize("eps", [1e-6, 0.5])
def test_released_layer_norm_matches_its_formula_values_and_gradients(eps):
    norm = ReleasedLayerNorm(7, eps=eps).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.normal_()
    x = torch.randn(3, 4, 7, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(3, 4, 7, dtype=torch.float64)
    ours = norm(x)
    expected = released_layer_norm(x, norm.weight, norm.bias, eps)
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)
    ours_grads = torch.autograd.grad(ours, (x, norm.weight, norm.bias), grad)
    expected_grads = torch.autograd.grad(expected, (x, norm.weight, norm.bias), grad)
    for actual, reference in zip(ours_grads, expected_grads, strict=True):
        torch.testing.assert_close(actual, reference, rtol=1e-10, atol=1e-10)
    assert torch.autograd.gradcheck(lambda x, w, b: _ReleasedLayerNormFunction.apply(x, w, b, eps), (x, norm.weight, norm.bias))
    # Not nn.LayerNorm: the unbiased std and eps outside the square root change the values.
    standard = torch.nn.functional.layer_norm(x, (7,), norm.weight, norm.bias, eps)
    assert (standard - ours).abs().max() > 1e-3


def test_released_layer_norm_in_float32_and_under_bf16_autocast():
    norm = ReleasedLayerNorm(512)
    x = torch.randn(2, 10, 512) * 3 + 1
    torch.testing.assert_close(norm(x), released_layer_norm(x, norm.weight, norm.bias, 1e-6), rtol=1e-5, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = norm(x.bfloat16())
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), released_layer_norm(x.bfloat16().float(), norm.weight, norm.bias, 1e-6), rtol=2e-2, atol=2e-2)
    constant = norm(torch.full((1, 512), 0.25))  # zero variance: finite, as the original's eps makes it
    assert torch.isfinite(constant).all()


def _mha_by_hand(layer, x, guide, key_mask):
    """MCAN eq. 1-2 with the layer's weights: per head softmax(q kᵀ / sqrt(d_h)) v, heads
    concatenated, W^o."""
    hidden, heads = x.shape[-1], layer.num_heads
    size = hidden // heads
    if layer.guided:
        q = x @ layer.query.weight.T + layer.query.bias
        k, v = (guide @ layer.key_value.weight.T + layer.key_value.bias).split(hidden, dim=-1)
    else:
        q, k, v = (x @ layer.query_key_value.weight.T + layer.query_key_value.bias).split(hidden, dim=-1)
    outputs, maps = [], []
    for h in range(heads):
        part = slice(h * size, (h + 1) * size)
        scores = q[..., part] @ k[..., part].transpose(-1, -2) / math.sqrt(size)
        scores = scores.masked_fill(~key_mask[:, None, :], -1e9)
        weights = torch.softmax(scores, dim=-1)
        maps.append(weights)
        outputs.append(weights @ v[..., part])
    return torch.cat(outputs, -1) @ layer.output.weight.T + layer.output.bias, torch.stack(maps, 1)


@pytest.mark.parametrize("guided", [False, True])
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_multi_head_attention_matches_the_formula(guided, attn):
    config = mcan_config(hidden_size=12, num_attention_heads=3)
    config._attn_implementation = attn
    torch.manual_seed(0)
    layer = MultiHeadAttention(config, guided=guided).double().eval()
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    guide = torch.randn(2, 4, 12, dtype=torch.float64) if guided else None
    key_mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]] if guided else [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]).bool()
    output, weights = layer(x, key_mask, guide=guide)
    expected, maps = _mha_by_hand(layer, x, guide if guided else x, key_mask)
    torch.testing.assert_close(output, expected, rtol=1e-10, atol=1e-10)
    if attn == "eager":
        torch.testing.assert_close(weights, maps, rtol=1e-10, atol=1e-10)
        assert (weights.masked_select(~key_mask[:, None, None, :].expand_as(weights)) == 0).all()
    else:
        assert weights is None


def test_packed_attention_equals_padded_attention():
    """SequencePacking: the real rows computed alone give the padded computation's real rows."""
    config = mcan_config(hidden_size=12, num_attention_heads=3)
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    layer = MultiHeadAttention(config).double().eval()
    x = torch.randn(3, 6, 12, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 0, 1, 0, 0], [1, 1, 1, 1, 1, 1], [0, 1, 0, 0, 0, 0]]).bool()
    padded, padded_maps = layer(x, mask)
    packing = SequencePacking(mask)
    assert packing.longest == 6 and packing.mask.sum().item() == mask.sum().item()
    packed, packed_maps = layer(packing.pack(x), packing.mask, packing=packing)
    torch.testing.assert_close(packing.unpack(packed)[mask], padded[mask], rtol=1e-12, atol=1e-12)
    assert (packing.unpack(packed)[~mask] == 0).all()
    full_maps = packing.to_positions(packing.to_positions(packed_maps, dim=2), dim=3)
    for b in range(3):
        real = mask[b].nonzero().squeeze(1)
        torch.testing.assert_close(full_maps[b][:, real][:, :, real], padded_maps[b][:, real][:, :, real], rtol=1e-12, atol=1e-12)


def test_attentional_reduction_matches_eq_8():
    torch.manual_seed(0)
    reduction = AttentionalReduction(8, 6, 2, 5, dropout=0.0).double()
    x = torch.randn(2, 4, 8, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]]).bool()
    pooled, weights = reduction(x, mask)
    fc, out = reduction.mlp[0], reduction.mlp[3]
    scores = torch.relu(x @ fc.weight.T + fc.bias) @ out.weight.T + out.bias  # (batch, 4, glimpses)
    alpha = torch.softmax(scores.masked_fill(~mask[..., None], -1e9), dim=1)
    glimpses = torch.cat([(alpha[:, :, g : g + 1] * x).sum(1) for g in range(2)], dim=-1)
    torch.testing.assert_close(weights, alpha.transpose(1, 2), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(pooled, glimpses @ reduction.merge.weight.T + reduction.merge.bias, rtol=1e-12, atol=1e-12)


# --- attention implementations --------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["encoder_decoder", "stacking"])
def test_sdpa_and_eager_give_the_same_outputs_and_gradients(layout):
    models = {attn: make_mcan(attn=attn, layout=layout, layer_norm_form="code") for attn in ("sdpa", "eager")}
    inputs = dict(random_inputs(models["sdpa"].config, batch=3), image_attention_mask=torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5]))
    labels = torch.rand(3, 4)
    results = {}
    for attn, model in models.items():
        model.train()  # dropout is 0: training mode without randomness
        output = model(**inputs, labels=labels, output_attentions=True)
        output.loss.backward()
        results[attn] = (output, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None})
    (sdpa, sdpa_grads), (eager, eager_grads) = results["sdpa"], results["eager"]
    torch.testing.assert_close(sdpa.logits, eager.logits, rtol=1e-5, atol=1e-6)
    for x, y in zip(sdpa.attentions + sdpa.question_attentions, eager.attentions + eager.question_attentions, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)
    assert sdpa_grads.keys() == eager_grads.keys() and len(sdpa_grads) > 50
    for name in sdpa_grads:
        torch.testing.assert_close(sdpa_grads[name], eager_grads[name], rtol=1e-4, atol=1e-6, msg=name)
    assert sdpa.image_self_attentions is None and len(eager.image_self_attentions) == 2


def test_eager_returns_every_layer_map_over_the_real_positions():
    model = make_mcan(attn="eager")
    inputs = dict(random_inputs(model.config, batch=2), image_attention_mask=torch.tensor([[1, 1, 0, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0, 0]]))
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
    word_mask, region_mask = inputs["attention_mask"].bool(), inputs["image_attention_mask"].bool()
    assert [m.shape for m in output.question_self_attentions] == [(2, 2, 5, 5)] * 2
    assert [m.shape for m in output.image_self_attentions] == [(2, 2, 7, 7)] * 2
    assert [m.shape for m in output.image_guided_attentions] == [(2, 2, 7, 5)] * 2
    for maps, keys, queries in ((output.image_self_attentions, region_mask, region_mask), (output.image_guided_attentions, word_mask, region_mask)):
        for m in maps:
            real = m.permute(0, 2, 1, 3)[queries]  # (real queries, heads, keys)
            torch.testing.assert_close(real.sum(-1), torch.ones(real.shape[:2]))
            key_rows = keys[:, None, :].expand(-1, queries.shape[1], -1)[queries]  # (real queries, keys)
            assert (real.masked_select(~key_rows[:, None, :].expand_as(real)) == 0).all()
            assert (m.permute(0, 2, 1, 3)[~queries] == 0).all()  # padded regions are not computed
    quiet = model(**inputs)
    assert quiet.attentions is None and quiet.image_self_attentions is None


# --- masks, padding, layouts ---------------------------------------------------------------------

@pytest.mark.parametrize("layer_norm_form", ["paper", "code"])
def test_masked_regions_get_zero_weight_and_change_nothing(layer_norm_form):
    output = assert_masked_regions_ignored(randomize(make_mcan(layer_norm_form=layer_norm_form)))
    assert len(output.attentions) == 2 and len(output.question_attentions) == 2


def test_zero_feature_rows_are_padding_when_asked():
    """The released code's mask: all-zero feature rows (mask_all_zero_regions=True) act as
    image_attention_mask = 0; without the switch they are regions like any other."""
    model = randomize(make_mcan(mask_all_zero_regions=True))
    inputs = random_inputs(model.config, batch=2)
    features = inputs["image_features"].clone()
    features[0, 5:] = 0
    features[1, 2:] = 0
    mask = (features.abs().sum(-1) > 0).long()
    with torch.no_grad():
        by_zeros = model(**dict(inputs, image_features=features), output_attentions=True)
        by_mask = model(**dict(inputs, image_features=features, image_attention_mask=mask))
        model.config.mask_all_zero_regions = False
        as_regions = model(**dict(inputs, image_features=features))
    torch.testing.assert_close(by_zeros.logits, by_mask.logits)
    assert (by_zeros.attentions[0][mask == 0] == 0).all()
    assert not torch.allclose(as_regions.logits, by_zeros.logits)
    model.config.mask_all_zero_regions = True
    with pytest.raises(ValueError, match="no regions"):
        model(**dict(inputs, image_features=torch.zeros_like(features)))


def test_padded_words_change_nothing():
    model = randomize(make_mcan())
    inputs = random_inputs(model.config, batch=3)
    longer = {k: torch.cat([v, torch.zeros(3, 4, dtype=v.dtype)], dim=1) for k, v in inputs.items() if k != "image_features"}
    other_ids = longer["input_ids"].clone()
    other_ids[longer["attention_mask"] == 0] = 7  # padding ids other than PAD
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
        padded = model(**dict(inputs, **longer), output_attentions=True)
        other = model(**dict(inputs, **dict(longer, input_ids=other_ids)))
    torch.testing.assert_close(padded.logits, output.logits)
    torch.testing.assert_close(other.logits, output.logits)
    for short, long in zip(output.question_attentions, padded.question_attentions, strict=True):
        torch.testing.assert_close(long[:, :5], short)
        assert (long[:, 5:] == 0).all()
        assert (short[inputs["attention_mask"] == 0] == 0).all()


def test_layouts_guide_the_image_layers_as_defined():
    """Encoder-decoder: every image layer's guided attention reads the LAST question layer's
    output; stacking: image layer l reads question layer l's output."""
    results = {}
    for layout in ("encoder_decoder", "stacking"):
        model = make_mcan(layout=layout, num_layers=3)
        captured = {"guides": [], "questions": []}
        for layer in model.model.image_layers:
            layer.guided_attention.register_forward_hook(lambda m, args, kwargs, out: captured["guides"].append(kwargs["guide"]), with_kwargs=True)
        for layer in model.model.question_layers:
            layer.register_forward_hook(lambda m, args, out: captured["questions"].append(out[0]))
        with torch.no_grad():
            results[layout] = model(**random_inputs(model.config)).logits
        guides, questions = captured["guides"], captured["questions"]
        assert len(guides) == len(questions) == 3
        for l in range(3):
            torch.testing.assert_close(guides[l], questions[-1] if layout == "encoder_decoder" else questions[l])
    # same weights (same seed), different cascade: different answers
    assert not torch.allclose(results["encoder_decoder"], results["stacking"])


@pytest.mark.parametrize("image_encoder", ["features", "scratch_cnn"])
def test_image_index_equals_repeating_the_image(image_encoder):
    assert_image_index_equals_repeating_the_image(make_mcan(image_encoder))


def test_image_index_with_padded_regions():
    model = randomize(make_mcan())
    inputs = random_inputs(model.config, batch=4)
    features, mask = inputs["image_features"][:2], torch.tensor([[1, 1, 1, 0, 0, 0, 0], [1] * 7])
    index = torch.tensor([1, 0, 0, 1])
    with torch.no_grad():
        shared = model(**dict(inputs, image_features=features, image_attention_mask=mask), image_index=index, output_attentions=True)
        repeated = model(**dict(inputs, image_features=features[index], image_attention_mask=mask[index]), output_attentions=True)
    torch.testing.assert_close(shared.logits, repeated.logits)
    torch.testing.assert_close(shared.attentions[0], repeated.attentions[0])


# --- box features ----------------------------------------------------------------------------------

def test_box_features_follow_openvqas_adapter():
    model = make_mcan(use_box_features=True, box_feature_size=3, head=False)
    assert model.image_projection.in_features == IMAGE_FEATURE_SIZE + 3
    inputs = random_inputs(model.config, batch=2)
    boxes = torch.rand(2, 7, 4).sort(-1).values[..., [0, 1, 2, 3]]
    captured = {}
    model.image_projection.register_forward_hook(lambda m, args, out: captured.update(input=args[0]))
    with torch.no_grad():
        model(**inputs, image_boxes=boxes)
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    box_features = torch.cat([boxes, area[..., None]], -1) @ model.box_projection.weight.T + model.box_projection.bias
    torch.testing.assert_close(captured["input"], torch.cat([inputs["image_features"], box_features], -1))
    with pytest.raises(ValueError, match="pass image_boxes"):
        model(**inputs)
    with pytest.raises(ValueError, match="use_box_features needs region features"):
        mcan_config("scratch_cnn", use_box_features=True)


# --- config, save / load, bad inputs, learning ---------------------------------------------------------

def test_config_defaults_are_mcan_small_and_presets():
    config = McanConfig()
    assert (config.hidden_size, config.intermediate_size, config.num_attention_heads, config.num_layers) == (512, 2048, 8, 6)
    assert (config.attflat_hidden_size, config.attflat_glimpses, config.fused_size, config.dropout) == (512, 1, 1024, 0.1)
    assert (config.word_embedding_size, config.image_encoder, config.image_feature_size) == (300, "features", 2048)
    assert (config.layout, config.layer_norm_form, config.layer_norm_eps) == ("encoder_decoder", "paper", 1e-6)
    large = McanConfig.from_preset("mcan-large", vocab_size=50)
    assert (large.hidden_size, large.intermediate_size, large.fused_size, large.vocab_size) == (1024, 4096, 2048, 50)
    assert McanConfig.from_preset("mcan-small").to_dict() == McanConfig().to_dict()
    assert set(MCAN_PRESETS) == {"mcan-small", "mcan-large", "scratch-cnn", "tiny"}
    with pytest.raises(ValueError, match="unknown MCAN preset"):
        McanConfig.from_preset("mcan-huge")
    for field, value in (("layout", "parallel"), ("layer_norm_form", "rms"), ("num_layers", 0), ("attflat_glimpses", 0)):
        with pytest.raises(ValueError, match=field):
            McanConfig(**{field: value})
    with pytest.raises(ValueError, match="divisible"):
        McanConfig(hidden_size=10, num_attention_heads=3)


@pytest.mark.parametrize("image_encoder", ["features", "scratch_cnn", "backbone"])
def test_round_trip_through_the_auto_classes(tmp_path, image_encoder):
    model = randomize(make_mcan(image_encoder, layer_norm_form="code", layout="stacking", freeze_backbone=False))
    inputs = random_inputs(model.config)
    expected, config, card = assert_auto_classes_round_trip(tmp_path, model, inputs, McanConfig, McanModel)
    assert (config.layout, config.layer_norm_form, config.num_layers) == ("stacking", "code", 2)
    assert "Modular Co-Attention" in card and "| `layout` | stacking |" in card
    from transformers import AutoModelForVisualQuestionAnswering

    eager = AutoModelForVisualQuestionAnswering.from_pretrained(tmp_path, attn_implementation="eager")
    with torch.no_grad():
        output = eager(**inputs, output_attentions=True)
    torch.testing.assert_close(output.logits, expected.logits, rtol=1e-5, atol=1e-6)
    assert len(output.image_guided_attentions) == 2


@pytest.mark.parametrize("image_encoder", ["features", "scratch_cnn"])
def test_bad_inputs_raise_clear_errors(image_encoder):
    assert_rejects_bad_inputs(make_mcan(image_encoder), make_mcan(image_encoder, head=False))


def test_tiny_model_learns_the_color_task(color_processor_16):
    torch.manual_seed(0)
    config = mcan_config("scratch_cnn", vocab_size=len(color_processor_16.tokenizer), hidden_size=16, intermediate_size=32,
                         fused_size=16, scratch_cnn_channels=[8, 8], num_layers=1)
    assert_learns_color_task(McanForVisualQuestionAnswering(config), color_processor_16, steps=120, lr=3e-3)


# --- the converter ----------------------------------------------------------------------------------

TINY = dict(vocab=12, emb=5, hidden=8, heads=2, layers=2, ff=16, flat_mlp=6, glimpses=2, fused=10, feat=6, answers=4)


def fake_original_state_dict(format: str, boxes: bool = False, seed: int = 0, **sizes) -> dict:
    """Random tensors under the original key names and shapes (openvqa or mcan-vqa)."""
    s = {**TINY, **sizes}
    generator = torch.Generator().manual_seed(seed)
    tensors = {}

    def add(name, *shape):
        tensors[name] = torch.randn(*shape, generator=generator) * 0.5

    def linear(name, out_size, in_size):
        add(f"{name}.weight", out_size, in_size)
        add(f"{name}.bias", out_size)

    def norm(name, size):
        tensors[f"{name}.a_2"] = torch.rand(size, generator=generator) + 0.5
        add(f"{name}.b_2", size)

    def mhatt(name):
        for part in ("v", "k", "q", "merge"):
            linear(f"{name}.linear_{part}", s["hidden"], s["hidden"])

    def ffn(name):
        linear(f"{name}.mlp.fc.linear", s["ff"], s["hidden"])
        linear(f"{name}.mlp.linear", s["hidden"], s["ff"])

    add("embedding.weight", s["vocab"], s["emb"])
    for name, shape in (("weight_ih_l0", (4 * s["hidden"], s["emb"])), ("weight_hh_l0", (4 * s["hidden"], s["hidden"])),
                        ("bias_ih_l0", (4 * s["hidden"],)), ("bias_hh_l0", (4 * s["hidden"],))):
        add(f"lstm.{name}", *shape)
    if format == "openvqa":
        if boxes:
            linear("adapter.bbox_linear", 3, 5)
        linear("adapter.frcn_linear", s["hidden"], s["feat"] + (3 if boxes else 0))
    else:
        linear("img_feat_linear", s["hidden"], s["feat"])
    for i in range(s["layers"]):
        mhatt(f"backbone.enc_list.{i}.mhatt")
        ffn(f"backbone.enc_list.{i}.ffn")
        norm(f"backbone.enc_list.{i}.norm1", s["hidden"])
        norm(f"backbone.enc_list.{i}.norm2", s["hidden"])
        mhatt(f"backbone.dec_list.{i}.mhatt1")
        mhatt(f"backbone.dec_list.{i}.mhatt2")
        ffn(f"backbone.dec_list.{i}.ffn")
        for n in (1, 2, 3):
            norm(f"backbone.dec_list.{i}.norm{n}", s["hidden"])
    for flat in ("attflat_img", "attflat_lang"):
        linear(f"{flat}.mlp.fc.linear", s["flat_mlp"], s["hidden"])
        linear(f"{flat}.mlp.linear", s["glimpses"], s["flat_mlp"])
        linear(f"{flat}.linear_merge", s["fused"], s["hidden"] * s["glimpses"])
    norm("proj_norm", s["fused"])
    linear("proj", s["answers"], s["fused"])
    return tensors


def released_forward(sd, format, features, question_ids, heads, boxes=None):
    """The released Net.forward (mcan-vqa core/model/{net,mca,net_utils}.py; OpenVQA
    openvqa/models/mcan), restated on a state dict; returns the logits before mcan-vqa's sigmoid."""
    def linear(x, name):
        return x @ sd[f"{name}.weight"].T + sd[f"{name}.bias"]

    def norm(x, name):
        return released_layer_norm(x, sd[f"{name}.a_2"], sd[f"{name}.b_2"], 1e-6)

    def mhatt(v, k, q, mask, name):
        b, size = q.shape[0], q.shape[-1] // heads
        split = lambda t: t.view(b, -1, heads, size).transpose(1, 2)  # noqa: E731
        v, k, q = split(linear(v, f"{name}.linear_v")), split(linear(k, f"{name}.linear_k")), split(linear(q, f"{name}.linear_q"))
        scores = (q @ k.transpose(-2, -1) / math.sqrt(size)).masked_fill(mask, -1e9)
        atted = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(b, -1, heads * size)
        return linear(atted, f"{name}.linear_merge")

    def ffn(x, name):
        return linear(torch.relu(linear(x, f"{name}.mlp.fc.linear")), f"{name}.mlp.linear")

    def attflat(x, mask, name):
        att = torch.softmax(linear(torch.relu(linear(x, f"{name}.mlp.fc.linear")), f"{name}.mlp.linear").masked_fill(mask[:, 0, 0, :, None], -1e9), dim=1)
        return linear(torch.cat([(att[:, :, g : g + 1] * x).sum(1) for g in range(att.shape[-1])], 1), f"{name}.linear_merge")

    make_mask = lambda feature: (feature.abs().sum(-1) == 0)[:, None, None, :]  # noqa: E731
    lang_mask, img_mask = make_mask(question_ids.unsqueeze(2)), make_mask(features)
    lstm = torch.nn.LSTM(sd["embedding.weight"].shape[1], sd["lstm.weight_hh_l0"].shape[1], batch_first=True).double()
    lstm.load_state_dict({k.removeprefix("lstm."): v for k, v in sd.items() if k.startswith("lstm.")})
    lang = lstm(sd["embedding.weight"][question_ids])[0]
    if boxes is not None:
        area = (boxes[:, :, 2] - boxes[:, :, 0]) * (boxes[:, :, 3] - boxes[:, :, 1])
        features = torch.cat([features, linear(torch.cat([boxes, area[..., None]], -1), "adapter.bbox_linear")], -1)
    img = linear(features, "adapter.frcn_linear" if format == "openvqa" else "img_feat_linear")
    layers = len({k.split(".")[2] for k in sd if k.startswith("backbone.enc_list.")})
    for i in range(layers):
        e = f"backbone.enc_list.{i}"
        lang = norm(lang + mhatt(lang, lang, lang, lang_mask, f"{e}.mhatt"), f"{e}.norm1")
        lang = norm(lang + ffn(lang, f"{e}.ffn"), f"{e}.norm2")
    for i in range(layers):
        d = f"backbone.dec_list.{i}"
        img = norm(img + mhatt(img, img, img, img_mask, f"{d}.mhatt1"), f"{d}.norm1")
        img = norm(img + mhatt(lang, lang, img, lang_mask, f"{d}.mhatt2"), f"{d}.norm2")
        img = norm(img + ffn(img, f"{d}.ffn"), f"{d}.norm3")
    fused = attflat(lang, lang_mask, "attflat_lang") + attflat(img, img_mask, "attflat_img")
    return linear(norm(fused, "proj_norm"), "proj")


def write_original_files(folder, format, state_dict, prefix="module.", vocab=12, answers=4):
    checkpoint = folder / "epoch13.pkl"
    torch.save({"state_dict": {prefix + k: v for k, v in state_dict.items()}, "optimizer": {"state": {}, "param_groups": []},
                "lr_base": 1e-4, "epoch": 13}, checkpoint)
    names = [f"ans{i}" for i in range(answers)]
    (folder / "answer_dict.json").write_text(json.dumps([{a: i for i, a in enumerate(names)}, {str(i): a for i, a in enumerate(names)}]))
    first = ["PAD", "UNK"] + (["CLS"] if format == "openvqa" else [])
    words = first + ["what", "color", "is", "the", "cat", "dog", "red", "blue", "a", "it"][: vocab - len(first)]
    (folder / "token_to_ix.json").write_text(json.dumps({w: i for i, w in enumerate(words)}))
    return ["--checkpoint", str(checkpoint), "--answer_dict", str(folder / "answer_dict.json"),
            "--token_to_ix", str(folder / "token_to_ix.json"), "--output_dir", str(folder / "out"), "--num_attention_heads", "2"]


@pytest.mark.parametrize(("format", "prefix", "boxes"), [("openvqa", "module.", False), ("openvqa", "", True), ("mcan-vqa", "module.", False)])
def test_converter_gives_the_released_models_logits(tmp_path, format, prefix, boxes):
    from transformers import AutoModelForVisualQuestionAnswering, AutoProcessor

    state_dict = fake_original_state_dict(format, boxes=boxes)
    folder = convert_main(["mcan", *write_original_files(tmp_path, format, state_dict, prefix)])
    model = AutoModelForVisualQuestionAnswering.from_pretrained(folder).double().eval()
    config = model.config
    assert (config.hidden_size, config.num_layers, config.attflat_glimpses, config.fused_size, config.vocab_size) == (8, 2, 2, 10, 12)
    assert (config.layer_norm_form, config.mask_all_zero_regions, config.use_box_features) == ("code", True, boxes)
    assert config.id2label[3] == "ans3" and config.problem_type == "multi_label_classification"
    conversion = json.loads((folder / "conversion.json").read_text())
    assert conversion["format"] == format and conversion["epoch"] == 13

    generator = torch.Generator().manual_seed(5)
    question_ids = torch.tensor([[3, 4, 5, 6, 0, 0], [5, 9, 0, 0, 0, 0], [3, 4, 5, 6, 7, 8]])
    features = torch.rand(3, 9, IMAGE_FEATURE_SIZE, generator=generator, dtype=torch.float64)
    features[0, 6:] = 0
    features[1, 3:] = 0
    # (x1, y1, x2, y2) boxes in [0, 1]: sorted, x1 <= y1 <= x2 <= y2.
    box = torch.rand(3, 9, 4, generator=generator, dtype=torch.float64).sort(-1).values if boxes else None
    expected = released_forward({k: v.double() for k, v in state_dict.items()}, format, features, question_ids, heads=2, boxes=box)
    with torch.no_grad():
        actual = model(input_ids=question_ids, attention_mask=(question_ids != 0).long(), image_features=features, image_boxes=box).logits
        # The released code makes the question mask from the padding id: without attention_mask, so does the model.
        inferred = model(input_ids=question_ids, image_features=features, image_boxes=box).logits
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(inferred, expected, rtol=1e-10, atol=1e-10)

    processor = AutoProcessor.from_pretrained(folder)
    ids = processor(text=["What color is the dog?", "Is-the cat/dog RED???"])["input_ids"]
    vocab = json.loads((tmp_path / "token_to_ix.json").read_text())
    for row, question in zip(ids.tolist(), ["What color is the dog?", "Is-the cat/dog RED???"], strict=True):
        words = question_words(question)
        assert row[: len(words)] == [vocab.get(w, 1) for w in words] and set(row[len(words):]) <= {0}


def test_converter_refuses_missing_and_extra_tensors(tmp_path):
    state_dict = fake_original_state_dict("openvqa")
    missing = {k: v for k, v in state_dict.items() if k != "backbone.dec_list.1.mhatt2.linear_k.bias"}
    with pytest.raises(ValueError, match=r"missing from the checkpoint: \['backbone.dec_list.1.mhatt2.linear_k.bias'\]"):
        convert_main(["mcan", *write_original_files(tmp_path, "openvqa", missing)])
    extra = dict(state_dict, **{"backbone.dec_list.0.norm4.a_2": torch.ones(8)})
    with pytest.raises(ValueError, match=r"not part of the openvqa MCAN: \['backbone.dec_list.0.norm4.a_2'\]"):
        convert_main(["mcan", *write_original_files(tmp_path, "openvqa", extra)])
    unknown = {k.replace("adapter.frcn_linear", "img_linear"): v for k, v in state_dict.items()}
    with pytest.raises(ValueError, match="cannot tell the checkpoint's format"):
        convert_main(["mcan", *write_original_files(tmp_path, "openvqa", unknown)])
    args = write_original_files(tmp_path, "openvqa", state_dict, vocab=11)
    with pytest.raises(ValueError, match="the vocabulary has 11 words but the checkpoint's embedding has 12 rows"):
        convert_main(["mcan", *args])
    args = write_original_files(tmp_path, "mcan-vqa", fake_original_state_dict("mcan-vqa"), answers=5)
    with pytest.raises(ValueError, match="has 5 answers but the checkpoint's classifier has 4"):
        convert_main(["mcan", *args])


def test_vocabulary_is_rebuilt_as_the_original_code_builds_it(tmp_path):
    files = []
    for name, questions in (("train", ["What color is the cat?", "Is it a dog-house?"]), ("val", ["what's on the table/desk"]),
                            ("test", ["How many cats?"]), ("vg", ["Who (really) is it?"])):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"questions": [{"question": q, "question_id": i} for i, q in enumerate(questions)]}))
        files.append(path)
    vocab = build_token_to_ix(files, "mcan-vqa")
    assert list(vocab) == ["PAD", "UNK", "what", "color", "is", "the", "cat", "it", "a", "dog", "house", "whats", "on", "table",
                           "desk", "how", "many", "cats", "who", "really"]
    assert list(vocab.values()) == list(range(len(vocab)))
    assert list(build_token_to_ix(files, "openvqa"))[:4] == ["PAD", "UNK", "CLS", "what"]
    # The original proc_ques: cleaned words -> ids, unknown -> UNK (1), at most 14, padded with 0.
    processor = build_processor(vocab)
    question = "What is the CAT's color, really?! Is it (a) dog/house-cat? what what what what what"
    words = re.sub(r"([.,'!?\"()*#:;])", "", question.lower()).replace("-", " ").replace("/", " ").split()
    expected = [vocab.get(w, 1) for w in words][:14]
    assert processor(text=question)["input_ids"][0].tolist() == expected
    assert processor(text=["what color", question])["input_ids"][0].tolist() == [2, 3] + [0] * 12
    assert processor.unknown_words("What is a zebra?") == ["zebra"]


def test_pipeline_on_a_converted_folder(tmp_path):
    state_dict = fake_original_state_dict("openvqa")
    folder = convert_main(["mcan", *write_original_files(tmp_path, "openvqa", state_dict)])
    vqa = pipeline("visual-question-answering", model=str(folder))
    features = np.random.default_rng(0).random((9, IMAGE_FEATURE_SIZE)).astype(np.float32)
    result = vqa(image={"image_features": features}, question="What color is the cat?", top_k=2, return_attention=True)
    model = McanForVisualQuestionAnswering.from_pretrained(folder).eval()
    ids = torch.tensor([[3, 4, 5, 6, 7]])
    with torch.no_grad():
        expected = model(input_ids=ids, image_features=torch.from_numpy(features)[None], output_attentions=True)
    scores = expected.logits[0].sigmoid()
    order = scores.argsort(descending=True)[:2]
    assert [r["answer"] for r in result["answers"]] == [f"ans{int(i)}" for i in order]
    np.testing.assert_allclose([r["score"] for r in result["answers"]], scores[order].numpy(), rtol=1e-5)
    assert len(result["attentions"]) == 2 and result["attentions"][0].shape == (9,)
    np.testing.assert_allclose(result["attentions"][0], expected.attentions[0][0].numpy(), rtol=1e-5, atol=1e-7)
    assert len(result["question_attentions"]) == 2 and result["question_attentions"][0].shape == (5,)
