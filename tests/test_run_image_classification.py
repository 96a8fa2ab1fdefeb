"""Tests of examples/image_classification/run_image_classification.py: end to end on the generated
co-occurrence textures (train, accuracy and confusion matrix, a folder that the Auto classes and
transformers' own image-classification pipeline load, card), exact resume from a checkpoint, a
released dataset layout (CUB-200-2011) and a converted backbone copied in before training."""

import importlib.util
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from test_fine_grained_data import cub_root  # noqa: F401  (the CUB-200-2011 fixture in its released layout)
from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline

import hf_mmattn  # noqa: F401
from hf_mmattn import BilinearCnnForImageClassification, VggBackbone, VggConfig
from hf_mmattn.data import generate_cooccurrence_textures

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "image_classification" / "run_image_classification.py"
NUM_TRAIN, NUM_TEST, TRAIN_BATCH = 40, 24, 16
TINY = "scratch_cnn_channels=[4,8]"
COMMON = ["--model_type", "bilinear_cnn", "--num_train_images", str(NUM_TRAIN), "--num_validation_images", "4", "--num_test_images",
          str(NUM_TEST), "--per_device_train_batch_size", str(TRAIN_BATCH), "--seed", "0", "--config_overrides", TINY]
STEPS_PER_EPOCH = math.ceil(NUM_TRAIN / TRAIN_BATCH)


@pytest.fixture(scope="module")
def run_image_classification():
    spec = importlib.util.spec_from_file_location("run_image_classification_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_evaluate_save(run_image_classification, tmp_path):
    output_dir = tmp_path / "bcnn"
    results = run_image_classification.main([*COMMON, "--num_train_epochs", "2", "--output_dir", str(output_dir)])
    assert results["completed_steps"] == 2 * STEPS_PER_EPOCH and results["num_images"] == NUM_TEST
    # The saved folder answers through transformers' own pipeline, and its answers give the accuracy.
    model = AutoModelForImageClassification.from_pretrained(output_dir)
    assert type(model) is BilinearCnnForImageClassification and model.config.num_labels == 12
    classifier = pipeline("image-classification", model=str(output_dir))
    test = generate_cooccurrence_textures(NUM_TRAIN, 4, NUM_TEST)["test"]
    predictions = [classifier(image, top_k=1)[0]["label"] for image in test["image"]]
    truth = [model.config.id2label[label] for label in test["label"]]
    correct = sum(p == t for p, t in zip(predictions, truth, strict=True))
    assert results["accuracy"] == pytest.approx(100 * correct / NUM_TEST)
    top5 = [{answer["label"] for answer in classifier(image, top_k=5)} for image in test["image"]]
    assert results["top5_accuracy"] == pytest.approx(100 * sum(t in s for t, s in zip(truth, top5, strict=True)) / NUM_TEST)
    confusion = json.loads((output_dir / "confusion_matrix.json").read_text())
    matrix = torch.tensor(confusion["rows_true_columns_predicted"])
    assert confusion["labels"] == [model.config.id2label[i] for i in range(12)]
    assert int(matrix.sum()) == NUM_TEST and int(matrix.trace()) == correct
    assert [int(n) for n in matrix.sum(dim=1)] == [truth.count(name) for name in confusion["labels"]]
    processor = AutoImageProcessor.from_pretrained(output_dir)
    assert processor.size == {"height": 48, "width": 48} and list(processor.image_mean) == [0.5] * 3
    card = ModelCard.load(output_dir / "README.md")
    assert card.data.pipeline_tag == "image-classification" and card.data.datasets == ["cooccurrence-textures"]
    names = {result.metric_name: result.metric_value for result in card.data.eval_results}
    assert names["accuracy"] == round(results["accuracy"], 2) and names["top-5 accuracy"] == round(results["top5_accuracy"], 2)
    assert "Bilinear CNN" in card.text and "{{" not in card.text


def test_resume_continues_without_losing_work(run_image_classification, tmp_path):
    args = [*COMMON[:-1], TINY + ",dropout=0.3", "--lr_scheduler_type", "constant", "--max_eval_samples", "4"]
    assert 2 < STEPS_PER_EPOCH < 5
    uninterrupted = tmp_path / "uninterrupted"
    run_image_classification.main([*args, "--output_dir", str(uninterrupted), "--max_train_steps", "5"])
    interrupted = tmp_path / "interrupted"
    run_image_classification.main([*args, "--output_dir", str(interrupted), "--checkpointing_steps", "2", "--max_train_steps", "2"])
    partial = interrupted / "checkpoints" / "step_4.partial"
    shutil.copytree(interrupted / "checkpoints" / "step_2", partial)
    (partial / "done").unlink()
    resumed = run_image_classification.main([*args, "--output_dir", str(interrupted), "--max_train_steps", "5",
                                             "--resume_from_checkpoint", "latest"])
    assert resumed["completed_steps"] == 5
    actual, expected = load_file(interrupted / "model.safetensors"), load_file(uninterrupted / "model.safetensors")
    assert expected and all(torch.equal(actual[name], expected[name]) for name in expected)


def test_a_released_layout_with_a_converted_backbone(run_image_classification, cub_root, tmp_path):  # noqa: F811
    """--dataset cub200 reads CUB_200_2011/ (classes in the dataset's order, its train/test split);
    --backbone_weights copies a saved VGG backbone into the model before the first step."""
    layers = [4, "M", 8, "M", 8, 8, "M"]
    torch.manual_seed(3)
    backbone = VggBackbone(VggConfig(layers=layers, out_features=["relu3_2"]))
    backbone.save_pretrained(tmp_path / "vgg")
    backbone_config = json.dumps({"model_type": "mmattn_vgg", "layers": layers, "out_features": ["relu3_2"]}).replace(" ", "")
    output_dir = tmp_path / "cub"
    results = run_image_classification.main([
        "--model_type", "bilinear_cnn", "--dataset", "cub200", "--data_path", str(cub_root), "--image_size", "32",
        "--config_overrides", f"image_encoder=backbone,backbone_config={backbone_config},freeze_backbone=true",
        "--backbone_weights", str(tmp_path / "vgg"), "--max_train_steps", "1", "--per_device_train_batch_size", "2",
        "--output_dir", str(output_dir),
    ])
    model = AutoModelForImageClassification.from_pretrained(output_dir)
    assert [model.config.id2label[i] for i in range(model.config.num_labels)] == list(cub_root_class_names(cub_root))
    split_lines = (cub_root / "CUB_200_2011/train_test_split.txt").read_text().split("\n")
    assert results["num_images"] == sum(line.split()[1] == "0" for line in split_lines if line)
    trained = model.model.image_encoder.backbone.state_dict()
    assert trained and all(torch.equal(tensor, backbone.state_dict()[name]) for name, tensor in trained.items())  # frozen: unchanged
    assert AutoImageProcessor.from_pretrained(output_dir).size == {"height": 32, "width": 32}


def cub_root_class_names(root: Path):
    return [line.split(" ", 1)[1] for line in (root / "CUB_200_2011/classes.txt").read_text().split("\n") if line]
