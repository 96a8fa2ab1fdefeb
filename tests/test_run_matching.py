"""Tests of examples/matching/run_matching.py on a few dozen generated shapes scenes: end to end
(train, evaluate recall both ways and the scene truth, save a folder that the Auto classes, the
zero-shot pipeline and the retrieval helper load, card, figures), exact resume from a checkpoint,
and Karpathy split files."""

import importlib.util
import json
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
from safetensors.torch import load_file
from transformers import AutoModel, AutoProcessor, pipeline

import hf_mmattn  # noqa: F401
from hf_mmattn import ImageTextRetrieval, MDanModel
from hf_mmattn.data import caption_is_true, generate_shapes_captions
from hf_mmattn.tasks.matching.metrics import compute_retrieval_metrics

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "matching" / "run_matching.py"
NUM_TRAIN, NUM_TEST, TRAIN_BATCH = 40, 8, 32
TINY = "scratch_cnn_channels=[8,16,16],word_embedding_size=16,text_hidden_size=16,attention_hidden_size=16"
COMMON = [
    "--model_type", "mdan", "--num_train_images", str(NUM_TRAIN), "--num_validation_images", "2", "--num_test_images", str(NUM_TEST),
    "--per_device_train_batch_size", str(TRAIN_BATCH), "--seed", "0", "--config_overrides", TINY,
]
STEPS_PER_EPOCH = math.ceil(NUM_TRAIN * 5 / TRAIN_BATCH)
RESUMABLE = [*COMMON[:-1], TINY + ",dropout=0.3", "--lr_scheduler_type", "constant", "--num_attention_figures", "0", "--max_eval_samples", "3"]


