"""Bad input to the captioners and their processor gets a clear error, or a documented
conversion: images of any mode, wrong shapes and types, padding, cache names, and ``generate()``
settings that would crash or mislead."""

from __future__ import annotations

import copy
import struct
import zlib

import numpy as np
import pytest
import torch
from captioning_utils import (
    KINDS,
    PAD,
    START,
    VOCAB,
    caption_processor,
    make_captioner,
    random_captions,
    random_images,
    start_prompt,
)
from PIL import Image
from transformers import DynamicCache

from hf_mmattn.layers.recurrent_generation import RecurrentStateCache


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels: Pillow reads the size without
    decoding anything, so a "huge image" costs no memory."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_processor_turns_grayscale_rgba_and_16_bit_images_into_rgb():
    processor = caption_processor()
    images = [
        Image.new("L", (10, 7), 255),  # white
        Image.new("RGBA", (16, 16), (0, 0, 0, 0)),  # fully transparent: composited on white
        Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16)),  # 16-bit white ("I;16")
        np.zeros((5, 5), dtype=np.uint16),  # 16-bit black array
        Image.new("RGB", (16, 16), (255, 0, 0)),
    ]
    assert images[2].mode == "I;16"
    pixels = processor(images=images, text="")["pixel_values"]
    assert pixels.shape == (5, 3, 16, 16)
    # (value / 255 - 0.5) / 0.5: white → 1, black → -1.
    assert torch.allclose(pixels[:3], torch.ones(3, 3, 16, 16))
    assert torch.allclose(pixels[3], -torch.ones(3, 16, 16))
    assert torch.allclose(pixels[4, 0], torch.ones(16, 16)) and torch.allclose(pixels[4, 1:], -torch.ones(2, 16, 16))
    model = make_captioner("soft", image_encoder="scratch_cnn")
    encoded = processor(images=images, text="")
    assert encoded["input_ids"].tolist() == [[START]] * 5  # one prompt for every image
    assert model.generate(**encoded, max_new_tokens=3).shape[0] == 5


def test_processor_refuses_a_huge_image_and_bad_text(tmp_path):
    processor = caption_processor()
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_header(40_000, 40_000))
    with pytest.raises(ValueError, match="too large|over the limit"):
        processor(images=str(huge), text="")
    with pytest.raises(ValueError, match="give images, text"):
        processor()
    for text in (5, ["a red circle", 3], []):
        with pytest.raises(TypeError, match="string"):
            processor(images=Image.new("RGB", (4, 4)), text=text)
    with pytest.raises(ValueError, match="got 2 images but 3 captions"):
        processor(images=[Image.new("RGB", (4, 4))] * 2, text=["a", "b", "c"], add_end_token=True)
    with pytest.raises(ValueError, match="no image given|empty list"):
        processor(images=[], text="")
    for text in ("\ud800", ["a red circle", "a \udcff"]):
        with pytest.raises(ValueError, match="not valid Unicode text"):
            processor(images=Image.new("RGB", (4, 4)), text=text)
    with pytest.raises(TypeError, match="one caption, a string; got list"):
        processor.unknown_words(["a red circle"])


def test_processor_refuses_unknown_keywords():
    """A misspelled option was swallowed; ``padding=True`` (transformers' image-text-to-text
    pipeline passes it with several prompts) is what the processor does anyway."""
    processor = caption_processor()
    image = Image.new("RGB", (4, 4))
    for typo in ({"return_tensor": "np"}, {"add_end_tokens": True}, {"max_length": 5}):
        with pytest.raises(TypeError, match=f"unexpected keyword argument.*{next(iter(typo))}"):
            processor(images=image, text="a red", **typo)
    with pytest.raises(TypeError, match="add_end_token must be True .* or False"):
        processor(images=image, text="a red", add_end_token="no")  # a true string made training captions
    with pytest.raises(ValueError, match="padding='max_length' is not supported"):
        processor(images=image, text="a red", padding="max_length")
    padded = processor(images=[image] * 2, text=["a", "a red"], padding=True)
    assert padded["input_ids"].tolist() == processor(images=[image] * 2, text=["a", "a red"])["input_ids"].tolist()


