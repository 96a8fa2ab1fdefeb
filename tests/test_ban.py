"""Tests of BAN, Bilinear Attention Networks (Kim, Jun, Zhang, NeurIPS 2018), on tiny configs."""

import pickle
from functools import partial

import pytest
import torch
from conftest import IMAGE_FEATURE_SIZE, make_vqa_model, random_inputs, tiny_vqa_config
from vqa_checks import (
    assert_auto_classes_round_trip,
    assert_image_index_equals_repeating_the_image,
    assert_learns_color_task,
    assert_masked_regions_ignored,
    assert_pipeline_matches_model,
    assert_rejects_bad_inputs,
)

from hf_mmattn import BAN_PRESETS, BanConfig, BanForVisualQuestionAnswering, BanModel
from hf_mmattn.convert import main as convert_main
from hf_mmattn.layers.bilinear_attention import BilinearAttentionMap, BilinearPooling
from hf_mmattn.layers.counting import CountingModule, PiecewiseLinear, box_iou, grid_boxes
from hf_mmattn.layers.weight_norm import WeightNormLinear


def ban_config(image_encoder: str = "features", vocab_size: int = 9, **overrides) -> BanConfig:
    """A tiny BanConfig (see conftest.tiny_vqa_config); no counter unless asked (the shared checks
    give no boxes)."""
    return tiny_vqa_config(BanConfig, image_encoder, vocab_size, **overrides)


make_ban = partial(make_vqa_model, BanConfig)


