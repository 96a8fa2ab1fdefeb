"""Shared fixtures: tiny configs of the VQA models, a word processor, and a synthetic
red/blue task small enough to learn in seconds on a CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import hf_mmattn
from hf_mmattn import LstmQNormIConfig, SanConfig, VQAProcessor
from hf_mmattn.models import discover

COLOR_QUESTIONS = ("what color is it?", "is it red?", "is it blue?")
COLOR_ANSWERS = ("red", "blue", "yes", "no")
TINY_RESNET = {
    "model_type": "resnet",
    "out_features": ["stage4"],
    "hidden_sizes": [8, 16, 16, 16],
    "embedding_size": 8,
    "depths": [1, 1, 1, 1],
}
IMAGE_FEATURE_SIZE = 6


def color_answer(question: str, color: str) -> str:
    if question.startswith("what color"):
        return color
    return "yes" if question.endswith(f"{color}?") else "no"


def color_image(color: str, size: int = 16, seed: int = 0) -> Image.Image:
    """A noisy red or blue square, with a gray blob so not every pixel carries the colour."""
    rng = np.random.default_rng(seed)
    base = np.array([200, 30, 30] if color == "red" else [30, 30, 200], dtype=np.float64)
    array = base + rng.normal(0, 25, size=(size, size, 3))
    y, x = rng.integers(0, size - size // 4, size=2)
    array[y : y + size // 4, x : x + size // 4] = 128
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


@pytest.fixture(scope="session", autouse=True)
def single_thread_torch():
    """The models under test are tiny: one thread is faster than two (and far faster when a
    training run shares the machine, where OpenMP threads spin-wait), and it makes CPU
    training bitwise deterministic, which the resume tests compare."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def color_processor_16() -> VQAProcessor:
    return VQAProcessor.from_questions(list(COLOR_QUESTIONS), image_size=16, image_mean=[0.5] * 3, image_std=[0.5] * 3)


@pytest.fixture(scope="session")
def color_processor_64() -> VQAProcessor:
    return VQAProcessor.from_questions(list(COLOR_QUESTIONS), image_size=64, image_mean=[0.5] * 3, image_std=[0.5] * 3)


def label_maps(answers=COLOR_ANSWERS) -> dict:
    return {"id2label": dict(enumerate(answers)), "label2id": {a: i for i, a in enumerate(answers)}}


def tiny_vqa_config(config_class, image_encoder: str = "features", vocab_size: int = 9, **overrides):
    """``config_class`` at its "tiny" preset's sizes (with ``overrides``) reading 64x64 pixels
    (scratch CNN -> 8x8 grid, tiny ResNet -> 2x2 grid) or 6-d region features, with the colour
    task's answers."""
    settings = dict(vocab_size=vocab_size, pad_token_id=0, answer_hidden_size=16, image_encoder=image_encoder, **label_maps())
    settings.update(config_class.presets["tiny"])
    if image_encoder == "scratch_cnn":
        settings["scratch_cnn_channels"] = [4, 8, 8]
    elif image_encoder == "backbone":
        settings["backbone_config"] = dict(TINY_RESNET)
    else:
        settings["image_feature_size"] = IMAGE_FEATURE_SIZE
    settings.update(overrides)
    return config_class(**settings)


def tiny_config(model: str, image_encoder: str = "scratch_cnn", vocab_size: int = 9, **overrides):
    """A tiny SanConfig / LstmQNormIConfig (see ``tiny_vqa_config``)."""
    config_class = SanConfig if model == "san" else LstmQNormIConfig
    return tiny_vqa_config(config_class, image_encoder, vocab_size, **overrides)


def make_vqa_model(config_class, image_encoder: str = "features", head: bool = True, seed: int = 0, **overrides):
    """A tiny model of ``config_class`` (``tiny_vqa_config``) in eval mode, drawn with ``seed``: the
    task head of its model folder, or with ``head=False`` its base model."""
    torch.manual_seed(seed)
    model = next(model for model in discover("vqa") if model.config is config_class)
    return (model.heads[0] if head else model.base)(tiny_vqa_config(config_class, image_encoder, **overrides)).eval()


def linear_by_hand(layer, x):
    return x @ layer.weight.T + layer.bias


def question_vectors_by_hand(model, input_ids, attention_mask):
    """q: the GRU question encoder's last hidden state, each question run alone over its real words."""
    encoder = model.question_encoder
    vectors = []
    for ids, mask in zip(input_ids, attention_mask, strict=True):
        _, h_n = encoder.lstm(encoder.embedding(ids[: int(mask.sum())])[None])
        vectors.append(h_n[-1, 0])
    return torch.stack(vectors)


def vqa_class(model: str):
    return hf_mmattn.SanForVisualQuestionAnswering if model == "san" else hf_mmattn.LstmQNormIForVisualQuestionAnswering


def base_class(model: str):
    return hf_mmattn.SanModel if model == "san" else hf_mmattn.LstmQNormIModel


def random_inputs(config, batch: int = 3, length: int = 5, image_size: int = 64, seed: int = 0) -> dict:
    """Valid random inputs for ``config``: questions of different lengths (right-padded)."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(2, config.vocab_size, (batch, length), generator=generator)
    attention_mask = torch.ones(batch, length, dtype=torch.long)
    for row in range(batch):
        real = length - (row % length)
        input_ids[row, real:] = 0
        attention_mask[row, real:] = 0
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if config.image_encoder == "features":
        inputs["image_features"] = torch.randn(batch, 7, config.image_feature_size, generator=generator)
    else:
        inputs["pixel_values"] = torch.randn(batch, 3, image_size, image_size, generator=generator)
    return inputs


@pytest.fixture
def make_tiny_model():
    def make(model: str, image_encoder: str = "scratch_cnn", head: bool = True, seed: int = 0, **overrides):
        torch.manual_seed(seed)
        config = tiny_config(model, image_encoder, **overrides)
        return (vqa_class(model) if head else base_class(model))(config).eval()

    return make


def clear_initialised_flags(model) -> None:
    """Forget which modules and tensors transformers considers initialised, so that
    ``initialize_weights()`` (what ``from_pretrained`` runs on a checkpoint's missing keys) runs
    ``_init_weights`` on everything again."""
    for module in model.modules():
        module.__dict__.pop("_is_hf_initialized", None)
    for tensor in [*model.parameters(), *model.buffers()]:
        tensor.__dict__.pop("_is_hf_initialized", None)


def poison(model) -> None:
    """What a checkpoint without these tensors would leave: garbage (NaN in floats, an absurd
    value in integer buffers)."""
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.fill_(float("nan") if tensor.is_floating_point() else 2**40)
