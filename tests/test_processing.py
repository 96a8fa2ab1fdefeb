"""Tests of the VQA processor: the word tokenizer, the image processor and load_image."""

import logging

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoProcessor, PreTrainedTokenizerFast

from hf_mmattn import VQAImageProcessor, VQAProcessor, build_question_tokenizer
from hf_mmattn.processing import load_image

QUESTIONS = ["What color is the circle?", "is there a red shape?", "what shape is it?", "is there a red triangle?"]


@pytest.fixture
def processor():
    return VQAProcessor.from_questions(
        QUESTIONS, image_size=8, image_mean=[0.1, 0.2, 0.3], image_std=[0.5, 0.25, 0.2], max_question_length=6
    )


def _noise_image(size=(12, 10), seed=0, mode="RGB"):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)


# --- tokenizer ------------------------------------------------------------------------------

def test_vocabulary_special_tokens_and_lower_casing(processor):
    tokenizer = processor.tokenizer
    vocab = tokenizer.get_vocab()
    assert vocab["[PAD]"] == 0 == tokenizer.pad_token_id
    assert vocab["[UNK]"] == 1 == tokenizer.unk_token_id
    words = {"what", "color", "is", "the", "circle", "?", "there", "a", "red", "shape", "it", "triangle"}
    assert set(vocab) == words | {"[PAD]", "[UNK]"}
    assert sorted(vocab.values()) == list(range(len(vocab)))  # dense ids
    upper = processor(text="WHAT Color IS the CIRCLE?")["input_ids"]
    lower = processor(text="what color is the circle?")["input_ids"]
    assert upper.tolist() == lower.tolist()
    assert lower[0].tolist() == [vocab[w] for w in ["what", "color", "is", "the", "circle", "?"]]


def test_min_count_and_padding():
    tokenizer = build_question_tokenizer(["is it red?", "is it blue?", "is it red"], min_count=2)
    assert set(tokenizer.get_vocab()) == {"[PAD]", "[UNK]", "is", "it", "red", "?"}
    processor = VQAProcessor(VQAImageProcessor(), tokenizer)
    batch = processor(text=["is it blue?", "red"])
    vocab = tokenizer.get_vocab()
    assert batch["input_ids"].tolist() == [[vocab["is"], vocab["it"], 1, vocab["?"]], [vocab["red"], 0, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 0, 0, 0]]
    assert batch["input_ids"].dtype == torch.long
    assert tokenizer.padding_side == "right"


def test_unknown_words_map_to_unk_and_are_listed(processor):
    ids = processor(text="what colour is the hexagon?")["input_ids"][0].tolist()
    vocab = processor.tokenizer.get_vocab()
    assert ids == [vocab["what"], 1, vocab["is"], vocab["the"], 1, vocab["?"]]
    assert processor.unknown_words("what colour is the Hexagon?") == ["colour", "hexagon"]
    assert processor.unknown_words("what color is the circle?") == []


def test_unknown_words_after_normalisation_that_changes_lengths(processor):
    # NFKC turns the ligature "ﬁ" (one character) into "fi" (two): the reported words must be
    # the words the tokenizer saw, not slices shifted by the length change.
    assert processor.tokenizer.tokenize("what ﬁsh is it?") == ["what", "[UNK]", "is", "it", "?"]
    assert processor.unknown_words("what ﬁsh is it?") == ["fish"]
    assert processor.unknown_words("ﬁ is it xyz?") == ["fi", "xyz"]


def test_long_questions_are_truncated_with_a_warning(processor, caplog):
    question = "is there a red shape is there a red circle?"  # 11 words > 6
    with caplog.at_level(logging.WARNING):
        batch = processor(text=[question, "what shape is it?"])
    assert batch["input_ids"].shape == (2, 6)
    vocab = processor.tokenizer.get_vocab()
    assert batch["input_ids"][0].tolist() == [vocab[w] for w in ["is", "there", "a", "red", "shape", "is"]]
    assert any("truncated" in record.getMessage() and "6" in record.getMessage() for record in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        processor(text="is there a red shape?")  # exactly at the limit: no warning
    assert not [r for r in caplog.records if "truncated" in r.getMessage()]


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("", ValueError, "empty"),
        ("   \t\n", ValueError, "empty"),
        (["is it red?", ""], ValueError, "empty"),
        ([], TypeError, "non-empty list"),
        (5, TypeError, "string"),
        (["is it red?", None], TypeError, "a question must be a string"),
        ([b"is it red?"], TypeError, "a question must be a string"),
        (None, ValueError, "images, text"),
        ("\ud800", ValueError, "not valid Unicode text"),
        (["is it red?", "is it \udcff?"], ValueError, "not valid Unicode text"),
        ([["is it red?"]], TypeError, "a question must be a string; got list"),
        (("is it red?", 3), TypeError, "a question must be a string; got int"),
        (np.array(["is it red?"]), TypeError, "a string or a non-empty list of strings; got ndarray"),
    ],
)
def test_bad_questions(processor, text, error, message):
    with pytest.raises(error, match=message):
        processor(text=text)


