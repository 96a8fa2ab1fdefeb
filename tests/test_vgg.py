"""VGG (Simonyan & Zisserman, ICLR 2015) as a transformers backbone and the converter of
torchvision's VGG checkpoints.

torchvision cannot be imported here, so the reference is a functional forward written from
torchvision's ``VGG`` definition (``features``: conv3x3 padding 1, [BatchNorm], ReLU per number of
the cfg list, a 2x2 max-pool per "M"; ``avgpool`` to 7x7; ``classifier``: Linear, ReLU, Dropout,
Linear, ReLU, Dropout, Linear) run on random state dicts with torchvision's exact keys.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import clear_initialised_flags, poison, random_inputs, tiny_vqa_config
from transformers import AutoBackbone, AutoConfig, AutoModelForVisualQuestionAnswering

from hf_mmattn import SanConfig, SanForVisualQuestionAnswering, VggBackbone, VggConfig
from hf_mmattn.backbones.vgg.configuration_vgg import CONFIGURATION_D, CONFIGURATION_E
from hf_mmattn.backbones.vgg.convert_vgg import convert_torchvision_vgg_state_dict, infer_variant
from hf_mmattn.convert import converters
from hf_mmattn.convert import main as convert_main

M = "M"
# A VGG-shaped toy of five blocks (VGG-11's shape, tiny widths) and configurations D and E with
# tiny widths: the same number of convolutions and poolings, hence torchvision's key indices.
TOY_LAYERS = [4, M, 8, M, 8, 8, M, 8, 8, M, 8, 8, M]
TINY_D = [4, 4, M, 8, 8, M, 8, 8, 8, M, 8, 8, 8, M, 8, 8, 8, M]
TINY_E = [4, 4, M, 8, 8, M, 8, 8, 8, 8, M, 8, 8, 8, 8, M, 8, 8, 8, 8, M]
TINY_LAYERS = {"vgg16": TINY_D, "vgg16_bn": TINY_D, "vgg19": TINY_E, "vgg19_bn": TINY_E}
# torchvision's indices in `features` of the last conv block's last ReLU and of pool5.
TORCHVISION_LAST_RELU = {"vgg16": (29, "relu5_3"), "vgg19": (35, "relu5_4"), "vgg16_bn": (42, "relu5_3"), "vgg19_bn": (51, "relu5_4")}
TORCHVISION_POOL5 = {"vgg16": 30, "vgg19": 36, "vgg16_bn": 43, "vgg19_bn": 52}
TINY_FC = 12
TOLERANCE = 1e-5


class NotAStateDict:
    """Pickled into a checkpoint file, which ``torch.load(weights_only=True)`` must refuse."""

    def __init__(self):
        self.weights = torch.zeros(2)


# --- torchvision's VGG, written out ------------------------------------------------------------

def torchvision_state_dict(layers, batch_norm: bool, fc_size: int = TINY_FC, num_classes: int = 10, seed: int = 0) -> dict:
    """Random tensors under torchvision's VGG keys: ``features.{i}`` (conv at i, BatchNorm at i + 1,
    ReLU next, one index per max-pool) and ``classifier.{0,3,6}``, the convolutions Kaiming-scaled
    so activations stay of order one through sixteen layers."""
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=generator) * scale

    state, index, in_channels = {}, 0, 3
    for entry in layers:
        if entry == M:
            index += 1
            continue
        state[f"features.{index}.weight"] = randn(entry, in_channels, 3, 3, scale=math.sqrt(2 / (9 * in_channels)))
        state[f"features.{index}.bias"] = randn(entry, scale=0.1)
        if batch_norm:
            state[f"features.{index + 1}.weight"] = 1 + randn(entry, scale=0.1)
            state[f"features.{index + 1}.bias"] = randn(entry, scale=0.1)
            state[f"features.{index + 1}.running_mean"] = randn(entry, scale=0.1)
            state[f"features.{index + 1}.running_var"] = 0.5 + torch.rand(entry, generator=generator)
            state[f"features.{index + 1}.num_batches_tracked"] = torch.tensor(1000)
        index += 3 if batch_norm else 2
        in_channels = entry
    for position, (rows, columns) in {0: (fc_size, in_channels * 49), 3: (fc_size, fc_size), 6: (num_classes, fc_size)}.items():
        state[f"classifier.{position}.weight"] = randn(rows, columns, scale=math.sqrt(2 / columns))
        state[f"classifier.{position}.bias"] = randn(rows, scale=0.1)
    return state


def torchvision_forward(state: dict, layers, batch_norm: bool, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
    """torchvision's VGG in eval mode, every module's output under its name (``features.29``,
    ``classifier.4``...)."""
    outputs, x, index = {}, pixel_values, 0
    for entry in layers:
        if entry == M:
            x = outputs[f"features.{index}"] = F.max_pool2d(x, kernel_size=2, stride=2)
            index += 1
            continue
        x = outputs[f"features.{index}"] = F.conv2d(x, state[f"features.{index}.weight"], state[f"features.{index}.bias"], padding=1)
        index += 1
        if batch_norm:
            x = outputs[f"features.{index}"] = F.batch_norm(
                x, state[f"features.{index}.running_mean"], state[f"features.{index}.running_var"],
                state[f"features.{index}.weight"], state[f"features.{index}.bias"], training=False, eps=1e-5,
            )
            index += 1
        x = outputs[f"features.{index}"] = F.relu(x)
        index += 1
    x = torch.flatten(F.adaptive_avg_pool2d(x, (7, 7)), 1)
    x = outputs["classifier.0"] = F.linear(x, state["classifier.0.weight"], state["classifier.0.bias"])
    x = outputs["classifier.1"] = F.relu(x)
    x = outputs["classifier.3"] = F.linear(x, state["classifier.3.weight"], state["classifier.3.bias"])  # Dropout (2) is off
    outputs["classifier.4"] = F.relu(x)
    return outputs


def assert_close(actual: torch.Tensor, expected: torch.Tensor, name: str) -> None:
    assert actual.shape == expected.shape, f"{name}: {tuple(actual.shape)} vs {tuple(expected.shape)}"
    difference = (actual - expected).abs().max().item()
    assert difference <= TOLERANCE, f"{name} differs from torchvision's by {difference}"


def pixels(size: int = 32, batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def vgg16_state_dict() -> dict:
    """torchvision's VGG-16 at its real widths (14.7M convolution weights), a small fc6/fc7."""
    return torchvision_state_dict(list(CONFIGURATION_D), batch_norm=False, fc_size=TINY_FC)


