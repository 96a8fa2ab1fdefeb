"""Tests of examples/vqa/run_vqa.py on a few hundred easy-VQA questions: end to end, resuming
from checkpoints, and two-process DDP on CPU.

Single-process runs call the script's ``main`` in this process (the session runs torch on one
thread, see conftest.py, which also makes CPU training bitwise reproducible); the DDP run goes
through ``torchrun`` in a subprocess.
"""

import importlib.util
import json
import logging
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoModelForVisualQuestionAnswering, pipeline

import hf_mmattn  # noqa: F401
from hf_mmattn import VQAProcessor
from hf_mmattn.data import EASY_VQA_ANSWERS, load_easy_vqa
from hf_mmattn.data.batching import GroupByImageBatchSampler
from hf_mmattn.metrics import compute_vqa_accuracy
from hf_mmattn.training import TRAINING_ARGUMENTS_FREE_ON_RESUME, CheckpointMismatchError, checkpoint_folders

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "vqa" / "run_vqa.py"
NUM_TRAIN, NUM_EVAL, TRAIN_BATCH = 300, 100, 64
COMMON = [
    "--max_train_samples", str(NUM_TRAIN), "--max_eval_samples", str(NUM_EVAL),
    "--per_device_train_batch_size", str(TRAIN_BATCH), "--seed", "42",
]
# A schedule that does not depend on --max_train_steps, so that a run stopped after 4 steps is
# a prefix of a 6-step run (a linear decay to zero over 4 steps is not).
RESUMABLE = COMMON + ["--lr_scheduler_type", "constant", "--num_attention_figures", "0"]