def test_unknown_words_takes_one_question(processor):
    with pytest.raises(TypeError, match="one question, a string; got NoneType"):
        processor.unknown_words(None)
    with pytest.raises(ValueError, match="not valid Unicode"):
        processor.unknown_words("\ud800")


def test_processor_refuses_unknown_keywords(processor):
    image = _noise_image()
    for typo in ({"return_tensor": "np"}, {"padding": "max_length"}, {"max_length": 14}):
        with pytest.raises(TypeError, match=f"unexpected keyword argument.*{next(iter(typo))}"):
            processor(images=image, text="is it red?", **typo)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        processor.image_processor(image, bogus=1)
    assert processor(images=[image] * 2, text=["is it red?", "what shape is it?"], return_tensors="np")["pixel_values"].shape == (2, 3, 8, 8)


def test_nothing_to_process(processor):
    with pytest.raises(ValueError, match="images, text"):
        processor()
    with pytest.raises(ValueError, match="no image"):
        processor.image_processor(None)
    with pytest.raises(ValueError, match="empty list of images"):
        processor.image_processor([])


# --- image processor --------------------------------------------------------------------------

def test_pixel_values_follow_the_normalisation_formula(processor):
    image = _noise_image(size=(8, 8), seed=1)  # already 8x8: the resize keeps every pixel
    pixel_values = processor(images=image)["pixel_values"]
    assert pixel_values.shape == (1, 3, 8, 8) and pixel_values.dtype == torch.float32
    array = np.asarray(image, dtype=np.float64)
    mean, std = np.array([0.1, 0.2, 0.3]), np.array([0.5, 0.25, 0.2])
    expected = ((array / 255.0) - mean) / std  # (H, W, C)
    np.testing.assert_allclose(pixel_values[0].numpy(), expected.transpose(2, 0, 1), rtol=1e-5, atol=1e-5)
    # e.g. a red 200 in the top-left pixel: ((200/255) - 0.1) / 0.5
    red = processor(images=Image.new("RGB", (8, 8), (200, 0, 255)))["pixel_values"][0, :, 0, 0]
    np.testing.assert_allclose(red.numpy(), [(200 / 255 - 0.1) / 0.5, (0 - 0.2) / 0.25, (1 - 0.3) / 0.2], rtol=1e-5)


def test_images_are_resized_and_batched(processor, tmp_path):
    images = [_noise_image((30, 20), seed=s) for s in range(3)]
    images[1].save(tmp_path / "x.png")
    batch = processor(images=[images[0], str(tmp_path / "x.png"), np.asarray(images[2])], text=["what shape is it?"] * 3)
    assert batch["pixel_values"].shape == (3, 3, 8, 8)
    separate = [processor(images=image)["pixel_values"][0] for image in images]
    for row in range(3):
        torch.testing.assert_close(batch["pixel_values"][row], separate[row])
    assert set(batch) == {"input_ids", "attention_mask", "pixel_values"} | ({"token_type_ids"} & set(batch))


def test_save_and_auto_processor_round_trip(processor, tmp_path):
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is VQAProcessor
    assert type(loaded.image_processor) is VQAImageProcessor
    assert isinstance(loaded.tokenizer, PreTrainedTokenizerFast)
    assert loaded.tokenizer.model_max_length == 6
    assert loaded.tokenizer.pad_token_id == 0 and loaded.tokenizer.unk_token_id == 1
    assert loaded.tokenizer.get_vocab() == processor.tokenizer.get_vocab()
    images = [_noise_image((13, 9), seed=3), _noise_image((8, 8), seed=4, mode="L")]
    questions = ["What color is the hexagon?", "is there a red shape is there a red circle?"]
    expected = processor(images=images, text=questions)
    actual = loaded(images=images, text=questions)
    assert actual["input_ids"].tolist() == expected["input_ids"].tolist()
    assert actual["attention_mask"].tolist() == expected["attention_mask"].tolist()
    torch.testing.assert_close(actual["pixel_values"], expected["pixel_values"], rtol=0, atol=0)
    assert loaded.unknown_words(questions[0]) == ["hexagon"]

    image_processor = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(image_processor) is VQAImageProcessor
    assert list(image_processor.image_mean) == [0.1, 0.2, 0.3]
    torch.testing.assert_close(image_processor(images, return_tensors="pt")["pixel_values"], expected["pixel_values"])


