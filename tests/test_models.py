"""Tests of the VQA models (SAN and the deeper LSTM Q + norm I baseline) on tiny configs."""

import json

import pytest
import torch
import torch.nn.functional as F
from conftest import (
    IMAGE_FEATURE_SIZE,
    TINY_RESNET,
    base_class,
    random_inputs,
    tiny_config,
    vqa_class,
)
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModel, AutoModelForVisualQuestionAnswering
from vqa_checks import (
    assert_auto_classes_round_trip,
    assert_learns_color_task,
    assert_rejects_bad_inputs,
)

import hf_mmattn
from hf_mmattn import LstmQNormIConfig, SanConfig

MODELS = ["san", "lstm_q_norm_i"]
ENCODERS = ["scratch_cnn", "backbone", "features"]


# --- save / load through the Auto classes ------------------------------------------------------

@pytest.mark.parametrize("image_encoder", ENCODERS)
@pytest.mark.parametrize("model_name", MODELS)
def test_auto_classes_round_trip(tmp_path, make_tiny_model, model_name, image_encoder):
    model = make_tiny_model(model_name, image_encoder, freeze_backbone=False)
    _, config, _ = assert_auto_classes_round_trip(tmp_path, model, random_inputs(model.config), type(model.config), base_class(model_name))
    assert config.id2label == model.config.id2label and config.label2id == model.config.label2id
    assert config.image_encoder == image_encoder

    assert {"config.json", "model.safetensors", "README.md", "hf_mmattn_auto.py"} <= {p.name for p in tmp_path.iterdir()}
    saved_tensors = load_file(tmp_path / "model.safetensors")
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(saved_tensors[name], tensor, rtol=0, atol=0)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == model.config.model_type and saved["model_type"].startswith("mmattn_")
    assert saved["auto_map"]["AutoConfig"] == f"hf_mmattn_auto.{type(model.config).__name__}"
    assert saved["auto_map"]["AutoModelForVisualQuestionAnswering"] == f"hf_mmattn_auto.{type(model).__name__}"
    assert saved["auto_map"]["AutoModel"] == f"hf_mmattn_auto.{base_class(model_name).__name__}"
    pipeline_entry = saved["custom_pipelines"]["mmattn-visual-question-answering"]
    assert pipeline_entry["impl"] == "hf_mmattn_auto.VisualQuestionAnsweringPipeline"
    assert pipeline_entry["pt"] == ["AutoModelForVisualQuestionAnswering"]
    remote_module = (tmp_path / "hf_mmattn_auto.py").read_text()
    for name in (type(model.config).__name__, type(model).__name__, "VisualQuestionAnsweringPipeline", "VQAProcessor"):
        assert name in remote_module


def test_backbone_config_is_a_resnet_config_after_round_trip(tmp_path, make_tiny_model):
    model = make_tiny_model("san", "backbone")
    model.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    assert config.backbone_config.model_type == "resnet"
    assert list(config.backbone_config.hidden_sizes) == [8, 16, 16, 16]
    assert list(config.backbone_config.out_features) == ["stage4"]


def test_configs_validate_their_fields():
    with pytest.raises(ValueError, match="question_encoder"):
        SanConfig(question_encoder="gru")
    with pytest.raises(ValueError, match="num_hops"):
        SanConfig(num_hops=0)
    assert SanConfig(question_encoder="cnn", question_cnn_channels=[3, 4, 5]).hidden_size == 12
    assert LstmQNormIConfig(question_hidden_size=7, question_num_layers=3).question_vector_size == 42


# --- attention outputs ------------------------------------------------------------------------

@pytest.mark.parametrize(("image_encoder", "grid"), [("scratch_cnn", (8, 8)), ("backbone", (2, 2))])
def test_san_attention_maps(make_tiny_model, image_encoder, grid):
    model = make_tiny_model("san", image_encoder, num_hops=3)
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
    assert quiet.attentions is None
    torch.testing.assert_close(quiet.logits, output.logits)


def test_san_model_matches_explicit_hops(make_tiny_model):
    """The whole stack against the equations, from the model's own projected regions and
    question vector: each hop attends with its own weights and adds to the query."""
    for form in ("paper", "code"):
        model = make_tiny_model("san", "scratch_cnn", head=False, attention_form=form)
        inputs = random_inputs(model.config, batch=2)
        with torch.no_grad():
            output = model(**inputs, output_attentions=True)
            regions, query = output.image_embeds, output.question_embeds
            for hop, attention in zip(model.hops, output.attentions, strict=True):
                image_part = regions @ hop.image_projection.weight.T
                if form == "code":
                    image_part = torch.tanh(image_part + hop.image_projection.bias)
                question_part = query @ hop.question_projection.weight.T + hop.question_projection.bias
                if form == "paper":
                    joint = torch.tanh(image_part + question_part[:, None])
                else:
                    joint = image_part + torch.tanh(question_part)[:, None]
                scores = (joint @ hop.score.weight.T).squeeze(-1) + hop.score.bias
                if form == "code":
                    scores = torch.tanh(scores)
                expected = torch.softmax(scores, -1)
                torch.testing.assert_close(attention, expected)
                query = (expected[:, :, None] * regions).sum(1) + query
            torch.testing.assert_close(output.pooled_output, query)