# --- the converted backbone runs torchvision's VGG -----------------------------------------------

@pytest.mark.parametrize("include_top", [False, True], ids=["features", "top"])
@pytest.mark.parametrize("variant", ["vgg16", "vgg19", "vgg16_bn", "vgg19_bn"])
def test_converted_tiny_vgg_matches_torchvision_stage_by_stage(variant, include_top):
    layers, batch_norm = TINY_LAYERS[variant], variant.endswith("_bn")
    state = torchvision_state_dict(layers, batch_norm)
    relu_index, relu_name = TORCHVISION_LAST_RELU[variant]
    out_features = [relu_name, "pool5"] + (["fc7", "relu7"] if include_top else [])
    backbone = convert_torchvision_vgg_state_dict(
        state, variant, include_top=include_top, layers=layers, fully_connected_size=TINY_FC, out_features=out_features
    )
    images = pixels(32)
    expected = torchvision_forward(state, layers, batch_norm, images)
    output = backbone(images, output_hidden_states=True)

    references = [f"features.{relu_index}", f"features.{TORCHVISION_POOL5[variant]}"]
    references += ["classifier.3", "classifier.4"] if include_top else []
    for name, feature_map, reference in zip(out_features, output.feature_maps, references, strict=True):
        expected_map = expected[reference] if reference.startswith("features") else expected[reference][:, :, None, None]
        assert_close(feature_map, expected_map, name)
    # Every stage i is torchvision's features.{i}: the stage names follow its indices.
    for index, (name, hidden) in enumerate(zip(backbone.stage_names, output.hidden_states)):
        if index < TORCHVISION_POOL5[variant] + 1:
            assert_close(hidden, expected[f"features.{index}"], name)
    assert len(output.hidden_states) == len(backbone.stage_names)
    assert backbone.channels == [8, 8] + ([TINY_FC, TINY_FC] if include_top else [])