# --- load_image -------------------------------------------------------------------------------

def _rgb(image):
    return np.asarray(load_image(image))


def test_grayscale_becomes_rgb():
    out = load_image(Image.new("L", (3, 2), 77))
    assert out.mode == "RGB" and out.size == (3, 2)
    assert (np.asarray(out) == 77).all()


def test_transparent_pixels_become_white():
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[..., :3] = (10, 20, 30)
    rgba[0, 0, 3] = 0  # transparent
    rgba[0, 1, 3] = 255  # opaque
    rgba[0, 2, 3] = 128  # half
    out = _rgb(Image.fromarray(rgba, "RGBA"))
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[0, 1].tolist() == [10, 20, 30]
    alpha = 128 / 255
    np.testing.assert_allclose(out[0, 2], [c * alpha + 255 * (1 - alpha) for c in (10, 20, 30)], atol=1.01)
    # A transparent RGBA array and an LA image too.
    assert _rgb(rgba)[0, 0].tolist() == [255, 255, 255]
    la = Image.fromarray(np.array([[[50, 0], [50, 255]]], dtype=np.uint8), "LA")
    assert _rgb(la).tolist() == [[[255, 255, 255], [50, 50, 50]]]


def test_palette_images():
    image = Image.new("P", (2, 2))
    image.putpalette([200, 40, 10, 7, 8, 9] + [0] * 762)
    image.putpixel((1, 1), 1)
    assert _rgb(image).tolist() == [[[200, 40, 10], [200, 40, 10]], [[200, 40, 10], [7, 8, 9]]]
    quantized = _noise_image((6, 6)).convert("P")
    assert (_rgb(quantized) == np.asarray(quantized.convert("RGB"))).all()
    transparent = Image.new("P", (2, 1))
    transparent.putpalette([0, 0, 0, 9, 9, 9] + [0] * 762)
    transparent.putpixel((0, 0), 0)
    transparent.putpixel((1, 0), 1)
    transparent.info["transparency"] = 0
    assert _rgb(transparent).tolist() == [[[255, 255, 255], [9, 9, 9]]]


def test_cmyk_and_float_mode_images():
    cmyk = Image.new("RGB", (2, 2), (255, 0, 0)).convert("CMYK")
    assert _rgb(cmyk)[0, 0].tolist() == [255, 0, 0]
    float_image = Image.fromarray(np.full((2, 2), 0.2, dtype=np.float32), "F")
    assert _rgb(float_image)[0, 0].tolist() == [51, 51, 51]


def test_16_bit_images(tmp_path):
    array = np.array([[0, 257 * 100], [257 * 128, 65535]], dtype=np.uint16)
    image = Image.fromarray(array)
    assert image.mode == "I;16"
    expected = [[0, 100], [128, 255]]
    assert _rgb(image)[..., 0].tolist() == expected
    assert (_rgb(image)[..., 0] == _rgb(image)[..., 2]).all()
    image.save(tmp_path / "deep.png")
    assert _rgb(tmp_path / "deep.png")[..., 1].tolist() == expected
    assert _rgb(str(tmp_path / "deep.png"))[..., 1].tolist() == expected
    # 32-bit integer mode "I" with 16-bit values, and uint16 arrays.
    assert _rgb(Image.fromarray(array.astype(np.int32), "I"))[..., 0].tolist() == expected
    assert _rgb(array)[..., 0].tolist() == expected
    assert _rgb(np.stack([array] * 3, -1))[..., 2].tolist() == expected


