"""Tests of the restored visual-question-answering pipeline on a tiny saved checkpoint."""

import base64
import json
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import COLOR_ANSWERS, color_image, tiny_config, vqa_class
from transformers import pipeline

import hf_mmattn  # noqa: F401  (registers the pipeline)

GRID = (4, 4)  # 16x16 images through two conv blocks


def _save_checkpoint(folder, processor, model_name="san", problem_type=None, seed=0):
    torch.manual_seed(seed)
    config = tiny_config(model_name, "scratch_cnn", vocab_size=len(processor.tokenizer), scratch_cnn_channels=[4, 8])
    model = vqa_class(model_name)(config)
    with torch.no_grad():  # make the answers clearly distinct
        model.classifier.layers[-1].bias.copy_(torch.tensor([0.5, -0.3, 0.1, -0.6]))
    if problem_type:
        model.config.problem_type = problem_type
    model.eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, color_processor_16):
    folder = tmp_path_factory.mktemp("san-checkpoint")
    model = _save_checkpoint(folder, color_processor_16)
    return folder, model, color_processor_16


@pytest.fixture(scope="module")
def vqa(checkpoint):
    return pipeline("visual-question-answering", model=str(checkpoint[0]))


def _expected_answers(model, processor, image, question, top_k, activation="softmax"):
    inputs = processor(images=image, text=question)
    with torch.no_grad():
        logits = model(**inputs).logits[0].double()
    scores = logits.softmax(-1) if activation == "softmax" else logits.sigmoid()
    order = scores.argsort(descending=True)[:top_k]
    return [(model.config.id2label[int(i)], scores[i].item()) for i in order]


def _check(result, expected):
    assert [r["answer"] for r in result] == [answer for answer, _ in expected]
    np.testing.assert_allclose([r["score"] for r in result], [score for _, score in expected], rtol=1e-5)


def test_scores_are_the_softmax_of_the_logits(vqa, checkpoint):
    _, model, processor = checkpoint
    assert type(vqa).__name__ == "VisualQuestionAnsweringPipeline"
    image = color_image("red", seed=3)
    result = vqa(image=image, question="what color is it?", top_k=3)
    assert len(result) == 3
    _check(result, _expected_answers(model, processor, image, "what color is it?", 3))
    scores = [r["score"] for r in result]
    assert scores == sorted(scores, reverse=True)
    assert {r["answer"] for r in result} <= set(COLOR_ANSWERS)

    everything = vqa(image=image, question="what color is it?", top_k=50)  # clipped to 4 answers
    assert len(everything) == 4 and {r["answer"] for r in everything} == set(COLOR_ANSWERS)
    assert sum(r["score"] for r in everything) == pytest.approx(1.0, abs=1e-5)
    default = vqa(image=image, question="what color is it?")
    assert len(default) == 4  # default top_k = 5, clipped


def test_image_as_pil_path_or_array(vqa, checkpoint, tmp_path):
    _, model, processor = checkpoint
    image = color_image("blue", seed=4)
    image.save(tmp_path / "blue.png")
    expected = _expected_answers(model, processor, image, "is it blue?", 2)
    data_url = "data:image/png;base64," + base64.b64encode((tmp_path / "blue.png").read_bytes()).decode()
    for source in (image, str(tmp_path / "blue.png"), tmp_path / "blue.png", np.asarray(image), data_url):
        _check(vqa(image=source, question="is it blue?", top_k=2), expected)


def test_lists_and_dicts(vqa, checkpoint):
    _, model, processor = checkpoint
    images = [color_image("red", seed=5), color_image("blue", seed=6)]
    questions = ["is it red?", "what color is it?"]

    one_question = vqa(image=images, question="is it red?", top_k=2)
    assert len(one_question) == 2
    for image, result in zip(images, one_question, strict=True):
        _check(result, _expected_answers(model, processor, image, "is it red?", 2))

    one_image = vqa(image=images[1], question=questions, top_k=2)
    for question, result in zip(questions, one_image, strict=True):
        _check(result, _expected_answers(model, processor, images[1], question, 2))

    every_pair = vqa(image=images, question=questions, top_k=1)
    assert len(every_pair) == 4
    pairs = [(image, question) for question in questions for image in images]
    for (image, question), result in zip(pairs, every_pair, strict=True):
        _check(result, _expected_answers(model, processor, image, question, 1))

    _check(vqa({"image": images[0], "question": "is it blue?"}, top_k=2), _expected_answers(model, processor, images[0], "is it blue?", 2))
    as_dicts = vqa([{"image": images[0], "question": "is it blue?"}, {"image": images[1], "question": "what color is it?"}], top_k=2)
    _check(as_dicts[0], _expected_answers(model, processor, images[0], "is it blue?", 2))
    _check(as_dicts[1], _expected_answers(model, processor, images[1], "what color is it?", 2))


