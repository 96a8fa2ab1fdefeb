"""Tests of examples/text_to_image/run_text_to_image.py on a few dozen generated shapes scenes: end
to end (train GAN-INT-CLS on a frozen m-DAN text encoder, evaluate caption consistency, R-precision
and diversity, save a folder that the Auto classes and the text-to-image pipeline load, card,
figures), a text encoder trained from scratch, exact resume from a checkpoint, bad arguments."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from transformers import AutoModel, AutoProcessor, pipeline

import hf_mmattn  # noqa: F401
from hf_mmattn import GanIntClsModel, MatchingProcessor, MDanConfig, MDanModel
from hf_mmattn.data import generate_shapes_captions
from hf_mmattn.tasks.text_to_image.metrics import SceneClassifier, caption_consistency

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "text_to_image" / "run_text_to_image.py"
NUM_TRAIN, NUM_TEST, TRAIN_BATCH, IMAGE_SIZE = 24, 101, 16, 32
TINY = "generator_channels=4,discriminator_channels=4,noise_size=6,text_projection_size=5"
COMMON = [
    "--preset", "tiny", "--config_overrides", TINY, "--num_train_images", str(NUM_TRAIN), "--num_validation_images", "2",
    "--num_test_images", str(NUM_TEST), "--shapes_image_size", str(IMAGE_SIZE), "--per_device_train_batch_size", str(TRAIN_BATCH),
    "--seed", "0", "--evaluator_epochs", "1", "--diversity_captions", "3", "--diversity_samples", "2", "--num_figure_captions", "3",
]
STEPS_PER_EPOCH = -(-NUM_TRAIN * 5 // TRAIN_BATCH)


@pytest.fixture(scope="module")
def run_text_to_image():
    spec = importlib.util.spec_from_file_location("run_text_to_image_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def matching_folder(tmp_path_factory):
    """A tiny (untrained) m-DAN on the shapes captions' vocabulary, saved as run_matching.py saves one."""
    folder = tmp_path_factory.mktemp("mdan")
    train = generate_shapes_captions(NUM_TRAIN, 2, NUM_TEST, image_size=IMAGE_SIZE)["train"]
    processor = MatchingProcessor.from_sentences([c for captions in train["captions"] for c in captions], image_size=IMAGE_SIZE,
                                                 image_mean=[0.5] * 3, image_std=[0.5] * 3)
    torch.manual_seed(0)
    config = MDanConfig(vocab_size=len(processor.tokenizer), image_encoder="scratch_cnn", scratch_cnn_channels=[4, 8],
                        word_embedding_size=8, text_hidden_size=6, attention_hidden_size=5, num_steps=1)
    MDanModel(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _weights(folder):
    return load_file(Path(folder) / "model.safetensors")


def test_train_evaluate_save(run_text_to_image, matching_folder, tmp_path):
    output_dir = tmp_path / "gan"
    results = run_text_to_image.main([*COMMON, "--text_encoder_name_or_path", str(matching_folder), "--num_train_epochs", "1",
                                      "--output_dir", str(output_dir)])
    assert results["completed_steps"] == STEPS_PER_EPOCH and results["num_images"] == NUM_TEST
    assert results["split"] == "test" and results["loss_type"] == "gan-int-cls"
    saved = json.loads((output_dir / "eval_results.json").read_text())
    assert saved["caption_true"] == results["caption_true"]
    # The frozen text encoder is the m-DAN's, unchanged by training.
    matching_weights, gan_weights = _weights(matching_folder), _weights(output_dir)
    assert all(torch.equal(gan_weights[f"text_encoder.{name}"], tensor) for name, tensor in matching_weights.items())

    # The consistency numbers are the saved evaluator's verdict on the saved model's images.
    model, processor = AutoModel.from_pretrained(output_dir), AutoProcessor.from_pretrained(output_dir)
    assert type(model) is GanIntClsModel and type(processor).__name__ == "TextToImageProcessor"
    test = generate_shapes_captions(NUM_TRAIN, 2, NUM_TEST, image_size=IMAGE_SIZE)["test"]
    captions = [c[0] for c in test["captions"]]
    images = run_text_to_image.generate_images(model, processor, captions, 250, seed=0)
    evaluator = SceneClassifier.load(output_dir / "scene_evaluator")
    expected = caption_consistency(evaluator, images, captions)
    for key in ("color", "shape", "caption_true", "object_count"):
        assert results[key] == pytest.approx(expected[key]), key
    for key in ("evaluator_real_exact_scene", "evaluator_real_caption_true", "r_precision", "real_r_precision", "diversity"):
        assert results[key] is not None and 0 <= results[key] <= 1, key

    # The pipeline serves the folder; the card holds the results; the figures exist.
    painter = pipeline("text-to-image", model=str(output_dir))
    assert painter(captions[0], num_images_per_prompt=2)[1].size == (IMAGE_SIZE, IMAGE_SIZE)
    card = ModelCard.load(output_dir / "README.md")
    assert card.data.datasets == ["shapes-captions"] and card.data.pipeline_tag == "text-to-image"
    names = {result.metric_name: result.metric_value for result in card.data.eval_results}
    assert names["captions true of the image"] == round(100 * results["caption_true"], 2)
    assert names["R-precision (1 of 100 captions)"] == round(100 * results["r_precision"], 2)
    assert "GAN-INT-CLS" in card.text and "MEASURED_ROWS" not in card.text
    for name in ("samples.png", "interpolation.png", "fixed_noise.png"):
        assert (output_dir / name).stat().st_size > 0


def test_text_encoder_trained_from_scratch(run_text_to_image, tmp_path):
    """Without a matching checkpoint the text encoder is built from the captions and trained
    with the discriminator (so it changes); no R-precision without a matching model."""
    output_dir = tmp_path / "scratch"
    results = run_text_to_image.main([*COMMON, "--max_train_steps", "2", "--loss_type", "gan-cls", "--num_test_images", "12",
                                      "--output_dir", str(output_dir)])
    model = AutoModel.from_pretrained(output_dir)
    assert model.config.train_text_encoder and model.config.loss_type == "gan-cls"
    assert results["r_precision"] is None and results["caption_true"] is not None
    assert (output_dir / "scene_evaluator").is_dir()


def test_bad_arguments_are_rejected(run_text_to_image, matching_folder, tmp_path):
    for bad in (["--preset", "nonsense"], ["--diversity_samples", "1"], ["--per_device_train_batch_size", "1"],
                ["--loss_type", "wgan"], ["--model_name_or_path", str(tmp_path), "--text_encoder_name_or_path", str(matching_folder)]):
        with pytest.raises(SystemExit):
            run_text_to_image.parse_args([*bad, "--output_dir", str(tmp_path)])


@pytest.fixture(scope="module")
def resumable(matching_folder, tmp_path_factory):
    evaluator_dir = tmp_path_factory.mktemp("evaluator")
    torch.manual_seed(0)
    SceneClassifier(image_size=IMAGE_SIZE, channels=(4, 8)).save(evaluator_dir)
    return [*COMMON, "--text_encoder_name_or_path", str(matching_folder), "--num_eval_images", "4", "--matching_model", "none",
            "--scene_evaluator", str(evaluator_dir), "--num_figure_captions", "0"]


def test_resume_continues_without_losing_work(run_text_to_image, resumable, tmp_path):
    """A run stopped at step 3 and resumed to step 10 (into epoch 2; z and the interpolation
    partners drawn from the checkpointed random state) ends with the weights of an uninterrupted
    10-step run, bit for bit: both networks, both optimizers, the batch-norm statistics."""
    assert 3 < STEPS_PER_EPOCH < 10
    uninterrupted = tmp_path / "uninterrupted"
    run_text_to_image.main([*resumable, "--output_dir", str(uninterrupted), "--max_train_steps", "10"])
    interrupted = tmp_path / "interrupted"
    run_text_to_image.main([*resumable, "--output_dir", str(interrupted), "--checkpointing_steps", "3", "--max_train_steps", "3"])
    partial = interrupted / "checkpoints" / "step_6.partial"  # a save killed half way is ignored
    shutil.copytree(interrupted / "checkpoints" / "step_3", partial)
    (partial / "done").unlink()
    resumed = run_text_to_image.main([*resumable, "--output_dir", str(interrupted), "--max_train_steps", "10",
                                      "--resume_from_checkpoint", "latest"])
    assert resumed["completed_steps"] == 10
    actual, expected = _weights(interrupted), _weights(uninterrupted)
    assert actual.keys() == expected.keys()
    assert all(torch.equal(actual[name], expected[name]) for name in expected)
    # The checkpoint's first model is the discriminator with its text encoder, named as in the GAN.
    step_3 = load_file(interrupted / "checkpoints" / "step_3" / "model.safetensors")
    assert {name.split(".")[0] for name in step_3} == {"discriminator", "text_encoder"}
    assert not all(torch.equal(actual[name], tensor) for name, tensor in step_3.items() if name.startswith("discriminator."))