def test_float_arrays_in_unit_range_and_channel_first_arrays():
    hwc = np.zeros((4, 5, 3), dtype=np.float32)
    hwc[..., 0], hwc[..., 1], hwc[..., 2] = 0.2, 1.0, 0.0
    out = _rgb(hwc)
    assert out.shape == (4, 5, 3) and out[0, 0].tolist() == [51, 255, 0]
    chw = np.ascontiguousarray(hwc.transpose(2, 0, 1))
    assert (_rgb(chw) == out).all()
    assert (_rgb(torch.from_numpy(chw)) == out).all()
    assert (_rgb((hwc * 255).astype(np.uint8)) == out).all()
    assert _rgb(np.full((4, 5, 1), 0.2))[0, 0].tolist() == [51, 51, 51]


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.full((4, 4, 3), 1.5, dtype=np.float32), r"\[0, 1\]"),
        (np.full((4, 4), -0.1), r"\[0, 1\]"),
        (np.full((4, 4), 255.0), r"\[0, 1\]"),
        (np.full((4, 4), np.nan), "NaN"),
        (np.zeros((5, 5, 2), dtype=np.uint8), "must be"),
        (np.zeros((2, 4, 4, 3), dtype=np.uint8), "must be"),
        (np.zeros((0, 4), dtype=np.uint8), "empty"),
        (np.zeros((4, 4), dtype=bool), "dtype"),
        (np.full((4, 4, 3), -10, dtype=np.int32), "negative pixel values"),
        (np.full((4, 4), -1, dtype=np.int8), "negative pixel values"),
        (np.full((4, 4), 70000, dtype=np.int64), "beyond 16 bits"),
        (np.full((4, 4), 2**31, dtype=np.uint32), "beyond 16 bits"),
        (np.full((4, 4), 0.5, dtype=np.complex64), "dtype complex64"),
    ],
)
def test_bad_arrays(array, message):
    with pytest.raises(ValueError, match=message):
        load_image(array)


def test_integer_images_are_read_by_their_values_not_their_type(tmp_path):
    """int8-int64 / uint32 arrays and mode "I" images say nothing about the bit depth: values up to
    255 are 8-bit, up to 65535 16-bit (scaling an int32 0-255 image by the int32 maximum gave a
    black image)."""
    red = np.zeros((4, 5, 3), dtype=np.uint8)
    red[..., 0], red[1, 2] = 255, (10, 20, 30)
    expected = _rgb(red)
    assert expected[0, 0].tolist() == [255, 0, 0]
    for dtype in (np.int8, np.int16, np.int32, np.int64, np.uint32, np.uint64):
        values = red.astype(np.int64).clip(0, min(np.iinfo(dtype).max, 255)).astype(dtype)  # numpy 2.0 refuses a uint64 bound
        assert (_rgb(values) == _rgb(values.astype(np.uint8))).all(), dtype
    for dtype in (np.int32, np.int64, np.uint32):
        assert (_rgb(red.astype(dtype)) == expected).all(), dtype
        # 16-bit values in a wider type read like the uint16 image.
        deep = red.astype(dtype) * 257
        assert (_rgb(deep) == expected).all(), dtype
        assert (_rgb(deep) == _rgb(deep.astype(np.uint16))).all()
    assert (_rgb(torch.from_numpy(red.astype(np.int32) * 257).permute(2, 0, 1)) == expected).all()
    gray = np.array([[0, 77], [200, 255]], dtype=np.int32)
    assert _rgb(Image.fromarray(gray, "I"))[..., 0].tolist() == gray.tolist()
    assert _rgb(Image.fromarray(gray * 257, "I"))[..., 1].tolist() == gray.tolist()
    Image.fromarray(gray, "I").save(tmp_path / "gray.tif")
    with Image.open(tmp_path / "gray.tif") as image:
        assert image.mode == "I"
    assert _rgb(tmp_path / "gray.tif")[..., 2].tolist() == gray.tolist()
    with pytest.raises(ValueError, match="negative pixel values"):
        load_image(Image.fromarray(gray - 5, "I"))
    with pytest.raises(ValueError, match="beyond 16 bits"):
        load_image(Image.fromarray(gray * 1000, "I"))


def test_mode_i_images_from_png_files_are_16_bit():
    # Pillow 10.0 opens 16-bit PNGs in mode "I": a dark one (values <= 255) is still 16-bit.
    image = Image.fromarray(np.array([[0, 257 * 100], [200, 65535]], dtype=np.int32), "I")
    image.format = "PNG"
    assert _rgb(image)[..., 0].tolist() == [[0, 100], [1, 255]]
    dark = Image.fromarray(np.array([[0, 255]], dtype=np.int32), "I")
    dark.format = "PNG"
    assert _rgb(dark)[..., 0].tolist() == [[0, 1]]