def random_boxes(batch: int, regions: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    corner = torch.rand(batch, regions, 2, generator=generator) * 0.6
    return torch.cat([corner, corner + torch.rand(batch, regions, 2, generator=generator) * 0.4 + 0.05], dim=-1)


# --- the layers against slow formulas ----------------------------------------------------------

def test_weight_norm_linear_is_g_v_over_norm():
    layer = WeightNormLinear(4, 3)
    with torch.no_grad():
        layer.weight_scale.fill_(2.5)
    x = torch.randn(5, 4)
    v = layer.weight_direction
    torch.testing.assert_close(layer(x), x @ (2.5 * v / v.pow(2).sum().sqrt()).T + layer.bias)
    assert layer.weight_scale.shape == ()  # one scalar, as weight_norm(dim=None)


def test_bilinear_attention_map_matches_the_explicit_pair_loop():
    """logit_g[j, i] = p_gᵀ (ReLU(U x_i) ∘ ReLU(V y_j)) + b_g, softmax over all (region, word) pairs
    of the real regions and words, written as a loop over the pairs in float64."""
    torch.manual_seed(0)
    layer = BilinearAttentionMap(region_size=5, question_size=4, hidden_size=3, num_glimpses=2, rank_factor=3).double().eval()
    regions, words = torch.randn(2, 6, 5, dtype=torch.float64), torch.randn(2, 4, 4, dtype=torch.float64)
    region_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    word_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    logits, attention = layer(regions, words, region_mask, word_mask)

    v_proj, q_proj = layer.region_projection.linear, layer.question_projection.linear
    p = layer.glimpse_weight_direction * layer.glimpse_weight_scale / layer.glimpse_weight_direction.norm()
    for b in range(2):
        for g in range(2):
            expected = torch.zeros(6, 4, dtype=torch.float64)
            for j in range(6):
                for i in range(4):
                    v = torch.relu(v_proj.weight @ regions[b, j] + v_proj.bias)
                    q = torch.relu(q_proj.weight @ words[b, i] + q_proj.bias)
                    expected[j, i] = (p[g] * v * q).sum() + layer.glimpse_bias[g]
            real = region_mask[b].bool()[:, None] & word_mask[b].bool()[None, :]
            torch.testing.assert_close(logits[b, g][real], expected[real])
            weights = torch.where(real, expected.exp(), torch.zeros_like(expected))
            torch.testing.assert_close(attention[b, g], weights / weights.sum())


@pytest.mark.parametrize("rank_factor", [1, 3])
def test_bilinear_pooling_matches_the_double_sum(rank_factor):
    """f'_k = Σ_i Σ_j A_ij ReLU(U'x_i)_k ReLU(V'y_j)_k, then each group of k units summed."""
    torch.manual_seed(1)
    layer = BilinearPooling(region_size=5, question_size=4, hidden_size=3, rank_factor=rank_factor).double().eval()
    regions, words = torch.randn(2, 6, 5, dtype=torch.float64), torch.randn(2, 4, 4, dtype=torch.float64)
    attention = torch.rand(2, 6, 4, dtype=torch.float64)
    output = layer(regions, words, attention)
    v = torch.relu(layer.region_projection.linear(regions))
    q = torch.relu(layer.question_projection.linear(words))
    expected = torch.zeros(2, 3 * rank_factor, dtype=torch.float64)
    for j in range(6):
        for i in range(4):
            expected += attention[:, j, i, None] * v[:, j] * q[:, i]
    expected = expected.view(2, 3, rank_factor).sum(-1)
    assert output.shape == (2, 3)
    torch.testing.assert_close(output, expected)


def test_piecewise_linear_by_hand():
    f = PiecewiseLinear(4)
    with torch.no_grad():
        f.weight.copy_(torch.tensor([0.0, 1.0, 3.0, 0.0, -4.0]))  # slopes |w|/8 per quarter
    x = torch.tensor([0.0, 0.125, 0.25, 0.375, 0.6, 0.875, 1.0])
    # cumulative at 0, .25, .5, .75, 1: 0, 1/8, 4/8, 4/8, 1
    expected = torch.tensor([0.0, 0.5 / 8, 1 / 8, 1 / 8 + 0.5 * 3 / 8, 0.5, 0.5 + 0.5 * 4 / 8, 1.0])
    torch.testing.assert_close(f(x), expected)


def test_box_iou_and_grid_boxes_by_hand():
    boxes = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 0.75, 0.75], [0.6, 0.6, 0.7, 0.7]]])
    iou = box_iou(boxes)[0]
    torch.testing.assert_close(iou[0, 1], torch.tensor(0.0625 / (0.25 + 0.25 - 0.0625)))
    assert iou[0, 2] == 0 and torch.allclose(iou.diagonal(), torch.ones(3))
    cells = grid_boxes(2, 3)
    torch.testing.assert_close(cells[4], torch.tensor([1 / 3, 0.5, 2 / 3, 1.0]))  # row 1, column 1
    assert cells.shape == (6, 4) and box_iou(cells[None])[0].fill_diagonal_(0).max() == 0


def _slow_count(counter: CountingModule, boxes, logits):
    """Zhang et al. 2018 / ban-vqa counting.py for one image, with loops over the objects."""
    f = [lambda x, i=i: counter.functions[i](torch.as_tensor(x, dtype=torch.float64)) for i in range(8)]
    order = logits.argsort(descending=True)[: counter.num_objects]
    a, b = torch.sigmoid(logits[order]), boxes[order]
    n = len(a)
    iou = box_iou(b[None])[0]
    A = torch.outer(a, a)
    D = 1 - iou
    X = f[3](A) * f[4](D)
    s = torch.zeros(n, dtype=torch.float64)
    for i in range(n):
        for j in range(n):
            product = torch.prod(torch.stack([f[2](1 - (X[k, i] - X[k, j]).abs()) for k in range(n)]))
            s[i] += product * f[2](1 - (a[i] - a[j]).abs())
    C = sum(f[0](A[i, j]) * f[1](D[i, j]) / (s[i] * s[j]) for i in range(n) for j in range(n))
    C = C + sum(f[0](a[i] * a[i]) / s[i] for i in range(n))
    c = (C + 1e-20).sqrt().clamp(0, counter.num_objects)
    one_hot = torch.zeros(counter.num_objects + 1, dtype=torch.float64)
    low = int(c)
    one_hot[min(low, counter.num_objects)] += 1 - (c - low)
    one_hot[min(low + 1, counter.num_objects)] += c - low
    confidence = f[7]((f[5](a) - 0.5).abs().mean() + (f[6](D) - 0.5).abs().mean())
    return one_hot * confidence


