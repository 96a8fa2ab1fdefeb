"""Tests of hf_mmattn.training's loop (TrainingLoop) with steps other than the scripts' supervised
one (tests/test_run_vqa.py and tests/test_run_captioning.py run the loop with SupervisedStep).

The main subject is a toy GAN (GANStep: two networks, two optimizers, two schedules, one loop):
it learns 1-D Gaussian data (the generator's sample mean moves to the data's), and a run killed
after a checkpoint, resumed, ends with the weights of both networks, the states of both
optimizers and schedules, a registered object and the random state of an uninterrupted run, bit
for bit, also from behind a damaged checkpoint; resuming on other data is refused. Each run
takes a fraction of a second."""

from __future__ import annotations

import argparse
import gc
import json
import logging
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.tracking import GeneralTracker
from accelerate.utils import set_seed
from datasets import Dataset
from torch.utils.data import DataLoader

from hf_mmattn import training
from hf_mmattn.data.batching import GroupByImageBatchSampler
from hf_mmattn.training import (
    TRAINING_ARGUMENTS_FREE_ON_RESUME,
    CheckpointMismatchError,
    GANStep,
    SupervisedStep,
    TrainingLoop,
    TrainingStep,
    add_training_arguments,
    check_training_arguments,
    fingerprint_dataset,
    setup_accelerator,
)

DATA_MEAN, DATA_STD, NUM_SAMPLES, BATCH, NOISE = 4.0, 0.5, 512, 64, 4


def _args(output_dir, *options):
    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    args = parser.parse_args(["--output_dir", str(output_dir), "--per_device_train_batch_size", str(BATCH), *options])
    check_training_arguments(parser, args)
    return args


def _data(mean=DATA_MEAN):
    return torch.randn(NUM_SAMPLES, 1, generator=torch.Generator().manual_seed(0)) * DATA_STD + mean


def _train_dataloader(data, args):
    # Each sample its own group: shuffled batches whose order depends only on the seed and the
    # epoch, so that a resumed run replays them; the DataLoader's own generator keeps iterating
    # it from drawing on the global one (the scripts' set-up).
    sampler = GroupByImageBatchSampler(torch.arange(len(data)), args.per_device_train_batch_size, shuffle=True, seed=args.seed)
    return DataLoader(range(len(data)), batch_sampler=sampler, collate_fn=lambda indices: data[indices],
                      generator=torch.Generator().manual_seed(args.seed))


class RunningMean:
    """How often the generator fooled the discriminator: a statistic kept outside the networks,
    which a resumed run gets back only if the step registers it (``checkpointed``)."""

    def __init__(self):
        self.total, self.count = 0.0, 0

    def update(self, value: float) -> None:
        self.total, self.count = self.total + value, self.count + 1

    def state_dict(self) -> dict:
        return {"total": self.total, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.total, self.count = state["total"], state["count"]


class Killed(Exception):
    """The toy run's process dying mid-training."""


class ToyGANStep(GANStep):
    """A vanilla GAN's losses (non-saturating generator loss) on batches of real samples; the
    noise comes from torch's global generator. ``kill_at_batch``: die before that batch."""

    def __init__(self, generator, discriminator, generator_optimizer, discriminator_optimizer, max_grad_norm, kill_at_batch=None):
        self.fooled = RunningMean()
        super().__init__(generator, discriminator, generator_optimizer, discriminator_optimizer, max_grad_norm,
                         checkpointed=[self.fooled])
        self.batches, self.kill_at_batch = 0, kill_at_batch

    def __call__(self, accelerator, batch):
        self.batches += 1
        if self.batches == self.kill_at_batch:
            raise Killed(f"killed before batch {self.batches}")
        return super().__call__(accelerator, batch)

    def generate(self, generator, real):
        return generator(torch.randn(len(real), NOISE, device=real.device))

    def discriminator_loss(self, discriminator, real, fakes):
        logits = discriminator(torch.cat([real, fakes]))  # one forward (DDP: one forward per backward)
        targets = torch.cat([torch.ones(len(real), 1), torch.zeros(len(fakes), 1)]).to(logits)
        return F.binary_cross_entropy_with_logits(logits, targets)

    def generator_loss(self, discriminator, real, fakes):
        logits = discriminator(fakes)
        self.fooled.update((logits > 0).float().mean().item())
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def _toy_gan(args, kill_at_batch=None):
    generator = torch.nn.Sequential(torch.nn.Linear(NOISE, 16), torch.nn.LeakyReLU(0.2), torch.nn.Linear(16, 1))
    discriminator = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.LeakyReLU(0.2), torch.nn.Linear(32, 1))
    adam = dict(lr=args.learning_rate, betas=(0.5, 0.999), weight_decay=args.weight_decay)
    return ToyGANStep(generator, discriminator, torch.optim.Adam(generator.parameters(), **adam),
                      torch.optim.Adam(discriminator.parameters(), **adam), args.max_grad_norm, kill_at_batch)