def test_baseline_has_no_attentions(make_tiny_model):
    model = make_tiny_model("lstm_q_norm_i", "scratch_cnn")
    with torch.no_grad():
        output = model(**random_inputs(model.config), output_attentions=True)
    assert output.attentions is None


def test_baseline_fuses_the_normalised_mean_image(make_tiny_model):
    """pooled = tanh(W_q [c1;h1;c2;h2] + b) * tanh(W_v (mean v / ||mean v||) + b)."""
    model = make_tiny_model("lstm_q_norm_i", "features", head=False)
    inputs = random_inputs(model.config, batch=2)
    with torch.no_grad():
        output = model(**inputs)
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        questions = []
        for row in range(2):
            words = ids[row, : int(mask[row].sum())][None]
            embedded = torch.tanh(model.question_encoder.embedding(words))
            _, (h, c) = model.question_encoder.lstm(embedded)
            questions.append(torch.cat([c[0, 0], h[0, 0], c[1, 0], h[1, 0]]))
        question = torch.stack(questions)
        image = inputs["image_features"].mean(1)
        image = image / image.norm(dim=-1, keepdim=True)
        fusion = model.fusion
        expected = torch.tanh(fusion.question_projection(question)) * torch.tanh(fusion.image_projection(image))
    torch.testing.assert_close(output.question_embeds, question)
    torch.testing.assert_close(output.image_embeds, image)
    torch.testing.assert_close(output.pooled_output, expected)


# --- image_index, masks, frozen backbone -------------------------------------------------------

@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "features"])
@pytest.mark.parametrize("model_name", MODELS)
def test_image_index_equals_repeating_the_image(make_tiny_model, model_name, image_encoder):
    model = make_tiny_model(model_name, image_encoder)
    inputs = random_inputs(model.config, batch=5)
    image_key = "image_features" if image_encoder == "features" else "pixel_values"
    images = inputs[image_key][:2]
    image_index = torch.tensor([1, 0, 1, 1, 0])
    shared = dict(inputs, **{image_key: images}, image_index=image_index)
    repeated = dict(inputs, **{image_key: images[image_index]})
    with torch.no_grad():
        a = model(**shared, output_attentions=True)
        b = model(**repeated, output_attentions=True)
    torch.testing.assert_close(a.logits, b.logits)
    if model_name == "san":
        for x, y in zip(a.attentions, b.attentions, strict=True):
            torch.testing.assert_close(x, y)
    # The index matters: another assignment gives other answers.
    with torch.no_grad():
        c = model(**dict(shared, image_index=1 - image_index))
    assert not torch.allclose(a.logits, c.logits)


def test_frozen_backbone(make_tiny_model):
    model = make_tiny_model("san", "backbone")
    backbone = model.model.image_encoder.backbone
    assert all(not p.requires_grad for p in backbone.parameters())
    assert all(p.requires_grad for name, p in model.named_parameters() if ".backbone." not in name)
    running = {k: v.clone() for k, v in backbone.state_dict().items() if "running" in k}
    model.train()
    assert model.training and model.model.hops[0].training
    assert not backbone.training and not any(m.training for m in backbone.modules())
    inputs = random_inputs(model.config, batch=2)
    loss = model(**inputs, labels=torch.tensor([0, 1])).loss
    loss.backward()
    assert all(p.grad is None for p in backbone.parameters())
    assert model.model.image_projection[0].weight.grad is not None
    for key, value in backbone.state_dict().items():  # BatchNorm statistics did not move
        if key in running:
            torch.testing.assert_close(value, running[key], rtol=0, atol=0)

    unfrozen = make_tiny_model("san", "backbone", freeze_backbone=False).train()
    assert unfrozen.model.image_encoder.backbone.training
    unfrozen(**inputs, labels=torch.tensor([0, 1])).loss.backward()
    assert all(p.grad is not None for p in unfrozen.model.image_encoder.backbone.parameters())


@pytest.mark.parametrize("model_name", MODELS)
def test_masked_regions_do_not_influence_the_output(make_tiny_model, model_name):
    model = make_tiny_model(model_name, "features")
    features = torch.randn(2, 6, IMAGE_FEATURE_SIZE, generator=torch.Generator().manual_seed(3))
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]])
    inputs = random_inputs(model.config, batch=2)
    inputs.update(image_features=features, image_attention_mask=mask)
    changed = features.clone()
    changed[mask == 0] = 1000.0
    with torch.no_grad():
        a = model(**inputs, output_attentions=True)
        b = model(**dict(inputs, image_features=changed), output_attentions=True)
        # ... and each question gets what it would get from its real regions alone.
        alone = [
            model(**{k: v[row : row + 1] for k, v in inputs.items() if k != "image_attention_mask"} | {
                "image_features": features[row : row + 1, : int(mask[row].sum())]
            }).logits[0]
            for row in range(2)
        ]
    torch.testing.assert_close(a.logits, b.logits)
    torch.testing.assert_close(a.logits, torch.stack(alone))
    if model_name == "san":
        assert a.image_grid_size is None
        for attention in a.attentions:
            assert (attention[mask == 0] == 0).all()
            torch.testing.assert_close(attention.sum(-1), torch.ones(2))