def test_converted_vgg16_at_its_real_widths_matches_torchvision(vgg16_state_dict):
    backbone = convert_torchvision_vgg_state_dict(
        vgg16_state_dict, include_top=True, fully_connected_size=TINY_FC, out_features=["relu5_3", "pool5", "fc7"]
    )
    assert backbone.config.layers == list(CONFIGURATION_D) and backbone.channels == [512, 512, TINY_FC]
    images = pixels(32)
    expected = torchvision_forward(vgg16_state_dict, CONFIGURATION_D, False, images)
    relu5_3, pool5, fc7 = backbone(images).feature_maps
    assert_close(relu5_3, expected["features.29"], "relu5_3")
    assert_close(pool5, expected["features.30"], "pool5")
    assert_close(fc7, expected["classifier.3"][:, :, None, None], "fc7")
    assert relu5_3.shape == (2, 512, 2, 2) and pool5.shape == (2, 512, 1, 1)


def test_variant_is_read_from_the_tensors():
    for variant, layers in TINY_LAYERS.items():
        assert infer_variant(torchvision_state_dict(layers, variant.endswith("_bn"))) == variant
    with pytest.raises(ValueError, match="8 convolution weights"):
        infer_variant(torchvision_state_dict(TOY_LAYERS, batch_norm=False))


# --- strict conversion ---------------------------------------------------------------------------

def test_conversion_refuses_extra_and_missing_tensors_naming_them():
    state = torchvision_state_dict(TINY_D, batch_norm=False)
    convert_torchvision_vgg_state_dict(state, "vgg16", layers=TINY_D)
    with pytest.raises(ValueError, match=r"not part of torchvision's vgg16.*'features\.31\.weight'"):
        convert_torchvision_vgg_state_dict({**state, "features.31.weight": torch.zeros(1)}, "vgg16", layers=TINY_D)
    with pytest.raises(ValueError, match=r"missing: \['features\.28\.bias'\]"):
        convert_torchvision_vgg_state_dict({k: v for k, v in state.items() if k != "features.28.bias"}, "vgg16", layers=TINY_D)
    with pytest.raises(ValueError, match=r"missing: \['classifier\.3\.weight'\]"):
        convert_torchvision_vgg_state_dict(
            {k: v for k, v in state.items() if k != "classifier.3.weight"}, "vgg16",
            include_top=True, layers=TINY_D, fully_connected_size=TINY_FC,
        )
    # A BatchNorm checkpoint converted as a plain VGG: its BatchNorm tensors have no place.
    bn_state = torchvision_state_dict(TINY_D, batch_norm=True)
    with pytest.raises(ValueError, match=r"features\.1\.running_mean.*look like torchvision's vgg16_bn"):
        convert_torchvision_vgg_state_dict(bn_state, "vgg16", layers=TINY_D)
    with pytest.raises(ValueError, match="shapes differ"):
        convert_torchvision_vgg_state_dict(state, "vgg16", layers=[5 if entry == 4 else entry for entry in TINY_D])


