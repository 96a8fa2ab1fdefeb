"""Tests of hf_mmattn.training, the example scripts' shared plumbing, for what the script tests
(tests/test_run_vqa.py, tests/test_run_captioning.py) do not reach: the parsing of
--config_overrides and of the training options, which checkpoint folders count, resuming past a
checkpoint damaged on disk, and refusing to resume a run on other data or with other steps.

The checkpoint tests save and load a two-parameter model with a real Accelerator: milliseconds each."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil

import pytest
import torch
from accelerate import Accelerator
from conftest import COLOR_QUESTIONS, tiny_config
from datasets import Dataset, Features, Image, Value

from hf_mmattn import VQAProcessor
from hf_mmattn.training import (
    DEFAULT_BACKBONE_CONFIG,
    TRAINING_ARGUMENTS_FREE_ON_RESUME,
    CheckpointLoadError,
    CheckpointMismatchError,
    add_training_arguments,
    backbone_settings,
    check_training_arguments,
    checkpoint_folders,
    describe_run,
    fingerprint_dataset,
    parse_config_overrides,
    resume_from_checkpoint,
    save_checkpoint,
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


def test_checkpoint_folders_leave_out_unreadable_markers(tmp_path):
    _checkpoint(tmp_path, "step_2", 2)
    (_checkpoint(tmp_path, "step_4") / "done").write_text("{not json")  # garbage where the step should be
    (_checkpoint(tmp_path, "step_6") / "done").write_text(json.dumps({"epoch": 0}))  # no step
    assert [p.name for p in checkpoint_folders(tmp_path)] == ["step_2"]


def test_training_arguments_name_what_may_change_on_resume():
    parser = argparse.ArgumentParser()
    add_training_arguments(parser, ("max_eval_samples",))
    args = parser.parse_args(["--output_dir", "out"])
    assert args.ignore_checkpoint_mismatch is False
    assert set(TRAINING_ARGUMENTS_FREE_ON_RESUME) <= set(vars(args))  # no misspelt name in the free list
    compared = set(vars(args)) - set(TRAINING_ARGUMENTS_FREE_ON_RESUME)
    assert compared == {"per_device_train_batch_size", "learning_rate", "weight_decay", "gradient_accumulation_steps", "seed"}
    resume_help = next(action.help for action in parser._actions if action.dest == "resume_from_checkpoint")
    assert "--num_train_epochs" in resume_help and "--max_eval_samples" in resume_help and "--seed" not in resume_help


# --- what a run trains on ----------------------------------------------------------------------

IMAGE_FEATURES = Features({"question_id": Value("int64"), "question": Value("string"), "image": Image()})


def _questions(image_folder, questions=("what color is it?", "is it red?", "is it blue?")):
    return Dataset.from_dict(
        {"question_id": list(range(len(questions))), "question": list(questions),
         "image": [os.path.join(image_folder, f"{i}.png") for i in range(len(questions))]},
        features=IMAGE_FEATURES,
    )


def test_fingerprint_dataset_follows_the_examples_not_their_folder():
    fingerprint = fingerprint_dataset(_questions("/data/easy_vqa"))
    assert fingerprint["examples"] == 3 and sorted(fingerprint["columns"]) == ["image", "question", "question_id"]
    assert fingerprint_dataset(_questions("/data/easy_vqa"), batch_size=1) == fingerprint  # not the batching
    assert fingerprint_dataset(_questions("/elsewhere/easy_vqa")) == fingerprint  # the same files, moved
    changed = fingerprint_dataset(_questions("/data/easy_vqa", ("what color is it?", "is it green?", "is it blue?")))
    assert [name for name in fingerprint["columns"] if changed["columns"][name] != fingerprint["columns"][name]] == ["question"]
    assert fingerprint_dataset(_questions("/data/easy_vqa").select([0, 1]))["examples"] == 2
    reordered = fingerprint_dataset(_questions("/data/easy_vqa").select([1, 0, 2]))
    assert reordered["examples"] == 3 and reordered["columns"]["question"] != fingerprint["columns"]["question"]


def test_fingerprint_dataset_hashes_image_bytes():
    from PIL import Image as PILImage

    def scenes(color):
        return Dataset.from_dict({"image": [PILImage.new("RGB", (4, 4), color)]}, features=Features({"image": Image()}))

    assert fingerprint_dataset(scenes("red")) == fingerprint_dataset(scenes("red"))
    assert fingerprint_dataset(scenes("red")) != fingerprint_dataset(scenes("blue"))


def _training_args(output_dir, *extra):
    parser = argparse.ArgumentParser()
    parser.add_argument("--max_train_samples", type=int)  # a script's own option, compared
    parser.add_argument("--max_eval_samples", type=int)  # a script's own option, free
    add_training_arguments(parser, ("max_eval_samples",))
    return parser.parse_args(["--output_dir", str(output_dir), *extra])


@pytest.fixture(scope="module")
def processor():
    return VQAProcessor.from_questions(list(COLOR_QUESTIONS), image_size=16, image_mean=[0.5] * 3, image_std=[0.5] * 3)


def _describe(accelerator, args, processor, steps_per_epoch=5, questions=None, **config):
    model = torch.nn.Linear(2, 2)
    model.config = tiny_config("san", **config)
    return describe_run(args, accelerator, steps_per_epoch, train_data=questions or _questions("/data"), processor=processor,
                        model=model, free_arguments=("max_eval_samples",))


def test_describe_run_records_the_options_that_define_the_run(tmp_path, processor):
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    args = _training_args(tmp_path, "--max_train_samples", "300", "--hub_token", "secret", "--max_eval_samples", "9")
    run = _describe(accelerator, args, processor)
    assert sorted(run["arguments"]) == ["gradient_accumulation_steps", "learning_rate", "max_train_samples",
                                        "per_device_train_batch_size", "seed", "weight_decay"]
    assert "secret" not in json.dumps(run)  # a free option is not even written down
    assert (run["num_processes"], run["steps_per_epoch"], run["train_data"]["examples"]) == (1, 5, 3)
    assert run["vocabulary"]["size"] == len(processor.tokenizer.get_vocab()) and run["labels"]["size"] == 4
    assert run["image_processor"]["size"] == {"height": 16, "width": 16}
    assert run["model_config"]["model_type"] == "mmattn_san" and "transformers_version" not in run["model_config"]
    assert json.loads(json.dumps(run)) == run  # as run.json reads it back


# --- saving, resuming, damaged checkpoints --------------------------------------------------------

class _TinyRun:
    """A two-parameter model, Adam and a schedule, prepared; ``step()`` trains on random numbers from
    the global generator, so that resuming exactly needs the random state of the checkpoint too."""

    def __init__(self, output_dir, seed=0):
        self.accelerator = Accelerator(cpu=not torch.cuda.is_available())
        torch.manual_seed(seed)
        model = torch.nn.Linear(2, 1)
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1 + step))
        self.model, self.optimizer, self.scheduler = self.accelerator.prepare(model, optimizer, scheduler)
        self.output_dir = output_dir
        self.saved = {}  # step -> (weights, random state) at the save

    def step(self):
        loss = self.model(torch.randn(4, 2)).pow(2).mean()
        self.accelerator.backward(loss)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad()

    def weights(self):
        return {name: tensor.clone() for name, tensor in self.accelerator.unwrap_model(self.model).state_dict().items()}

    def train_and_save(self, steps, run=None):
        for completed in range(1, steps + 1):
            self.step()
            save_checkpoint(self.accelerator, self.output_dir, completed, 0, f"step_{completed}", run)
            self.saved[completed] = (self.weights(), torch.get_rng_state())

    def resume(self, which="latest", run=None, ignore=False):
        args = argparse.Namespace(output_dir=str(self.output_dir), resume_from_checkpoint=which, ignore_checkpoint_mismatch=ignore)
        return resume_from_checkpoint(self.accelerator, args, 10, run)


def _assert_state_of_step(run, saved, step):
    """``run`` holds the weights and the random state that ``saved`` had after ``step``."""
    weights, random_state = saved.saved[step]
    current = run.weights()
    assert all(torch.equal(current[name], weights[name]) for name in weights), f"not the weights of step {step}"
    assert torch.equal(torch.get_rng_state(), random_state), f"not the random state of step {step}"


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


# How a checkpoint gets damaged, and what the warning names.
DAMAGES = {
    "model_cut_short": (lambda f: f.joinpath("model.safetensors").write_bytes(f.joinpath("model.safetensors").read_bytes()[:100]),
                        "model.safetensors has 100 bytes"),
    # Same size, one bit pattern changed: safetensors would load it; only the checksum sees it.
    "model_bits_flipped": (lambda f: _flip_a_byte(f / "model.safetensors"), "model.safetensors does not match the sha256"),
    "optimizer_garbage": (lambda f: f.joinpath("optimizer.bin").write_bytes(b"garbage"), "optimizer.bin has 7 bytes"),
    "scheduler_missing": (lambda f: f.joinpath("scheduler.bin").unlink(), "scheduler.bin is missing"),
    # load_state skips random states it cannot read (an info message): the resume would not be exact.
    "random_states_garbage": (lambda f: _flip_a_byte(f / "random_states_0.pkl"), "random_states_0.pkl does not match"),
    "run_record_garbage": (lambda f: f.joinpath("run.json").write_text("{"), "run.json has 1 bytes"),
    "done_marker_garbage": (lambda f: f.joinpath("done").write_text("{\"completed_steps\": "), "'done' marker is unreadable"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_resume_passes_over_a_damaged_checkpoint(tmp_path, caplog, damage):
    original = _TinyRun(tmp_path)
    original.train_and_save(3, run={"record_format": 1})
    files = json.loads((tmp_path / "checkpoints" / "step_3" / "done").read_text())["files"]
    assert sorted(files) == ["model.safetensors", "optimizer.bin", "random_states_0.pkl", "run.json", "scheduler.bin"]
    damage_folder, reason = DAMAGES[damage]
    damage_folder(tmp_path / "checkpoints" / "step_3")

    resumed = _TinyRun(tmp_path, seed=1)
    with caplog.at_level(logging.WARNING):
        assert resumed.resume() == (2, 0, 2)  # the step before, in epoch 0 of 10 steps
    _assert_state_of_step(resumed, original, 2)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("step_3 cannot be resumed from" in w and reason in w for w in warnings), warnings
    # A marker that cannot be read gives no step, so no place among the others; the rest go newest first.
    if damage != "done_marker_garbage":
        assert any("step_3" in w and w.endswith("trying the one before it") for w in warnings), warnings
    assert any("resuming from" in w and "step_2" in w for w in warnings), warnings


def test_resume_passes_over_several_and_fails_when_none_loads(tmp_path):
    original = _TinyRun(tmp_path)
    original.train_and_save(3)
    (tmp_path / "checkpoints" / "step_3" / "optimizer.bin").unlink()
    (tmp_path / "checkpoints" / "step_2" / "done").write_text("")
    resumed = _TinyRun(tmp_path, seed=1)
    assert resumed.resume() == (1, 0, 1)
    _assert_state_of_step(resumed, original, 1)

    _flip_a_byte(tmp_path / "checkpoints" / "step_1" / "model.safetensors")
    with pytest.raises(CheckpointLoadError, match="none of the checkpoints") as error:
        _TinyRun(tmp_path, seed=1).resume()
    message = str(error.value)
    for name, reason in (("step_3", "optimizer.bin is missing"), ("step_2", "unreadable"), ("step_1", "model.safetensors does not match")):
        assert f"{name}: " in message and reason in message, message
    assert "new --output_dir" in message


def test_resume_from_a_named_folder_never_takes_another(tmp_path):
    original = _TinyRun(tmp_path)
    original.train_and_save(2)
    resumed = _TinyRun(tmp_path, seed=1)
    assert resumed.resume(str(tmp_path / "checkpoints" / "step_1")) == (1, 0, 1)
    _assert_state_of_step(resumed, original, 1)
    _flip_a_byte(tmp_path / "checkpoints" / "step_2" / "optimizer.bin")
    with pytest.raises(CheckpointLoadError, match="cannot resume from .*step_2:\n.*optimizer.bin does not match"):
        _TinyRun(tmp_path, seed=1).resume(str(tmp_path / "checkpoints" / "step_2"))
    with pytest.raises(CheckpointLoadError, match="no such folder"):
        _TinyRun(tmp_path, seed=1).resume(str(tmp_path / "checkpoints" / "step_9"))
    shutil.copytree(tmp_path / "checkpoints" / "step_1", tmp_path / "checkpoints" / "step_5.partial")
    (tmp_path / "checkpoints" / "step_5.partial" / "done").unlink()
    with pytest.raises(CheckpointLoadError, match="not a complete checkpoint"):
        _TinyRun(tmp_path, seed=1).resume(str(tmp_path / "checkpoints" / "step_5.partial"))


def test_a_save_starts_afresh_over_a_killed_one(tmp_path):
    """A partial folder left by a save killed after its marker was written (before the rename):
    saving the same checkpoint again keeps nothing of it."""
    stale = tmp_path / "checkpoints" / "step_1.partial"
    stale.mkdir(parents=True)
    (stale / "done").write_text(json.dumps({"completed_steps": 1, "epoch": 0, "files": {}}))
    (stale / "custom_checkpoint_0.pkl").write_bytes(b"an object that load_state would load")
    original = _TinyRun(tmp_path)
    original.train_and_save(1)
    assert not stale.exists()
    assert sorted(p.name for p in (tmp_path / "checkpoints" / "step_1").iterdir()) == [
        "done", "model.safetensors", "optimizer.bin", "random_states_0.pkl", "scheduler.bin"]
    resumed = _TinyRun(tmp_path, seed=1)
    assert resumed.resume() == (1, 0, 1)
    _assert_state_of_step(resumed, original, 1)


def test_resume_without_checkpoints_starts_from_scratch(tmp_path):
    assert _TinyRun(tmp_path).resume() == (0, 0, 0)
    (tmp_path / "checkpoints" / "step_2.partial").mkdir(parents=True)  # a first save killed half way
    assert _TinyRun(tmp_path).resume() == (0, 0, 0)


def test_checkpoints_without_checksums_are_checked_by_loading(tmp_path, caplog):
    """Checkpoints saved before the done marker held checksums: loading them is the check, and a
    failed load falls back as well (replacing whatever the failed load had set)."""
    original = _TinyRun(tmp_path)
    original.train_and_save(3)
    for step in (1, 2, 3):
        marker = tmp_path / "checkpoints" / f"step_{step}" / "done"
        marker.write_text(json.dumps({"completed_steps": step, "epoch": 0}))
    (tmp_path / "checkpoints" / "step_3" / "optimizer.bin").write_bytes(b"garbage")  # model loads, then the optimizer fails
    (tmp_path / "checkpoints" / "step_2" / "run.json").write_text("{")
    resumed = _TinyRun(tmp_path, seed=1)
    with caplog.at_level(logging.WARNING):
        assert resumed.resume() == (1, 0, 1)
    _assert_state_of_step(resumed, original, 1)
    warnings = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "step_3 cannot be resumed from: loading it failed" in warnings
    assert "step_2 cannot be resumed from: run.json is unreadable" in warnings
    assert "step_1: it has no checksums" in warnings


# --- resuming on other data or with other steps ---------------------------------------------

# A change to a run, and what the error names.
CHANGES = {
    "batch_size": (["--per_device_train_batch_size", "16"], {}, "--per_device_train_batch_size: 32 in the checkpoint, 16 now"),
    "gradient_accumulation": (["--gradient_accumulation_steps", "2"], {}, "--gradient_accumulation_steps: 1 in the checkpoint, 2 now"),
    "seed": (["--seed", "1"], {}, "--seed: 42 in the checkpoint, 1 now"),
    "learning_rate": (["--learning_rate", "5e-4"], {}, "the new one would have no effect"),
    "subset": (["--max_train_samples", "2"], {"questions": _questions("/data").select([0, 1])},
               "the training data: 3 examples in the checkpoint, 2 now"),
    "data_file": ([], {"questions": _questions("/data", ("what color is it?", "is it red?", "is it green?"))},
                  "the training data: 3 examples in both, other values in question"),
    "vocabulary": ([], {"processor": ["what shape is it?"]}, "the processor's vocabulary:"),
    "image_size": ([], {"processor": {"image_size": 32}}, "the image processor: size.height 16 in the checkpoint, 32 now"),
    "model_config": ([], {"dropout": 0.3}, "the model config: dropout 0.5 in the checkpoint, 0.3 now"),
    "labels": ([], {"id2label": {0: "yes", 1: "no"}, "label2id": {"yes": 0, "no": 1}},
               "the model's labels (id2label): 4 labels in the checkpoint, 2 now"),
    "steps_per_epoch": ([], {"steps_per_epoch": 7}, "optimisation steps per epoch: 5 in the checkpoint, 7 now"),
}


def _changed_run(accelerator, output_dir, processor, options, changes):
    changes = dict(changes)
    if "processor" in changes:
        change = changes.pop("processor")
        questions = change if isinstance(change, list) else list(COLOR_QUESTIONS)
        size = change.get("image_size", 16) if isinstance(change, dict) else 16
        processor = VQAProcessor.from_questions(questions, image_size=size, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    args = _training_args(output_dir, "--per_device_train_batch_size", "32", "--max_train_samples", "3", *options)
    return _describe(accelerator, args, processor, **changes)


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_resume_refuses_a_run_on_other_data_or_steps(tmp_path, processor, caplog, change):
    original = _TinyRun(tmp_path)
    saved_run = _changed_run(original.accelerator, tmp_path, processor, [], {})
    original.train_and_save(2, run=saved_run)
    options, changes, named = CHANGES[change]
    run = _changed_run(original.accelerator, tmp_path, processor, options, changes)

    resumed = _TinyRun(tmp_path, seed=1)
    before = resumed.weights()
    with pytest.raises(CheckpointMismatchError) as error:
        resumed.resume(run=run)
    message = str(error.value)
    assert named in message and "step_2 was saved by a run that differs" in message
    assert "new --output_dir" in message and "--ignore_checkpoint_mismatch" in message
    assert all(torch.equal(before[name], tensor) for name, tensor in resumed.weights().items())  # nothing loaded

    # Deliberately: the run goes on from the checkpoint, and the warning lists the differences.
    with caplog.at_level(logging.WARNING):
        assert resumed.resume(run=run, ignore=True) == (2, 0, 2)
    _assert_state_of_step(resumed, original, 2)
    assert any("--ignore_checkpoint_mismatch" in r.getMessage() and named in r.getMessage() for r in caplog.records)


def test_resume_lets_the_free_options_change(tmp_path, processor, caplog):
    original = _TinyRun(tmp_path)
    original.train_and_save(2, run=_changed_run(original.accelerator, tmp_path, processor, [], {}))
    free = ["--num_train_epochs", "30", "--max_train_steps", "99", "--checkpointing_steps", "epoch", "--lr_scheduler_type",
            "constant", "--num_warmup_steps", "3", "--max_grad_norm", "0", "--eval_every_epoch", "--with_tracking",
            "--report_to", "tensorboard", "--push_to_hub", "--hub_model_id", "me/model", "--hub_token", "t", "--hub_private",
            "--max_eval_samples", "5"]
    run = _changed_run(original.accelerator, tmp_path / "moved", processor, free, {"questions": _questions("/moved/data")})
    resumed = _TinyRun(tmp_path, seed=1)
    with caplog.at_level(logging.WARNING):
        assert resumed.resume(run=run) == (2, 0, 2)
    _assert_state_of_step(resumed, original, 2)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_resume_from_a_checkpoint_without_a_record_warns(tmp_path, processor, caplog):
    original = _TinyRun(tmp_path)
    original.train_and_save(1)  # saved without describing the run
    run = _changed_run(original.accelerator, tmp_path, processor, [], {})
    with caplog.at_level(logging.WARNING):
        assert _TinyRun(tmp_path, seed=1).resume(run=run) == (1, 0, 1)
    assert any("has no record of what its run trained on" in r.getMessage() for r in caplog.records)


def test_trackers_never_receive_the_hub_token():
    """The trackers get the run's options as their config (shown in their dashboards): the Hub
    token must not be among them."""
    from hf_mmattn.training import init_trackers

    received = {}

    class RecordingAccelerator:
        def init_trackers(self, project_name, config):
            received.update(config)

    args = argparse.Namespace(with_tracking=True, hub_token="hf_secret", learning_rate=0.1, output_dir="out", report_to="all")
    init_trackers(RecordingAccelerator(), args, "project")
    assert received == {"with_tracking": True, "learning_rate": 0.1, "output_dir": "out", "report_to": "all"}