def bad_forward_cases(model) -> list[tuple[str, dict, str]]:
    """(name, forward inputs, the error expected) for a pixel-reading captioner."""
    pixels = random_images(model.config, batch=2)["pixel_values"]
    captions = random_captions(batch=2, length=4)
    good = dict(pixel_values=pixels, input_ids=captions["input_ids"], attention_mask=captions["attention_mask"])
    nan_pixels = pixels.clone()
    nan_pixels[1, 0, 3, 3] = float("nan")
    return [
        ("no image", dict(good, pixel_values=None), "pixel_values is required"),
        ("features to a pixel model", dict(good, pixel_values=None, image_features=torch.randn(2, 5, 8)), "reads pixel_values"),
        ("one channel", dict(good, pixel_values=pixels[:, :1]), r"pixel_values must have shape \(batch, 3, height, width\)"),
        ("3-D pixels", dict(good, pixel_values=pixels[0]), "pixel_values must have shape"),
        ("integer pixels", dict(good, pixel_values=(pixels * 100).long()), "floating point"),
        ("NaN pixels", dict(good, pixel_values=nan_pixels), "NaN or infinite"),
        ("no input_ids", dict(good, input_ids=None, attention_mask=None), "input_ids is required"),
        ("id out of vocab", dict(good, input_ids=captions["input_ids"].clone().fill_(len(VOCAB))), "outside the vocabulary"),
        ("negative id", dict(good, input_ids=captions["input_ids"].clone().fill_(-1)), "outside the vocabulary"),
        ("empty input_ids", dict(good, input_ids=torch.zeros(2, 0, dtype=torch.long), attention_mask=None), "has no words"),
        ("float input_ids", dict(good, input_ids=captions["input_ids"].float()), "2-D integer tensor"),
        ("mask shape", dict(good, attention_mask=captions["attention_mask"][:1]), "attention_mask has shape"),
        ("batch mismatch", dict(good, pixel_values=pixels[:1]), "batch mismatch: 2 captions but 1 images"),
        ("labels shape", dict(good, labels=captions["labels"][:, :3]), "labels must have the shape of input_ids"),
        ("labels outside the vocabulary", dict(good, labels=captions["labels"].clamp(min=0) + len(VOCAB)), r"word ids in \[0, 16\) or -100"),
        ("negative labels", dict(good, labels=captions["labels"].masked_fill(captions["labels"] == -100, -1)), r"word ids in \[0, 16\) or -100"),
        ("float labels", dict(good, labels=captions["labels"].float()), "labels must be integer word ids"),
        ("empty batch", dict(good, input_ids=captions["input_ids"][:0], attention_mask=None, pixel_values=pixels[:0]), r"empty batch \(0 captions\)"),
        ("mask holding 2", dict(good, attention_mask=captions["attention_mask"] * 2), r"only 0 \(padding\) and 1 \(read\).*\[2\]"),
        ("mask holding -1", dict(good, attention_mask=-captions["attention_mask"]), r"only 0 \(padding\) and 1.*\[-1\]"),
        ("raw 0-255 pixels", dict(good, pixel_values=torch.randint(0, 256, pixels.shape).float()), "look like raw 0-255 pixels"),
        ("pixels smaller than the CNN reads", dict(good, pixel_values=pixels[..., :3, :3]), r"3x3 pixels are too small .* at least 4x4"),
        ("meta pixels", dict(good, pixel_values=pixels.to("meta")), "pixel_values is a meta tensor"),
        ("no start token", dict(good, input_ids=captions["input_ids"][:, 1:], attention_mask=None),
         r"must begin with the start token \(id 2\)"),
        ("a caption of padding only", dict(good, attention_mask=torch.tensor([[1, 1, 1, 1], [0, 0, 0, 0]])), "a caption has no words"),
    ]