def test_counting_module_matches_the_slow_formula():
    torch.manual_seed(2)
    counter = CountingModule(num_objects=4).double()
    with torch.no_grad():
        for function in counter.functions:
            function.weight.copy_(torch.rand(17) + 0.1)
            function.weight[0] = 0
    boxes, logits = random_boxes(3, 6).double(), torch.randn(3, 6, dtype=torch.float64) * 2
    output = counter(boxes, logits)
    assert output.shape == (3, 5)
    for row in range(3):
        torch.testing.assert_close(output[row], _slow_count(counter, boxes[row], logits[row]))


def test_counter_counts_separate_confident_boxes():
    """With identity maps (fresh weights), two disjoint fully attended boxes and one ignored count
    as 2 (the one-hot's mass on bin 2), and the same box twice counts as 1."""
    counter = CountingModule(num_objects=3)
    boxes = torch.tensor([[[0.0, 0.0, 0.3, 0.3], [0.5, 0.5, 0.9, 0.9], [0.1, 0.6, 0.2, 0.7]]])
    counts = counter(boxes, torch.tensor([[50.0, 50.0, -50.0]]))
    assert counts[0].argmax() == 2 and counts[0, 2] > 0.9 * counts[0].sum()
    duplicate = counter(boxes[:, [0, 0, 2]], torch.tensor([[50.0, 50.0, -50.0]]))
    assert duplicate[0].argmax() == 1


def test_counter_with_fewer_regions_than_objects_pads_with_empty_regions():
    counter = CountingModule(num_objects=5)
    boxes, logits = random_boxes(2, 3), torch.randn(2, 3)
    padded = counter(torch.cat([boxes, torch.zeros(2, 4, 4)], 1), torch.cat([logits, torch.full((2, 4), -torch.inf)], 1))
    torch.testing.assert_close(counter(boxes, logits), padded)


# --- the model -----------------------------------------------------------------------------------

def _reference_forward(model: BanModel, inputs, boxes=None):
    """The released forward (base_model.BanModel) written with the layers' pieces, float64."""
    encoder = model.question_encoder
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    real = mask.bool()
    states = []
    for row in range(len(ids)):
        embedded = encoder.embedding(ids[row, real[row]])
        if encoder.tfidf_embedding is not None:
            embedded = torch.cat([embedded, encoder.tfidf_embedding(ids[row, real[row]])], -1)
        out, _ = encoder.rnn(embedded[None])
        states.append(torch.cat([out[0], torch.zeros(len(ids[row]) - len(out[0]), out.shape[-1], dtype=out.dtype)]))
    q = torch.stack(states)
    v = inputs["image_features"]
    region_mask = inputs.get("image_attention_mask")
    logits, att = model.attention(v, q, region_mask, mask)
    for g in range(model.config.num_glimpses):
        b = model.glimpse_poolings[g](v, q, att[:, g])
        q = model.question_projections[g](b).unsqueeze(1) + q
        if boxes is not None:
            counts = model.counter(boxes * (region_mask[..., None] if region_mask is not None else 1), logits[:, g].max(2).values)
            q = q + model.count_projections[g](counts).unsqueeze(1)
    return (q * mask[..., None]).sum(1), att


