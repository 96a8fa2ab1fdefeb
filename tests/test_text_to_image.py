"""The text-to-image family and GAN-INT-CLS: the objectives against hand computations, the
generator and discriminator, per-kind batch normalisation, interpolation, the two-optimizer step,
determinism, the text encoder taken from a matching model, save/load, the ``text-to-image``
pipeline, bad inputs, and learning a tiny conditional task."""

from __future__ import annotations

import argparse
import math

import pytest
import torch
from accelerate import Accelerator
from PIL import Image
from text_to_image_utils import random_captions
from transformers import AutoModel, AutoProcessor, pipeline

import hf_mmattn  # noqa: F401  (registers the models and the pipeline)
from hf_mmattn import GanIntClsConfig, GanIntClsModel, MDanConfig, MDanModel, TextToImagePipeline, TextToImageProcessor
from hf_mmattn.layers.dcgan import BatchNormPerGroup, num_resolution_steps
from hf_mmattn.tasks.matching import build_sentence_tokenizer
from hf_mmattn.tasks.text_to_image import discriminator_loss, generator_loss, interpolate_text_embeds
from hf_mmattn.tasks.text_to_image.training import TextToImageGANStep
from hf_mmattn.training import make_scheduler

CAPTIONS = ["a red circle", "a blue square", "a green triangle above a red circle", "a white diamond"]


def tiny_model(seed: int = 0, **overrides) -> GanIntClsModel:
    """A tiny GAN-INT-CLS whose weights are drawn wider than DCGAN's N(0, 0.02²), so that its
    images differ visibly with the text and the noise."""
    torch.manual_seed(seed)
    model = GanIntClsModel(GanIntClsConfig.from_preset("tiny", **overrides)).eval()
    with torch.no_grad():
        for parameter in (*model.generator.parameters(), *model.discriminator.parameters()):
            if parameter.dim() > 1:
                parameter.normal_(0, 0.5)
    return model


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


# --- objectives ----------------------------------------------------------------------------------

def test_discriminator_and_generator_losses_against_a_hand_computation():
    real, fake, wrong, interpolated = [0.5, -1.0], [0.2, 2.0], [1.5, -0.3], [-0.7, 0.1]
    t = torch.tensor
    # GAN: -log s_r - log(1 - s_f), means over the batch; log(1 - sigmoid(x)) = log sigmoid(-x).
    gan = -sum(log_sigmoid(r) for r in real) / 2 - sum(log_sigmoid(-f) for f in fake) / 2
    assert discriminator_loss(t(real), t(fake)).item() == pytest.approx(gan, rel=1e-6)
    # GAN-CLS: -log s_r - ½[log(1 - s_w) + log(1 - s_f)].
    cls = -sum(log_sigmoid(r) for r in real) / 2 - 0.5 * (sum(log_sigmoid(-w) for w in wrong) / 2 + sum(log_sigmoid(-f) for f in fake) / 2)
    assert discriminator_loss(t(real), t(fake), t(wrong)).item() == pytest.approx(cls, rel=1e-6)
    # The generator: -log s_f, plus -log D(G(z', t_int), t_int) for GAN-INT.
    assert generator_loss(t(fake)).item() == pytest.approx(-sum(log_sigmoid(f) for f in fake) / 2, rel=1e-6)
    both = -sum(log_sigmoid(f) for f in fake) / 2 - sum(log_sigmoid(i) for i in interpolated) / 2
    assert generator_loss(t(fake), t(interpolated)).item() == pytest.approx(both, rel=1e-6)


def test_interpolation_is_beta_t1_plus_one_minus_beta_t2():
    first, second = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[-1.0, 0.0, 5.0]])
    torch.testing.assert_close(interpolate_text_embeds(first, second, 0.25), torch.tensor([[-0.5, 0.5, 4.5]]))
    betas = torch.tensor([[0.0], [1.0]])
    torch.testing.assert_close(interpolate_text_embeds(first[0], second[0], betas), torch.cat([second, first]))
    with pytest.raises(ValueError, match="sizes 3 and 2"):
        interpolate_text_embeds(first, torch.zeros(1, 2), 0.5)