@pytest.fixture(scope="module")
def run_vqa():
    spec = importlib.util.spec_from_file_location("run_vqa_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def easy_vqa():
    return load_easy_vqa()


def _steps_per_epoch(train, num_questions, batch_size, num_processes=1):
    image_ids = np.asarray(train.select(range(num_questions))["image_id"])
    _, rows = np.unique(image_ids, return_inverse=True)
    batches = len(GroupByImageBatchSampler(torch.as_tensor(rows), batch_size))
    return math.ceil(batches / num_processes)


def _recompute_accuracy(folder, evaluation):
    """VQA accuracy of the saved checkpoint on ``evaluation``, one image per question."""
    model = AutoModelForVisualQuestionAnswering.from_pretrained(folder).eval()
    processor = VQAProcessor.from_pretrained(folder)
    inputs = processor(images=list(evaluation["image"]), text=list(evaluation["question"]))
    with torch.no_grad():
        predicted = model(**inputs).logits.argmax(-1).tolist()
    return compute_vqa_accuracy(
        [model.config.id2label[i] for i in predicted], list(evaluation["answers"]), list(evaluation["answer_type"])
    )


def _weights(folder):
    return load_file(Path(folder) / "model.safetensors")


def _assert_same_weights(actual_folder, expected_folder):
    actual, expected = _weights(actual_folder), _weights(expected_folder)
    assert actual.keys() == expected.keys()
    different = [name for name in expected if not torch.equal(actual[name], expected[name])]  # bitwise: resuming is exact
    worst = max((actual[n] - expected[n]).abs().max().item() for n in expected)
    assert not different, f"{len(different)}/{len(expected)} tensors differ (max abs diff {worst:.3g}), e.g. {different[:4]}"


# --- end to end ---------------------------------------------------------------------------

@pytest.mark.parametrize("model_type", ["san", "lstm_q_norm_i"])
def test_train_evaluate_save(run_vqa, easy_vqa, tmp_path, model_type):
    output_dir = tmp_path / model_type
    returned = run_vqa.main(
        ["--model_type", model_type, "--output_dir", str(output_dir), "--num_train_epochs", "1",
         "--num_attention_figures", "2", *COMMON]
    )
    results = json.loads((output_dir / "eval_results.json").read_text())
    assert results["vqa_accuracy"] == returned["vqa_accuracy"]
    assert 0 <= results["vqa_accuracy"] <= 100
    assert results["per_answer_type"] and set(results["per_answer_type"]) <= {"yes/no", "shape", "color"}
    assert all(0 <= value <= 100 for value in results["per_answer_type"].values())
    assert results["num_questions"] == NUM_EVAL
    assert results["num_processes"] == 1
    assert results["completed_steps"] == _steps_per_epoch(easy_vqa["train"], NUM_TRAIN, TRAIN_BATCH)

    # The saved checkpoint is the evaluated model: it reproduces the reported accuracy.
    evaluation = easy_vqa["test"].select(range(NUM_EVAL))
    recomputed = _recompute_accuracy(output_dir, evaluation)
    assert recomputed["vqa_accuracy"] == pytest.approx(results["vqa_accuracy"], abs=1e-9)
    assert recomputed["per_answer_type"] == pytest.approx(results["per_answer_type"], abs=1e-9)

    # The model card's model-index carries the same number.
    card = ModelCard.load(output_dir / "README.md")
    metrics = card.data.to_dict()["model-index"][0]["results"][0]["metrics"]
    overall = next(metric for metric in metrics if metric["name"] == "VQA accuracy")
    assert overall["value"] == pytest.approx(results["vqa_accuracy"])
    assert card.data.pipeline_tag == "visual-question-answering"

    # pipeline() loads the folder and answers with the model's own top answer.
    vqa = pipeline("visual-question-answering", model=str(output_dir))
    model = AutoModelForVisualQuestionAnswering.from_pretrained(output_dir).eval()
    processor = VQAProcessor.from_pretrained(output_dir)
    example = evaluation[0]
    answers = vqa(image=example["image"], question=example["question"], top_k=3)
    assert len(answers) == 3 and all(a["answer"] in EASY_VQA_ANSWERS for a in answers)
    with torch.no_grad():
        logits = model(**processor(images=example["image"], text=example["question"])).logits[0]
    assert answers[0]["answer"] == model.config.id2label[int(logits.argmax())]
    assert answers[0]["score"] == pytest.approx(logits.softmax(-1).max().item(), rel=1e-5)

    figures = sorted(output_dir.glob("attention_*.png"))
    if model_type == "san":
        assert [f.name for f in figures] == ["attention_0.png", "attention_1.png"]
        for figure in figures:
            with Image.open(figure) as image:
                assert image.width > 50 and image.height > 50
    else:
        assert figures == []  # the baseline has no attention


# --- checkpoints and resuming ---------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpointed_run(run_vqa, tmp_path_factory):
    """A run stopped after 4 steps that saved checkpoints at steps 2 and 4."""
    output_dir = tmp_path_factory.mktemp("checkpointed")
    run_vqa.main(["--model_type", "san", "--output_dir", str(output_dir), "--checkpointing_steps", "2",
                  "--max_train_steps", "4", *RESUMABLE])
    return output_dir


@pytest.fixture(scope="module")
def uninterrupted_6(run_vqa, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("uninterrupted")
    run_vqa.main(["--model_type", "san", "--output_dir", str(output_dir), "--max_train_steps", "6", *RESUMABLE])
    return output_dir


def test_checkpoints_are_written_whole(checkpointed_run, run_vqa):
    checkpoints = checkpointed_run / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step_2", "step_4"]  # no *.partial left over
    for step in (2, 4):
        folder = checkpoints / f"step_{step}"
        assert json.loads((folder / "done").read_text())["completed_steps"] == step
        assert (folder / "model.safetensors").is_file()
        assert any(folder.glob("optimizer*")) and any(folder.glob("scheduler*")) and any(folder.glob("random_states*"))
    # The step-4 checkpoint holds the weights the run ended with.
    _assert_same_weights(checkpoints / "step_4", checkpointed_run)
    assert json.loads((checkpointed_run / "eval_results.json").read_text())["completed_steps"] == 4


def test_partial_checkpoints_are_ignored(checkpointed_run, run_vqa, tmp_path):
    output_dir = tmp_path / "run"
    shutil.copytree(checkpointed_run, output_dir)
    partial = output_dir / "checkpoints" / "step_8.partial"
    shutil.copytree(output_dir / "checkpoints" / "step_4", partial)
    (partial / "done").unlink()
    unfinished = output_dir / "checkpoints" / "step_10"
    unfinished.mkdir()
    assert [p.name for p in checkpoint_folders(str(output_dir))] == ["step_2", "step_4"]


def test_resume_continues_without_losing_work(checkpointed_run, uninterrupted_6, run_vqa, easy_vqa, tmp_path):
    steps_per_epoch = _steps_per_epoch(easy_vqa["train"], NUM_TRAIN, TRAIN_BATCH)
    assert 4 < steps_per_epoch < 6  # the resumed steps finish epoch 0 and start epoch 1
    output_dir = tmp_path / "run"
    shutil.copytree(checkpointed_run, output_dir)
    partial = output_dir / "checkpoints" / "step_8.partial"  # a save killed half way
    shutil.copytree(output_dir / "checkpoints" / "step_4", partial)
    (partial / "done").unlink()

    run_vqa.main(["--model_type", "san", "--output_dir", str(output_dir), "--checkpointing_steps", "2",
                  "--max_train_steps", "6", "--resume_from_checkpoint", "latest", *RESUMABLE])
    results = json.loads((output_dir / "eval_results.json").read_text())
    assert results["completed_steps"] == 6
    assert (output_dir / "checkpoints" / "step_6" / "done").is_file()
    _assert_same_weights(output_dir, uninterrupted_6)


def test_resume_within_an_epoch_replays_dropout(run_vqa, tmp_path):
    """With dropout, the resumed steps must draw the same dropout masks as the uninterrupted
    run: the random state saved with the checkpoint has to be the one the next step uses."""
    args = ["--model_type", "san", "--config_overrides", "dropout=0.3", *RESUMABLE]
    interrupted, uninterrupted = tmp_path / "interrupted", tmp_path / "uninterrupted"
    run_vqa.main(["--output_dir", str(interrupted), "--checkpointing_steps", "2", "--max_train_steps", "2", *args])
    run_vqa.main(["--output_dir", str(interrupted), "--max_train_steps", "4", "--resume_from_checkpoint", "latest", *args])
    run_vqa.main(["--output_dir", str(uninterrupted), "--max_train_steps", "4", *args])
    assert json.loads((interrupted / "eval_results.json").read_text())["completed_steps"] == 4
    _assert_same_weights(interrupted, uninterrupted)


def test_resume_at_an_epoch_boundary_uses_the_next_epochs_order(run_vqa, easy_vqa, tmp_path):
    """Without dropout, a run resumed from the last step of epoch 0 must see epoch 1's shuffle."""
    steps_per_epoch = _steps_per_epoch(easy_vqa["train"], NUM_TRAIN, TRAIN_BATCH)
    args = ["--model_type", "san", "--config_overrides", "dropout=0.0", *RESUMABLE]
    interrupted, uninterrupted = tmp_path / "interrupted", tmp_path / "uninterrupted"
    total = str(steps_per_epoch + 1)
    run_vqa.main(["--output_dir", str(interrupted), "--checkpointing_steps", "epoch", "--max_train_steps", str(steps_per_epoch), *args])
    assert (interrupted / "checkpoints" / "epoch_1" / "done").is_file()
    run_vqa.main(["--output_dir", str(interrupted), "--max_train_steps", total, "--resume_from_checkpoint", "latest", *args])
    run_vqa.main(["--output_dir", str(uninterrupted), "--max_train_steps", total, *args])
    assert json.loads((interrupted / "eval_results.json").read_text())["completed_steps"] == steps_per_epoch + 1
    _assert_same_weights(interrupted, uninterrupted)


def test_resuming_a_finished_run_trains_no_further(checkpointed_run, run_vqa, tmp_path):
    output_dir = tmp_path / "run"
    shutil.copytree(checkpointed_run, output_dir)
    run_vqa.main(["--model_type", "san", "--output_dir", str(output_dir), "--max_train_steps", "4",
                  "--resume_from_checkpoint", "latest", *RESUMABLE])
    steps = json.loads((output_dir / "eval_results.json").read_text())["completed_steps"]
    assert steps == 4, f"resuming a run that had reached --max_train_steps 4 trained on to step {steps}"
    _assert_same_weights(output_dir, checkpointed_run / "checkpoints" / "step_4")


def test_resume_passes_over_a_damaged_checkpoint(checkpointed_run, uninterrupted_6, run_vqa, tmp_path, caplog):
    """The newest checkpoint cut short on disk (a full disk, a copy interrupted): the run goes on
    from the one before (step 2), warns which it passed over and why, saves step 4 again whole,
    and ends with the weights of the uninterrupted run, bit for bit."""
    output_dir = tmp_path / "run"
    shutil.copytree(checkpointed_run, output_dir)
    damaged = output_dir / "checkpoints" / "step_4" / "model.safetensors"
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    with caplog.at_level(logging.WARNING):
        results = run_vqa.main(["--model_type", "san", "--output_dir", str(output_dir), "--checkpointing_steps", "2",
                                "--max_train_steps", "6", "--resume_from_checkpoint", "latest", *RESUMABLE])
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any("step_4 cannot be resumed from: model.safetensors has" in w for w in warnings), warnings
    assert any("resuming from" in w and w.split("resuming from ")[1].split(",")[0].endswith("step_2") for w in warnings), warnings
    assert results["completed_steps"] == 6
    _assert_same_weights(output_dir, uninterrupted_6)
    _assert_same_weights(output_dir / "checkpoints" / "step_4", checkpointed_run / "checkpoints" / "step_4")


def test_resume_refuses_other_training_data(checkpointed_run, run_vqa, tmp_path, caplog):
    """Resuming with other --max_train_samples stops before training, naming the option and the
    data; --ignore_checkpoint_mismatch goes on from the checkpoint with a warning."""
    output_dir = tmp_path / "run"
    shutil.copytree(checkpointed_run, output_dir)
    resume = ["--model_type", "san", "--output_dir", str(output_dir), "--max_train_steps", "4",
              "--resume_from_checkpoint", "latest", *RESUMABLE, "--max_train_samples", "200"]  # the last one counts
    with pytest.raises(CheckpointMismatchError) as error:
        run_vqa.main(resume)
    message = str(error.value)
    assert "--max_train_samples: 300 in the checkpoint, 200 now" in message
    assert "the training data: 300 examples in the checkpoint, 200 now" in message
    assert "--ignore_checkpoint_mismatch" in message and not (output_dir / "checkpoints" / "step_6").exists()

    with caplog.at_level(logging.WARNING):
        results = run_vqa.main([*resume, "--ignore_checkpoint_mismatch"])
    assert any("--ignore_checkpoint_mismatch" in r.getMessage() and "--max_train_samples" in r.getMessage() for r in caplog.records)
    assert results["completed_steps"] == 4  # the checkpoint's step 4, the end of this run
    _assert_same_weights(output_dir, checkpointed_run / "checkpoints" / "step_4")


def test_resume_compares_every_option_but_the_free_ones(run_vqa, tmp_path):
    """The options a resumed run must share with its checkpoint (an option the script gains is in
    this set until it is declared free on resume)."""
    args = run_vqa.parse_args(["--model_type", "san", "--output_dir", str(tmp_path)])
    assert set(run_vqa.FREE_ON_RESUME) <= set(vars(args))  # no misspelt name among the free ones
    compared = set(vars(args)) - set(TRAINING_ARGUMENTS_FREE_ON_RESUME) - set(run_vqa.FREE_ON_RESUME)
    assert compared == {
        "model_type", "config_overrides", "image_encoder", "backbone_config", "image_size", "dataset", "images_dir",
        "features_dir", "features_tsv", "max_regions", "min_answer_count", "max_train_samples", "no_group_by_image",
        "per_device_train_batch_size", "learning_rate", "weight_decay", "gradient_accumulation_steps", "seed",
    }


# --- two-process DDP on CPU ------------------------------------------------------------------

def test_two_process_ddp_on_cpu(easy_vqa, tmp_path):
    output_dir = tmp_path / "ddp"
    num_train, train_batch = 200, 32
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(SCRIPT),
        "--model_type", "san", "--output_dir", str(output_dir), "--num_train_epochs", "1",
        "--max_train_samples", str(num_train), "--max_eval_samples", str(NUM_EVAL),
        "--per_device_train_batch_size", str(train_batch),
        "--per_device_eval_batch_size", "16",  # several eval batches, split unevenly over the ranks
        "--num_attention_figures", "0",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    errors = [line for line in completed.stderr.splitlines() if "Error:" in line and "rank" in line]
    assert completed.returncode == 0, "\n".join(errors) or completed.stderr[-4000:]
    results = json.loads((output_dir / "eval_results.json").read_text())
    assert results["num_processes"] == 2
    assert results["num_questions"] == NUM_EVAL  # every question once: no duplicates, none lost
    # Each rank trains on its half of the batches (not on all the data).
    assert results["completed_steps"] == _steps_per_epoch(easy_vqa["train"], num_train, train_batch, num_processes=2)
    recomputed = _recompute_accuracy(output_dir, easy_vqa["test"].select(range(NUM_EVAL)))
    assert recomputed["vqa_accuracy"] == pytest.approx(results["vqa_accuracy"], abs=1e-9)


# --- the VQA v2 format ----------------------------------------------------------------------

VQA_V2 = Path(__file__).resolve().parent / "fixtures" / "vqa_v2"
VQA_V2_FILES = [
    "--train_questions", str(VQA_V2 / "v2_OpenEnded_mscoco_val2014_questions.json"),
    "--train_annotations", str(VQA_V2 / "v2_mscoco_val2014_annotations.json"),
    "--eval_questions", str(VQA_V2 / "v2_OpenEnded_mscoco_val2014_questions.json"),
    "--eval_annotations", str(VQA_V2 / "v2_mscoco_val2014_annotations.json"),
    "--min_answer_count", "1", "--num_train_epochs", "2", "--num_attention_figures", "1",
]


@pytest.mark.parametrize(
    "image_arguments",
    [
        ["--images_dir", str(VQA_V2 / "val2014"), "--image_encoder", "backbone", "--image_size", "32",
         "--backbone_config", json.dumps({"model_type": "resnet", "out_features": ["stage4"], "hidden_sizes": [8, 16, 16, 16],
                                          "embedding_size": 8, "depths": [1, 1, 1, 1]}),
         "--config_overrides", "word_embedding_size=8,question_hidden_size=16,attention_hidden_size=8"],
        ["--features_dir", str(VQA_V2 / "features"), "--config_overrides", "word_embedding_size=8,question_hidden_size=16,attention_hidden_size=8"],
    ],
    ids=["coco_images_backbone", "region_features"],
)
def test_vqa_v2_format_end_to_end(run_vqa, tmp_path, image_arguments):
    """The official JSON files with COCO images or per-image features: soft-score training (BCE),
    the official answer normalisation in the vocabulary, VQA accuracy against 10 answers."""
    from hf_mmattn.data import load_vqa_v2

    output_dir = tmp_path / "out"
    results = run_vqa.main(["--model_type", "san", "--dataset", "vqa_v2", "--output_dir", str(output_dir), *VQA_V2_FILES, *image_arguments])
    questions = load_vqa_v2(VQA_V2 / "v2_OpenEnded_mscoco_val2014_questions.json", VQA_V2 / "v2_mscoco_val2014_annotations.json")
    assert results["num_questions"] == len(questions)
    config = json.loads((output_dir / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"  # 10 answers per question → soft scores
    expected_answers = sorted({a for a in questions["multiple_choice_answer"]})
    assert sorted(config["label2id"]) == expected_answers
    assert 0.0 <= results["vqa_accuracy"] <= 100.0
    model = AutoModelForVisualQuestionAnswering.from_pretrained(output_dir)
    assert model.config.image_encoder == ("features" if "--features_dir" in image_arguments else "backbone")


def test_pretrained_backbone_weights_are_loaded_and_stay_frozen(run_vqa, tmp_path):
    """--backbone_checkpoint: a saved transformers backbone's weights go into the model, and a
    frozen backbone leaves training with exactly those weights."""
    from transformers import ResNetBackbone, ResNetConfig

    torch.manual_seed(3)
    tiny = {"out_features": ["stage4"], "hidden_sizes": [8, 16, 16, 16], "embedding_size": 8, "depths": [1, 1, 1, 1]}
    pretrained = ResNetBackbone(ResNetConfig(**tiny)).eval()
    pretrained.save_pretrained(tmp_path / "backbone")
    output_dir = tmp_path / "out"
    run_vqa.main([
        "--model_type", "san", "--dataset", "vqa_v2", "--output_dir", str(output_dir), *VQA_V2_FILES,
        "--images_dir", str(VQA_V2 / "val2014"), "--image_encoder", "backbone", "--image_size", "32",
        "--backbone_config", json.dumps({"model_type": "resnet", **tiny}), "--backbone_checkpoint", str(tmp_path / "backbone"),
        "--config_overrides", "word_embedding_size=8,question_hidden_size=16,attention_hidden_size=8",
    ])
    trained = _weights(output_dir)
    expected = pretrained.state_dict()
    for name, tensor in expected.items():
        assert torch.equal(trained[f"model.image_encoder.backbone.{name}"], tensor), name


@pytest.mark.parametrize(
    "model_type, overrides",
    [
        ("ban", "word_embedding_size=8,word_embedding_type=single,hidden_size=8,num_glimpses=2,answer_hidden_size=8"),
        ("mcan", "word_embedding_size=8,hidden_size=8,intermediate_size=16,num_attention_heads=2,num_layers=1,"
                 "attflat_hidden_size=8,fused_size=16,use_box_features=true,box_feature_size=4"),
    ],
)
def test_region_features_with_boxes_train_ban_and_mcan(run_vqa, tmp_path, model_type, overrides):
    """OpenVQA-style .npz features with pixel boxes: the boxes reach the model normalised (BAN's
    counting module and MCAN's box features need them), and the saved folder answers through the
    pipeline from a .npz file."""
    features_dir = tmp_path / "features"
    features_dir.mkdir()
    rng = np.random.default_rng(0)
    for path in sorted((VQA_V2 / "features").glob("*.npy")):
        regions = np.load(path)
        corners = rng.uniform(0, 300, size=(len(regions), 2))
        boxes = np.concatenate([corners, corners + rng.uniform(10, 300, size=(len(regions), 2))], axis=1)
        np.savez(features_dir / f"{path.stem}.npz", x=regions.T, bbox=boxes, num_bbox=len(regions), image_w=640, image_h=480)

    output_dir = tmp_path / model_type
    results = run_vqa.main(
        ["--model_type", model_type, "--dataset", "vqa_v2", "--output_dir", str(output_dir), *VQA_V2_FILES,
         "--features_dir", str(features_dir), "--max_regions", "12", "--config_overrides", overrides]
    )
    assert 0.0 <= results["vqa_accuracy"] <= 100.0
    model = AutoModelForVisualQuestionAnswering.from_pretrained(output_dir).eval()
    assert model.config.image_encoder == "features"

    # Boxes change the answer scores, so the model reads them; the pipeline passes the file's boxes.
    vqa = pipeline("visual-question-answering", model=str(output_dir))
    npz = sorted(features_dir.glob("*.npz"))[0]
    with np.load(npz) as archive:
        regions, boxes = archive["x"].T, archive["bbox"] / np.array([640, 480, 640, 480])
    question = "what is in the picture?"
    processor = VQAProcessor.from_pretrained(output_dir)
    inputs = processor(text=question)
    with torch.no_grad():
        logits = model(**inputs, image_features=torch.tensor(regions)[None].float(), image_boxes=torch.tensor(boxes)[None].float()).logits[0]
        # Other boxes (counting looks at overlaps, which scaling every box would keep).
        moved = model(**inputs, image_features=torch.tensor(regions)[None].float(), image_boxes=torch.tensor(boxes[::-1].copy())[None].float()).logits[0]
    assert not torch.allclose(logits, moved)
    answer = vqa(image=str(npz), question=question, top_k=1)[0]
    assert answer["answer"] == model.config.id2label[int(logits.argmax())]
    assert answer["score"] == pytest.approx(logits.sigmoid().max().item(), rel=1e-5)