@pytest.mark.parametrize(("use_counter", "openvqa_form"), [(False, False), (True, False), (False, True)])
def test_model_matches_the_glimpse_loop_in_float64(use_counter, openvqa_form):
    """ban-vqa's form, with and without the counter, and OpenVQA's (one embedding, pooling k = 3)."""
    variant = dict(word_embedding_type="single", pooling_rank_factor=3) if openvqa_form else {}
    model = make_ban("features", head=False, use_counter=use_counter, num_glimpses=3, **variant).double()
    assert (model.question_encoder.tfidf_embedding is None) == openvqa_form
    inputs = random_inputs(model.config, batch=3)
    inputs["image_features"] = inputs["image_features"].double()
    inputs["image_attention_mask"] = torch.tensor([[1] * 7, [1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0, 0]])
    boxes = random_boxes(3, 7).double() if use_counter else None
    with torch.no_grad():
        output = model(**inputs, image_boxes=boxes, output_attentions=True)
        pooled, att = _reference_forward(model, inputs, boxes)
    torch.testing.assert_close(output.pooled_output, pooled, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(output.bilinear_attentions, att, rtol=1e-10, atol=1e-10)
    for g in range(3):
        torch.testing.assert_close(output.attentions[g], att[:, g].sum(-1))
        torch.testing.assert_close(output.question_attentions[g], att[:, g].sum(-2))
        torch.testing.assert_close(output.attentions[g].sum(-1), torch.ones(3, dtype=torch.float64))
        assert (output.question_attentions[g][inputs["attention_mask"] == 0] == 0).all()


def test_eval_fused_region_projection_equals_training_path_without_dropout():
    """The one-matrix-product projection used without dropout gives what each layer gives alone."""
    model = make_ban("features", head=False, num_glimpses=3)
    inputs = random_inputs(model.config, batch=2)
    with torch.no_grad():
        fused = model(**inputs).pooled_output
        model.config.dropout = 0.0
        attention_regions, glimpse_regions = model.project_regions(inputs["image_features"])
        torch.testing.assert_close(attention_regions, model.attention.region_projection(inputs["image_features"]))
        model.train()
        model.config.dropout = 0.2  # training path: each layer projects itself; dropout off by p=0 below
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        torch.testing.assert_close(model(**inputs).pooled_output, fused, rtol=1e-5, atol=1e-6)


def test_released_padding_pads_to_fixed_length_and_reads_the_padding():
    """question_padding="released": the GRU and attention see max_length positions (pads too), so
    the padding length matters no more than in ban-vqa: shorter-padded input = 14-padded input."""
    model = make_ban("features", head=False, question_padding="released", question_max_length=6, pad_token_id=8)
    ids = torch.tensor([[3, 4, 5, 8], [2, 8, 8, 8]])
    mask = (ids != 8).long()
    features = torch.randn(2, 5, IMAGE_FEATURE_SIZE)
    features[1, 3:] = 0  # zero rows are padding regions in the released code
    with torch.no_grad():
        short = model(input_ids=ids, attention_mask=mask, image_features=features, output_attentions=True)
        full = model(input_ids=torch.cat([ids, torch.full((2, 2), 8)], 1), attention_mask=torch.cat([mask, torch.zeros(2, 2, dtype=torch.long)], 1),
                     image_features=features, output_attentions=True)
        masked = make_ban("features", head=False, pad_token_id=8)(input_ids=ids, attention_mask=mask, image_features=features)
        # Without a mask, the padding id 8 marks the padding (ban-vqa reads pads as words all the same).
        inferred = model(input_ids=ids, image_features=features, output_attentions=True)
    torch.testing.assert_close(short.pooled_output, full.pooled_output)
    torch.testing.assert_close(inferred.pooled_output, short.pooled_output, rtol=0, atol=0)
    with pytest.raises(ValueError, match="padding id 8 before a question's last word"):
        model(input_ids=torch.tensor([[3, 8, 5, 8]]), image_features=features[:1])
    assert short.question_attentions[0].shape == (2, 6) and (short.question_attentions[0][:, 3:] > 0).all()  # pads attended
    assert (short.attentions[0][1, 3:] == 0).all()  # all-zero regions masked
    assert not torch.allclose(short.pooled_output, masked.pooled_output)


def test_padding_changes_nothing_in_the_masked_mode():
    model = make_ban("features", num_glimpses=2, use_counter=True)
    inputs = random_inputs(model.config, batch=2)
    boxes = random_boxes(2, 7)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0, 0]])
    changed_features, changed_boxes = inputs["image_features"].clone(), boxes.clone()
    changed_features[mask == 0], changed_boxes[mask == 0] = 100.0, 0.5
    longer = dict(input_ids=torch.cat([inputs["input_ids"], torch.zeros(2, 3, dtype=torch.long)], 1),
                  attention_mask=torch.cat([inputs["attention_mask"], torch.zeros(2, 3, dtype=torch.long)], 1))
    with torch.no_grad():
        base = model(**inputs, image_attention_mask=mask, image_boxes=boxes).logits
        changed = model(**longer, image_features=changed_features, image_attention_mask=mask, image_boxes=changed_boxes).logits
        alone = [model(input_ids=inputs["input_ids"][r:r + 1, : int(inputs["attention_mask"][r].sum())],
                       image_features=inputs["image_features"][r:r + 1, : int(mask[r].sum())],
                       image_boxes=boxes[r:r + 1, : int(mask[r].sum())]).logits[0] for r in range(2)]
    torch.testing.assert_close(base, changed)
    torch.testing.assert_close(base, torch.stack(alone))