def test_generating_from_interpolated_embeddings_ends_at_each_caption():
    model = tiny_model()
    inputs = random_captions(model.config, batch=2)
    text_embeds = model.get_text_features(**inputs)
    z = torch.randn(1, model.config.noise_size).expand(3, -1)
    path = model.generate(text_embeds=interpolate_text_embeds(text_embeds[0], text_embeds[1], torch.tensor([[1.0], [0.5], [0.0]])), z=z)
    ends = model.generate(**inputs, z=z[:2])
    torch.testing.assert_close(path[0], ends[0])
    torch.testing.assert_close(path[2], ends[1])
    assert (path[1] - path[0]).abs().max() > 1e-3 and (path[1] - path[2]).abs().max() > 1e-3


# --- the networks ------------------------------------------------------------------------------------

@pytest.mark.parametrize("image_size", [16, 32, 64])
def test_generator_and_discriminator_shapes_and_ranges(image_size):
    model = tiny_model(image_size=image_size)
    assert num_resolution_steps(image_size) == int(math.log2(image_size)) - 2
    inputs = random_captions(model.config, batch=3)
    # Large weights push the tanh to its limits: the images still lie in [-1, 1].
    with torch.no_grad():
        model.generator.to_image.weight.mul_(1e3)
        output = model(**inputs, z=torch.randn(3, model.config.noise_size) * 10)
    assert output.images.shape == (3, 3, image_size, image_size)
    assert output.images.abs().max() <= 1 and output.images.abs().max() > 0.99
    assert output.logits.shape == (3,) and torch.isfinite(output.logits).all()
    images = model.generate(**inputs, num_images_per_prompt=2)
    assert images.shape == (6, 3, image_size, image_size) and images.min() >= 0 and images.max() <= 1
    with pytest.raises(ValueError, match="power of 2"):
        GanIntClsConfig.from_preset("tiny", image_size=48).model_type and GanIntClsModel(GanIntClsConfig.from_preset("tiny", image_size=48))


def test_discriminator_reads_the_text():
    """The same image scored against two texts gets two logits (the text is concatenated over the 4×4 map)."""
    model = tiny_model()
    inputs = random_captions(model.config, batch=2)
    image = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        model.discriminator.text_projection[0].weight.normal_()
        logits = model.discriminate(image.expand(2, -1, -1, -1), **inputs)
    assert logits.shape == (2,) and logits[0] != logits[1]


def test_batch_norm_per_group_equals_separate_calls():
    torch.manual_seed(0)
    grouped, separate = BatchNormPerGroup(4), torch.nn.BatchNorm2d(4)
    x = torch.randn(9, 4, 3, 3) * torch.arange(1, 10).view(9, 1, 1, 1)
    expected = torch.cat([separate(chunk) for chunk in x.chunk(3)])
    torch.testing.assert_close(grouped(x, groups=3), expected)
    torch.testing.assert_close(grouped.running_mean, separate.running_mean)
    torch.testing.assert_close(grouped.running_var, separate.running_var)
    assert not torch.allclose(grouped(x, groups=1), expected)  # one batch: other statistics
    grouped.eval()
    torch.testing.assert_close(grouped(x, groups=3), grouped(x))  # evaluation: the running statistics
    with pytest.raises(ValueError, match="9 cannot be split into 2"):
        BatchNormPerGroup(4).train()(x, groups=2)


def test_dcgan_initialisation():
    model = GanIntClsModel(GanIntClsConfig(generator_channels=16, discriminator_channels=16))
    convolution = model.generator.blocks[1].convolution.weight
    assert abs(convolution.std().item() - 0.02) < 0.002 and abs(convolution.mean().item()) < 0.002
    norm = model.discriminator.blocks[1].norm.weight
    assert abs(norm.mean().item() - 1) < 0.01 and 0.01 < norm.std().item() < 0.03
    assert torch.equal(model.discriminator.text_projection[0].bias, torch.zeros_like(model.discriminator.text_projection[0].bias))