@pytest.fixture(scope="module")
def run_matching():
    spec = importlib.util.spec_from_file_location("run_matching_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _weights(folder):
    return load_file(Path(folder) / "model.safetensors")


def test_train_evaluate_save(run_matching, tmp_path):
    output_dir = tmp_path / "mdan"
    results = run_matching.main([*COMMON, "--num_train_epochs", "2", "--learning_rate", "3e-3", "--num_attention_figures", "2",
                                 "--output_dir", str(output_dir)])
    assert results["completed_steps"] == 2 * STEPS_PER_EPOCH
    assert (results["num_images"], results["num_texts"], results["split"]) == (NUM_TEST, 5 * NUM_TEST, "test")
    saved = json.loads((output_dir / "eval_results.json").read_text())
    assert saved["text_to_image_r1"] == results["text_to_image_r1"]

    # The saved folder answers the same retrieval: recompute every number from its embeddings.
    retrieval = ImageTextRetrieval.from_pretrained(output_dir)
    assert type(retrieval.model) is MDanModel
    test = generate_shapes_captions(NUM_TRAIN, 2, NUM_TEST)["test"]
    images = retrieval.encode_images(list(test["image"]))
    captions = [caption for image_captions in test["captions"] for caption in image_captions]
    similarity = retrieval.similarity(images, retrieval.encode_texts(captions)).numpy()
    text_image = np.repeat(np.arange(NUM_TEST), 5)
    expected = compute_retrieval_metrics(similarity, text_image)
    for key in ("image_to_text_r1", "image_to_text_r5", "text_to_image_r1", "text_to_image_median_rank", "rsum"):
        assert results[key] == pytest.approx(expected[key], abs=1e-9), key
    # Scene-true R@1 counts a top image that makes the caption true: every exact hit does.
    top = similarity.argmax(axis=0)
    scene_true = 100 * np.mean([caption_is_true(c, test[int(i)]["objects"]) for c, i in zip(captions, top, strict=True)])
    assert results["scene_true_r1"] == pytest.approx(scene_true)
    assert results["scene_true_r1"] >= results["text_to_image_r1"]
    by_objects = results["by_objects"]
    assert sum(group["num_images"] for group in by_objects.values()) == NUM_TEST

    # The Auto classes, the built-in zero-shot pipeline, the card and the figures.
    assert type(AutoModel.from_pretrained(output_dir)) is MDanModel
    assert type(AutoProcessor.from_pretrained(output_dir)).__name__ == "MatchingProcessor"
    classifier = pipeline("zero-shot-image-classification", model=str(output_dir))
    labels = classifier(test[0]["image"], candidate_labels=["red circle", "blue square"], hypothesis_template="a {}")
    assert {entry["label"] for entry in labels} == {"red circle", "blue square"}
    card = ModelCard.load(output_dir / "README.md")
    assert card.data.datasets == ["shapes-captions"] and card.data.pipeline_tag == "zero-shot-image-classification"
    names = {result.metric_name: result.metric_value for result in card.data.eval_results if result.metric_type == "recall"}
    assert names["text→image R@1"] == round(results["text_to_image_r1"], 2)
    assert names["image→text R@10"] == round(results["image_to_text_r10"], 2)
    assert names["text→image scene-true R@1"] == round(results["scene_true_r1"], 2)
    assert "m-DAN" in card.text and "MEASURED_ROWS" not in card.text
    for k in range(2):
        assert (output_dir / f"attention_{k}.png").stat().st_size > 0 and (output_dir / f"words_{k}.png").stat().st_size > 0


def test_mean_pooling_preset_trains_without_attention(run_matching, tmp_path):
    results = run_matching.main([*COMMON, "--preset", "mean-pooling", "--max_train_steps", "2", "--num_attention_figures", "2",
                                 "--output_dir", str(tmp_path / "k0")])
    assert AutoModel.from_pretrained(tmp_path / "k0").config.num_steps == 0
    assert results["completed_steps"] == 2 and not list((tmp_path / "k0").glob("attention_*.png"))


def test_bad_arguments_are_rejected(run_matching, tmp_path):
    with pytest.raises(SystemExit):
        run_matching.parse_args(["--model_type", "mdan", "--preset", "nonsense", "--output_dir", str(tmp_path)])
    with pytest.raises(SystemExit):
        run_matching.parse_args(["--model_type", "mdan", "--dataset", "flickr", "--output_dir", str(tmp_path)])
    with pytest.raises(SystemExit):
        run_matching.parse_args(["--model_type", "show_tell", "--output_dir", str(tmp_path)])


@pytest.fixture(scope="module")
def uninterrupted_9(run_matching, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("uninterrupted")
    run_matching.main([*RESUMABLE, "--output_dir", str(output_dir), "--max_train_steps", "9"])
    return output_dir


def test_resume_continues_without_losing_work(run_matching, uninterrupted_9, tmp_path):
    """A run stopped at step 3 and resumed to step 9 (into epoch 2, with dropout drawing random
    numbers) ends with the weights of an uninterrupted 9-step run, bit for bit."""
    assert 3 < STEPS_PER_EPOCH < 9
    interrupted = tmp_path / "interrupted"
    run_matching.main([*RESUMABLE, "--output_dir", str(interrupted), "--checkpointing_steps", "3", "--max_train_steps", "3"])
    partial = interrupted / "checkpoints" / "step_6.partial"  # a save killed half way is ignored
    shutil.copytree(interrupted / "checkpoints" / "step_3", partial)
    (partial / "done").unlink()
    resumed = run_matching.main([*RESUMABLE, "--output_dir", str(interrupted), "--max_train_steps", "9", "--resume_from_checkpoint", "latest"])
    assert resumed["completed_steps"] == 9
    actual, expected = _weights(interrupted), _weights(uninterrupted_9)
    assert actual.keys() == expected.keys()
    assert all(torch.equal(actual[name], expected[name]) for name in expected)
    assert not all(torch.equal(actual[name], _weights(interrupted / "checkpoints" / "step_3")[name]) for name in expected)


def test_flickr_split_file_end_to_end(run_matching, tmp_path):
    """--dataset flickr reads Karpathy's JSON and the image folder (the captioning loader)."""
    scenes = generate_shapes_captions(6, 1, 3)
    images_dir = tmp_path / "flickr30k-images"
    images_dir.mkdir()
    entries = []
    for split, karpathy_split in (("train", "train"), ("validation", "val"), ("test", "test")):
        for example in scenes[split]:
            imgid = len(entries)
            example["image"].save(images_dir / f"{imgid}.jpg")
            sentences = [{"raw": caption, "tokens": caption.split(), "imgid": imgid, "sentid": 5 * imgid + k}
                         for k, caption in enumerate(example["captions"])]
            entries.append({"filename": f"{imgid}.jpg", "imgid": imgid, "split": karpathy_split,
                            "sentids": [s["sentid"] for s in sentences], "sentences": sentences})
    dataset_json = tmp_path / "dataset_flickr30k.json"
    dataset_json.write_text(json.dumps({"dataset": "flickr30k", "images": entries}))
    output_dir = tmp_path / "flickr"
    results = run_matching.main([
        *COMMON, "--dataset", "flickr", "--dataset_json", str(dataset_json), "--images_dir", str(images_dir),
        "--image_encoder", "scratch_cnn", "--image_size", "64", "--num_train_epochs", "1", "--per_device_train_batch_size", "10",
        "--output_dir", str(output_dir), "--num_attention_figures", "0",
    ])
    assert (results["num_images"], results["num_texts"]) == (3, 15) and "scene_true_r1" not in results
    assert results["completed_steps"] == 3
    assert ModelCard.load(output_dir / "README.md").data.datasets == ["flickr_karpathy"]


def test_coco_split_file_with_the_fold_protocol(run_matching, tmp_path):
    """--dataset coco_karpathy reads Karpathy's COCO layout (filepath/filename, cocoid, restval);
    --num_folds reports the recalls within consecutive folds of the evaluation images, averaged
    (COCO's 1K protocol on its 5,000 test images), next to those over the whole split."""
    scenes = generate_shapes_captions(6, 0, 4, seed=5)
    entries = []
    for split, karpathy_split in (("train", "restval"), ("test", "test")):
        folder = tmp_path / ("train2014" if split == "train" else "val2014")
        folder.mkdir()
        for example in scenes[split]:
            imgid = len(entries)
            filename = f"COCO_{folder.name}_{imgid:012d}.jpg"
            example["image"].save(folder / filename)
            sentences = [{"raw": caption, "tokens": caption.split(), "imgid": imgid, "sentid": 5 * imgid + k}
                         for k, caption in enumerate(example["captions"])]
            entries.append({"filepath": folder.name, "filename": filename, "imgid": imgid, "cocoid": 1000 + imgid,
                            "split": karpathy_split, "sentids": [s["sentid"] for s in sentences], "sentences": sentences})
    dataset_json = tmp_path / "dataset_coco.json"
    dataset_json.write_text(json.dumps({"dataset": "coco", "images": entries}))
    output_dir = tmp_path / "coco"
    results = run_matching.main([
        *COMMON, "--dataset", "coco_karpathy", "--dataset_json", str(dataset_json), "--images_dir", str(tmp_path),
        "--image_encoder", "scratch_cnn", "--image_size", "64", "--max_train_steps", "2", "--num_folds", "2",
        "--output_dir", str(output_dir), "--num_attention_figures", "0",
    ])
    assert (results["num_images"], results["num_texts"]) == (4, 20)
    folds = results["fold_average"]
    assert folds["num_folds"] == 2 and folds["num_images"] == 4
    # Within a fold of 2 images, a text ranks at most 2 images: R@5 is 100 there, not necessarily overall.
    assert folds["text_to_image_r5"] == 100.0 and folds["text_to_image_r1"] >= results["text_to_image_r1"]
    with pytest.raises(ValueError, match="num_folds"):
        run_matching.main([*COMMON, "--dataset", "coco_karpathy", "--dataset_json", str(dataset_json), "--images_dir", str(tmp_path),
                           "--image_encoder", "scratch_cnn", "--image_size", "64", "--max_train_steps", "1", "--num_folds", "3",
                           "--output_dir", str(tmp_path / "bad"), "--num_attention_figures", "0"])


def test_two_process_ddp_on_cpu(tmp_path):
    """Each rank trains on half the batches; every rank evaluates the whole split, the main one
    writes the results and the folder."""
    output_dir = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(SCRIPT),
        *COMMON, "--output_dir", str(output_dir), "--num_train_epochs", "1", "--num_attention_figures", "1",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-4000:]
    results = json.loads((output_dir / "eval_results.json").read_text())
    assert (results["num_processes"], results["num_images"], results["num_texts"]) == (2, NUM_TEST, 5 * NUM_TEST)
    assert results["completed_steps"] == math.ceil(STEPS_PER_EPOCH / 2)
    assert type(AutoModel.from_pretrained(output_dir)) is MDanModel and (output_dir / "words_0.png").exists()