def test_masked_regions_get_zero_weight_and_do_not_change_the_answer():
    output = assert_masked_regions_ignored(make_ban("features"))
    assert len(output.attentions) == 2 and len(output.question_attentions) == 2


@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "features"])
def test_image_index_equals_repeating_the_image(image_encoder):
    assert_image_index_equals_repeating_the_image(make_ban(image_encoder, use_counter=image_encoder != "features"))


def test_image_index_indexes_the_boxes_too():
    model = make_ban("features", use_counter=True)
    inputs = random_inputs(model.config, batch=4)
    images, boxes, index = inputs["image_features"][:2], random_boxes(2, 7), torch.tensor([1, 0, 0, 1])
    with torch.no_grad():
        shared = model(**dict(inputs, image_features=images), image_boxes=boxes, image_index=index).logits
        repeated = model(**dict(inputs, image_features=images[index]), image_boxes=boxes[index]).logits
    torch.testing.assert_close(shared, repeated)


def test_grid_inputs_count_over_the_cells():
    model = make_ban("scratch_cnn", use_counter=True)
    inputs = random_inputs(model.config, batch=2)
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
    assert output.image_grid_size == (8, 8) and output.attentions[0].shape == (2, 64)
    torch.testing.assert_close(output.attentions[0].sum(-1), torch.ones(2))


def test_counter_needs_boxes_with_features():
    model = make_ban("features", use_counter=True)
    with pytest.raises(ValueError, match="needs image_boxes"):
        model(**random_inputs(model.config, batch=2))
    inputs = random_inputs(model.config, batch=2)
    with pytest.raises(ValueError, match="image_boxes must have shape"):
        model(**inputs, image_boxes=torch.rand(2, 6, 4))


@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "features"])
def test_bad_inputs_raise_clear_errors(image_encoder):
    assert_rejects_bad_inputs(make_ban(image_encoder), make_ban(image_encoder, head=False))


# --- config, presets, save / load ------------------------------------------------------------------