# --- the text encoder ---------------------------------------------------------------------------------

def tiny_matching_model(seed: int = 1) -> MDanModel:
    torch.manual_seed(seed)
    return MDanModel(MDanConfig(vocab_size=20, image_encoder="scratch_cnn", scratch_cnn_channels=[4, 8], word_embedding_size=8,
                                text_hidden_size=6, attention_hidden_size=5, num_steps=2)).eval()


def test_from_text_encoder_embeds_as_the_matching_model_and_freezes_it(tmp_path):
    matching = tiny_matching_model()
    matching.save_pretrained(tmp_path / "mdan")
    for source in (matching, tmp_path / "mdan", str(tmp_path / "mdan")):
        model = GanIntClsModel.from_text_encoder(source, image_size=16, generator_channels=4, discriminator_channels=4).eval()
        inputs = random_captions(model.config)
        torch.testing.assert_close(model.get_text_features(**inputs), matching.get_text_features(**inputs).pooler_output)
        assert model.config.text_embedding_size == 18 and not model.config.train_text_encoder
        assert not any(p.requires_grad for p in model.text_encoder.parameters())
        assert all(p.requires_grad for p in (*model.generator.parameters(), *model.discriminator.parameters()))
    # Trained, its text side is exactly what get_text_features uses (the parameters it gives gradients to).
    model.set_text_encoder_trainable(True)
    trainable = {name for name, p in model.text_encoder.named_parameters() if p.requires_grad}
    for parameter in model.text_encoder.parameters():
        parameter.requires_grad_(True)
    model.get_text_features(**inputs).sum().backward()
    used = {name for name, p in model.text_encoder.named_parameters() if p.grad is not None}
    assert trainable == used and "text_encoder.embedding.weight" in used and len(used) < len(list(model.text_encoder.parameters()))
    with pytest.raises(ValueError, match="matching model"):
        GanIntClsModel.from_text_encoder(torch.nn.Linear(2, 2))


# --- the training step --------------------------------------------------------------------------------