@pytest.mark.parametrize("batch_size", [2, 3])
def test_batched_inference(vqa, checkpoint, batch_size):
    """batch_size > 1 pads questions of different lengths and gives the same answers and
    attention maps as one pair at a time."""
    _, model, processor = checkpoint
    images = [color_image("red", seed=12), color_image("blue", seed=13)]
    questions = ["is it red?", "what color is it?"]
    pairs = [(image, question) for question in questions for image in images]
    batched = vqa(image=images, question=questions, top_k=2, batch_size=batch_size)
    assert len(batched) == 4
    for (image, question), result in zip(pairs, batched, strict=True):
        _check(result, _expected_answers(model, processor, image, question, 2))
    with_attention = vqa(image=images, question=questions, top_k=2, batch_size=batch_size, return_attention=True)
    for (image, question), result in zip(pairs, with_attention, strict=True):
        assert result["image_grid_size"] == GRID
        single = vqa(image=image, question=question, top_k=2, return_attention=True)
        for attention, reference in zip(result["attentions"], single["attentions"], strict=True):
            np.testing.assert_allclose(attention, reference, rtol=1e-5, atol=1e-7)


def test_return_attention(vqa, checkpoint):
    _, model, processor = checkpoint
    image = color_image("red", seed=7)
    result = vqa(image=image, question="is it red?", top_k=2, return_attention=True)
    assert set(result) == {"answers", "attentions", "image_grid_size"}
    _check(result["answers"], _expected_answers(model, processor, image, "is it red?", 2))
    assert result["image_grid_size"] == GRID
    assert len(result["attentions"]) == model.config.num_hops
    with torch.no_grad():
        expected = model(**processor(images=image, text="is it red?"), output_attentions=True).attentions
    for attention, reference in zip(result["attentions"], expected, strict=True):
        assert isinstance(attention, np.ndarray) and attention.shape == GRID
        assert attention.sum() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(attention, reference[0].reshape(GRID).numpy(), rtol=1e-5, atol=1e-7)


def test_vqa_alias(checkpoint):
    folder, model, processor = checkpoint
    alias = pipeline("vqa", model=str(folder))
    image = color_image("blue", seed=8)
    _check(alias(image=image, question="is it red?", top_k=4), _expected_answers(model, processor, image, "is it red?", 4))


def test_multi_label_models_score_with_sigmoid(tmp_path, color_processor_16):
    model = _save_checkpoint(tmp_path, color_processor_16, problem_type="multi_label_classification", seed=1)
    vqa = pipeline("visual-question-answering", model=str(tmp_path))
    assert vqa.model.config.problem_type == "multi_label_classification"
    image = color_image("red", seed=9)
    result = vqa(image=image, question="what color is it?", top_k=4)
    _check(result, _expected_answers(model, color_processor_16, image, "what color is it?", 4, activation="sigmoid"))
    assert sum(r["score"] for r in result) != pytest.approx(1.0, abs=1e-3)


def test_baseline_model_in_the_pipeline(tmp_path, color_processor_16):
    model = _save_checkpoint(tmp_path, color_processor_16, model_name="lstm_q_norm_i")
    vqa = pipeline("visual-question-answering", model=str(tmp_path))
    image = color_image("blue", seed=10)
    result = vqa(image=image, question="is it blue?", top_k=2, return_attention=True)
    _check(result["answers"], _expected_answers(model, color_processor_16, image, "is it blue?", 2))
    assert result["attentions"] == []


