"""Tests of MCB + attention (Fukui et al. 2016) on tiny configs.

The model is checked against the equations computed step by step from its own modules (the
count sketch of the explicit outer product, no FFT), for masked regions, its attention maps, the
save / reload of its count-sketch buffers, the three image inputs, learning a tiny task, the
pipeline, bf16 and bad inputs. CompactBilinearPooling itself is tested in test_fusion.py.
"""

import json
import logging
import warnings
from functools import partial

import pytest
import torch
from conftest import IMAGE_FEATURE_SIZE, make_vqa_model, random_inputs, tiny_vqa_config
from safetensors.torch import load_file, save_file
from test_models import assert_uniform
from transformers import AutoConfig, AutoModel, AutoModelForVisualQuestionAnswering
from vqa_checks import (
    assert_image_index_equals_repeating_the_image,
    assert_learns_color_task,
    assert_masked_regions_ignored,
    assert_pipeline_matches_model,
    assert_rejects_bad_inputs,
    warm_batch_norm,
)

from hf_mmattn import McbConfig, McbForVisualQuestionAnswering, McbModel
from hf_mmattn.layers.fusion import CompactBilinearPooling

SKETCH_BUFFERS = ("question_hash", "question_sign", "image_hash", "image_sign")
SKETCH_KEYS = [f"model.{layer}.{name}" for layer in ("attention.fusion", "answer_fusion") for name in SKETCH_BUFFERS]


def mcb_config(image_encoder: str = "features", vocab_size: int = 9, **overrides) -> McbConfig:
    """Question vector 2 x 6 = 12, d = 16, attention hidden 5, 2 glimpses (see conftest.tiny_vqa_config)."""
    return tiny_vqa_config(McbConfig, image_encoder, vocab_size, **overrides)


make_model = partial(make_vqa_model, McbConfig)


# --- explicit computation -------------------------------------------------------------------

def _sketch_of_outer_product(x, y, mcb):
    """Ψ(x ⊗ y): the joint hash (h_q(i) + h_v(j)) mod d and sign s_q(i) s_v(j), in float64."""
    outer = (mcb.question_sign.double() * x.double())[:, None] * (mcb.image_sign.double() * y.double())[None, :]
    index = (mcb.question_hash[:, None] + mcb.image_hash[None, :]) % mcb.output_size
    return torch.zeros(mcb.output_size, dtype=torch.float64).index_add_(0, index.flatten(), outer.flatten())


def _signed_sqrt_l2(x):
    x = torch.sign(x) * torch.sqrt(torch.abs(x))
    return x / x.norm()


def _explicit_question(model, input_ids, attention_mask):
    """[h_1; h_2]: final hidden states of both LSTM layers, each question run alone without padding."""
    encoder = model.question_encoder
    vectors = []
    for ids, mask in zip(input_ids, attention_mask, strict=True):
        words = ids[: int(mask.sum())][None]
        _, (h, _) = encoder.lstm(torch.tanh(encoder.embedding(words)))
        vectors.append(torch.cat([h[0, 0], h[1, 0]]))
    return torch.stack(vectors)


