"""Tests of examples/captioning/run_captioning.py on a few dozen generated shapes scenes: end to
end for Show and Tell and Show, Attend and Tell (soft and hard attention), resuming from
checkpoints, Karpathy split files and two-process DDP on CPU.

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

import pytest
import torch
from huggingface_hub import ModelCard
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, AutoProcessor, pipeline

import hf_mmattn  # noqa: F401
from hf_mmattn.tasks.captioning import metrics
from hf_mmattn.data import generate_shapes_captions
from hf_mmattn.training import TRAINING_ARGUMENTS_FREE_ON_RESUME, CheckpointMismatchError

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "captioning" / "run_captioning.py"
NUM_TRAIN, NUM_TEST, TRAIN_BATCH = 40, 6, 32
TINY_CNN = "scratch_cnn_channels=[8,16,16],embedding_size=16,hidden_size=32"
MODELS = {
    "show_tell": ["--model_type", "show_tell", "--config_overrides", TINY_CNN],
    "soft": ["--model_type", "show_attend_tell", "--attention_type", "soft", "--config_overrides", TINY_CNN + ",attention_size=16"],
    "hard": ["--model_type", "show_attend_tell", "--attention_type", "hard", "--config_overrides", TINY_CNN + ",attention_size=16"],
}
COMMON = [
    "--num_train_images", str(NUM_TRAIN), "--num_validation_images", "2", "--num_test_images", str(NUM_TEST),
    "--per_device_train_batch_size", str(TRAIN_BATCH), "--max_new_tokens", "8", "--seed", "0",
]
STEPS_PER_EPOCH = math.ceil(NUM_TRAIN * 5 / TRAIN_BATCH)  # 5 captions per image, each pair one example
# A schedule that does not depend on --max_train_steps, so that a run stopped after 3 steps is
# a prefix of a 9-step run (a linear decay to zero over 3 steps is not).
RESUMABLE = COMMON + ["--lr_scheduler_type", "constant", "--num_attention_figures", "0", "--max_eval_samples", "2"]


@pytest.fixture(scope="module")
def run_captioning():
    spec = importlib.util.spec_from_file_location("run_captioning_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def without_java(monkeypatch):
    """The caption metrics' pure-Python path (no Java start-up): for the resume tests, which
    compare weights, not scores."""
    monkeypatch.setattr(metrics, "_find_java", lambda: None)


def _weights(folder):
    return load_file(Path(folder) / "model.safetensors")


def _assert_same_weights(actual_folder, expected_folder):
    actual, expected = _weights(actual_folder), _weights(expected_folder)
    assert actual.keys() == expected.keys()
    different = [name for name in expected if not torch.equal(actual[name], expected[name])]
    worst = max((actual[n] - expected[n]).abs().max().item() for n in expected)
    assert not different, f"{len(different)}/{len(expected)} tensors differ (max abs diff {worst:.3g}), e.g. {different[:4]}"


# --- end to end ---------------------------------------------------------------------------

# The Java scorers (PTB tokenizer, METEOR) take seconds to start: one run uses them, the others
# take the metrics' pure-Python path (same BLEU/ROUGE-L/CIDEr-D tokens on these captions, no METEOR).
@pytest.mark.parametrize("variant, java", [("show_tell", False), ("soft", True), ("hard", False)])
def test_train_evaluate_save(run_captioning, tmp_path, monkeypatch, variant, java):
    if not java:
        monkeypatch.setattr(metrics, "_find_java", lambda: None)
    output_dir = tmp_path / variant
    returned = run_captioning.main([*MODELS[variant], "--output_dir", str(output_dir), "--num_train_epochs", "1",
                                    "--num_attention_figures", "1", *COMMON])
    results = json.loads((output_dir / "eval_results.json").read_text())
    assert results == pytest.approx(returned)
    assert results["tokenizer"] == ("ptb" if java else "python")
    scores = ["bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l"] + (["meteor"] if java else [])
    for name in scores:
        assert math.isfinite(results[name]) and 0.0 <= results[name] <= 1.0, name
    assert results["meteor"] is not None if java else results["meteor"] is None
    assert 0.0 <= results["cider_d"] <= 10.0
    assert results["bleu_1"] >= results["bleu_2"] >= results["bleu_3"] >= results["bleu_4"]
    assert (results["num_images"], results["split"], results["num_beams"]) == (NUM_TEST, "test", 3)
    assert results["completed_steps"] == STEPS_PER_EPOCH and results["num_processes"] == 1

    # The folder loads with the Auto classes, and its generation defaults (beam 3, 8 new words,
    # the processor's start/end/padding ids) reproduce the evaluated captions.
    model = AutoModelForImageTextToText.from_pretrained(output_dir).eval()
    processor = AutoProcessor.from_pretrained(output_dir)
    tokenizer = processor.tokenizer
    generation = model.generation_config
    assert (generation.num_beams, generation.max_new_tokens) == (3, 8)
    assert (generation.bos_token_id, generation.eos_token_id, generation.pad_token_id) == (
        tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    test = generate_shapes_captions(NUM_TRAIN, 2, NUM_TEST)["test"]
    saved = json.loads((output_dir / "generated_captions.json").read_text())
    assert [entry["image_id"] for entry in saved] == list(range(NUM_TEST))
    with torch.no_grad():
        ids = model.generate(**processor(images=list(test["image"]), text=""))
    assert processor.post_process_image_text_to_text(ids) == [entry["caption"] for entry in saved]
    # The reported scores are those of these captions against their images' references.
    monkeypatch.setattr(metrics, "_find_java", lambda: None)
    with pytest.warns(UserWarning, match="Java"):
        recomputed = metrics.compute_caption_metrics([entry["caption"] for entry in saved], list(test["captions"]))
    for name in ("bleu_1", "bleu_4", "rouge_l", "cider_d"):
        assert recomputed[name] == pytest.approx(results[name], abs=1e-12), name

    # pipeline("image-text-to-text") captions an image as the model does.
    captioner = pipeline("image-text-to-text", model=str(output_dir))
    assert captioner(test[0]["image"])[0]["generated_text"] == saved[0]["caption"]

    # The card's model-index carries the scores (x100, the papers' scale).
    card = ModelCard.load(output_dir / "README.md")
    assert card.data.pipeline_tag == "image-text-to-text"
    assert card.data.metrics == ["bleu", "cider", "meteor", "rouge"]
    index = {m["name"]: m["value"] for m in card.data.to_dict()["model-index"][0]["results"][0]["metrics"]}
    assert index["BLEU-4"] == pytest.approx(round(100 * results["bleu_4"], 2))
    assert index["CIDEr-D"] == pytest.approx(round(100 * results["cider_d"], 2))
    assert f"| CIDEr-D | {100 * results['cider_d']:.2f} |" in card.text
    assert 'captioner = pipeline("image-text-to-text"' in card.text

    figures = sorted(output_dir.glob("attention_*.png"))
    if variant == "show_tell":
        assert figures == []  # no attention to draw
    else:
        assert [f.name for f in figures] == ["attention_0.png"]
        assert f'attention_type="{variant}"' in card.text
        with Image.open(figures[0]) as image:
            assert image.width > 200 and image.height > 200


def test_bad_arguments_are_rejected(run_captioning, tmp_path):
    with pytest.raises(SystemExit):
        run_captioning.parse_args(["--model_type", "show_tell", "--attention_type", "hard", "--output_dir", str(tmp_path)])
    with pytest.raises(SystemExit):
        run_captioning.parse_args(["--model_type", "show_tell", "--dataset", "coco_karpathy", "--output_dir", str(tmp_path)])


# --- checkpoints and resuming ---------------------------------------------------------------

# Hard attention with dropout draws from the random generator at every step (dropout masks, which
# images use the expected attention, the sampled locations) and keeps a moving-average baseline:
# a resumed run ends with an uninterrupted run's weights only if it resumed exactly.
HARD_WITH_DROPOUT = [*MODELS["hard"][:-1], MODELS["hard"][-1] + ",dropout=0.3", *RESUMABLE]


@pytest.fixture(scope="module")
def uninterrupted_9(run_captioning, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("uninterrupted")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metrics, "_find_java", lambda: None)  # as without_java
        run_captioning.main([*HARD_WITH_DROPOUT, "--output_dir", str(output_dir), "--max_train_steps", "9"])
    return output_dir


@pytest.fixture(scope="module")
def checkpointed_6(run_captioning, tmp_path_factory):
    """A run stopped after 6 steps that saved checkpoints at steps 3 and 6."""
    output_dir = tmp_path_factory.mktemp("checkpointed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metrics, "_find_java", lambda: None)
        run_captioning.main([*HARD_WITH_DROPOUT, "--output_dir", str(output_dir), "--checkpointing_steps", "3", "--max_train_steps", "6"])
    return output_dir


def test_resume_continues_without_losing_work(run_captioning, uninterrupted_9, tmp_path, without_java):
    """A run stopped at step 3 and resumed to step 9 (through the end of epoch 1) ends with the
    weights and baseline of an uninterrupted 9-step run."""
    assert 3 < STEPS_PER_EPOCH < 9
    args = HARD_WITH_DROPOUT
    interrupted = tmp_path / "interrupted"
    run_captioning.main([*args, "--output_dir", str(interrupted), "--checkpointing_steps", "3", "--max_train_steps", "3"])
    assert sorted(p.name for p in (interrupted / "checkpoints").iterdir()) == ["step_3"]
    _assert_same_weights(interrupted / "checkpoints" / "step_3", interrupted)
    partial = interrupted / "checkpoints" / "step_6.partial"  # a save killed half way is ignored
    shutil.copytree(interrupted / "checkpoints" / "step_3", partial)
    (partial / "done").unlink()

    resumed = run_captioning.main([*args, "--output_dir", str(interrupted), "--max_train_steps", "9", "--resume_from_checkpoint", "latest"])
    assert resumed["completed_steps"] == 9
    assert resumed["meteor"] is None and resumed["tokenizer"] == "python"  # the Java-free path
    _assert_same_weights(interrupted, uninterrupted_9)
    assert _weights(interrupted)["baseline.value"].item() != 0.0  # the REINFORCE baseline moved and was resumed


def test_resume_passes_over_a_damaged_checkpoint(run_captioning, checkpointed_6, uninterrupted_9, tmp_path, caplog, without_java):
    """One byte of the newest checkpoint's random states changed on disk: accelerate's load_state
    would skip the file or load other random numbers without a word. The checksum sees it, the
    run goes on from step 3 and ends with the uninterrupted run's weights, bit for bit."""
    output_dir = tmp_path / "run"
    shutil.copytree(checkpointed_6, output_dir)
    damaged = output_dir / "checkpoints" / "step_6" / "random_states_0.pkl"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        resumed = run_captioning.main([*HARD_WITH_DROPOUT, "--output_dir", str(output_dir), "--checkpointing_steps", "3",
                                       "--max_train_steps", "9", "--resume_from_checkpoint", "latest"])
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any("step_6 cannot be resumed from: random_states_0.pkl does not match" in w for w in warnings), warnings
    assert resumed["completed_steps"] == 9
    _assert_same_weights(output_dir, uninterrupted_9)
    _assert_same_weights(output_dir / "checkpoints" / "step_6", checkpointed_6 / "checkpoints" / "step_6")