def test_bad_calls(vqa):
    image = color_image("red")
    for top_k in (0, -2, 1.5, "3"):
        with pytest.raises(ValueError, match="top_k must be a positive integer"):
            vqa(image=image, question="is it red?", top_k=top_k)
    with pytest.raises(ValueError, match="needs an image and a question"):
        vqa(image=image)
    with pytest.raises(ValueError, match="needs an image and a question"):
        vqa(question="is it red?")
    with pytest.raises(ValueError, match="'image' and a 'question'"):
        vqa({"image": image})
    with pytest.raises(ValueError, match="empty"):
        vqa(image=image, question="  ")
    with pytest.raises(FileNotFoundError):
        vqa(image="/nonexistent/picture.png", question="is it red?")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        # Misspelled or unknown parameters were swallowed by **kwargs.
        (dict(topk=3), TypeError, r"unexpected parameter\(s\) 'topk' \(did you mean 'top_k'\?\)"),
        (dict(attention_masks=None), TypeError, "unexpected parameter.*'attention_masks'; it takes return_attention, timeout, top_k"),
        (dict(return_attentions=True), TypeError, "did you mean 'return_attention'"),
        (dict(top_k=True), ValueError, "top_k must be a positive integer, got True"),
        (dict(return_attention="no"), TypeError, "return_attention must be True or False; got str"),  # "no" is true
        (dict(timeout="10"), ValueError, "timeout must be a positive number of seconds"),
        (dict(question=[]), ValueError, "an empty list of questions"),  # IndexError inside transformers
        (dict(image=[]), ValueError, "an empty list of images"),
        (dict(question=None), ValueError, "needs an image and a question"),
        (dict(question=["is it red?", None]), TypeError, "each question must be a string; got NoneType"),  # crashed in the tokenizer
        (dict(question=[["is it red?"]]), TypeError, "each question must be a string; got list"),
        (dict(question=b"is it red?"), TypeError, "must be a string; got bytes"),
        (dict(question="is it \ud800?"), ValueError, "not valid Unicode text"),  # a TypeError of the tokenizers library
        (dict(image="/tmp"), FileNotFoundError, "is a folder, not an image file"),
        (dict(image=np.full((16, 16, 3), -1, dtype=np.int32)), ValueError, "negative pixel values"),
        (dict(image=[color_image("red"), None]), TypeError, "got NoneType"),
    ],
)
def test_bad_parameters_and_inputs_are_refused(vqa, call, error, message):
    with pytest.raises(error, match=message):
        vqa(**{"image": color_image("red"), "question": "is it red?", **call})


def test_bad_input_dicts_are_refused(vqa):
    image = color_image("red")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['topk'\] in an input dict"):
        vqa({"image": image, "question": "is it red?", "topk": 3})
    with pytest.raises(TypeError, match="each question must be a string; got NoneType"):
        vqa({"image": image, "question": None})
    with pytest.raises(ValueError, match="questions are given twice"):
        vqa([{"image": image, "question": "is it red?"}], question="is it blue?")
    with pytest.raises(ValueError, match="an empty list of images"):
        vqa([])


def test_numpy_top_k_tuples_and_generators_of_inputs(vqa, checkpoint):
    _, model, processor = checkpoint
    images = [color_image("red", seed=21), color_image("blue", seed=22)]
    expected = [_expected_answers(model, processor, image, "is it red?", 2) for image in images]
    _check(vqa(image=images[0], question="is it red?", top_k=np.int64(2)), expected[0])
    for result, answers in zip(vqa(tuple({"image": image, "question": "is it red?"} for image in images), top_k=2), expected, strict=True):
        _check(result, answers)
    stream = vqa(({"image": image, "question": "is it red?"} for image in images), top_k=2)
    results = list(stream)
    assert len(results) == 2
    for result, answers in zip(results, expected, strict=True):
        _check(result, answers)


def test_integer_and_16_bit_arrays_read_like_the_8_bit_image(vqa):
    """An int32 array of 0-255 values, a 16-bit-valued int64 array and a uint16 array are the same
    picture as the uint8 one (scaled by the int32 maximum, the first was black)."""
    array = np.array(color_image("red", seed=23))
    expected = vqa(image=array, question="what color is it?", top_k=4)
    for same in (array.astype(np.int32), array.astype(np.int64) * 257, array.astype(np.uint16) * 257,
                 torch.from_numpy(array).permute(2, 0, 1)):
        result = vqa(image=same, question="what color is it?", top_k=4)
        assert [r["answer"] for r in result] == [r["answer"] for r in expected]
        np.testing.assert_allclose([r["score"] for r in result], [r["score"] for r in expected], rtol=1e-6)