@torch.no_grad()
def _sample_statistics(generator) -> dict:
    """The mean and standard deviation of the generator's samples for fixed noise (from its own
    generator: evaluating draws nothing from the global one, which would shift the training noise
    of the epochs after an evaluation)."""
    samples = generator(torch.randn(2000, NOISE, generator=torch.Generator().manual_seed(1)))
    return {"sample_mean": samples.mean().item(), "sample_std": samples.std().item()}


def _run_record(args, loop, data):
    """What the toy run trains on, as describe_run records a script's run (options, processes,
    steps per epoch, the data's fingerprint)."""
    return {
        "record_format": 1,
        "arguments": {name: value for name, value in sorted(vars(args).items()) if name not in TRAINING_ARGUMENTS_FREE_ON_RESUME},
        "num_processes": loop.accelerator.num_processes,
        "steps_per_epoch": loop.steps_per_epoch,
        "train_data": fingerprint_dataset(Dataset.from_dict({"x": data[:, 0].tolist()})),
    }


def _train_gan(args, data=None, kill_at_batch=None, accelerator=None):
    """``(loop, eval_results)`` of a toy GAN run (``eval_results`` None where it was killed)."""
    accelerator = accelerator or setup_accelerator(args)  # also the seed
    data = _data() if data is None else data
    step = _toy_gan(args, kill_at_batch)
    loop = TrainingLoop(accelerator, args, step, _train_dataloader(data, args), project_name="toy_gan", examples="samples")

    def evaluate(epoch):
        return _sample_statistics(step.generator)

    try:
        results = loop.run(_run_record(args, loop, data), evaluate=evaluate, tracked_metrics=("sample_mean",))
    except Killed:
        return loop, None
    return loop, results


def test_a_toy_gan_learns_the_data_mean(tmp_path):
    """The generator's samples start near 0 and narrow; after 300 steps of the loop (about a second)
    their mean is the data's (4), their spread close to the data's (0.5): the discriminator's
    step and the generator's both worked, each with its own optimizer."""
    args = _args(tmp_path, "--max_train_steps", "300", "--learning_rate", "5e-3", "--lr_scheduler_type", "constant")
    set_seed(args.seed)
    before = _sample_statistics(_toy_gan(args).generator)
    loop, results = _train_gan(args)
    assert abs(before["sample_mean"] - DATA_MEAN) > 3.5 and before["sample_std"] < 0.25, before  # far from the data
    assert abs(results["sample_mean"] - DATA_MEAN) < 0.2, results  # at the data's mean
    assert abs(results["sample_std"] - DATA_STD) < 0.2, results  # spread as the data, not collapsed to a point
    assert results["completed_steps"] == 300 and results["train_samples_per_s"] > 0
    assert loop.steps_per_epoch == NUM_SAMPLES // BATCH and args.num_train_epochs == 38  # ceil(300 / 8)
    assert json.loads((tmp_path / "eval_results.json").read_text()) == results


def _states(loop) -> dict:
    """Everything a resumed run must have back: both networks' weights, both optimizers' and
    schedules' states, the registered statistic and torch's random state."""
    step = loop.step
    return {
        "models": {name: model.state_dict() for name, model in step.models.items()},
        "optimizers": {name: optimizer.state_dict() for name, optimizer in step.optimizers.items()},
        "schedulers": {name: scheduler.state_dict() for name, scheduler in step.schedulers.items()},
        "fooled": step.fooled.state_dict(),
        "random_state": torch.get_rng_state(),
    }


