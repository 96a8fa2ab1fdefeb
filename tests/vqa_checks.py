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
        ("float image_index", dict(good, image_index=torch.tensor([0.0, 1.0])), "image_index must be an integer tensor"),
        ("empty batch", dict(good, input_ids=good["input_ids"][:0], attention_mask=good["attention_mask"][:0], **{image_key: good[image_key][:0]}),
         r"empty batch \(0 questions\)"),
        ("mask holding 2", dict(good, attention_mask=good["attention_mask"] * 2), r"only 0 \(padding\) and 1 \(read\).*\[2\]"),
        ("mask holding -1", dict(good, attention_mask=-good["attention_mask"]), r"only 0 \(padding\) and 1.*\[-1\]"),
        ("mask holding 0.5", dict(good, attention_mask=good["attention_mask"] * 0.5), r"only 0 \(padding\) and 1.*\[0.5\]"),
        ("padding id inside a question without a mask",
         dict(good, input_ids=torch.tensor([[3, 0, 4, 0, 0], [3, 4, 5, 6, 7]]), attention_mask=None),
         "padding id 0 before a question's last word"),
        ("only padding ids without a mask", dict(good, input_ids=torch.zeros(2, 5, dtype=torch.long), attention_mask=None),
         "no tokens .*every id the padding id 0"),
        ("class label out of range", dict(good, labels=torch.tensor([0, len(config.id2label)])), r"answer indices in \[0, 4\)"),
        ("negative class label", dict(good, labels=torch.tensor([-3, 1])), r"answer indices in \[0, 4\) \(or -100"),
        ("every label ignored", dict(good, labels=torch.tensor([-100, -100])), "every label is -100"),
        ("class labels of another batch", dict(good, labels=torch.tensor([0, 1, 2])), r"answer indices of shape \(2,\)"),
        ("soft labels above 1", dict(good, labels=torch.full((2, 4), 3.0)), r"VQA scores in \[0, 1\]"),
        ("NaN soft labels", dict(good, labels=torch.full((2, 4), float("nan"))), r"VQA scores in \[0, 1\]"),
        ("meta images", dict(good, **{image_key: good[image_key].to("meta")}), f"{image_key} is a meta tensor"),
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
            ("1-D pixels", dict(good, pixel_values=torch.randn(10)), r"pixel_values must have shape .*got \(10,\)"),
            ("channels-last pixels", dict(good, pixel_values=good["pixel_values"].permute(0, 2, 3, 1)), r"pixel_values must have shape \(batch, 3"),
            ("NaN pixels", dict(good, pixel_values=nan), "NaN or infinite"),
            ("inf pixels", dict(good, pixel_values=inf), "NaN or infinite"),
            ("uint8 pixels", dict(good, pixel_values=(good["pixel_values"] * 0).to(torch.uint8)), "floating point"),
            # torch.tensor(np.array(image)).permute(2, 0, 1).float(): pixels that skipped the processor.
            ("raw 0-255 pixels", dict(good, pixel_values=torch.randint(0, 256, (2, 3, 64, 64)).float()), "look like raw 0-255 pixels"),
            ("raw pixels normalised without rescaling", dict(good, pixel_values=(torch.rand(2, 3, 64, 64) * 255 - 0.485) / 0.229),
             "look like raw 0-255 pixels"),
            ("pixels without height", dict(good, pixel_values=torch.randn(2, 3, 0, 64)), "no pixels"),
        ]
        if config.image_encoder == "scratch_cnn":
            smallest = 2 ** len(config.scratch_cnn_channels)
            cases.append(("pixels smaller than the CNN reads", dict(good, pixel_values=torch.randn(2, 3, smallest - 1, 64)),
                          f"{smallest - 1}x64 pixels are too small .* at least {smallest}x{smallest}"))
    else:
        nan = good["image_features"].clone()
        nan[1, 3, 2] = float("nan")
        corner = torch.rand(2, 7, 2, generator=torch.Generator().manual_seed(0)) * 0.5
        boxes = torch.cat([corner, corner + 0.25], dim=-1)  # valid (x1, y1, x2, y2) in [0, 1]
        cases += [
            ("pixels to a features model", dict(good, image_features=None, pixel_values=torch.randn(2, 3, 64, 64)), "reads precomputed image_features"),
            ("no image", dict(good, image_features=None), "image_features is required"),
            ("feature size", dict(good, image_features=torch.randn(2, 7, IMAGE_FEATURE_SIZE + 1)), "image_features must have shape"),
            ("NaN features", dict(good, image_features=nan), "NaN or infinite"),
            ("region mask shape", dict(good, image_attention_mask=torch.ones(2, 3)), "image_attention_mask must have shape"),
            ("image without regions", dict(good, image_attention_mask=torch.tensor([[1] * 7, [0] * 7])), "no regions"),
            ("zero regions", dict(good, image_features=torch.randn(2, 0, IMAGE_FEATURE_SIZE)), r"no regions \(shape \(2, 0, 6\)\)"),
            ("region mask holding 2", dict(good, image_attention_mask=torch.full((2, 7), 2)), r"image_attention_mask must hold only 0 .*\[2\]"),
            ("region mask holding -1", dict(good, image_attention_mask=-torch.ones(2, 7)), r"image_attention_mask must hold only 0 .*\[-1"),
            ("boxes in pixels", dict(good, image_boxes=boxes * 640), r"normalised to \[0, 1\]; they range over"),
            ("negative boxes", dict(good, image_boxes=boxes - 0.5), r"normalised to \[0, 1\]"),
            ("boxes with x2 < x1", dict(good, image_boxes=boxes[..., [2, 1, 0, 3]]), "x2 >= x1 and y2 >= y1"),
            ("boxes of another region count", dict(good, image_boxes=boxes[:, :3]), r"image_boxes must have shape \(2, 7, 4\)"),
            ("NaN boxes", dict(good, image_boxes=boxes.masked_fill(boxes > 0.5, float("nan"))), "finite floating point"),
        ]
    return cases