def wrong_type_forward_cases(model) -> list[tuple[str, dict, str]]:
    """(name, forward inputs, the ``TypeError`` message expected): numpy arrays (a processor called
    with return_tensors="np"), lists."""
    pixels = random_images(model.config, batch=2)["pixel_values"]
    captions = random_captions(batch=2, length=4)
    good = dict(pixel_values=pixels, input_ids=captions["input_ids"], attention_mask=captions["attention_mask"])
    return [
        ("numpy input_ids", dict(good, input_ids=captions["input_ids"].numpy()), "input_ids is a numpy array.*return_tensors='pt'"),
        ("numpy pixels", dict(good, pixel_values=pixels.numpy()), "pixel_values is a numpy array"),
        ("numpy mask", dict(good, attention_mask=captions["attention_mask"].numpy()), "attention_mask is a numpy array"),
        ("list of pixel tensors", dict(good, pixel_values=list(pixels)), "pixel_values is a list of 2 tensors"),
        ("labels as a list", dict(good, labels=captions["labels"].tolist()), "labels must be a torch tensor; got list"),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_forward_refuses_bad_inputs_with_a_clear_error(kind):
    model = make_captioner(kind, image_encoder="scratch_cnn")
    for name, inputs, message in bad_forward_cases(model):
        with pytest.raises(ValueError, match=message):
            model(**inputs)
    for name, inputs, message in wrong_type_forward_cases(model):
        with pytest.raises(TypeError, match=message):
            model(**inputs)
    processor_output = caption_processor()(images=[Image.new("RGB", (16, 16))], text="", return_tensors="np")
    with pytest.raises(TypeError, match="is a numpy array.*return_tensors='pt'"):
        model(**processor_output)
    # Generation needs an image too, and the cache refuses captions of another batch size.
    with pytest.raises(ValueError, match="pixel_values is required"):
        model.generate(input_ids=start_prompt(2), max_new_tokens=3)
    cache = model(**random_images(model.config, batch=2), input_ids=start_prompt(2)).cache
    with pytest.raises(ValueError, match="batch mismatch: 3 captions but the cache holds 2"):
        model(input_ids=start_prompt(3), cache=cache)
    with pytest.raises(ValueError, match="as cache or as past_key_values, not both"):
        model(input_ids=start_prompt(2), cache=cache, past_key_values=RecurrentStateCache({"hidden": torch.zeros(2, 10)}))
    with pytest.raises(TypeError, match="must be the RecurrentStateCache .* got DynamicCache"):
        model(input_ids=start_prompt(2), cache=DynamicCache())
    # Misspelled or unsupported keyword arguments are refused, not swallowed.
    for typo in ("attention_masks", "past_key_value", "shift_labels", "pixel_value"):
        with pytest.raises(TypeError, match=typo):
            model(**random_images(model.config, batch=2), input_ids=start_prompt(2), **{typo: None})


@pytest.mark.parametrize("kind", KINDS)
def test_inputs_converted_rather_than_refused(kind):
    """float64 / float16 images into a float32 captioner are cast to its dtype; without an
    attention_mask, padding ids are masked (a left-padded prompt reads as with the processor's
    mask, where reading the padding as words began the caption without its start token); boolean
    masks are masks."""
    model = make_captioner(kind, image_encoder="scratch_cnn")
    images = random_images(model.config, batch=2)
    prompt = torch.tensor([[PAD, PAD, START, VOCAB["a"]], [START, VOCAB["a"], VOCAB["red"], VOCAB["circle"]]])
    mask = (prompt != PAD).long()
    with torch.no_grad():
        expected = model(**images, input_ids=prompt, attention_mask=mask).logits
        inferred = model(**images, input_ids=prompt).logits
        boolean = model(**images, input_ids=prompt, attention_mask=mask.bool()).logits
        double = model(pixel_values=images["pixel_values"].double(), input_ids=prompt, attention_mask=mask).logits
        half = model(pixel_values=images["pixel_values"].half(), input_ids=prompt, attention_mask=mask).logits
        generated = model.generate(**images, input_ids=prompt, max_new_tokens=3)
        generated_with_mask = model.generate(**images, input_ids=prompt, attention_mask=mask, max_new_tokens=3)
    torch.testing.assert_close(inferred, expected)
    # Reading the padding as words (what an all-ones mask says) begins a caption without its start token.
    with pytest.raises(ValueError, match=r"must begin with the start token \(id 2\); one begins with id 0"):
        model(**images, input_ids=prompt, attention_mask=torch.ones_like(prompt))
    torch.testing.assert_close(boolean, expected)
    torch.testing.assert_close(double, expected)
    assert double.dtype == half.dtype == torch.float32
    torch.testing.assert_close(half, expected, rtol=0.05, atol=0.05)
    assert torch.equal(generated, generated_with_mask)


@pytest.mark.parametrize("kind", KINDS)
def test_a_padding_id_continuing_a_cache_is_read_as_a_word(kind):
    """generate() leaves out an all-ones mask: a padding id the model generated (poorly trained
    models do) must then be read as the word it is, as a batch's mask says, not masked as prompt
    padding (a single caption then diverged from the same caption generated in a batch)."""
    model = make_captioner(kind, image_encoder="scratch_cnn")
    images = random_images(model.config, batch=2)
    with torch.no_grad():
        cache = model(**images, input_ids=torch.tensor([[START, VOCAB["a"]]] * 2)).cache
        words = torch.tensor([[PAD, VOCAB["red"]]] * 2)  # the next word reads the state the padding id left
        inferred = model(input_ids=words, cache=copy.deepcopy(cache)).logits[:, -1]
        as_word = model(input_ids=words, attention_mask=torch.ones(2, 4, dtype=torch.long), cache=copy.deepcopy(cache)).logits[:, -1]
        as_padding = model(input_ids=words, attention_mask=torch.tensor([[1, 1, 0, 1]] * 2), cache=copy.deepcopy(cache)).logits[:, -1]
    torch.testing.assert_close(inferred, as_word, rtol=0, atol=0)
    assert not torch.allclose(inferred, as_padding)


@pytest.mark.parametrize("kind", KINDS)
def test_only_left_padding_is_inferred(kind):
    """Without a mask, padding ids before the first word are padding; after it (a generated padding
    id re-read without a cache, right padding after a caption) they are read as words, so that a
    caption re-read in full gives what generate() with a cache gave."""
    model = make_captioner(kind, image_encoder="scratch_cnn")
    images = random_images(model.config, batch=2)
    ids = torch.tensor([[PAD, START, VOCAB["a"], PAD, VOCAB["red"]], [START, VOCAB["a"], PAD, VOCAB["red"], PAD]])
    with torch.no_grad():
        inferred = model(**images, input_ids=ids).logits
        expected = model(**images, input_ids=ids, attention_mask=torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]])).logits
        all_masked = model(**images, input_ids=ids, attention_mask=(ids != PAD).long()).logits
    torch.testing.assert_close(inferred, expected, rtol=0, atol=0)
    assert not torch.allclose(inferred[:, -1], all_masked[:, -1])


