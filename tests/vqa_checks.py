"""Checks that every VQA model's tests share: the red/blue task it must learn, the bad inputs it
must refuse with a clear error, and the pipeline on its saved folder giving the model's own
answers and attention maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import COLOR_ANSWERS, COLOR_QUESTIONS, IMAGE_FEATURE_SIZE, color_answer, color_image, random_inputs
from transformers import pipeline

import hf_mmattn  # noqa: F401  (registers the pipeline)


def color_task(processor, num_images: int = 24, seed: int = 0) -> dict:
    """Every colour question about ``num_images`` noisy red and blue squares, as one batch that
    shares each image between its questions through ``image_index``."""
    colors = ["red", "blue"] * (num_images // 2)
    images = [color_image(color, 16, seed=seed + i) for i, color in enumerate(colors)]
    questions, image_index, labels = [], [], []
    for i, color in enumerate(colors):
        for question in COLOR_QUESTIONS:
            questions.append(question)
            image_index.append(i)
            labels.append(COLOR_ANSWERS.index(color_answer(question, color)))
    batch = processor(images=images, text=questions)
    return {
        "input_ids": batch["input_ids"],
        "attention_mask": batch["attention_mask"],
        "pixel_values": batch["pixel_values"],
        "image_index": torch.tensor(image_index),
        "labels": torch.tensor(labels),
    }


def assert_learns_color_task(model, processor, steps: int = 120, lr: float = 1e-2):
    """Full-batch Adam on the colour task: the loss falls tenfold and new noisy images of the same
    colours are answered right, while the untrained model is not right by chance."""
    train = color_task(processor, seed=0)
    held_out = color_task(processor, seed=1000)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def accuracy(batch):
        model.eval()
        with torch.no_grad():
            predictions = model(**{k: v for k, v in batch.items() if k != "labels"}).logits.argmax(-1)
        model.train()
        return (predictions == batch["labels"]).float().mean().item()

    assert accuracy(train) < 0.8
    first_loss = None
    for _ in range(steps):
        loss = model(**train).loss
        first_loss = first_loss if first_loss is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * first_loss
    assert accuracy(train) > 0.95
    assert accuracy(held_out) > 0.95


def bad_input_cases(config) -> list[tuple[str, dict, str]]:
    """(name, inputs, the error message expected) for inputs that ``config``'s model must refuse."""
    good = random_inputs(config, batch=2)
    pixels = config.image_encoder != "features"
    image_key = "pixel_values" if pixels else "image_features"
    cases = [
        ("no input_ids", dict(good, input_ids=None), "input_ids is required"),
        ("float input_ids", dict(good, input_ids=good["input_ids"].float()), "2-D integer tensor"),
        ("1-D input_ids", dict(good, input_ids=good["input_ids"][0], attention_mask=None), "2-D integer tensor"),
        ("mask shape", dict(good, attention_mask=good["attention_mask"][:, :3]), "attention_mask has shape"),
        ("id too large", dict(good, input_ids=good["input_ids"].clone().fill_(config.vocab_size)), "outside the vocabulary"),
        ("negative id", dict(good, input_ids=good["input_ids"].clone().fill_(-1)), "outside the vocabulary"),
        ("empty question", dict(good, attention_mask=torch.tensor([[1, 1, 0, 0, 0], [0, 0, 0, 0, 0]])), "no tokens"),
        ("left padding", dict(good, attention_mask=torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]])), "right-padded"),
        ("hole in the mask", dict(good, attention_mask=torch.tensor([[1, 0, 1, 0, 0], [1, 1, 1, 1, 1]])), "right-padded"),
        ("image batch mismatch", dict(good, **{image_key: good[image_key][:1]}), "batch mismatch"),
        ("image_index out of range", dict(good, image_index=torch.tensor([0, 2])), "outside the 2 images"),
        ("image_index negative", dict(good, image_index=torch.tensor([-1, 0])), "outside the 2 images"),
        ("image_index shape", dict(good, image_index=torch.tensor([0, 1, 0])), "image_index must have shape"),
    ]
    if pixels:
        nan = good["pixel_values"].clone()
        nan[0, 0, 0, 0] = float("nan")
        inf = good["pixel_values"].clone()
        inf[1, 2, 3, 4] = float("inf")
        cases += [
            ("features to a pixel model", dict(good, pixel_values=None, image_features=torch.randn(2, 4, 6)), "reads pixel_values"),
            ("no image", dict(good, pixel_values=None), "pixel_values is required"),
            ("4 channels", dict(good, pixel_values=torch.randn(2, 4, 64, 64)), r"pixel_values must have shape \(batch, 3"),
            ("3-D pixels", dict(good, pixel_values=torch.randn(2, 64, 64)), "pixel_values must have shape"),
            ("NaN pixels", dict(good, pixel_values=nan), "NaN or infinite"),
            ("inf pixels", dict(good, pixel_values=inf), "NaN or infinite"),
            ("uint8 pixels", dict(good, pixel_values=(good["pixel_values"] * 0).to(torch.uint8)), "floating point"),
        ]
    else:
        nan = good["image_features"].clone()
        nan[1, 3, 2] = float("nan")
        cases += [
            ("pixels to a features model", dict(good, image_features=None, pixel_values=torch.randn(2, 3, 64, 64)), "reads precomputed image_features"),
            ("no image", dict(good, image_features=None), "image_features is required"),
            ("feature size", dict(good, image_features=torch.randn(2, 7, IMAGE_FEATURE_SIZE + 1)), "image_features must have shape"),
            ("NaN features", dict(good, image_features=nan), "NaN or infinite"),
            ("region mask shape", dict(good, image_attention_mask=torch.ones(2, 3)), "image_attention_mask must have shape"),
            ("image without regions", dict(good, image_attention_mask=torch.tensor([[1] * 7, [0] * 7])), "no regions"),
        ]
    return cases