@pytest.mark.parametrize(
    ("attention_normalization", "image_normalization"), [("region", "tensor"), ("tensor", "tensor"), ("region", "region"), ("tensor", "none")]
)
def test_model_matches_the_equations(attention_normalization, image_normalization):
    model = make_model(head=False, attention_normalization=attention_normalization, image_normalization=image_normalization)
    inputs = random_inputs(model.config, batch=3)
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
        question = _explicit_question(model, inputs["input_ids"], inputs["attention_mask"])
        features = inputs["image_features"].double()
        attention_mcb, answer_mcb = model.attention.fusion, model.answer_fusion
        hidden, score = [m for m in model.attention.score if isinstance(m, torch.nn.Linear)]
        for b in range(3):
            if image_normalization == "tensor":
                regions = features[b] / features[b].norm()
            elif image_normalization == "region":
                regions = features[b] / features[b].norm(dim=-1, keepdim=True)
            else:
                regions = features[b]
            raw = torch.stack([_sketch_of_outer_product(question[b], v, attention_mcb) for v in regions])  # (N, d)
            if attention_normalization == "region":
                fused = torch.stack([_signed_sqrt_l2(f) for f in raw])
            else:  # one norm over the whole d x N map
                fused = _signed_sqrt_l2(raw.flatten()).view_as(raw)
            scores = torch.relu(fused @ hidden.weight.double().T + hidden.bias.double()) @ score.weight.double().T + score.bias.double()
            maps = torch.softmax(scores.T, dim=-1)  # (G, N)
            glimpses = maps @ regions  # (G, D)
            pooled = _signed_sqrt_l2(_sketch_of_outer_product(question[b], glimpses.flatten(), answer_mcb))

            torch.testing.assert_close(output.question_embeds[b].double(), question[b].double(), rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(output.image_embeds[b].double(), regions, rtol=1e-5, atol=1e-6)
            for g in range(2):
                torch.testing.assert_close(output.attentions[g][b].double(), maps[g], rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(output.pooled_output[b].double(), pooled, rtol=1e-4, atol=1e-5)


def test_answer_is_the_classifier_on_the_pooled_mcb_vector():
    model = make_model()
    inputs = random_inputs(model.config)
    with torch.no_grad():
        output = model(**inputs)
        linear = model.classifier.layers[-1]
        torch.testing.assert_close(output.logits, output.pooled_output @ linear.weight.T + linear.bias)
        torch.testing.assert_close(output.pooled_output.norm(dim=-1), torch.ones(3))  # L2 after the second MCB


def test_paper_and_code_normalisations_give_different_models():
    inputs = random_inputs(mcb_config(), batch=2)
    with torch.no_grad():
        paper = make_model(attention_normalization="region")(**inputs, output_attentions=True)
        code = make_model(attention_normalization="tensor")(**inputs, output_attentions=True)
    assert not torch.allclose(paper.attentions[0], code.attentions[0])


# --- masks and attention maps -------------------------------------------------------------------

@pytest.mark.parametrize("attention_normalization", ["region", "tensor"])
@pytest.mark.parametrize("image_normalization", ["tensor", "region"])
def test_masked_regions_get_no_weight_and_do_not_change_the_answer(attention_normalization, image_normalization):
    model = make_model(attention_normalization=attention_normalization, image_normalization=image_normalization)
    assert len(assert_masked_regions_ignored(model).attentions) == 2


@pytest.mark.parametrize(("image_encoder", "grid"), [("scratch_cnn", (8, 8)), ("backbone", (2, 2))])
def test_one_attention_map_per_glimpse_over_the_grid(image_encoder, grid):
    model = make_model(image_encoder, num_glimpses=3)
    inputs = random_inputs(model.config, batch=2)
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
        quiet = model(**inputs)
    assert output.image_grid_size == grid
    assert len(output.attentions) == 3
    for attention in output.attentions:
        assert attention.shape == (2, grid[0] * grid[1])
        assert (attention >= 0).all()
        torch.testing.assert_close(attention.sum(-1), torch.ones(2))
    assert not torch.allclose(output.attentions[0], output.attentions[1])  # the glimpses have their own scores
    assert quiet.attentions is None
    torch.testing.assert_close(quiet.logits, output.logits)


@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "features"])
def test_image_index_equals_repeating_the_image(image_encoder):
    assert_image_index_equals_repeating_the_image(make_model(image_encoder))


# --- count-sketch buffers: drawn from the seed, saved with the weights ------------------------------

def test_each_mcb_draws_its_own_sketch_from_sketch_seed():
    model = make_model(sketch_seed=7)
    config = model.config
    attention_mcb, answer_mcb = model.model.attention.fusion, model.model.answer_fusion
    expected_attention = CompactBilinearPooling(12, IMAGE_FEATURE_SIZE, 16, seed=7)
    expected_answer = CompactBilinearPooling(12, 2 * IMAGE_FEATURE_SIZE, 16, seed=8)
    for name in SKETCH_BUFFERS:
        assert torch.equal(getattr(attention_mcb, name), getattr(expected_attention, name))
        assert torch.equal(getattr(answer_mcb, name), getattr(expected_answer, name))
    assert not torch.equal(attention_mcb.question_hash, answer_mcb.question_hash)
    assert set(SKETCH_KEYS) <= set(model.state_dict())
    # The model's weight initialisation leaves them alone.
    before = {k: v.clone() for k, v in model.state_dict().items() if k in SKETCH_KEYS}
    model.init_weights()
    for key, value in before.items():
        assert torch.equal(model.state_dict()[key], value)
    assert config.sketch_seed == 7