# --- loss ----------------------------------------------------------------------------------

@pytest.mark.parametrize("model_name", MODELS)
def test_loss_for_both_label_formats(make_tiny_model, model_name):
    model = make_tiny_model(model_name, "features")
    inputs = random_inputs(model.config, batch=3)
    labels = torch.tensor([2, 0, 3])
    output = model(**inputs, labels=labels)
    torch.testing.assert_close(output.loss, F.cross_entropy(output.logits, labels))
    torch.testing.assert_close(model(**inputs, labels=labels.int()).loss, output.loss)

    scores = torch.tensor([[0.0, 0.3, 1.0, 0.0], [0.6, 0.0, 0.0, 0.9], [0.0, 0.0, 0.0, 1.0]])
    logits = model(**inputs).logits
    soft = model(**inputs, labels=scores).loss
    p = torch.sigmoid(logits.double())
    expected = -(scores * torch.log(p) + (1 - scores) * torch.log(1 - p)).mean() * 4
    torch.testing.assert_close(soft.double(), expected, rtol=1e-5, atol=1e-6)

    for bad in (torch.tensor([[1], [0], [2]]), torch.zeros(3, 5), torch.zeros(3), torch.zeros(3, 4, dtype=torch.long)):
        with pytest.raises(ValueError, match="labels must be"):
            model(**inputs, labels=bad)


def test_return_dict_false_gives_tuples(make_tiny_model):
    model = make_tiny_model("san", "features")
    inputs = random_inputs(model.config)
    with torch.no_grad():
        as_dict = model(**inputs, labels=torch.tensor([0, 1, 2]))
        as_tuple = model(**inputs, labels=torch.tensor([0, 1, 2]), return_dict=False)
    assert isinstance(as_tuple, tuple)
    torch.testing.assert_close(as_tuple[0], as_dict.loss)
    torch.testing.assert_close(as_tuple[1], as_dict.logits)


# --- SAN variants ---------------------------------------------------------------------------

def test_san_cnn_question_encoder(tmp_path, make_tiny_model):
    model = make_tiny_model("san", "features", question_encoder="cnn", question_cnn_kernel_sizes=[1, 2, 3], question_cnn_channels=[3, 4, 5])
    assert model.config.hidden_size == 12
    inputs = random_inputs(model.config, batch=3)
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
    assert output.pooled_output.shape == (3, 12)
    assert len(output.attentions) == 2
    # Extra padding does not change the answer (the n-gram max skips padded windows).
    padded = dict(inputs)
    padded["input_ids"] = F.pad(inputs["input_ids"], (0, 4))
    padded["attention_mask"] = F.pad(inputs["attention_mask"], (0, 4))
    with torch.no_grad():
        torch.testing.assert_close(model(**padded).logits, output.logits)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForVisualQuestionAnswering.from_pretrained(tmp_path)
    assert loaded.config.question_encoder == "cnn"
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, output.logits, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("model_name", MODELS)
def test_lstm_models_are_padding_invariant(make_tiny_model, model_name):
    model = make_tiny_model(model_name, "features")
    inputs = random_inputs(model.config, batch=3)
    padded = dict(inputs, input_ids=F.pad(inputs["input_ids"], (0, 3)), attention_mask=F.pad(inputs["attention_mask"], (0, 3)))
    with torch.no_grad():
        torch.testing.assert_close(model(**padded).logits, model(**inputs).logits)


def test_san_code_attention_form_changes_the_model(make_tiny_model):
    paper = make_tiny_model("san", "scratch_cnn", attention_form="paper")
    code = make_tiny_model("san", "scratch_cnn", attention_form="code")
    assert code.model.hops[0].attention_form == "code" and code.model.hops[0].image_projection.bias is not None
    assert paper.model.hops[0].image_projection.bias is None
    inputs = random_inputs(code.config, batch=2)
    with torch.no_grad():
        output = code(**inputs, output_attentions=True)
    for attention in output.attentions:
        torch.testing.assert_close(attention.sum(-1), torch.ones(2))
        # Scores squashed by tanh lie in [-1, 1], so no weight exceeds e^2 times another.
        assert (attention.max(-1).values / attention.min(-1).values <= torch.e**2 + 1e-4).all()


# --- learning a tiny task -------------------------------------------------------------------