def real_batch(model, batch: int = 4, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    size = model.config.image_size
    return {**random_captions(model.config, batch, seed), "pixel_values": torch.rand(batch, 3, size, size, generator=generator) * 2 - 1}


def make_step(model, learning_rate: float = 1e-2) -> TextToImageGANStep:
    step = TextToImageGANStep(model, torch.optim.Adam(model.generator.parameters(), lr=learning_rate, betas=(0.5, 0.999)),
                              torch.optim.Adam(TextToImageGANStep.discriminator_parameters(model), lr=learning_rate, betas=(0.5, 0.999)))
    args = argparse.Namespace(lr_scheduler_type="constant", num_warmup_steps=0, max_train_steps=100)
    step.schedulers = {name: make_scheduler(args, optimizer, Accelerator(cpu=True)) for name, optimizer in step.optimizers.items()}
    return step


def snapshot(module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in module.state_dict().items()}


def changed(before: dict, module) -> set[str]:
    return {name for name, tensor in module.state_dict().items() if not torch.equal(tensor, before[name])}


@pytest.mark.parametrize("train_text_encoder", [False, True], ids=["frozen_text_encoder", "trained_text_encoder"])
def test_each_optimizer_step_changes_only_its_network(train_text_encoder):
    """The discriminator's update leaves the generator as it was and vice versa; the frozen text
    encoder never changes, a trained one changes with the discriminator only."""
    model = tiny_model(train_text_encoder=train_text_encoder).train()
    step = make_step(model)
    names = {"generator": model.generator, "discriminator": model.discriminator, "text_encoder": model.text_encoder}
    seen = {}
    update = step._update

    def recording_update(accelerator, name):
        before = {key: snapshot(module) for key, module in names.items()}
        update(accelerator, name)
        seen[name] = {key: changed(before[key], module) for key, module in names.items()}

    step._update = recording_update
    losses = step(Accelerator(cpu=True), real_batch(model))
    assert set(losses) == {"discriminator_loss", "generator_loss"}
    assert seen["discriminator"]["discriminator"] and not seen["discriminator"]["generator"]
    assert seen["generator"]["generator"] and not seen["generator"]["discriminator"] and not seen["generator"]["text_encoder"]
    assert bool(seen["discriminator"]["text_encoder"]) == train_text_encoder
    if train_text_encoder:  # its image side never trains
        assert not any(name.startswith("image_encoder") or "visual" in name for name in seen["discriminator"]["text_encoder"])


@pytest.mark.parametrize("loss_type", ["gan", "gan-cls", "gan-int", "gan-int-cls"])
def test_step_losses_are_the_objectives_on_separately_normalised_kinds(loss_type):
    """The step's losses equal the objectives written out with one discriminator call per kind
    of input (real, wrong, fake; the generator's fakes and interpolations), each batch-normalised
    on its own, from the same random draws."""
    model = tiny_model(loss_type=loss_type).train()
    step = make_step(model, learning_rate=0.0)  # nothing moves: the hand computation sees the same weights
    batch = real_batch(model)
    torch.manual_seed(3)
    losses = step(Accelerator(cpu=True), batch)

    torch.manual_seed(3)
    size, config = 4, model.config
    with torch.no_grad():
        t = model.get_text_features(batch["input_ids"], batch["attention_mask"])
        z = torch.randn(size, config.noise_size)
        G, D = model.generator, model.discriminator
        if config.interpolates:
            partners = torch.randperm(size)
            t_int = 0.5 * t + 0.5 * t[partners]
            z_int = torch.randn(size, config.noise_size)
            fakes, interpolated = G(z, t), G(z_int, t_int)
        else:
            fakes = G(z, t)
        real_logits, fake_logits = D(batch["pixel_values"], t), D(fakes, t)
        if config.matching_aware:
            wrong_logits = D(batch["pixel_values"], t.roll(1, dims=0))
            expected_d = discriminator_loss(real_logits, fake_logits, wrong_logits)
        else:
            expected_d = discriminator_loss(real_logits, fake_logits)
        expected_g = generator_loss(D(fakes, t), D(interpolated, t_int) if config.interpolates else None)
    torch.testing.assert_close(losses["discriminator_loss"], expected_d, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(losses["generator_loss"], expected_g, rtol=1e-5, atol=1e-6)


def test_matching_aware_step_needs_two_pairs():
    model = tiny_model().train()
    with pytest.raises(ValueError, match="at least 2 pairs"):
        make_step(model)(Accelerator(cpu=True), real_batch(model, batch=1))


def test_a_tiny_conditional_gan_learns_the_colour_of_its_caption():
    """Red or blue 16×16 images captioned "red" or "blue": after training, the generated images
    follow the caption's colour."""
    torch.manual_seed(0)
    tokenizer = build_sentence_tokenizer(["red", "blue"])
    config = GanIntClsConfig.from_preset("tiny", loss_type="gan-cls", train_text_encoder=True, generator_channels=8,
                                         discriminator_channels=8)
    config.text_encoder.vocab_size = len(tokenizer)
    model = GanIntClsModel(config).train()
    step = make_step(model, learning_rate=2e-3)
    accelerator = Accelerator(cpu=True)
    words = ["red", "blue"] * 16
    colours = torch.tensor([[1.0, -1.0, -1.0], [-1.0, -1.0, 1.0]])
    inputs = dict(tokenizer(words, return_tensors="pt"))
    for _ in range(150):
        pixels = colours.repeat(16, 1)[:, :, None, None].expand(-1, -1, 16, 16) + 0.1 * torch.randn(32, 3, 16, 16)
        step(accelerator, {**inputs, "pixel_values": pixels.clamp(-1, 1)})
    model.eval()
    images = model.generate(**tokenizer(["red", "blue"], return_tensors="pt"), num_images_per_prompt=8,
                            generator=torch.Generator().manual_seed(1))
    red, blue = images[:8].mean(dim=(0, 2, 3)), images[8:].mean(dim=(0, 2, 3))
    assert red[0] > red[2] + 0.3 and blue[2] > blue[0] + 0.3, (red, blue)


# --- generation, determinism, save/load --------------------------------------------------------------

def test_generate_is_reproducible_with_a_generator_or_z():
    model = tiny_model()
    inputs = random_captions(model.config, batch=2)
    first = model.generate(**inputs, num_images_per_prompt=3, generator=torch.Generator().manual_seed(7))
    again = model.generate(**inputs, num_images_per_prompt=3, generator=torch.Generator().manual_seed(7))
    other = model.generate(**inputs, num_images_per_prompt=3, generator=torch.Generator().manual_seed(8))
    assert torch.equal(first, again) and not torch.allclose(first, other)
    z = torch.randn(6, model.config.noise_size, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(model.generate(**inputs, num_images_per_prompt=3, z=z), first)
    # The images of one caption differ with z; the same z gives the same image in any batch.
    assert not torch.allclose(first[0], first[1])
    torch.testing.assert_close(model.generate(**{k: v[1:] for k, v in inputs.items()}, z=z[3:4]), first[3:4])
    # forward: G(z, t) in [-1, 1], generate()'s image in [0, 1].
    torch.testing.assert_close((model(**{k: v[:1] for k, v in inputs.items()}, z=z[:1]).images + 1) / 2, first[:1])
    model.train()
    model.generate(**inputs)
    assert model.training  # generate() runs in evaluation mode and leaves the model as it found it


def test_save_and_load_through_the_auto_classes(tmp_path):
    model = tiny_model(seed=3)
    tokenizer = build_sentence_tokenizer(["a red circle", "a blue square", "a green triangle above"])
    processor = TextToImageProcessor.from_tokenizer(tokenizer, image_size=16)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded, loaded_processor = AutoModel.from_pretrained(tmp_path), AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is GanIntClsModel and type(loaded_processor) is TextToImageProcessor
    assert type(loaded.config.text_encoder) is MDanConfig and loaded.config.text_encoder.num_steps == 1
    inputs = loaded_processor(text=["a red circle", "a blue square"])
    torch.testing.assert_close(loaded.generate(**inputs, generator=torch.Generator().manual_seed(0)),
                               model.generate(**inputs, generator=torch.Generator().manual_seed(0)))
    pixels = processor(images=[Image.new("RGB", (40, 40), (255, 0, 0))])["pixel_values"]
    assert pixels.shape == (1, 3, 16, 16) and torch.allclose(pixels[0, :, 0, 0], torch.tensor([1.0, -1.0, -1.0]))


# --- pipeline -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gan")
    tokenizer = build_sentence_tokenizer(CAPTIONS)
    config = GanIntClsConfig.from_preset("tiny")
    config.text_encoder.vocab_size = len(tokenizer)
    torch.manual_seed(0)
    GanIntClsModel(config).save_pretrained(folder)
    TextToImageProcessor.from_tokenizer(tokenizer, image_size=16).save_pretrained(folder)
    return folder


def test_pipeline_on_a_saved_folder(saved_folder):
    painter = pipeline("text-to-image", model=str(saved_folder))
    assert isinstance(painter, TextToImagePipeline)
    images = painter(CAPTIONS[0])
    assert len(images) == 1 and isinstance(images[0], Image.Image) and images[0].size == (16, 16) and images[0].mode == "RGB"
    # The same images as generate() + the processor's postprocess, from the same generator.
    model, processor = painter.model, AutoProcessor.from_pretrained(saved_folder)
    four = painter(CAPTIONS[2], num_images_per_prompt=4, generator=torch.Generator().manual_seed(5))
    expected = processor.postprocess(model.generate(**processor(text=CAPTIONS[2]), num_images_per_prompt=4,
                                                    z=torch.randn(4, model.config.noise_size, generator=torch.Generator().manual_seed(5))))
    assert [list(image.getdata()) for image in four] == [list(image.getdata()) for image in expected]
    # A list: one list per caption; the same with any batch_size; z fixed across captions.
    many = painter(CAPTIONS, num_images_per_prompt=2, generator=torch.Generator().manual_seed(1))
    batched = painter(CAPTIONS, num_images_per_prompt=2, generator=torch.Generator().manual_seed(1), batch_size=3)
    assert len(many) == 4 and all(len(row) == 2 for row in many)
    assert [[list(i.getdata()) for i in row] for row in many] == [[list(i.getdata()) for i in row] for row in batched]
    z = torch.randn(2, model.config.noise_size)
    fixed = painter(CAPTIONS[:2], z=z)
    direct = processor.postprocess(model.generate(**processor(text=CAPTIONS[:2]), num_images_per_prompt=2, z=torch.cat([z, z])))
    assert [list(i.getdata()) for row in fixed for i in row] == [list(i.getdata()) for i in direct]


def test_pipeline_through_remote_code_without_the_task_name(saved_folder):
    painter = pipeline(model=str(saved_folder), trust_remote_code=True)
    assert type(painter).__name__ == "TextToImagePipeline" and len(painter("a red circle")) == 1


def test_bad_inputs_are_refused(saved_folder):
    painter = pipeline("text-to-image", model=str(saved_folder))
    with pytest.raises(ValueError, match="caption is empty"):
        painter("  ")
    with pytest.raises(ValueError, match="no captions"):
        painter([])
    for count in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="num_images_per_prompt must be a positive integer"):
            painter("a red circle", num_images_per_prompt=count)
    with pytest.raises(ValueError, match=r"z must be a float tensor \(num_images_per_prompt, 5\)"):
        painter("a red circle", z=torch.randn(2, 7))
    with pytest.raises(ValueError, match="holds 2 noise vectors but num_images_per_prompt is 3"):
        painter("a red circle", z=torch.randn(2, 5), num_images_per_prompt=3)
    with pytest.raises(ValueError, match="not both"):
        painter("a red circle", z=torch.randn(1, 5), generator=torch.Generator())
    with pytest.raises(TypeError, match="num_image_per_prompt.*did you mean 'num_images_per_prompt'"):
        painter("a red circle", num_image_per_prompt=2)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        painter("a red circle", generator=3)
    with pytest.raises(TypeError, match="must be a string"):
        painter([3])

    model, processor = painter.model, AutoProcessor.from_pretrained(saved_folder)
    with pytest.raises(ValueError, match="caption is empty"):
        processor(text=[""])
    inputs = processor(text=["a red circle"])
    for count in (0, -2, 2.0):
        with pytest.raises(ValueError, match="num_images_per_prompt must be a positive integer"):
            model.generate(**inputs, num_images_per_prompt=count)
    with pytest.raises(ValueError, match=r"z must be a float tensor of shape \(2, 5\)"):
        model.generate(**inputs, num_images_per_prompt=2, z=torch.randn(2, 6))
    with pytest.raises(ValueError, match=r"z must be a float tensor of shape \(1, 5\)"):
        model(**inputs, z=torch.randn(3, 5))
    with pytest.raises(ValueError, match="input_ids .* or as text_embeds, one of the two"):
        model.generate(**inputs, text_embeds=torch.randn(1, model.config.text_embedding_size))
    with pytest.raises(ValueError, match="text_embeds must be a float tensor"):
        model.generate(text_embeds=torch.randn(1, 3))
    with pytest.raises(ValueError, match="an empty sentence matches nothing"):
        model.generate(input_ids=torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.generate(input_ids=torch.tensor([[500]]))
    with pytest.raises(ValueError, match="pixel_values must be float images of shape"):
        model.discriminate(torch.rand(1, 3, 8, 8), **inputs)
    with pytest.raises(TypeError, match="unexpected keyword argument 'noise'"):
        model(**inputs, noise=torch.randn(1, 5))
    with pytest.raises(ValueError, match="loss_type must be one of"):
        GanIntClsConfig(loss_type="gan-int-cls-plus")
    with pytest.raises(ValueError, match="interpolation_beta must be in"):
        GanIntClsConfig(interpolation_beta=1.5)