def test_config_defaults_are_ban_vqa_and_presets():
    config = BanConfig()
    assert (config.hidden_size, config.num_glimpses, config.attention_rank_factor, config.pooling_rank_factor) == (1280, 8, 3, 1)
    assert (config.use_counter, config.num_counted_objects, config.word_embedding_type, config.question_input_size) == (True, 10, "concat", 600)
    assert (config.dropout, config.attention_dropout, config.classifier_dropout, config.answer_hidden_size) == (0.2, 0.5, 0.5, 2560)
    assert set(BAN_PRESETS) == {"ban-vqa", "openvqa-ban-4", "openvqa-ban-8", "scratch-cnn", "tiny"}
    openvqa = BanConfig.from_preset("openvqa-ban-8", vocab_size=30)
    assert (openvqa.hidden_size, openvqa.num_glimpses, openvqa.use_counter, openvqa.pooling_rank_factor, openvqa.vocab_size) == (1024, 8, False, 3, 30)
    assert BanConfig.from_preset("openvqa-ban-4").num_glimpses == 4
    with pytest.raises(ValueError, match="unknown BAN preset"):
        BanConfig.from_preset("ban-16")
    for field, value in (("question_padding", "left"), ("word_embedding_type", "sum"), ("answer_head", "deep"), ("num_glimpses", 0)):
        with pytest.raises(ValueError, match=field):
            BanConfig(**{field: value})


@pytest.mark.parametrize("answer_head", ["mlp", "linear"])
def test_classifier_is_ban_vqas_simple_classifier(answer_head):
    model = make_ban("features", answer_head=answer_head)
    pooled = torch.randn(3, 6)
    classifier = model.classifier
    with torch.no_grad():
        if answer_head == "mlp":
            expected = classifier.output(torch.relu(pooled @ classifier.hidden.weight.T + classifier.hidden.bias))
            assert classifier.dropout.p == 0.5 and classifier.hidden.weight.shape == (8, 6)
        else:
            expected = pooled @ classifier.output.weight.T + classifier.output.bias
            assert classifier.hidden is None
        torch.testing.assert_close(classifier(pooled), expected)


def test_released_size_has_the_papers_parameter_count():
    config = BanConfig.from_preset("ban-vqa", vocab_size=19902, pad_token_id=19901, id2label={i: str(i) for i in range(3129)})
    with torch.device("meta"):
        model = BanForVisualQuestionAnswering(config)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 90.6  # docs/equations.md, BAN: 90.6M


@pytest.mark.parametrize(("image_encoder", "grid"), [("scratch_cnn", (8, 8)), ("backbone", (2, 2)), ("features", None)])
def test_round_trip_through_the_auto_classes(tmp_path, image_encoder, grid):
    model = make_ban(image_encoder, freeze_backbone=False, use_counter=image_encoder != "features")
    expected, config, card = assert_auto_classes_round_trip(tmp_path, model, random_inputs(model.config), BanConfig, BanModel)
    assert expected.image_grid_size == grid and len(expected.attentions) == 2
    assert config.use_counter == (image_encoder != "features") and config.hidden_size == 6
    assert "Bilinear Attention Networks" in card and "| `num_glimpses` | 2 |" in card


def test_weights_reinitialised_on_load_are_the_ban_vqa_ones(tmp_path):
    """_init_weights: a weight-normed layer starts with g = ‖V‖, the counter's maps at [0, 1, ...]."""
    model = make_ban("features", use_counter=True)
    layer = model.model.glimpse_poolings[0].region_projection.linear
    torch.testing.assert_close(layer.weight_scale, layer.weight_direction.norm())
    torch.testing.assert_close(model.model.counter.functions[3].weight, torch.tensor([0.0] + [1.0] * 16))
    attention = model.model.attention
    torch.testing.assert_close(attention.glimpse_weight_scale, attention.glimpse_weight_direction.norm())


# --- learning -----------------------------------------------------------------------------------

def test_tiny_model_learns_the_color_task(color_processor_16):
    torch.manual_seed(0)
    config = ban_config("scratch_cnn", vocab_size=len(color_processor_16.tokenizer), hidden_size=12, scratch_cnn_channels=[8, 8],
                        dropout=0.0, attention_dropout=0.0, classifier_dropout=0.0, answer_hidden_size=16, use_counter=True)
    assert_learns_color_task(BanForVisualQuestionAnswering(config), color_processor_16)