@pytest.mark.parametrize("model_name", MODELS)
def test_tiny_model_learns_the_color_task(color_processor_16, model_name):
    torch.manual_seed(0)
    config = tiny_config(
        model_name, "scratch_cnn", vocab_size=len(color_processor_16.tokenizer),
        scratch_cnn_channels=[8, 8], answer_head="mlp", dropout=0.0,
    )
    assert_learns_color_task(vqa_class(model_name)(config), color_processor_16)


# --- bad inputs -----------------------------------------------------------------------------

@pytest.mark.parametrize("image_encoder", ["scratch_cnn", "features"])
@pytest.mark.parametrize("model_name", MODELS)
def test_bad_inputs_raise_clear_errors(make_tiny_model, model_name, image_encoder):
    model = make_tiny_model(model_name, image_encoder)
    assert_rejects_bad_inputs(model, make_tiny_model(model_name, image_encoder, head=False))


def test_good_inputs_without_attention_mask_mean_every_word_is_real(make_tiny_model):
    model = make_tiny_model("san", "features")
    inputs = random_inputs(model.config, batch=2)
    ids = inputs["input_ids"][:1, :5]  # row 0 has no padding
    with torch.no_grad():
        a = model(input_ids=ids, image_features=inputs["image_features"][:1]).logits
        b = model(input_ids=ids, attention_mask=torch.ones_like(ids), image_features=inputs["image_features"][:1]).logits
    torch.testing.assert_close(a, b)


def test_without_a_padding_id_every_id_is_a_word(make_tiny_model):
    model = make_tiny_model("san", "features", pad_token_id=None)
    inputs = random_inputs(model.config, batch=2)
    with torch.no_grad():
        a = model(**dict(inputs, attention_mask=None)).logits
        b = model(**dict(inputs, attention_mask=torch.ones_like(inputs["input_ids"]))).logits
    torch.testing.assert_close(a, b)


def test_images_on_another_device_than_the_model_are_refused(make_tiny_model):
    """(No second device on a CPU machine: a model moved to "meta" stands for one on a GPU.)"""
    for image_encoder in ("scratch_cnn", "features"):
        model = make_tiny_model("san", image_encoder).to("meta")
        key = "pixel_values" if image_encoder == "scratch_cnn" else "image_features"
        with pytest.raises(ValueError, match=f"{key} is on cpu but the model on meta: move the inputs with .to\\(model.device\\)"):
            model(**random_inputs(model.config, batch=2))


def test_too_small_images_name_the_backbones_minimum_size():
    """A backbone declares no minimum size: an image too small for ConvNeXt's 4x4 patchify stem and
    2x2 downsamplings (32 pixels) failed inside a convolution. The size that passes is found by
    probing, in eval mode: a backbone being trained keeps its mode and its statistics."""
    config = tiny_config("san", "backbone", freeze_backbone=False, backbone_config={
        "model_type": "convnext", "out_features": ["stage4"], "hidden_sizes": [8, 8, 8, 8], "depths": [1, 1, 1, 1]})
    model = vqa_class("san")(config).train()
    inputs = random_inputs(config, batch=2, image_size=32)
    model(**inputs)  # 32x32: a 1x1 grid
    state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    for height, width in ((31, 64), (8, 8), (1, 40)):
        with pytest.raises(ValueError, match=f"{height}x{width} pixels are too small .*ConvNextBackbone.* at least 32x32"):
            model(**dict(inputs, pixel_values=torch.randn(2, 3, height, width)))
    assert model.training and model.model.image_encoder.backbone.training
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, state[name], rtol=0, atol=0)
    # A ResNet reads any size (its poolings pad): nothing to refuse; probing it in training leaves
    # its BatchNorm statistics where they were.
    resnet = vqa_class("san")(tiny_config("san", "backbone", freeze_backbone=False)).eval()
    assert resnet(**random_inputs(resnet.config, batch=1, image_size=2)).image_grid_size == (1, 1)
    encoder = resnet.model.image_encoder.train()
    state = {name: tensor.clone() for name, tensor in encoder.state_dict().items()}
    assert encoder.backbone_min_image_size(torch.randn(2, 3, 5, 5)) == 1
    assert encoder.backbone.training
    for name, tensor in encoder.state_dict().items():
        torch.testing.assert_close(tensor, state[name], rtol=0, atol=0)


def test_models_are_registered_with_the_auto_classes():
    for config_class, base, head in hf_mmattn.registration.VQA_MODELS:
        config = AutoConfig.for_model(config_class.model_type)
        assert type(config) is config_class
    assert type(AutoModel.from_config(tiny_config("san", "features"))) is hf_mmattn.SanModel
    assert type(AutoModelForVisualQuestionAnswering.from_config(tiny_config("lstm_q_norm_i", "features"))) is hf_mmattn.LstmQNormIForVisualQuestionAnswering