@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "backbone", "features"])
def test_save_and_reload_keeps_the_sketches_and_the_answers(tmp_path, caplog, image_encoder):
    model = make_model(image_encoder, freeze_backbone=False, attention_normalization="tensor")
    # Overwrite the drawn sketches: a reload that re-drew them from sketch_seed would differ.
    with torch.no_grad():
        for layer in (model.model.attention.fusion, model.model.answer_fusion):
            for name in SKETCH_BUFFERS:
                buffer = getattr(layer, name)
                buffer.copy_((buffer + 5) % layer.output_size if name.endswith("hash") else -buffer)
    inputs = random_inputs(model.config)
    if image_encoder != "features":
        warm_batch_norm(model, inputs)
    with torch.no_grad():
        expected = model(**inputs, output_attentions=True)
    model.save_pretrained(tmp_path)

    saved = load_file(tmp_path / "model.safetensors")
    assert set(SKETCH_KEYS) <= set(saved)
    transformers_logger = logging.getLogger("transformers")  # it does not propagate to the root logger
    transformers_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="transformers"), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loaded, info = AutoModelForVisualQuestionAnswering.from_pretrained(tmp_path, output_loading_info=True)
    finally:
        transformers_logger.removeHandler(caplog.handler)
    assert not any(info.values()), info  # no missing, unexpected or mismatched keys
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [str(w.message) for w in caught]
    assert type(loaded) is McbForVisualQuestionAnswering and type(loaded.config) is McbConfig
    fresh = make_model(image_encoder, freeze_backbone=False, attention_normalization="tensor")
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key
        assert torch.equal(saved[key], tensor), key
    for key in SKETCH_KEYS:
        assert not torch.equal(loaded.state_dict()[key], fresh.state_dict()[key]), key  # from the file, not the seed
    with torch.no_grad():
        actual = loaded(**inputs, output_attentions=True)
    torch.testing.assert_close(actual.logits, expected.logits, rtol=1e-6, atol=1e-6)
    for x, y in zip(actual.attentions, expected.attentions, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-6)

    base = AutoModel.from_pretrained(tmp_path).eval()
    assert type(base) is McbModel
    with torch.no_grad():
        torch.testing.assert_close(base(**inputs).pooled_output, expected.pooled_output, rtol=1e-6, atol=1e-6)
    config = AutoConfig.from_pretrained(tmp_path)
    assert config.attention_normalization == "tensor" and config.mcb_output_size == 16


def test_a_checkpoint_sketch_is_what_the_model_uses(tmp_path):
    """Sketch values edited in the file itself are what the loaded model computes with."""
    model = make_model()
    model.save_pretrained(tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    new_hash = torch.arange(IMAGE_FEATURE_SIZE) % 16
    tensors["model.attention.fusion.image_hash"] = new_hash
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    loaded = AutoModelForVisualQuestionAnswering.from_pretrained(tmp_path)
    assert torch.equal(loaded.model.attention.fusion.image_hash, new_hash)
    inputs = random_inputs(model.config)
    with torch.no_grad():
        model.model.attention.fusion.image_hash.copy_(new_hash)
        torch.testing.assert_close(loaded(**inputs).logits, model(**inputs).logits, rtol=1e-6, atol=1e-6)


def test_bf16_load_runs_the_fft_in_float32(tmp_path):
    model = make_model("scratch_cnn")
    model.save_pretrained(tmp_path)
    loaded = AutoModelForVisualQuestionAnswering.from_pretrained(tmp_path, dtype=torch.bfloat16)
    assert loaded.classifier.layers[-1].weight.dtype == torch.bfloat16
    assert loaded.model.attention.fusion.question_hash.dtype == torch.long
    inputs = random_inputs(model.config, batch=2)
    with torch.no_grad():
        expected = model(**inputs, output_attentions=True)
        actual = loaded(**dict(inputs, pixel_values=inputs["pixel_values"].bfloat16()), output_attentions=True)
    assert actual.logits.dtype == torch.bfloat16 and torch.isfinite(actual.logits).all()
    torch.testing.assert_close(actual.logits.float(), expected.logits, rtol=0.05, atol=0.05)
    torch.testing.assert_close(actual.attentions[0].float().sum(-1), torch.ones(2), rtol=0.02, atol=0.02)


# --- learning, pipeline, bad inputs --------------------------------------------------------------

def test_tiny_model_learns_the_color_task(color_processor_16):
    model = make_model(
        "scratch_cnn", vocab_size=len(color_processor_16.tokenizer), scratch_cnn_channels=[8, 8], mcb_output_size=64,
        answer_head="mlp", dropout=0.0, question_dropout=0.0,
    )
    assert_learns_color_task(model, color_processor_16)


def test_pipeline_on_a_saved_folder(tmp_path, color_processor_16):
    model = make_model("scratch_cnn", vocab_size=len(color_processor_16.tokenizer), scratch_cnn_channels=[4, 8])
    result = assert_pipeline_matches_model(tmp_path, model, color_processor_16, "red", "is it red?")
    assert len(result["attentions"]) == 2
    assert "Multimodal Compact Bilinear" in (tmp_path / "README.md").read_text()
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "mmattn_mcb"


@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "features"])
def test_bad_inputs_raise_clear_errors(image_encoder):
    assert_rejects_bad_inputs(make_model(image_encoder), make_model(image_encoder, head=False))