def test_pipeline_returns_the_glimpse_maps(tmp_path, color_processor_16):
    model = make_ban("scratch_cnn", vocab_size=len(color_processor_16.tokenizer), scratch_cnn_channels=[4, 8])
    result = assert_pipeline_matches_model(tmp_path, model, color_processor_16, "red", "is it red?")
    assert len(result["attentions"]) == 2 and len(result["question_attentions"]) == 2


# --- the converter ----------------------------------------------------------------------------------

def fake_ban_vqa_state(ntoken=7, words=4, hidden=6, glimpses=2, v_dim=IMAGE_FEATURE_SIZE, answers=3, objects=4, seed=0):
    """A random state dict with ban-vqa's key layout and shapes (build_ban, op='c', k=3)."""
    generator = torch.Generator().manual_seed(seed)
    shapes = {
        "w_emb.emb.weight": (ntoken + 1, words), "w_emb.emb_.weight": (ntoken + 1, words),
        "q_emb.rnn.weight_ih_l0": (3 * hidden, 2 * words), "q_emb.rnn.weight_hh_l0": (3 * hidden, hidden),
        "q_emb.rnn.bias_ih_l0": (3 * hidden,), "q_emb.rnn.bias_hh_l0": (3 * hidden,),
        "v_att.logits.h_mat_g": (), "v_att.logits.h_mat_v": (1, glimpses, 1, 3 * hidden), "v_att.logits.h_bias": (1, glimpses, 1, 1),
    }

    def weight_norm(prefix, out_features, in_features):
        shapes.update({f"{prefix}.weight_g": (), f"{prefix}.weight_v": (out_features, in_features), f"{prefix}.bias": (out_features,)})

    weight_norm("v_att.logits.v_net.main.1", 3 * hidden, v_dim)
    weight_norm("v_att.logits.q_net.main.1", 3 * hidden, hidden)
    for g in range(glimpses):
        weight_norm(f"b_net.{g}.v_net.main.1", hidden, v_dim)
        weight_norm(f"b_net.{g}.q_net.main.1", hidden, hidden)
        weight_norm(f"q_prj.{g}.main.1", hidden, hidden)
        weight_norm(f"c_prj.{g}.main.0", hidden, objects + 1)
    weight_norm("classifier.main.0", 2 * hidden, hidden)
    weight_norm("classifier.main.3", answers, 2 * hidden)
    for i in range(16):
        shapes[f"counter.f.{i}.weight"] = (17,)
    state = {key: torch.randn(shape, generator=generator) for key, shape in shapes.items()}
    for key in state:
        if key.endswith("_g"):
            state[key] = state[key].abs() + 0.5
        if key.startswith("counter.f."):
            state[key] = state[key].abs()
            state[key][0] = 0
    return state


def write_fake_original(tmp_path, state, ntoken=7):
    words = ["what", "color", "is", "the", "man", "'s", "shirt"][:ntoken]
    with open(tmp_path / "dictionary.pkl", "wb") as file:
        pickle.dump([{w: i for i, w in enumerate(words)}, words], file)
    with open(tmp_path / "label2ans.pkl", "wb") as file:
        pickle.dump(["red", "blue", "yes"], file)
    torch.save({"epoch": 3, "model_state": {f"module.{k}": v for k, v in state.items()}, "optimizer_state": {}}, tmp_path / "model.pth")


def convert_fake(tmp_path):
    return convert_main(["ban", "--checkpoint", str(tmp_path / "model.pth"), "--dictionary", str(tmp_path / "dictionary.pkl"),
                         "--label2ans", str(tmp_path / "label2ans.pkl"), "--output_dir", str(tmp_path / "out")])