@pytest.mark.parametrize("model_name", MODELS)
def test_load_pretrained_backbone_from_a_classification_checkpoint(tmp_path, make_tiny_model, model_name):
    """Pretrained ImageNet weights usually come as a classifier (e.g. ResNetForImageClassification):
    its ResNet trunk goes into the backbone, the classifier is left out."""
    from transformers import ResNetConfig, ResNetForImageClassification

    torch.manual_seed(11)
    classifier = ResNetForImageClassification(ResNetConfig(**{k: v for k, v in TINY_RESNET.items() if k not in ("model_type", "out_features")}))
    classifier.save_pretrained(tmp_path)
    model = make_tiny_model(model_name, "backbone")
    model.load_pretrained_backbone(tmp_path)
    loaded = model.model.image_encoder.backbone.state_dict()
    trunk = classifier.resnet.state_dict()
    assert loaded.keys() <= trunk.keys() and len(loaded) > 10
    for name, tensor in loaded.items():
        assert torch.equal(tensor, trunk[name]), name
    with pytest.raises(ValueError, match="not a backbone"):
        make_tiny_model(model_name, "scratch_cnn").load_pretrained_backbone(tmp_path)


def test_saved_card_lists_the_architecture_not_the_loading_metadata(tmp_path, make_tiny_model):
    model = make_tiny_model("san", "scratch_cnn")
    model.save_pretrained(tmp_path)
    card = (tmp_path / "README.md").read_text()
    assert f"| `num_hops` | {model.config.num_hops} |" in card
    assert f"| `attention_form` | {model.config.attention_form} |" in card
    assert "`auto_map`" not in card and "`custom_pipelines`" not in card
    assert json.loads((tmp_path / "config.json").read_text())["auto_map"]  # still in the config


# --- released code: dropout placements, CNN windows, initialisation, presets -----------------

def dropout_rates(model) -> dict[str, float]:
    """Every ``nn.Dropout`` of ``model`` by its module name, with its probability."""
    return {name: module.p for name, module in model.named_modules() if isinstance(module, torch.nn.Dropout)}


def assert_uniform(tensor: torch.Tensor, bound: float, name: str = "") -> None:
    """``tensor`` looks drawn from U(-bound, bound): within the bound, and with 1,000 values or more,
    a standard deviation of bound/√3 (within 5%) and a mean near 0."""
    values = tensor.detach().double().flatten()
    assert values.abs().max() <= bound + 1e-7, f"{name}: |value| up to {values.abs().max():.4g}, beyond {bound}"
    if values.numel() >= 1000:
        torch.testing.assert_close(values.std(), torch.tensor(bound / 3**0.5, dtype=torch.float64), rtol=0.05, atol=0, msg=name)
        assert abs(values.mean()) < 0.05 * bound, name


def test_san_dropout_rates_sit_where_configured():
    """region_dropout on the regions before their projection, attention_dropout on each hop's h_A,
    classifier_dropout before the classifier (and its hidden layer): three rates, not one."""
    config = tiny_config("san", "features", answer_head="mlp", dropout=0.9, region_dropout=0.1, attention_dropout=0.2, classifier_dropout=0.3)
    rates = dropout_rates(vqa_class("san")(config))
    assert rates == {
        "model.question_encoder.dropout": 0.0,  # the word embeddings: the code's sent_drop, off
        "model.region_dropout": 0.1,
        "model.hops.0.dropout": 0.2,
        "model.hops.1.dropout": 0.2,
        "classifier.layers.0": 0.3,
        "classifier.layers.3": 0.3,
    }