def test_float_mode_images_are_read_by_their_values():
    for values, scale in (([[0.0, 0.2], [0.5, 1.0]], 1.0), ([[0.0, 51.0], [127.5, 255.0]], 255.0), ([[0, 13107], [32767.5, 65535]], 65535.0)):
        array = np.array(values, dtype=np.float32)
        assert _rgb(Image.fromarray(array, "F"))[..., 0].tolist() == np.round(array / scale * 255).astype(int).tolist()
    with pytest.raises(ValueError, match=r"mode F\) holds values in \[-2"):
        load_image(Image.fromarray(np.array([[-2.0, 0.5]], dtype=np.float32), "F"))
    with pytest.raises(ValueError, match="over 65535"):
        load_image(Image.fromarray(np.array([[0.0, 70000.0]], dtype=np.float32), "F"))
    with pytest.raises(ValueError, match="NaN"):
        load_image(Image.fromarray(np.array([[0.0, np.inf]], dtype=np.float32), "F"))


def test_tensors_half_precision_and_ambiguous_layouts():
    half = torch.full((3, 2, 2), 0.2)
    for dtype in (torch.float16, torch.bfloat16):  # numpy has no bfloat16
        assert _rgb(half.to(dtype))[0, 0].tolist() == [51, 51, 51]
    # (3, 4, 4) fits (C, H, W) and (H, W, C=4): a tensor is channels-first (torchvision), an array
    # channels-last (numpy / PIL).
    red = torch.zeros(3, 4, 4, dtype=torch.uint8)
    red[0] = 255
    assert _rgb(red).shape == (4, 4, 3) and (_rgb(red) == [255, 0, 0]).all()
    assert _rgb(red.numpy()).shape == (3, 4, 3)
    assert (_rgb(red.permute(1, 2, 0).numpy()) == [255, 0, 0]).all()


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_truncated_files(tmp_path, suffix):
    path = tmp_path / f"image.{suffix}"
    _noise_image((64, 64)).save(path)
    assert load_image(path).size == (64, 64)  # the whole file loads
    data = path.read_bytes()
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt") as error:
        load_image(cut)
    assert str(cut) in str(error.value)
    not_an_image = tmp_path / f"text.{suffix}"
    not_an_image.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="not an image"):
        load_image(not_an_image)


def test_exif_orientation_is_applied(tmp_path):
    """A phone photo stored sideways with an EXIF orientation (6: rotate 90° clockwise to view)
    was read sideways; transformers' load_image (used by the caption pipeline before) turns it."""
    stored = np.zeros((20, 40, 3), dtype=np.uint8)  # stored 40 wide, 20 high
    stored[:, :20] = (255, 0, 0)  # left half red
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    for source in (tmp_path / "phone.jpg", Image.open(tmp_path / "phone.jpg")):
        upright = _rgb(source)
        assert upright.shape == (40, 20, 3)  # 20 wide, 40 high
        assert upright[2, 10, 0] > 200 and upright[-3, 10, 0] < 50  # the red half on top
    from transformers.image_utils import load_image as transformers_load_image

    assert np.abs(_rgb(tmp_path / "phone.jpg").astype(int) - np.asarray(transformers_load_image(str(tmp_path / "phone.jpg")))).max() <= 1


def test_lazily_opened_truncated_image_names_its_file(tmp_path):
    _noise_image((64, 64)).save(tmp_path / "image.png")
    data = (tmp_path / "image.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    lazy = Image.open(tmp_path / "cut.png")  # reads the header only
    with pytest.raises(ValueError, match=r"the image '.*cut.png' is truncated or corrupt"):
        load_image(lazy)


def test_missing_file_unsupported_type_and_size_limit(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(FileNotFoundError, match="is a folder, not an image file"):
        load_image(str(tmp_path))  # a folder is not an image file
    with pytest.raises(FileNotFoundError, match="empty string"):
        load_image("")
    with pytest.raises(ValueError, match="is a URL: load_image reads local files only"):
        load_image("https://example.com/cat.png")
    for value in (42, [[0, 1], [2, 3]], None, b"\x89PNG"):
        with pytest.raises(TypeError, match="PIL image, a numpy array"):
            load_image(value)
    big = Image.new("RGB", (100, 50))
    big.save(tmp_path / "big.png")
    with pytest.raises(ValueError, match="over the limit"):
        load_image(tmp_path / "big.png", max_pixels=4999)
    with pytest.raises(ValueError, match="over the limit"):
        load_image(big, max_pixels=4999)
    assert load_image(big, max_pixels=5000).size == (100, 50)
    processor = VQAImageProcessor()
    with pytest.raises(ValueError, match="over the limit"):
        processor(str(tmp_path / "big.png"), max_pixels=4999)
    with pytest.raises(ValueError, match="has no pixels"):
        load_image(Image.new("RGB", (0, 3)))