def test_converter_maps_every_tensor_and_infers_the_sizes(tmp_path):
    from transformers import AutoModelForVisualQuestionAnswering, AutoProcessor

    state = fake_ban_vqa_state()
    write_fake_original(tmp_path, state)
    folder = convert_fake(tmp_path)
    model = AutoModelForVisualQuestionAnswering.from_pretrained(folder)
    config = model.config
    assert (config.hidden_size, config.num_glimpses, config.attention_rank_factor, config.pooling_rank_factor) == (6, 2, 3, 1)
    assert (config.vocab_size, config.pad_token_id, config.num_counted_objects, config.question_padding) == (8, 7, 4, "released")
    assert config.id2label == {0: "red", 1: "blue", 2: "yes"} and config.word_embedding_type == "concat"
    ours = model.state_dict()
    torch.testing.assert_close(ours["model.attention.glimpse_weight_direction"], state["v_att.logits.h_mat_v"].reshape(2, 18))
    torch.testing.assert_close(ours["model.glimpse_poolings.1.region_projection.linear.weight_direction"], state["b_net.1.v_net.main.1.weight_v"])
    torch.testing.assert_close(ours["model.count_projections.0.linear.weight_scale"], state["c_prj.0.main.0.weight_g"])
    torch.testing.assert_close(ours["model.counter.functions.7.weight"], state["counter.f.7.weight"])
    torch.testing.assert_close(ours["classifier.output.bias"], state["classifier.main.3.bias"])

    # The processor gives ban-vqa's ids: unknown words -> ntoken - 1 (6), padding -> ntoken (7), on the right.
    processor = AutoProcessor.from_pretrained(folder)
    encoded = processor(text=["What color is the man's shirt?", "What, is the DOG?"])
    assert encoded["input_ids"].tolist() == [[0, 1, 2, 3, 4, 5, 6], [0, 2, 3, 6, 7, 7, 7]]
    assert encoded["attention_mask"].tolist() == [[1] * 7, [1, 1, 1, 1, 0, 0, 0]]


def test_converter_is_strict_about_missing_and_extra_tensors(tmp_path):
    state = fake_ban_vqa_state()
    del state["b_net.1.q_net.main.1.weight_v"]
    write_fake_original(tmp_path, state)
    with pytest.raises(ValueError, match=r"model.glimpse_poolings.1.question_projection.linear.weight_direction"):
        convert_fake(tmp_path)
    state = fake_ban_vqa_state()
    state["v_att.logits.extra_scale"] = torch.ones(3)
    write_fake_original(tmp_path, state)
    with pytest.raises(ValueError, match=r"not part of ban-vqa's BanModel: \['v_att.logits.extra_scale'\]"):
        convert_fake(tmp_path)
    state = fake_ban_vqa_state()
    state["classifier.main.3.weight_v"] = torch.randn(5, 12)
    state["classifier.main.3.bias"] = torch.randn(5)
    write_fake_original(tmp_path, state)
    with pytest.raises(ValueError, match="3 answers but the classifier has 5 outputs"):
        convert_fake(tmp_path)


def test_pipeline_on_a_converted_folder(tmp_path):
    from transformers import AutoProcessor, pipeline

    state = fake_ban_vqa_state()
    write_fake_original(tmp_path, state)
    folder = convert_fake(tmp_path)
    features = torch.rand(5, IMAGE_FEATURE_SIZE)
    boxes = random_boxes(1, 5)[0]
    vqa = pipeline("visual-question-answering", model=str(folder))
    result = vqa(image={"image_features": features.numpy(), "image_boxes": boxes.numpy()}, question="what color is the shirt?", top_k=3)
    processor = AutoProcessor.from_pretrained(folder)
    model = BanForVisualQuestionAnswering.from_pretrained(folder).eval()
    with torch.no_grad():
        logits = model(**processor(text="what color is the shirt?"), image_features=features[None], image_boxes=boxes[None]).logits[0]
    scores = logits.softmax(-1)
    assert [r["answer"] for r in result] == [model.config.id2label[int(i)] for i in scores.argsort(descending=True)]
    torch.testing.assert_close(torch.tensor([r["score"] for r in result]), scores.sort(descending=True).values, rtol=1e-5, atol=1e-6)