def test_resume_refuses_other_training_data(run_captioning, checkpointed_6, tmp_path):
    """Scenes generated from another seed: as many captions, other ones; resuming stops before
    training and names the option and the data."""
    output_dir = tmp_path / "run"
    shutil.copytree(checkpointed_6, output_dir)
    with pytest.raises(CheckpointMismatchError) as error:
        run_captioning.main([*HARD_WITH_DROPOUT, "--output_dir", str(output_dir), "--max_train_steps", "9",
                             "--resume_from_checkpoint", "latest", "--dataset_seed", "1"])
    message = str(error.value)
    assert "--dataset_seed: 0 in the checkpoint, 1 now" in message
    assert f"the training data: {NUM_TRAIN} examples in both, other values in captions" in message
    assert not (output_dir / "checkpoints" / "step_9").exists()


def test_resume_compares_every_option_but_the_free_ones(run_captioning, tmp_path):
    """The options a resumed run must share with its checkpoint (an option the script gains is in
    this set until it is declared free on resume)."""
    args = run_captioning.parse_args(["--model_type", "show_tell", "--output_dir", str(tmp_path)])
    assert set(run_captioning.FREE_ON_RESUME) <= set(vars(args))  # no misspelt name among the free ones
    compared = set(vars(args)) - set(TRAINING_ARGUMENTS_FREE_ON_RESUME) - set(run_captioning.FREE_ON_RESUME)
    assert compared == {
        "model_type", "attention_type", "preset", "config_overrides", "image_encoder", "backbone_config", "image_size",
        "dataset", "images_dir", "num_train_images", "shapes_image_size", "shapes_max_objects", "dataset_seed",
        "max_train_samples", "min_word_count", "max_caption_length",
        "per_device_train_batch_size", "learning_rate", "weight_decay", "gradient_accumulation_steps", "seed",
    }