def test_a_checkpoint_pickling_a_custom_class_is_refused(tmp_path):
    torch.save(NotAStateDict(), tmp_path / "vgg.pth")
    with pytest.raises(ValueError, match=r"weights_only=True.*state_dict\(\)"):
        convert_main(["vgg", "--checkpoint", str(tmp_path / "vgg.pth"), "--variant", "vgg16", "--output_dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_the_converter_command_writes_a_folder_the_auto_classes_load(vgg16_state_dict, tmp_path):
    assert converters()["vgg"] == "hf_mmattn.backbones.vgg.convert_vgg"
    torch.save(vgg16_state_dict, tmp_path / "vgg16.pth")
    checkpoint = str(tmp_path / "vgg16.pth")
    folder = convert_main(["vgg", "--checkpoint", checkpoint, "--variant", "vgg16", "--output_dir", str(tmp_path / "vgg16")])
    notes = json.loads((folder / "conversion.json").read_text())
    assert notes["variant"] == "vgg16" and not notes["include_top"]
    assert sorted(notes["dropped_tensors"]) == [f"classifier.{i}.{t}" for i in (0, 3, 6) for t in ("bias", "weight")]
    assert "fc8" in notes["dropped_tensors"]["classifier.6.weight"]

    images = pixels(32)
    expected = torchvision_forward(vgg16_state_dict, CONFIGURATION_D, False, images)["features.29"]
    # transformers 5's AutoBackbone.from_pretrained asks the Hub whether a local folder is a repo
    # (and fails offline): the Auto path is AutoConfig + AutoBackbone.from_config, the weights
    # come through the backbone's class.
    config = AutoConfig.from_pretrained(folder)
    assert isinstance(config, VggConfig) and isinstance(AutoBackbone.from_config(config), VggBackbone)
    loaded = VggBackbone.from_pretrained(folder)
    assert loaded.out_features == ["relu5_3"]
    assert_close(loaded(images).feature_maps[0], expected, "relu5_3")
    pool5 = VggBackbone.from_pretrained(folder, out_features=["pool5"])
    assert_close(pool5(images).feature_maps[0], F.max_pool2d(expected, 2), "pool5")

    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(folder)
    assert processor.size == {"height": 224, "width": 224}
    assert list(processor.image_mean) == pytest.approx([0.485, 0.456, 0.406])

    inferred = convert_main(["vgg", "--checkpoint", checkpoint, "--output_dir", str(tmp_path / "inferred")])
    assert json.loads((inferred / "conversion.json").read_text())["variant"] == "vgg16"


def test_the_convert_help_lists_vgg(capsys):
    with pytest.raises(SystemExit) as exit_info:
        convert_main(["--help"])
    assert exit_info.value.code == 0 and "vgg" in capsys.readouterr().out


# --- the backbone ----------------------------------------------------------------------------------

def test_stage_names_channels_and_default_outputs():
    vgg16, vgg19 = VggConfig(), VggConfig.from_preset("vgg19")
    assert vgg16.layers == list(CONFIGURATION_D) and vgg19.layers == list(CONFIGURATION_E)
    assert vgg16.stage_names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert vgg16.stage_names[-3:] == ["conv5_3", "relu5_3", "pool5"] and vgg16.out_features == ["relu5_3"]
    assert vgg19.stage_names[-3:] == ["conv5_4", "relu5_4", "pool5"] and vgg19.out_features == ["relu5_4"]
    bn = VggConfig.from_preset("vgg16_bn", include_top=True)
    assert bn.stage_names[:4] == ["conv1_1", "bn1_1", "relu1_1", "conv1_2"]
    assert bn.stage_names[-5:] == ["pool5", "fc6", "relu6", "fc7", "relu7"] and bn.out_features == ["relu5_3"]
    with pytest.raises(ValueError, match="unknown VGG preset"):
        VggConfig.from_preset("vgg11")
    with pytest.raises(ValueError, match="positive integers"):
        VggConfig(layers=[64, "pool"])
    with pytest.raises(ValueError, match="subset of stage_names"):
        VggConfig(out_features=["fc7"])

    toy_config = VggConfig(layers=TOY_LAYERS, include_top=True, fully_connected_size=TINY_FC, out_features=["relu3_2", "pool5", "relu7"])
    toy = VggBackbone(toy_config)
    toy.eval()  # dropout before fc7
    assert toy.out_feature_channels["pool1"] == 4 and toy.out_feature_channels["conv5_2"] == 8
    assert toy.channels == [8, 8, TINY_FC]
    maps = toy(pixels(64)).feature_maps
    assert [tuple(feature_map.shape) for feature_map in maps] == [(2, 8, 16, 16), (2, 8, 2, 2), (2, TINY_FC, 1, 1)]
    as_tuple = toy(pixels(64), return_dict=False)
    assert len(as_tuple) == 1 and all(torch.equal(a, b) for a, b in zip(as_tuple[0], maps, strict=True))


def test_the_backbone_stops_at_the_deepest_requested_stage():
    backbone = VggBackbone(VggConfig(layers=TOY_LAYERS, include_top=True, fully_connected_size=TINY_FC, out_features=["relu4_2"])).eval()
    ran = []
    for name, stage in backbone.stages.items():
        stage.register_forward_hook(lambda module, args, output, name=name: ran.append(name))
    output = backbone(pixels(32), output_hidden_states=True)
    assert ran[-1] == "relu4_2" and "fc6" not in ran and "pool4" not in ran
    assert len(output.hidden_states) == backbone.stage_names.index("relu4_2") + 1


def test_too_small_pixels_and_unknown_arguments_are_refused():
    backbone = VggBackbone(VggConfig(layers=TOY_LAYERS, out_features=["pool5"]))
    with pytest.raises(ValueError, match=r"16x16 pixels are too small for VGG up to pool5.*at least 32x32"):
        backbone(pixels(16))
    backbone.out_features = ["relu5_2"]  # four poolings: 16 is enough
    assert backbone(pixels(16)).feature_maps[0].shape == (2, 8, 1, 1)
    with pytest.raises(ValueError, match="4 channels"):
        backbone(torch.zeros(1, 4, 32, 32))
    with pytest.raises(TypeError, match="output_attentions"):
        backbone(pixels(32), output_attentions=True)


def test_save_and_load_through_auto_config_and_the_backbone_class(tmp_path):
    torch.manual_seed(0)
    config = VggConfig(layers=TOY_LAYERS, batch_norm=True, include_top=True, fully_connected_size=TINY_FC, out_features=["bn5_2", "relu7"])
    backbone = VggBackbone(config).eval()
    backbone.save_pretrained(tmp_path)
    loaded_config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded_config, VggConfig)
    assert {**loaded_config.to_dict(), "_name_or_path": ""} == {**config.to_dict(), "_name_or_path": ""}
    loaded = VggBackbone.from_pretrained(tmp_path).eval()
    assert loaded.out_features == ["bn5_2", "relu7"] and loaded.stage_names == backbone.stage_names
    for a, b in zip(loaded(pixels(32)).feature_maps, backbone(pixels(32)).feature_maps, strict=True):
        assert torch.equal(a, b)


def test_init_weights_initialises_every_parameter_and_buffer_as_torchvision_does():
    config = VggConfig(layers=TOY_LAYERS, batch_norm=True, include_top=True, fully_connected_size=TINY_FC)
    reference, poisoned = VggBackbone(config), VggBackbone(config)
    poison(poisoned)
    for model in (reference, poisoned):
        clear_initialised_flags(model)
        torch.manual_seed(1)
        model.initialize_weights()
    expected = reference.state_dict()
    for name, tensor in poisoned.state_dict().items():
        assert torch.equal(tensor, expected[name]), f"{name} is not initialised by _init_weights"
    stages = poisoned.stages
    assert torch.all(stages["conv1_1"].bias == 0) and torch.all(stages["fc7"].bias == 0)
    assert torch.all(stages["bn1_1"].weight == 1) and torch.all(stages["bn1_1"].running_var == 1)
    assert stages["fc7"].weight.std().item() == pytest.approx(0.01, rel=0.2)
    fan_out = 8 * 9
    assert stages["conv5_2"].weight.std().item() == pytest.approx(math.sqrt(2 / fan_out), rel=0.3)


# --- VGG under SAN -----------------------------------------------------------------------------------

TINY_VGG = {"model_type": "mmattn_vgg", "layers": TINY_D, "out_features": ["pool5"]}


def test_san_reads_a_vgg_backbone_and_loads_converted_weights(tmp_path):
    """SAN's image features are VGG's pool5 (section 3.1); the converted backbone's default output
    is relu5_3, which load_pretrained_backbone must not carry over."""
    config = tiny_vqa_config(SanConfig, "backbone", backbone_config=dict(TINY_VGG))
    assert isinstance(config.backbone_config, VggConfig)
    torch.manual_seed(0)
    model = SanForVisualQuestionAnswering(config).eval()
    backbone = model.model.image_encoder.backbone
    assert isinstance(backbone, VggBackbone) and model.model.image_encoder.output_size == 8
    inputs = random_inputs(config, image_size=64)
    output = model(**inputs)
    assert output.image_grid_size == (2, 2)  # 64 / 2**5 poolings up to pool5

    model.save_pretrained(tmp_path / "san")
    reloaded = AutoModelForVisualQuestionAnswering.from_pretrained(tmp_path / "san").eval()
    assert isinstance(reloaded.config.backbone_config, VggConfig)
    assert torch.equal(reloaded(**inputs).logits, output.logits)

    converted = convert_torchvision_vgg_state_dict(torchvision_state_dict(TINY_D, batch_norm=False), "vgg16", layers=TINY_D)
    converted.save_pretrained(tmp_path / "vgg")
    model.load_pretrained_backbone(tmp_path / "vgg")
    expected = converted.state_dict()
    assert backbone.state_dict().keys() == expected.keys()
    for name, tensor in backbone.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
    assert converted.out_features == ["relu5_3"] and backbone.out_features == ["pool5"]
    assert not torch.equal(model(**inputs).logits, output.logits)

    with pytest.raises(ValueError, match=r"16x16 pixels are too small for VGG up to pool5.*at least 32x32"):
        model(**random_inputs(config, image_size=16))
