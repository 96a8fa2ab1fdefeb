"""Tests of hf_mmattn.training, the example scripts' shared plumbing, for what the script tests
(tests/test_run_vqa.py, tests/test_run_captioning.py) do not reach: the parsing of
--config_overrides and of the training options, and which checkpoint folders count."""

from __future__ import annotations

import argparse
import json

import pytest

from hf_mmattn.training import (
    DEFAULT_BACKBONE_CONFIG,
    add_training_arguments,
    backbone_settings,
    check_training_arguments,
    checkpoint_folders,
    parse_config_overrides,
)

# --- --config_overrides ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (None, {}),
        ("", {}),
        ("num_hops=1", {"num_hops": 1}),
        ("dropout=0.5,factor_init_gain=3e-1", {"dropout": 0.5, "factor_init_gain": 0.3}),
        ("use_counter=false,normalize_image=true", {"use_counter": False, "normalize_image": True}),
        ("use_counter=False,normalize_image=True,image_grid_pool_size=None", {"use_counter": False, "normalize_image": True, "image_grid_pool_size": None}),
        ("image_grid_pool_size=null", {"image_grid_pool_size": None}),
        ("answer_head=mlp,attention_form=code", {"answer_head": "mlp", "attention_form": "code"}),
        ('word_embedding_type="single"', {"word_embedding_type": "single"}),
        # Commas inside brackets belong to the list (run_vqa.py used to split them).
        ("scratch_cnn_channels=[8,16,16]", {"scratch_cnn_channels": [8, 16, 16]}),
        ("a=1,b=[8,16,16],c=relu,d=null", {"a": 1, "b": [8, 16, 16], "c": "relu", "d": None}),
        ("b=[8, 16],c=[0.5,1],d=[]", {"b": [8, 16], "c": [0.5, 1], "d": []}),
        ("a=[[1,2],[3]],b=2", {"a": [[1, 2], [3]], "b": 2}),
        ('backbone_config={"model_type":"resnet","depths":[1,1]},hidden_size=8',
         {"backbone_config": {"model_type": "resnet", "depths": [1, 1]}, "hidden_size": 8}),
        (" hidden_size = 64 , dropout=0.1,", {"hidden_size": 64, "dropout": 0.1}),
        ("dropout=0.1,dropout=0.2", {"dropout": 0.2}),  # the last one wins
        ("name=", {"name": ""}),
    ],
)
def test_parse_config_overrides(text, expected):
    parsed = parse_config_overrides(text)
    assert parsed == expected
    assert [type(v) for v in parsed.values()] == [type(v) for v in expected.values()]  # 1 stays int, 0.5 float, True bool


@pytest.mark.parametrize("text", ["dropout", "dropout=0.1,relu", "=3", "hidden_size=8,,16"])
def test_parse_config_overrides_rejects_items_without_a_key(text):
    with pytest.raises(ValueError, match="key=value"):
        parse_config_overrides(text)


@pytest.mark.parametrize("text", ["b=[8,16", "b=8,16]", "b=[8,16]],c=1"])
def test_parse_config_overrides_rejects_unbalanced_brackets(text):
    with pytest.raises(ValueError, match="unbalanced"):
        parse_config_overrides(text)


def test_backbone_settings(tmp_path):
    assert backbone_settings(None, "scratch_cnn") == {} and backbone_settings(None, "features") == {}
    default = backbone_settings(None, "backbone")["backbone_config"]
    assert default == DEFAULT_BACKBONE_CONFIG and default is not DEFAULT_BACKBONE_CONFIG  # a copy the caller may change
    inline = '{"model_type": "resnet", "depths": [1, 1, 1, 1]}'
    assert backbone_settings(inline, "backbone") == {"backbone_config": json.loads(inline)}
    path = tmp_path / "backbone.json"
    path.write_text(inline)
    assert backbone_settings(str(path), "scratch_cnn") == {"backbone_config": json.loads(inline)}


# --- training options ------------------------------------------------------------------------


def _parse(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--config_overrides")  # a script's option, which check_training_arguments checks too
    add_training_arguments(parser)
    args = parser.parse_args(argv)
    check_training_arguments(parser, args)
    return args


def test_training_arguments_defaults_and_checks():
    args = _parse(["--output_dir", "out"])
    assert (args.num_train_epochs, args.max_train_steps, args.learning_rate, args.max_grad_norm) == (10, None, 1e-3, 5.0)
    assert (args.checkpointing_steps, args.resume_from_checkpoint, args.push_to_hub) == (None, None, False)
    assert _parse(["--output_dir", "out", "--checkpointing_steps", "epoch"]).checkpointing_steps == "epoch"
    assert _parse(["--output_dir", "out", "--checkpointing_steps", "50"]).checkpointing_steps == "50"
    with pytest.raises(SystemExit):
        _parse([])  # --output_dir is required
    bad_options = (["--checkpointing_steps", "often"], ["--checkpointing_steps", "-5"], ["--push_to_hub"],
                   ["--config_overrides", "dropout"], ["--config_overrides", "channels=[8,16"])
    for bad in bad_options:
        with pytest.raises(SystemExit):
            _parse(["--output_dir", "out", *bad])
    assert _parse(["--output_dir", "out", "--push_to_hub", "--hub_model_id", "me/model"]).push_to_hub
    assert _parse(["--output_dir", "out", "--config_overrides", "channels=[8,16],dropout=0"]).config_overrides == "channels=[8,16],dropout=0"


# --- checkpoint folders ------------------------------------------------------------------------


def _checkpoint(output_dir, name, completed_steps=None):
    folder = output_dir / "checkpoints" / name
    folder.mkdir(parents=True)
    if completed_steps is not None:
        (folder / "done").write_text(json.dumps({"completed_steps": completed_steps, "epoch": 0}))
    return folder


def test_checkpoint_folders_are_ordered_by_step_and_complete(tmp_path):
    assert checkpoint_folders(tmp_path) == []  # no checkpoints/ folder yet
    # By the step in the done marker, not by name: step_10 after step_9, epoch_1 (step 7) between.
    _checkpoint(tmp_path, "step_10", 10)
    _checkpoint(tmp_path, "step_9", 9)
    _checkpoint(tmp_path, "epoch_1", 7)
    _checkpoint(tmp_path, "step_2", 2)
    _checkpoint(tmp_path, "step_12")  # written, never marked done
    _checkpoint(tmp_path, "step_14.partial")  # a save killed half way
    _checkpoint(tmp_path, "notes")  # not a checkpoint name
    (tmp_path / "checkpoints" / "step_3").write_text("a file, not a folder")
    assert [p.name for p in checkpoint_folders(tmp_path)] == ["step_2", "epoch_1", "step_9", "step_10"]
    assert [p.name for p in checkpoint_folders(str(tmp_path))][-1] == "step_10"