def _assert_identical(actual, expected, where="states"):
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor) and torch.equal(actual, expected), f"{where} differ"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), f"{where}: keys differ"
        for key in expected:
            _assert_identical(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(actual) == len(expected), f"{where}: lengths differ"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_identical(a, e, f"{where}[{index}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


# A linear schedule with warm-up (the schedules' states matter), clipping, checkpoints every 5
# steps; 8 batches an epoch, so 20 steps run into the third epoch (the fifth at accumulation 2).
RESUMABLE = ["--max_train_steps", "20", "--learning_rate", "5e-3", "--num_warmup_steps", "3", "--max_grad_norm", "1.0",
             "--checkpointing_steps", "5"]


@pytest.mark.parametrize(
    "accumulation, damage",
    [(1, None), (2, None), (1, "model_1.safetensors")],
    ids=["plain", "gradient_accumulation", "newest_checkpoint_damaged"],
)
def test_a_killed_gan_run_resumes_bit_for_bit(tmp_path, caplog, accumulation, damage):
    """A run killed after its step-10 checkpoint (mid-epoch), resumed with --resume_from_checkpoint
    latest, ends exactly as an uninterrupted run: the loop checkpoints and resumes every object of
    a two-optimizer step. With the newest checkpoint damaged (the generator's weights, the second
    model), it resumes from step 5 and still ends exactly so."""
    options = [*RESUMABLE, "--gradient_accumulation_steps", str(accumulation)]
    uninterrupted, expected = _train_gan(_args(tmp_path / "uninterrupted", *options))
    expected_states = _states(uninterrupted)

    output_dir = tmp_path / "interrupted"
    killed, results = _train_gan(_args(output_dir, *options), kill_at_batch=12 * accumulation)  # after step 11
    assert results is None and killed.step.batches == 12 * accumulation
    checkpoint = output_dir / "checkpoints" / "step_10"
    assert sorted(path.name for path in (output_dir / "checkpoints").iterdir()) == ["step_10", "step_5"]
    assert sorted(json.loads((checkpoint / "done").read_text())["files"]) == [
        "custom_checkpoint_0.pkl", "model.safetensors", "model_1.safetensors", "optimizer.bin", "optimizer_1.bin",
        "random_states_0.pkl", "run.json", "scheduler.bin", "scheduler_1.bin"]
    del killed
    gc.collect()
    if damage:
        data = bytearray((checkpoint / damage).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (checkpoint / damage).write_bytes(bytes(data))

    with caplog.at_level(logging.WARNING):
        resumed, results = _train_gan(_args(output_dir, *options, "--resume_from_checkpoint", "latest"))
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    if damage:
        assert any(f"step_10 cannot be resumed from: {damage} does not match" in w for w in warnings), warnings
        assert any("resuming from" in w and "step_5" in w for w in warnings), warnings
    else:
        assert not warnings
    assert results["completed_steps"] == expected["completed_steps"] == 20
    assert (results["sample_mean"], results["sample_std"]) == (expected["sample_mean"], expected["sample_std"])
    _assert_identical(_states(resumed), expected_states)


def test_a_gan_run_refuses_to_resume_on_other_data(tmp_path):
    output_dir = tmp_path / "run"
    options = ["--max_train_steps", "4", "--checkpointing_steps", "4", "--lr_scheduler_type", "constant"]
    _train_gan(_args(output_dir, *options))
    with pytest.raises(CheckpointMismatchError) as error:
        _train_gan(_args(output_dir, "--max_train_steps", "8", *options[2:], "--resume_from_checkpoint", "latest"),
                   data=_data(mean=3.0))
    message = str(error.value)
    assert f"the training data: {NUM_SAMPLES} examples in both, other values in x" in message
    assert "--ignore_checkpoint_mismatch" in message
    assert sorted(path.name for path in (output_dir / "checkpoints").iterdir()) == ["step_4"]  # trained no further

    _, results = _train_gan(_args(output_dir, "--max_train_steps", "8", *options[2:], "--resume_from_checkpoint", "latest",
                                  "--ignore_checkpoint_mismatch"), data=_data(mean=3.0))
    assert results["completed_steps"] == 8


# --- what the loop reports ---------------------------------------------------------------------

class RecordingTracker(GeneralTracker):
    name, requires_logging_directory, main_process_only = "recording", False, True

    def __init__(self):
        super().__init__()
        self.config, self.logs, self.finished = None, [], False

    @property
    def tracker(self):
        return self

    def store_init_configuration(self, values):
        self.config = dict(values)

    def log(self, values, step=None, **kwargs):
        self.logs.append((step, dict(values)))

    def finish(self):
        self.finished = True


def _tracked_accelerator(args, tracker):
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), log_with=[tracker],
                              gradient_accumulation_steps=args.gradient_accumulation_steps)
    set_seed(args.seed)
    return accelerator


def test_the_loop_logs_each_steps_losses_and_learning_rates(tmp_path):
    tracker = RecordingTracker()
    args = _args(tmp_path, "--max_train_steps", "10", "--with_tracking", "--eval_every_epoch", "--hub_token", "hf_secret")
    _, results = _train_gan(args, accelerator=_tracked_accelerator(args, tracker))
    assert tracker.config["max_train_steps"] == 10 and "hub_token" not in tracker.config
    steps = [(step, sorted(values)) for step, values in tracker.logs]
    per_step = ["discriminator_loss", "generator_loss", "lr_discriminator", "lr_generator"]
    # 8 steps an epoch: the first epoch's evaluation after step 8, the second epoch (2 steps) evaluated too.
    assert steps == [*[(n, per_step) for n in range(1, 9)], (8, ["sample_mean"]), (9, per_step), (10, per_step),
                     (10, ["sample_mean"])]
    assert tracker.logs[-1][1]["sample_mean"] == results["sample_mean"]  # the last epoch's, and the final, evaluation
    assert tracker.logs[0][1]["lr_generator"] == pytest.approx(args.learning_rate * 9 / 10)  # linear decay over 10 steps
    assert tracker.finished


class RegressionOutput(SimpleNamespace):
    pass


class Regression(torch.nn.Module):
    """A model with the scripts' contract: keyword inputs, outputs carrying ``loss`` (and another
    scalar, ``l1_loss``)."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, targets):
        predicted = self.linear(inputs)
        return RegressionOutput(loss=F.mse_loss(predicted, targets), l1_loss=F.l1_loss(predicted, targets))


def test_the_supervised_step_in_the_loop(tmp_path):
    """SupervisedStep leaves out the batch entries that are not inputs and logs the outputs named
    in log_outputs; count_examples counts the examples of each batch (the run's speed)."""
    tracker = RecordingTracker()
    args = _args(tmp_path, "--max_train_steps", "3", "--with_tracking", "--per_device_train_batch_size", "4",
                 "--gradient_accumulation_steps", "2")
    accelerator = _tracked_accelerator(args, tracker)
    inputs = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    batches = [{"inputs": inputs[i:i + 4], "targets": inputs[i:i + 4].sum(-1, keepdim=True), "rows": torch.arange(i, i + 4)}
               for i in range(0, 16, 4)]
    model = Regression()
    step = SupervisedStep(model, torch.optim.SGD(model.parameters(), lr=0.1), args.max_grad_norm, ignore_keys=("rows",),
                          log_outputs=("l1_loss",))
    counted = []
    loop = TrainingLoop(accelerator, args, step, DataLoader(batches, batch_size=None), project_name="regression",
                        count_examples=lambda batch: counted.append(len(batch["rows"])) or len(batch["rows"]))
    assert loop.steps_per_epoch == 2 and args.num_train_epochs == 2
    results = loop.run()
    assert results["completed_steps"] == 3 and "train_examples_per_s" in results
    assert counted == [4] * 6  # 3 steps of 2 batches
    assert [(step, sorted(values)) for step, values in tracker.logs] == [(n, ["l1_loss", "lr", "train_loss"]) for n in (1, 2, 3)]


def test_the_loop_needs_a_step_with_an_optimizer(tmp_path):
    args = _args(tmp_path)
    step = TrainingStep({"model": torch.nn.Linear(1, 1)}, {})
    with pytest.raises(ValueError, match="at least one model with one optimizer"):
        TrainingLoop(setup_accelerator(args), args, step, DataLoader(range(4)), project_name="none")


def test_a_gan_step_refuses_fp16(tmp_path):
    step = _toy_gan(_args(tmp_path))
    with pytest.raises(ValueError, match="--mixed_precision bf16"):
        step(SimpleNamespace(mixed_precision="fp16"), torch.zeros(2, 1))


def test_the_package_keeps_every_name_of_training_py():
    """``hf_mmattn.training.<name>`` for every name that training.py (the module before the
    package) exported, with the constants the tests and scripts read."""
    exported = ["CheckpointLoadError", "CheckpointMismatchError", "TRAINING_ARGUMENTS_FREE_ON_RESUME", "add_training_arguments",
                "backbone_settings", "check_training_arguments", "checkpoint_folders", "describe_run", "epoch_batches",
                "fingerprint_dataset", "init_trackers", "make_scheduler", "maybe_save_checkpoint", "model_card_summary",
                "parse_config_overrides", "push_output_to_hub", "resume_from_checkpoint", "run_stats", "save_checkpoint",
                "set_training_length", "setup_accelerator", "train_on_batch"]
    assert set(exported) <= set(training.__all__)
    for name in [*exported, "DEFAULT_BACKBONE_CONFIG", "SECRET_ARGUMENTS", "DONE_MARKER", "RUN_RECORD"]:
        assert getattr(training, name) is not None, name
    assert all(getattr(training, name) is not None for name in training.__all__)