# --- Karpathy split files ---------------------------------------------------------------------

def test_flickr_split_file_end_to_end(run_captioning, tmp_path, without_java):
    """--dataset flickr reads Karpathy's JSON and the image folder; --eval_every_epoch scores the
    chosen split after every epoch (each epoch trains on every caption of every image)."""
    scenes = generate_shapes_captions(4, 1, 1)
    images_dir = tmp_path / "Flicker8k_Dataset"
    images_dir.mkdir()
    entries = []
    for split, karpathy_split in (("train", "train"), ("validation", "val"), ("test", "test")):
        for example in scenes[split]:
            imgid = len(entries)
            filename = f"{imgid}.png"
            example["image"].save(images_dir / filename)
            sentences = [{"raw": caption, "tokens": caption.split(), "imgid": imgid, "sentid": 5 * imgid + k}
                         for k, caption in enumerate(example["captions"])]
            entries.append({"filename": filename, "imgid": imgid, "split": karpathy_split,
                            "sentids": [s["sentid"] for s in sentences], "sentences": sentences})
    dataset_json = tmp_path / "dataset_flickr8k.json"
    dataset_json.write_text(json.dumps({"dataset": "flickr8k", "images": entries}))

    output_dir = tmp_path / "flickr"
    results = run_captioning.main([
        *MODELS["soft"], "--dataset", "flickr", "--dataset_json", str(dataset_json), "--images_dir", str(images_dir),
        "--image_encoder", "scratch_cnn", "--image_size", "64", "--eval_split", "validation", "--eval_every_epoch",
        "--num_train_epochs", "2", "--per_device_train_batch_size", "8", "--max_new_tokens", "5", "--output_dir", str(output_dir),
    ])
    assert (results["split"], results["num_images"]) == ("validation", 1)
    assert results["completed_steps"] == 2 * math.ceil(4 * 5 / 8)
    assert ModelCard.load(output_dir / "README.md").data.datasets == ["flickr_karpathy"]
    processor = AutoProcessor.from_pretrained(output_dir)
    train_words = {word for captions in scenes["train"]["captions"] for caption in captions for word in caption.replace(",", " , ").split()}
    assert set(processor.tokenizer.get_vocab()) == train_words | {"<pad>", "<unk>", "<start>", "<end>"}