def test_a_very_long_question_is_truncated_with_a_warning(vqa, caplog):
    with caplog.at_level(logging.WARNING):
        result = vqa(image=color_image("red"), question="is it red " * 5000 + "?", top_k=1)
    assert len(result) == 1
    assert any("truncated" in record.getMessage() for record in caplog.records)


def test_unknown_words_are_reported(vqa, caplog):
    with caplog.at_level(logging.WARNING):
        result = vqa(image=color_image("red"), question="is it crimson?", top_k=1)
    assert len(result) == 1
    assert any("crimson" in record.getMessage() for record in caplog.records)


def test_trust_remote_code_infers_the_task_without_importing_the_package(checkpoint, tmp_path):
    folder, model, processor = checkpoint
    image = color_image("red", seed=11)
    image.save(tmp_path / "red.png")
    script = textwrap.dedent(
        """
        import json, sys
        from transformers import pipeline
        assert "hf_mmattn" not in sys.modules
        vqa = pipeline(model=sys.argv[1], trust_remote_code=True)
        answers = vqa(image=sys.argv[2], question="is it red?", top_k=2)
        print("RESULT" + json.dumps({"task": vqa.task, "answers": answers}))
        """
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    completed = subprocess.run(
        [sys.executable, "-c", script, str(folder), str(tmp_path / "red.png")],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULT"))
    result = json.loads(line[len("RESULT"):])
    assert result["task"] == "mmattn-visual-question-answering"
    _check(result["answers"], _expected_answers(model, processor, image, "is it red?", 2))


def test_bfloat16_model_gets_bfloat16_pixels(checkpoint):
    """A checkpoint loaded in bf16 answers like the fp32 one (the pipeline casts pixel values)."""
    folder, model, processor = checkpoint
    vqa_bf16 = pipeline("visual-question-answering", model=str(folder), dtype=torch.bfloat16)
    assert vqa_bf16.model.dtype == torch.bfloat16
    image = color_image("blue", seed=5)
    result = vqa_bf16(image=image, question="what color is it?", top_k=4)
    expected = _expected_answers(model, processor, image, "what color is it?", 4)
    np.testing.assert_allclose(
        [r["score"] for r in sorted(result, key=lambda r: r["answer"])],
        [score for _, score in sorted(expected)],
        atol=2e-2,  # bf16 keeps 8 bits of mantissa
    )


def test_ask_script_answers_and_draws_the_attention(checkpoint, tmp_path):
    """examples/vqa/ask.py, the last step of README's main command."""
    import importlib.util
    from pathlib import Path

    from PIL import Image

    folder, model, processor = checkpoint
    spec = importlib.util.spec_from_file_location("ask", Path(__file__).resolve().parents[1] / "examples" / "vqa" / "ask.py")
    ask = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ask)
    image_path = tmp_path / "red.png"
    color_image("red", seed=7).save(image_path)
    figure = tmp_path / "attention.png"
    answers = ask.main([str(folder), "--question", "what color is it?", "--image", str(image_path), "--top_k", "2", "--attention_figure", str(figure)])
    _check(answers, _expected_answers(model, processor, Image.open(image_path), "what color is it?", 2))
    with Image.open(figure) as drawn:
        assert drawn.width > drawn.height  # the image and one panel per hop, side by side


@pytest.fixture(scope="module")
def features_checkpoint(tmp_path_factory, color_processor_16):
    """A SAN reading 6-d region features (as BAN and MCAN read bottom-up features)."""
    folder = tmp_path_factory.mktemp("san-features")
    torch.manual_seed(0)
    config = tiny_config("san", "features", vocab_size=len(color_processor_16.tokenizer))
    model = vqa_class("san")(config).eval()
    model.save_pretrained(folder)
    color_processor_16.save_pretrained(folder)
    return folder, model, color_processor_16


def test_region_feature_models_take_arrays_files_and_dicts(features_checkpoint, tmp_path):
    folder, model, processor = features_checkpoint
    vqa = pipeline("visual-question-answering", model=str(folder))
    features = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    padded = np.concatenate([features, np.zeros((3, 6), np.float32)])
    question = "is it red?"
    inputs = processor(text=question)
    with torch.no_grad():
        logits = model(**inputs, image_features=torch.from_numpy(features)[None]).logits[0].double()
    expected = [(model.config.id2label[int(i)], logits.softmax(-1)[i].item()) for i in logits.softmax(-1).argsort(descending=True)[:2]]

    np.save(tmp_path / "regions.npy", features)
    np.savez(tmp_path / "regions.npz", x=features.T, num_bbox=5)  # the OpenVQA layout: (D, N)
    for image in (
        features,
        torch.from_numpy(features),
        str(tmp_path / "regions.npy"),
        str(tmp_path / "regions.npz"),
        {"image_features": padded, "image_attention_mask": np.array([1] * 5 + [0] * 3)},
    ):
        _check(vqa(image=image, question=question, top_k=2), expected)
    # The same through the {"image", "question"} form of the inputs.
    _check(vqa({"image": features, "question": question}, top_k=2), expected)


def test_region_feature_models_refuse_pictures_and_bad_features(features_checkpoint):
    folder, _, _ = features_checkpoint
    vqa = pipeline("visual-question-answering", model=str(folder))
    with pytest.raises(ValueError, match="region features.*no region detector"):
        vqa(image=color_image("red", 16), question="is it red?")
    with pytest.raises(ValueError, match="not pictures"):
        vqa(image="photo.jpg", question="is it red?")
    with pytest.raises(ValueError, match=r"image_features must have shape \(batch, regions, 6\)"):
        vqa(image=np.zeros((4, 5), np.float32), question="is it red?")
    with pytest.raises(ValueError, match="2 dimensions"):
        vqa(image=np.zeros((6,), np.float32), question="is it red?")
    with pytest.raises(ValueError, match="unknown key 'boxes'"):
        vqa(image={"image_features": np.zeros((4, 6), np.float32), "boxes": np.zeros((4, 4))}, question="is it red?")
    with pytest.raises(ValueError, match="NaN"):
        vqa(image=np.full((4, 6), np.nan, np.float32), question="is it red?")


def test_region_features_without_regions_or_with_bad_boxes_are_refused(features_checkpoint, tmp_path):
    folder, _, _ = features_checkpoint
    vqa = pipeline("visual-question-answering", model=str(folder))
    features = np.random.default_rng(1).normal(size=(3, 6)).astype(np.float32)
    boxes = np.array([[0.1, 0.1, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0], [0.2, 0.3, 0.4, 0.9]], np.float32)
    assert len(vqa(image={"image_features": features, "image_boxes": boxes}, question="is it red?")) == 4
    np.save(tmp_path / "empty.npy", np.zeros((0, 6), np.float32))
    for empty in (np.zeros((0, 6), np.float32), str(tmp_path / "empty.npy")):
        with pytest.raises(ValueError, match=r"hold no region \(shape \(0, 6\)\)"):
            vqa(image=empty, question="is it red?")
    with pytest.raises(ValueError, match=r"normalised to \[0, 1\]; they range over \[0, 640\]"):
        vqa(image={"image_features": features, "image_boxes": boxes * 640}, question="is it red?")
    with pytest.raises(ValueError, match="x2 >= x1 and y2 >= y1"):
        vqa(image={"image_features": features, "image_boxes": boxes[:, [2, 3, 0, 1]]}, question="is it red?")
    with pytest.raises(ValueError, match=r"image_boxes must have shape \(1, 3, 4\)"):
        vqa(image={"image_features": features, "image_boxes": boxes[:2]}, question="is it red?")
    # A mask of 0.5 was cast to 0 (the region silently dropped), 2 to 2.
    for mask in (np.array([1, 0.5, 1]), np.array([1, 2, 1])):
        with pytest.raises(ValueError, match="image_attention_mask must hold only 0"):
            vqa(image={"image_features": features, "image_attention_mask": mask}, question="is it red?")