def test_config_validates_its_fields():
    with pytest.raises(ValueError, match="image_normalization"):
        McbConfig(image_normalization="channel")
    with pytest.raises(ValueError, match="attention_normalization"):
        McbConfig(attention_normalization="none")
    with pytest.raises(ValueError, match="num_glimpses"):
        McbConfig(num_glimpses=0)
    with pytest.raises(ValueError, match="mcb_output_size"):
        McbConfig(mcb_output_size=0)
    config = McbConfig()
    assert (config.question_vector_size, config.mcb_output_size, config.attention_hidden_size, config.num_glimpses) == (2048, 16000, 512, 2)
    assert (config.word_embedding_size, config.image_feature_size, config.dropout, config.question_dropout) == (300, 2048, 0.1, 0.3)


# --- the released code: initialisation and preset ------------------------------------------------

def test_released_initialization_by_construction():
    """vqa-mcb's Caffe fillers (train_att_bc.py, qlstm()): the Embed and both LSTMs' weights from
    U(-0.08, 0.08), the LSTMs' biases 0, the attention convolutions and the classifier from
    ``xavier``, U(±√(3/fan_in)), with Caffe's default bias filler, 0. The sketches are drawn from
    sketch_seed as ever; a scratch CNN keeps PyTorch's default. On the preset's full-size layers,
    also the spread of each uniform."""
    torch.manual_seed(0)
    config = McbConfig.from_preset("vqa-mcb", vocab_size=100, num_labels=10)
    model = McbForVisualQuestionAnswering(config)
    linears = [model.model.attention.score[1], model.model.attention.score[3], model.classifier.layers[1]]
    assert [layer.weight.shape[1] for layer in linears] == [16000, 512, 16000]
    for layer in linears:
        assert_uniform(layer.weight, (3 / layer.weight.shape[1]) ** 0.5)
        assert (layer.bias == 0).all()
    embedding = model.model.question_encoder.embedding.weight
    assert (embedding[0] == 0).all()
    assert_uniform(embedding[1:], 0.08)
    for name, parameter in model.model.question_encoder.lstm.named_parameters():
        if name.startswith("weight"):
            assert_uniform(parameter, 0.08, name)
        else:
            assert (parameter == 0).all(), name
    reference = McbForVisualQuestionAnswering(McbConfig.from_preset("vqa-mcb", vocab_size=100, num_labels=10, initialization="pytorch"))
    for key in SKETCH_KEYS:
        assert torch.equal(model.state_dict()[key], reference.state_dict()[key])

    torch.manual_seed(0)
    model = make_model("scratch_cnn", initialization="released")
    first = model.model.image_encoder.cnn.blocks[0]
    assert first.weight.abs().max() > 0.08 and first.weight.abs().max() <= 1 / 27**0.5
    assert (model.model.image_encoder.cnn.blocks[1].weight == 1).all()


def test_preset_gives_the_released_code(tmp_path):
    """multi_att_2_glove: dropout 0.3 on the LSTMs' outputs and 0.1 after each MCB, d = 16000, the
    code's one-norm attention map, Caffe's initialisation, res5c features from a feature file."""
    config = McbConfig.from_preset("vqa-mcb", vocab_size=40, num_labels=5)
    assert (config.attention_normalization, config.image_normalization, config.initialization) == ("tensor", "tensor", "released")
    assert (config.question_dropout, config.dropout, config.mcb_output_size, config.image_encoder, config.answer_head) == (0.3, 0.1, 16000, "features", "linear")
    assert McbConfig.from_preset("vqa-mcb", image_encoder="features", mcb_output_size=64).mcb_output_size == 64
    torch.manual_seed(0)
    model = McbForVisualQuestionAnswering(config).eval()
    rates = {name: module.p for name, module in model.named_modules() if isinstance(module, torch.nn.Dropout)}
    assert rates == {
        "model.question_encoder.dropout": 0.0, "model.question_dropout": 0.3, "model.attention.score.0": 0.1, "classifier.layers.0": 0.1,
    }
    assert model.model.question_encoder.lstm.dropout == 0.3
    inputs = random_inputs(config, batch=2)
    inputs["image_features"] = inputs["image_features"][:, :3]
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    config.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).initialization == "released"
    with pytest.raises(ValueError, match="unknown MCB preset"):
        McbConfig.from_preset("mcb")
    with pytest.raises(ValueError, match="initialization must be one of"):
        McbConfig(initialization="caffe")