def assert_rejects_bad_inputs(model, base_model=None):
    """Every bad input case raises its message; ``base_model`` (the headless model) too."""
    for name, inputs, message in bad_input_cases(model.config):
        with pytest.raises(ValueError, match=message):
            model(**inputs)
    if base_model is not None:
        with pytest.raises(ValueError, match="input_ids is required"):
            base_model(pixel_values=torch.randn(1, 3, 64, 64), image_features=torch.randn(1, 2, IMAGE_FEATURE_SIZE))


def assert_pipeline_matches_model(folder, model, processor, color: str = "red", question: str = "is it red?") -> dict:
    """Saves ``model`` and ``processor`` to ``folder``, answers ``question`` about a 16x16 image
    with ``pipeline("visual-question-answering")`` loaded from it, and checks the top-2 answers,
    their scores, every image map (4x4 grid) and every word map (real words only) against the
    model's own forward pass. Returns the pipeline's result."""
    model.eval().save_pretrained(folder)
    processor.save_pretrained(folder)
    vqa = pipeline("visual-question-answering", model=str(folder))
    image = color_image(color, seed=7)
    result = vqa(image=image, question=question, top_k=2, return_attention=True)
    inputs = processor(images=image, text=question)
    with torch.no_grad():
        expected = model(**inputs, output_attentions=True)

    scores = expected.logits[0].softmax(-1).double()
    order = scores.argsort(descending=True)[:2]
    assert [r["answer"] for r in result["answers"]] == [model.config.id2label[int(i)] for i in order]
    np.testing.assert_allclose([r["score"] for r in result["answers"]], scores[order].numpy(), rtol=1e-5)

    assert result["image_grid_size"] == (4, 4) and len(result["attentions"]) == len(expected.attentions) > 0
    for attention, reference in zip(result["attentions"], expected.attentions):
        assert attention.shape == (4, 4) and attention.sum() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(attention, reference[0].reshape(4, 4).numpy(), rtol=1e-5, atol=1e-7)

    word_maps = expected.question_attentions or ()
    assert len(result.get("question_attentions") or ()) == len(word_maps)
    words = int(inputs["attention_mask"].sum())
    for attention, reference in zip(result.get("question_attentions") or (), word_maps):
        assert attention.shape == (words,) and attention.sum() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(attention, reference[0, :words].numpy(), rtol=1e-5, atol=1e-7)
    return result


