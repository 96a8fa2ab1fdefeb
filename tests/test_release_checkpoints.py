"""Checkpoints written by an earlier release load with today's code and give the outputs that
release computed (tests/fixtures/release_checkpoints/<version>/, written by
tests/fixtures/make_release_checkpoints.py from that release's own checkout)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoModelForImageTextToText, AutoModelForVisualQuestionAnswering, AutoProcessor

import hf_mmattn  # noqa: F401  (registers the Auto classes)

RELEASES = Path(__file__).parent / "fixtures" / "release_checkpoints"
FOLDERS = sorted(folder for folder in RELEASES.glob("*/*") if folder.is_dir())


def test_every_release_has_every_model():
    for manifest in RELEASES.glob("*/manifest.json"):
        models = json.loads(manifest.read_text())["models"]
        assert sorted(models) == sorted(folder.name for folder in manifest.parent.iterdir() if folder.is_dir())
    assert len(FOLDERS) >= 16


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda folder: f"{folder.parent.name}/{folder.name}")
def test_a_released_checkpoint_gives_the_released_outputs(folder):
    expected = load_file(folder / "expected.safetensors")
    inputs = {key.removeprefix("input."): value for key, value in expected.items() if key.startswith("input.")}
    captioner = "output.greedy" in expected
    loader = AutoModelForImageTextToText if captioner else AutoModelForVisualQuestionAnswering
    model = loader.from_pretrained(folder)
    assert type(model).__name__ == json.loads((folder.parent / "manifest.json").read_text())["models"][folder.name]["class"]
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
    # The same weights; the load address may differ in alignment, so CPU kernels may sum in another order.
    torch.testing.assert_close(output.logits, expected["output.logits"], rtol=1e-5, atol=1e-5)
    released_maps = [expected[key] for key in sorted(k for k in expected if k.startswith("output.attentions."))]
    assert len(output.attentions or ()) == len(released_maps)
    for attention, released in zip(output.attentions or (), released_maps, strict=True):
        torch.testing.assert_close(attention, released, rtol=1e-5, atol=1e-6)
    if captioner:
        images = {k: v for k, v in inputs.items() if k in ("image_features", "pixel_values")}
        start = torch.full((3, 1), model.config.bos_token_id)
        assert torch.equal(model.generate(input_ids=start, **images, max_new_tokens=5, num_beams=1, do_sample=False), expected["output.greedy"])
        assert torch.equal(model.generate(input_ids=start, **images, max_new_tokens=5, num_beams=3, do_sample=False), expected["output.beam3"])
    else:
        base = AutoModel.from_pretrained(folder)
        accepted = inspect.signature(base.forward).parameters  # the head passes image_boxes only to models that read them
        with torch.no_grad():
            pooled = base(**{k: v for k, v in inputs.items() if k in accepted}).pooled_output
        torch.testing.assert_close(model.classifier(pooled), expected["output.logits"], rtol=1e-5, atol=1e-5)
    if (folder / "processor_config.json").exists():
        processor = AutoProcessor.from_pretrained(folder)
        encoded = processor(text="" if captioner else "what color is it?")
        assert encoded["input_ids"].shape[0] == 1 and int(encoded["input_ids"].max()) < model.config.vocab_size