def wrong_type_cases(config) -> list[tuple[str, dict, str]]:
    """(name, inputs, the error message expected) for inputs of the wrong type (a ``TypeError``):
    numpy arrays from ``processor(..., return_tensors="np")``, lists, dicts."""
    good = random_inputs(config, batch=2)
    image_key = "pixel_values" if config.image_encoder != "features" else "image_features"
    return [
        ("numpy input_ids", dict(good, input_ids=good["input_ids"].numpy()), "input_ids is a numpy array.*return_tensors='pt'"),
        ("numpy attention_mask", dict(good, attention_mask=good["attention_mask"].numpy()), "attention_mask is a numpy array"),
        ("numpy images", dict(good, **{image_key: good[image_key].numpy()}), f"{image_key} is a numpy array"),
        ("every input in numpy", {k: v.numpy() for k, v in good.items()}, "is a numpy array.*return_tensors='pt'"),
        ("list of image tensors", dict(good, **{image_key: list(good[image_key])}), f"{image_key} is a list of 2 tensors.*torch.stack"),
        ("nested list of ids", dict(good, input_ids=good["input_ids"].tolist()), "input_ids must be a torch tensor; got list"),
        ("dict of images", dict(good, **{image_key: {"pixel_values": good[image_key]}}), f"{image_key} must be a torch tensor; got dict"),
        ("labels as a list", dict(good, labels=[0, 1]), "labels must be a torch tensor; got list"),
        ("image_index as a list", dict(good, image_index=[0, 1]), "image_index must be a torch tensor; got list"),
    ]


def assert_converts_inputs(model):
    """Inputs that are converted rather than refused give the answers of the inputs they stand for:
    padded ids without an attention_mask (the mask is inferred from the padding id, as the original
    MCAN / ban-vqa code does), float64 and float16 images into a float32 model (cast to its dtype),
    and a boolean mask."""
    inputs = random_inputs(model.config, batch=3)
    key = "image_features" if model.config.image_encoder == "features" else "pixel_values"
    assert (inputs["attention_mask"] == 0).any() and (inputs["input_ids"][inputs["attention_mask"] == 0] == model.config.pad_token_id).all()
    with torch.no_grad():
        expected = model(**inputs).logits
        without_mask = model(**dict(inputs, attention_mask=None)).logits
        double = model(**dict(inputs, **{key: inputs[key].double()})).logits
        half = model(**dict(inputs, **{key: inputs[key].half()})).logits
        boolean = model(**dict(inputs, attention_mask=inputs["attention_mask"].bool())).logits
    torch.testing.assert_close(without_mask, expected)
    torch.testing.assert_close(boolean, expected)
    torch.testing.assert_close(double, expected)
    assert double.dtype == half.dtype == torch.float32
    torch.testing.assert_close(half, expected, rtol=0.05, atol=0.05)


def assert_rejects_bad_inputs(model, base_model=None):
    """Every bad input case raises its message (``ValueError``, ``TypeError`` for the wrong types),
    the inputs converted instead give the right answers (:func:`assert_converts_inputs`), and
    ``base_model`` (the headless model) refuses a call without input_ids."""
    for name, inputs, message in bad_input_cases(model.config):
        with pytest.raises(ValueError, match=message):
            model(**inputs)
    for name, inputs, message in wrong_type_cases(model.config):
        with pytest.raises(TypeError, match=message):
            model(**inputs)
    assert_converts_inputs(model)
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
    for attention, reference in zip(result["attentions"], expected.attentions, strict=True):
        assert attention.shape == (4, 4) and attention.sum() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(attention, reference[0].reshape(4, 4).numpy(), rtol=1e-5, atol=1e-7)

    word_maps = expected.question_attentions or ()
    assert len(result.get("question_attentions") or ()) == len(word_maps)
    words = int(inputs["attention_mask"].sum())
    for attention, reference in zip(result.get("question_attentions") or (), word_maps, strict=True):
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
    for x, y in zip(maps(shared), maps(repeated), strict=True):
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
        for x, y in zip(getattr(actual, name) or (), getattr(expected, name) or (), strict=True):
            torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-6)

    base = AutoModel.from_pretrained(folder).eval()
    assert type(base) is base_class
    with torch.no_grad():
        torch.testing.assert_close(base(**inputs).pooled_output, expected.pooled_output, rtol=1e-6, atol=1e-6)
    return expected, config, (folder / "README.md").read_text()