# --- two-process DDP on CPU ------------------------------------------------------------------

def test_two_process_ddp_on_cpu(tmp_path):
    """Each rank trains on half the batches; evaluation batches (of uneven sizes across the ranks)
    and captions (of uneven lengths) are gathered into one caption per image, in order."""
    output_dir = tmp_path / "ddp"
    num_test = 7  # eval batches of 2: ranks get 2+2 and 2+1 images
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(SCRIPT),
        *MODELS["soft"], "--output_dir", str(output_dir), "--num_train_epochs", "1", "--num_attention_figures", "0",
        *COMMON, "--num_test_images", str(num_test), "--per_device_eval_batch_size", "2",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-4000:]
    results = json.loads((output_dir / "eval_results.json").read_text())
    assert (results["num_processes"], results["num_images"]) == (2, num_test)
    assert results["completed_steps"] == math.ceil(STEPS_PER_EPOCH / 2)
    saved = json.loads((output_dir / "generated_captions.json").read_text())
    model = AutoModelForImageTextToText.from_pretrained(output_dir).eval()
    processor = AutoProcessor.from_pretrained(output_dir)
    test = generate_shapes_captions(NUM_TRAIN, 2, num_test)["test"]
    with torch.no_grad():
        ids = model.generate(**processor(images=list(test["image"]), text=""))
    assert [entry["caption"] for entry in saved] == processor.post_process_image_text_to_text(ids)