def test_no_mask_is_inferred_when_padding_is_the_start_token():
    """A vocabulary whose padding id is its start (or end) token cannot tell them apart: every id
    is then read as a word."""
    model = make_captioner("soft", image_encoder="scratch_cnn", pad_token_id=START)
    images = random_images(model.config, batch=1)
    prompt = torch.tensor([[START, VOCAB["a"], VOCAB["red"]]])
    with torch.no_grad():
        torch.testing.assert_close(model(**images, input_ids=prompt).logits,
                                   model(**images, input_ids=prompt, attention_mask=torch.ones_like(prompt)).logits)


@pytest.mark.parametrize("kind", KINDS)
def test_the_state_continues_under_either_cache_name(kind):
    """transformers' generate() hands the state back as ``cache`` (>= 5.25) or ``past_key_values``
    (before): both names continue the same caption, and the output answers to both."""
    model = make_captioner(kind)
    images, prompt = random_images(model.config, batch=2), start_prompt(2)
    with torch.no_grad():
        first = model(**images, input_ids=prompt)
        assert first.past_key_values is first.cache and first["past_key_values"] is first["cache"]
        assert "past_key_values" in first and "cache" in first
        words = first.logits[:, -1].argmax(-1, keepdim=True)
        by_new_name = model(input_ids=words, cache=copy.deepcopy(first.cache)).logits
        by_old_name = model(input_ids=words, past_key_values=copy.deepcopy(first.cache)).logits
        full = model(**images, input_ids=torch.cat([prompt, words], dim=1), use_cache=False).logits[:, -1:]
    torch.testing.assert_close(by_new_name, by_old_name, rtol=0, atol=0)
    torch.testing.assert_close(by_new_name, full, rtol=1e-5, atol=1e-5)


def test_region_features_without_any_real_region_are_refused():
    model = make_captioner("soft")
    images = random_images(model.config, batch=2)
    with pytest.raises(ValueError, match="has no regions"):
        model(**images, image_attention_mask=torch.tensor([[1, 1, 0, 0, 0], [0, 0, 0, 0, 0]]), input_ids=start_prompt(2))
    with pytest.raises(ValueError, match=r"image_features must have shape \(batch, regions, 6\)"):
        model(image_features=images["image_features"][..., :4], input_ids=start_prompt(2))
    with pytest.raises(ValueError, match=r"image_features has no regions \(shape \(2, 0, 6\)\)"):
        model(image_features=images["image_features"][:, :0], input_ids=start_prompt(2))
    with pytest.raises(ValueError, match=r"image_attention_mask must hold only 0 .*\[2\]"):
        model(**images, image_attention_mask=torch.full((2, 5), 2), input_ids=start_prompt(2))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"num_beams": 0}, "num_beams must be an integer >= 1; got 0"),
        ({"num_beams": -1}, "num_beams must be an integer >= 1"),
        ({"max_new_tokens": 2.5}, "max_new_tokens must be an integer >= 1; got 2.5"),
        ({"max_new_tokens": "5"}, "max_new_tokens must be an integer"),
        ({"max_new_tokens": True}, "max_new_tokens must be an integer"),
        ({"max_length": 0}, "max_length must be an integer >= 1"),
        ({"top_k": -1, "do_sample": True}, "top_k must be an integer >= 0"),
        ({"do_sample": "yes"}, "do_sample must be True or False"),
    ],
)
def test_generate_refuses_settings_that_would_crash_or_mislead(settings, message):
    """Before: num_beams=0 divided by zero inside the beam search, max_new_tokens="5" failed
    comparing a string, max_new_tokens=2.5 and do_sample="yes" were accepted silently."""
    from transformers import GenerationConfig

    model = make_captioner("soft")
    images = random_images(model.config, batch=2)
    with pytest.raises(ValueError, match=message):
        model.generate(input_ids=start_prompt(2), **images, **settings)
    if not isinstance(settings.get("max_new_tokens", 1), str):
        with pytest.raises(ValueError, match=message):
            model.generate(input_ids=start_prompt(2), **images, generation_config=GenerationConfig(**{"max_new_tokens": 3, **settings}))