def assert_masked_regions_ignored(model):
    """Regions masked out of ``image_features`` get zero attention, changing them changes nothing,
    and each question gets the answer it gets with only its real regions. Returns the output."""
    features = torch.randn(2, 6, IMAGE_FEATURE_SIZE, generator=torch.Generator().manual_seed(3))
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]])
    inputs = dict(random_inputs(model.config, batch=2), image_features=features, image_attention_mask=mask)
    changed = features.clone()
    changed[mask == 0] = 1000.0
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
        changed_output = model(**dict(inputs, image_features=changed), output_attentions=True)
        alone = [
            model(input_ids=inputs["input_ids"][row : row + 1], attention_mask=inputs["attention_mask"][row : row + 1],
                  image_features=features[row : row + 1, : int(mask[row].sum())]).logits[0]
            for row in range(2)
        ]
    torch.testing.assert_close(output.logits, changed_output.logits)
    torch.testing.assert_close(output.logits, torch.stack(alone))
    assert output.image_grid_size is None and len(output.attentions) > 0
    for attention in output.attentions:
        assert (attention[mask == 0] == 0).all()
        torch.testing.assert_close(attention.sum(-1), torch.ones(2))
    return output


def assert_image_index_equals_repeating_the_image(model):
    """Two images shared by five questions through ``image_index`` give the outputs and maps of
    the images repeated per question, and a different assignment gives other answers."""
    inputs = random_inputs(model.config, batch=5)
    key = "image_features" if model.config.image_encoder == "features" else "pixel_values"
    images, image_index = inputs[key][:2], torch.tensor([1, 0, 1, 1, 0])
    with torch.no_grad():
        shared = model(**dict(inputs, **{key: images}), image_index=image_index, output_attentions=True)
        repeated = model(**dict(inputs, **{key: images[image_index]}), output_attentions=True)
        other = model(**dict(inputs, **{key: images}), image_index=1 - image_index)
    torch.testing.assert_close(shared.logits, repeated.logits)
    maps = lambda output: tuple(output.attentions or ()) + tuple(output.question_attentions or ())  # noqa: E731
    assert len(maps(shared)) == len(maps(repeated)) > 0
    for x, y in zip(maps(shared), maps(repeated)):
        torch.testing.assert_close(x, y)
    assert not torch.allclose(shared.logits, other.logits)


def warm_batch_norm(model, inputs):
    """One training-mode forward pass moves BatchNorm statistics off their defaults, so that a
    round trip that lost them would show."""
    model.train()
    with torch.no_grad():
        model(**inputs)
    model.eval()


def assert_auto_classes_round_trip(folder, model, inputs, config_class, base_class):
    """Saves ``model`` to ``folder`` and loads it back through AutoConfig (as ``config_class``),
    AutoModelForVisualQuestionAnswering (the same class, in eval mode, every tensor identical, the
    same logits and maps) and AutoModel (``base_class``, the same pooled output).
    Returns (the model's output before saving, the loaded config, the saved card's text)."""
    from transformers import AutoConfig, AutoModel, AutoModelForVisualQuestionAnswering

    if model.config.image_encoder != "features":
        warm_batch_norm(model, inputs)
    with torch.no_grad():
        expected = model(**inputs, output_attentions=True)
    model.save_pretrained(folder)

    config = AutoConfig.from_pretrained(folder)
    assert type(config) is config_class and config.model_type == model.config.model_type
    loaded = AutoModelForVisualQuestionAnswering.from_pretrained(folder)
    assert type(loaded) is type(model) and not loaded.training
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, rtol=0, atol=0)
    with torch.no_grad():
        actual = loaded(**inputs, output_attentions=True)
    torch.testing.assert_close(actual.logits, expected.logits, rtol=1e-6, atol=1e-6)
    for name in ("attentions", "question_attentions"):
        for x, y in zip(getattr(actual, name) or (), getattr(expected, name) or ()):
            torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-6)

    base = AutoModel.from_pretrained(folder).eval()
    assert type(base) is base_class
    with torch.no_grad():
        torch.testing.assert_close(base(**inputs).pooled_output, expected.pooled_output, rtol=1e-6, atol=1e-6)
    return expected, config, (folder / "README.md").read_text()