def test_san_released_dropout_leaves_the_attention_deterministic_in_training():
    """imageqa-san drops only before the classifier: in training mode the base model's output
    (regions, hops, u_K) is the evaluation one, while the logits are not."""
    torch.manual_seed(0)
    config = tiny_config("san", "features", region_dropout=0.0, attention_dropout=0.0, classifier_dropout=0.5)
    model = vqa_class("san")(config)
    inputs = random_inputs(config, batch=3)
    with torch.no_grad():
        evaluated = model.eval()(**inputs, output_attentions=True)
        trained = model.train()(**inputs, output_attentions=True)
    torch.testing.assert_close(trained.pooled_output, evaluated.pooled_output, rtol=0, atol=0)
    for a, b in zip(trained.attentions, evaluated.attentions, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(trained.logits, evaluated.logits)
    # One rate for everything (`dropout`, the fields left at None): the attention is dropped too.
    model = vqa_class("san")(tiny_config("san", "features", dropout=0.5))
    with torch.no_grad():
        evaluated = model.eval()(**inputs)
        trained = model.train()(**inputs)
    assert not torch.equal(trained.pooled_output, evaluated.pooled_output)


def test_san_config_saved_with_only_dropout_builds_the_model_it_built(tmp_path, make_tiny_model):
    """A checkpoint saved before region_dropout / attention_dropout / classifier_dropout and the
    other new fields existed: its config holds `dropout` alone. It loads with those fields at None,
    `dropout` on the regions, every hop and the classifier as before, the wide CNN windows and
    PyTorch's initialisation, and the very same outputs."""
    for question_encoder in ("lstm", "cnn"):
        model = make_tiny_model("san", "features", question_encoder=question_encoder, question_cnn_channels=[3, 4, 5], dropout=0.3, answer_head="mlp")
        model.save_pretrained(tmp_path)
        saved = json.loads((tmp_path / "config.json").read_text())
        new_fields = ("region_dropout", "attention_dropout", "classifier_dropout", "question_cnn_windows", "initialization")
        assert all(name in saved for name in new_fields)
        (tmp_path / "config.json").write_text(json.dumps({k: v for k, v in saved.items() if k not in new_fields}))
        loaded = AutoModelForVisualQuestionAnswering.from_pretrained(tmp_path)
        config = loaded.config
        assert (config.region_dropout, config.attention_dropout, config.classifier_dropout) == (None, None, None)
        assert (config.question_cnn_windows, config.initialization, config.dropout) == ("wide", "pytorch", 0.3)
        rates = dropout_rates(loaded)
        rates.pop("model.question_encoder.dropout", None)  # the word embeddings (LSTM): `dropout` never reached them
        assert rates == dict.fromkeys(["model.region_dropout", "model.hops.0.dropout", "model.hops.1.dropout", "classifier.layers.0", "classifier.layers.3"], 0.3)
        if question_encoder == "cnn":
            assert loaded.model.question_encoder.windows == "wide"
        inputs = random_inputs(model.config, batch=3)
        with torch.no_grad():
            torch.testing.assert_close(loaded(**inputs).logits, model(**inputs).logits, rtol=1e-6, atol=1e-6)


def _conv_windows_by_hand(embedding, convolution, words, windows):
    """max over the windows of tanh(Σ_j W[:, :, j] x_{t+j} + b), each x a word's embedding and
    zero outside the question (eq. 8-9), in float64."""
    weight, bias = convolution.weight.double(), convolution.bias.double()
    size = weight.shape[-1]
    vectors = [embedding.weight[word].double() for word in words]
    length = len(words)
    if windows == "narrow":
        starts = range(max(length - size + 1, 1))
    else:
        starts = range(-(size - 1), length)
    features = []
    for start in starts:
        total = bias.clone()
        for j in range(size):
            if 0 <= start + j < length:
                total = total + weight[:, :, j] @ vectors[start + j]
        features.append(torch.tanh(total))
    return torch.stack(features).max(dim=0).values


@pytest.mark.parametrize("windows", ["narrow", "wide"])
def test_san_cnn_question_windows_by_hand(windows):
    """h̃_c = max_t tanh(W_c x_{t:t+c-1} + b_c): "narrow" over eq. 8's windows inside the question
    (a question shorter than c words keeps its one window, zero-padded), "wide" over every window
    holding a word; questions of 5, 2 and 1 words, with the batch's padding, in float64."""
    torch.manual_seed(0)
    config = tiny_config("san", "features", question_encoder="cnn", question_cnn_kernel_sizes=[1, 2, 3], question_cnn_channels=[3, 4, 5], question_cnn_windows=windows)
    model = hf_mmattn.SanModel(config).double().eval()
    encoder = model.question_encoder
    assert encoder.windows == windows
    input_ids = torch.tensor([[3, 4, 5, 6, 7], [8, 2, 0, 0, 0], [5, 0, 0, 0, 0]])
    attention_mask = (input_ids != 0).long()
    with torch.no_grad():
        encoded = encoder(input_ids, attention_mask).last_hidden
        for row in range(3):
            words = input_ids[row][attention_mask[row].bool()].tolist()
            expected = torch.cat([_conv_windows_by_hand(encoder.embedding, conv, words, windows) for conv in encoder.convolutions])
            torch.testing.assert_close(encoded[row], expected)
        # Padding changes nothing, whatever id it holds.
        padded_ids = F.pad(input_ids, (0, 3), value=6)
        padded = encoder(padded_ids, F.pad(attention_mask, (0, 3))).last_hidden
    torch.testing.assert_close(padded, encoded, rtol=0, atol=1e-12)


def test_san_cnn_windows_are_checked_and_default_to_wide():
    assert SanConfig().question_cnn_windows == "wide"
    with pytest.raises(ValueError, match="question_cnn_windows must be one of"):
        SanConfig(question_cnn_windows="valid")
    with pytest.raises(ValueError, match="initialization must be one of"):
        SanConfig(initialization="xavier")
    with pytest.raises(ValueError, match="attention_dropout must be a probability"):
        SanConfig(attention_dropout=1.5)


def test_san_released_initialization_by_construction():
    """imageqa-san's init_params: every weight matrix (projections, hops, classifier, LSTM, CNN
    question model) from U(-0.01, 0.01), biases 0 but the LSTM's forget gate (forget_bias 1),
    word embeddings from U(-0.5, 0.5) (the padding row 0); the scratch CNN keeps PyTorch's
    default. The preset's full-size layers also have the standard deviation of U(±b), b/√3."""
    torch.manual_seed(0)
    config = SanConfig.from_preset("imageqa-san", vocab_size=300, num_labels=50)
    model = vqa_class("san")(config)
    for name, parameter in model.named_parameters():
        if name.endswith("embedding.weight"):
            assert_uniform(parameter[1:], 0.5, name)
            assert (parameter[0] == 0).all()
        elif "bias_ih" in name:
            hidden = config.question_hidden_size
            assert (parameter[hidden : 2 * hidden] == 1).all() and (parameter[:hidden] == 0).all() and (parameter[2 * hidden :] == 0).all()
        elif "bias" in name:
            assert (parameter == 0).all(), name
        else:
            assert_uniform(parameter, 0.01, name)
    assert model.model.question_encoder.lstm.weight_hh_l0.numel() > 1000  # the spread was checked

    # The CNN question model's convolutions, and a scratch CNN left to PyTorch.
    torch.manual_seed(0)
    model = vqa_class("san")(tiny_config("san", "scratch_cnn", question_encoder="cnn", question_cnn_channels=[30, 40, 50], initialization="released"))
    for convolution in model.model.question_encoder.convolutions:
        assert_uniform(convolution.weight, 0.01)
        assert (convolution.bias == 0).all()
    first = model.model.image_encoder.cnn.blocks[0]
    bound = 1 / (3 * 3 * 3) ** 0.5
    assert first.weight.abs().max() <= bound and first.weight.abs().max() > 0.5 * bound
    assert (model.model.image_encoder.cnn.blocks[1].weight == 1).all()  # BatchNorm's default

    # PyTorch's default stays the default: U(±1/√fan_in), biases drawn too.
    torch.manual_seed(0)
    default = vqa_class("san")(tiny_config("san", "features"))
    projection = default.model.image_projection[0]
    assert projection.weight.abs().max() > 0.1 and (projection.bias != 0).all()


@pytest.mark.parametrize("name", ["imageqa-san", "imageqa-san-cnn"])
def test_san_presets_give_the_released_code(tmp_path, name):
    """Dropout before the classifier only, the code's attention form, its initialisation, 512-d
    VGG regions from a feature file; SAN(CNN) with eq. 8's narrow windows. The preset builds and
    answers with its own image input (features), round-trips through save / load, and takes
    overrides."""
    config = SanConfig.from_preset(name, vocab_size=40, num_labels=5)
    assert (config.attention_form, config.initialization, config.answer_head, config.num_hops) == ("code", "released", "linear", 2)
    assert (config.image_encoder, config.image_feature_size, config.word_embedding_size) == ("features", 512, 500)
    assert (config.dropout_rate("region"), config.dropout_rate("attention"), config.dropout_rate("classifier")) == (0.0, 0.0, 0.5)
    if name == "imageqa-san-cnn":
        assert (config.question_encoder, config.question_cnn_windows, config.hidden_size) == ("cnn", "narrow", 1280)
    else:
        assert (config.question_encoder, config.hidden_size) == ("lstm", 1024)
    assert SanConfig.from_preset(name, image_encoder="features", num_hops=1).num_hops == 1
    torch.manual_seed(0)
    model = vqa_class("san")(config).eval()
    expected = {"model.region_dropout": 0.0, "model.hops.0.dropout": 0.0, "model.hops.1.dropout": 0.0, "classifier.layers.0": 0.5}
    if config.question_encoder == "lstm":
        expected["model.question_encoder.dropout"] = 0.0
    assert dropout_rates(model) == expected
    inputs = random_inputs(config, batch=2)
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    config.save_pretrained(tmp_path)
    again = AutoConfig.from_pretrained(tmp_path)
    assert type(again) is SanConfig
    assert {k: v for k, v in again.to_dict().items() if k != "_name_or_path"} == {k: v for k, v in config.to_dict().items() if k != "_name_or_path"}
    with pytest.raises(ValueError, match="unknown SAN preset 'imageqa'"):
        SanConfig.from_preset("imageqa")


def test_baseline_drops_between_its_lstm_layers():
    """VQA_LSTM_CNN's LSTM drops the first layer's outputs before the second (misc/LSTM.lua,
    dropout 0.5 from train.lua). With lstm_dropout=1 and no other dropout, in training the second
    layer reads zeros: its final [c_2; h_2] is an LSTM run on a zero input, by hand; in evaluation
    it reads the first layer. ``lstm_dropout`` left at None is ``dropout``."""
    torch.manual_seed(0)
    config = tiny_config("lstm_q_norm_i", "features", dropout=0.0, lstm_dropout=1.0)
    model = hf_mmattn.LstmQNormIModel(config).double()
    inputs = random_inputs(config, batch=3)
    inputs["image_features"] = inputs["image_features"].double()
    lstm = model.question_encoder.lstm
    hidden = config.question_hidden_size
    with torch.no_grad():
        trained = model.train()(**inputs).question_embeds
        evaluated = model.eval()(**inputs).question_embeds
        for row in range(3):
            length = int(inputs["attention_mask"][row].sum())
            h = c = torch.zeros(hidden, dtype=torch.float64)
            for _ in range(length):  # the second layer on zeros: only its biases and its own state move it
                gates = lstm.bias_ih_l1 + lstm.bias_hh_l1 + lstm.weight_hh_l1 @ h
                i, f, g, o = gates.chunk(4)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            torch.testing.assert_close(trained[row, 2 * hidden :], torch.cat([c, h]))
    torch.testing.assert_close(trained[:, : 2 * hidden], evaluated[:, : 2 * hidden])  # [c_1; h_1]: no dropout before
    assert not torch.allclose(trained[:, 2 * hidden :], evaluated[:, 2 * hidden :])
    # Defaults: the released 0.5 through `dropout`; a config with dropout 0 (easy-VQA) has none.
    assert hf_mmattn.LstmQNormIModel(tiny_config("lstm_q_norm_i", "features")).question_encoder.lstm.dropout == 0.5
    assert hf_mmattn.LstmQNormIModel(tiny_config("lstm_q_norm_i", "features", dropout=0.0)).question_encoder.lstm.dropout == 0.0
    assert hf_mmattn.LstmQNormIModel(tiny_config("lstm_q_norm_i", "features", lstm_dropout=0.2)).question_encoder.lstm.dropout == 0.2


def test_baseline_dropout_placements_are_the_released_code():
    """train.lua: Linear(V→200) → Dropout(0.5) → Tanh; the LSTM's inter-layer dropout; netdef.AxB:
    dropout on both fusion inputs; Dropout(0.5) before the classifier."""
    model = vqa_class("lstm_q_norm_i")(tiny_config("lstm_q_norm_i", "features", dropout=0.5))
    assert dropout_rates(model) == {
        "model.question_encoder.dropout": 0.5, "model.fusion.dropout": 0.5, "classifier.layers.0": 0.5,
    }
    assert model.model.question_encoder.lstm.dropout == 0.5


def test_baseline_released_initialization_by_construction():
    """VQA_LSTM_CNN's train.lua draws every parameter of the embedding, the LSTM and the multimodal
    net (weights and biases) from U(-0.08, 0.08); the padding row stays 0, a scratch CNN keeps
    PyTorch's default. On the preset's full-size layers, also the spread of U(±0.08)."""
    torch.manual_seed(0)
    config = LstmQNormIConfig.from_preset("vqa-lstm-cnn", vocab_size=100, num_labels=1000)
    model = vqa_class("lstm_q_norm_i")(config)
    for name, parameter in model.named_parameters():
        if name.endswith("embedding.weight"):
            assert (parameter[0] == 0).all()
            parameter = parameter[1:]
        assert_uniform(parameter, 0.08, name)
    assert model.classifier.layers[1].weight.numel() > 1000
    torch.manual_seed(0)
    model = vqa_class("lstm_q_norm_i")(tiny_config("lstm_q_norm_i", "scratch_cnn", initialization="released"))
    first = model.model.image_encoder.cnn.blocks[0]
    assert first.weight.abs().max() > 0.08  # U(±1/√27)
    assert (model.model.image_encoder.cnn.blocks[1].weight == 1).all()


def test_baseline_preset_gives_the_released_code(tmp_path):
    config = LstmQNormIConfig.from_preset("vqa-lstm-cnn", vocab_size=40, num_labels=5)
    assert (config.word_embedding_size, config.question_hidden_size, config.question_num_layers, config.fusion_hidden_size) == (200, 512, 2, 1024)
    assert (config.image_encoder, config.image_feature_size, config.normalize_image) == ("features", 4096, True)
    assert (config.dropout, config.lstm_dropout, config.initialization, config.answer_head) == (0.5, 0.5, "released", "linear")
    assert LstmQNormIConfig.from_preset("vqa-lstm-cnn", image_encoder="features").image_encoder == "features"
    torch.manual_seed(0)
    model = vqa_class("lstm_q_norm_i")(config).eval()
    inputs = random_inputs(config, batch=2)
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    config.save_pretrained(tmp_path)
    again = AutoConfig.from_pretrained(tmp_path)
    assert (again.lstm_dropout, again.initialization) == (0.5, "released")
    with pytest.raises(ValueError, match="unknown deeper LSTM Q \\+ norm I preset"):
        LstmQNormIConfig.from_preset("vqa")
    with pytest.raises(ValueError, match="initialization must be one of"):
        LstmQNormIConfig(initialization="torch")
    with pytest.raises(ValueError, match="lstm_dropout must be a probability"):
        LstmQNormIConfig(lstm_dropout=-0.1)


@pytest.mark.parametrize("model_name", MODELS)
def test_loading_a_released_init_checkpoint_keeps_its_weights(tmp_path, make_tiny_model, model_name):
    """The released initialisation runs on what a checkpoint lacks, never on what it holds:
    weights far outside the init's bounds come back as saved."""
    model = make_tiny_model(model_name, "scratch_cnn", initialization="released")
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(3.0)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForVisualQuestionAnswering.from_pretrained(tmp_path)
    assert loaded.config.initialization == "released"
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
