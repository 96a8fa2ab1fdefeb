"""Tests of the bilinear CNN (Lin, RoyChowdhury, Maji, ICCV 2015) and of its compact bilinear
poolings (Gao, Beijbom, Zhang, Darrell, CVPR 2016) on tiny configs: the poolings against the
papers' formulas written out by hand, the poolings' fixed random projections through save and
load, the model's logits from its own parts, training end to end, the image-classification
pipeline, the input and config checks, and the VGG-16 presets."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from image_classification_utils import TINY_VGG, random_classification_images, tiny_image_classification_config
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoModel, AutoModelForImageClassification, pipeline

import hf_mmattn  # noqa: F401
from hf_mmattn import BilinearCnnConfig, BilinearCnnForImageClassification, BilinearCnnModel, VggBackbone, VggConfig
from hf_mmattn.layers.image_pooling import (
    AveragePooling,
    FullBilinearPooling,
    RandomMaclaurinPooling,
    TensorSketchPooling,
    build_pooling,
    location_weights,
)
from hf_mmattn.processing.image_processor import square_image_processor

RAW = dict(signed_sqrt=False, l2_normalize=False)


def make_bcnn(image_encoder: str = "scratch_cnn", seed: int = 0, **overrides) -> BilinearCnnForImageClassification:
    torch.manual_seed(seed)
    return BilinearCnnForImageClassification(tiny_image_classification_config(BilinearCnnConfig, image_encoder, **overrides)).eval()


# --- the formulas, written out ------------------------------------------------------------------

def bilinear_by_hand(features_a, features_b, mask=None) -> list[float]:
    """Φ_ij = (1/L) Σ_l a_l[i] b_l[j] over the real locations l of one image, flattened i·C_B + j,
    by explicit loops over locations and channel pairs."""
    a, b = features_a.tolist(), features_b.tolist()
    locations = [index for index in range(len(a)) if mask is None or mask[index]]
    assert locations
    size_a, size_b = len(a[0]), len(b[0])
    phi = [0.0] * (size_a * size_b)
    for i in range(size_a):
        for j in range(size_b):
            phi[i * size_b + j] = sum(a[index][i] * b[index][j] for index in locations) / len(locations)
    return phi


def normalize_by_hand(vector: list[float]) -> torch.Tensor:
    """y = sign(x) √|x|, then z = y / ‖y‖₂ (Lin et al. section 3.1)."""
    y = [math.copysign(math.sqrt(abs(value)), value) if value else 0.0 for value in vector]
    norm = math.sqrt(sum(value * value for value in y))
    return torch.tensor([value / norm for value in y], dtype=torch.float64)


def count_sketch_of_outer_product_by_hand(sketch, a, b) -> torch.Tensor:
    """Entry k = Σ_{i,j: (h₁(i) + h₂(j)) mod d = k} s₁(i) s₂(j) a_i b_j, from the layer's own hashes
    and signs (stream A is the sketch's "question" side, stream B its "image" side)."""
    d = sketch.output_size
    h1, s1 = sketch.question_hash.tolist(), sketch.question_sign.tolist()
    h2, s2 = sketch.image_hash.tolist(), sketch.image_sign.tolist()
    entries = [0.0] * d
    for i, a_i in enumerate(a.tolist()):
        for j, b_j in enumerate(b.tolist()):
            entries[(h1[i] + h2[j]) % d] += s1[i] * s2[j] * a_i * b_j
    return torch.tensor(entries, dtype=torch.float64)


def maclaurin_by_hand(pooling, a, b) -> torch.Tensor:
    """ψ(a, b) = (W_a a) ∘ (W_b b) / √d with the layer's own ±1 matrices."""
    w_a, w_b = pooling.projection_a.double(), pooling.projection_b.double()
    return (w_a @ a.double()) * (w_b @ b.double()) / math.sqrt(pooling.output_size)


# --- full bilinear pooling ---------------------------------------------------------------------------

@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("normalization", [{}, RAW], ids=["normalized", "raw"])
def test_full_bilinear_pooling_matches_loops_over_locations_and_channel_pairs(with_mask, normalization):
    """Two streams of 4 and 3 channels at 6 locations: the pooled vector is the loop's Φ (raw), or
    Φ signed-square-rooted and L2-normalised; masked locations are left out of the average (the
    divisor is the number of real locations)."""
    generator = torch.Generator().manual_seed(0)
    features_a = torch.randn(3, 6, 4, generator=generator, dtype=torch.float64)
    features_b = torch.randn(3, 6, 3, generator=generator, dtype=torch.float64)
    mask = torch.tensor([[1] * 6, [1, 1, 1, 1, 0, 0], [0, 1, 0, 1, 1, 0]]) if with_mask else None
    pooling = build_pooling("bilinear", 4, 3, **normalization)
    assert isinstance(pooling, FullBilinearPooling) and pooling.output_size == 12
    pooled = pooling(features_a, features_b, mask)
    for row in range(3):
        phi = bilinear_by_hand(features_a[row], features_b[row], None if mask is None else mask[row].tolist())
        expected = torch.tensor(phi, dtype=torch.float64) if normalization else normalize_by_hand(phi)
        torch.testing.assert_close(pooled[row], expected, rtol=1e-6, atol=1e-9)
    if with_mask:  # the masked locations' values change nothing
        scrambled = features_a.clone()
        scrambled[1, 4:] = 1e3
        torch.testing.assert_close(pooling(scrambled, features_b, mask), pooled)


def test_symmetric_pooling_is_the_stream_with_itself_and_location_weights_average_real_locations():
    """Without a second stream the pooling is Φ(A, A) (the B-CNN [D, D]); the location weights are
    1/L, or mask / Σ mask."""
    features = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    pooling = FullBilinearPooling(3)
    torch.testing.assert_close(pooling(features), pooling(features, features))
    torch.testing.assert_close(pooling(features, None, torch.ones(2, 5)), pooling(features))
    weights = location_weights(features, torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]))
    assert weights.tolist() == [[0.5, 0.5, 0, 0, 0], [0.2] * 5]
    assert torch.equal(location_weights(features, None), torch.full((2, 5), 0.2, dtype=torch.float64))


def test_pooling_refuses_streams_with_different_locations():
    pooling = FullBilinearPooling(3, 2)
    with pytest.raises(ValueError, match=r"same locations: stream A gives \(2, 5\) \(batch, locations\), stream B \(2, 4\)"):
        pooling(torch.randn(2, 5, 3), torch.randn(2, 4, 2))


def test_average_pooling_is_the_normalised_mean_of_stream_a():
    """The first-order baseline: normalise((1/L) Σ_l a_l), over the real locations; stream B unused."""
    features = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    pooling = build_pooling("average", 3, 7)
    assert isinstance(pooling, AveragePooling) and pooling.output_size == 3
    pooled = pooling(features, torch.randn(2, 5, 7, dtype=torch.float64), mask)
    torch.testing.assert_close(pooled[0], normalize_by_hand(features[0, :3].mean(0).tolist()))
    torch.testing.assert_close(pooled[1], normalize_by_hand(features[1].mean(0).tolist()))


# --- compact bilinear pooling: the formulas --------------------------------------------------------

def test_tensor_sketch_is_the_count_sketch_of_the_outer_product():
    """Gao et al. Algorithm 2 with d = 16 (so hashes collide and wrap around mod d): at one
    location, with the normalisation off, ψ(a, b) is the count sketch of a bᵀ with hash
    (h₁(i) + h₂(j)) mod d and sign s₁(i) s₂(j), from the layer's own buffers; over several
    locations the pooled vector is the mean of the per-location sketches (over the real ones), and
    with the normalisation on it is that mean signed-square-rooted and L2-normalised."""
    pooling = TensorSketchPooling(5, 3, output_size=16, seed=3, **RAW)
    sketch = pooling.sketch
    for hashes in (sketch.question_hash, sketch.image_hash):
        assert 0 <= int(hashes.min()) and int(hashes.max()) < 16
    assert set(sketch.question_sign.tolist()) | set(sketch.image_sign.tolist()) <= {-1.0, 1.0}
    generator = torch.Generator().manual_seed(4)
    a = torch.randn(2, 4, 5, generator=generator, dtype=torch.float64)
    b = torch.randn(2, 4, 3, generator=generator, dtype=torch.float64)
    one = pooling(a[:, :1], b[:, :1])
    for row in range(2):
        torch.testing.assert_close(one[row], count_sketch_of_outer_product_by_hand(sketch, a[row, 0], b[row, 0]), rtol=1e-5, atol=1e-5)
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 0]])
    pooled = pooling(a, b, mask)
    normalized = TensorSketchPooling(5, 3, output_size=16, seed=3)(a, b, mask)
    for row in range(2):
        real = [index for index in range(4) if mask[row, index]]
        mean = torch.stack([count_sketch_of_outer_product_by_hand(sketch, a[row, i], b[row, i]) for i in real]).mean(0)
        torch.testing.assert_close(pooled[row], mean, rtol=1e-5, atol=1e-5)
        # Normalised from the layer's own raw vector: a bucket no (i, j) hashes to holds the float32
        # FFT's round-off (~1e-7 here), not 0, which the signed square root lifts to ~1e-4.
        torch.testing.assert_close(normalized[row], normalize_by_hand(pooled[row].tolist()), rtol=1e-5, atol=1e-7)


def test_random_maclaurin_is_the_product_of_two_sign_projections():
    """Gao et al. Algorithm 1: W_A ∈ {±1}^{d×C_A}, W_B ∈ {±1}^{d×C_B} (both signs drawn), ψ(a, b) =
    (W_A a) ∘ (W_B b) / √d at one location, the mean of the per-location ψ over the real locations,
    normalised when asked."""
    pooling = RandomMaclaurinPooling(5, 3, output_size=32, seed=3, **RAW)
    assert pooling.projection_a.shape == (32, 5) and pooling.projection_b.shape == (32, 3)
    for projection in (pooling.projection_a, pooling.projection_b):
        assert set(projection.unique().tolist()) == {-1.0, 1.0}
    generator = torch.Generator().manual_seed(4)
    a = torch.randn(2, 4, 5, generator=generator, dtype=torch.float64)
    b = torch.randn(2, 4, 3, generator=generator, dtype=torch.float64)
    one = pooling(a[:, :1], b[:, :1])
    for row in range(2):
        torch.testing.assert_close(one[row], maclaurin_by_hand(pooling, a[row, 0], b[row, 0]), rtol=1e-5, atol=1e-5)
    mask = torch.tensor([[1, 1, 1, 1], [0, 1, 1, 0]])
    pooled = pooling(a, b, mask)
    normalized = RandomMaclaurinPooling(5, 3, output_size=32, seed=3)(a, b, mask)
    for row in range(2):
        real = [index for index in range(4) if mask[row, index]]
        mean = torch.stack([maclaurin_by_hand(pooling, a[row, i], b[row, i]) for i in real]).mean(0)
        torch.testing.assert_close(pooled[row], mean, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(normalized[row], normalize_by_hand(mean.tolist()), rtol=1e-5, atol=1e-5)


# --- compact bilinear pooling: the kernel approximation ---------------------------------------------

KERNEL_X = torch.randn(16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
KERNEL_Y = 0.8 * KERNEL_X + 0.6 * torch.randn(16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)


def kernel_estimates(pooling_class, output_size: int, seeds) -> torch.Tensor:
    """⟨ψ(x), ψ(y)⟩ for each projection seed, ψ = the pooling of one location with both streams
    the same vector, normalisation off."""
    estimates = []
    for seed in seeds:
        pooling = pooling_class(16, None, output_size=output_size, seed=seed, **RAW)
        estimates.append(float(pooling(KERNEL_X[None, None]) @ pooling(KERNEL_Y[None, None]).T))
    return torch.tensor(estimates, dtype=torch.float64)


@pytest.mark.parametrize("pooling_class", [TensorSketchPooling, RandomMaclaurinPooling])
def test_compact_poolings_are_unbiased_estimates_of_the_squared_inner_product(pooling_class):
    """E⟨ψ(x), ψ(y)⟩ = ⟨x, y⟩² (Gao et al. section 3): over 300 projection seeds at d = 256 the mean
    estimate lies within 4 standard errors of ⟨x, y⟩² ≈ 38.4 (measured: +0.8 and -0.8 standard
    errors for Tensor Sketch and Random Maclaurin). A biased ψ misses by far more: one sketch (or one
    projection) shared by both streams misses by 38 (72) standard errors."""
    target = float(KERNEL_X @ KERNEL_Y) ** 2
    assert target > 10
    estimates = kernel_estimates(pooling_class, 256, range(300))
    assert estimates.std() > 0  # the seeds do draw different projections
    standard_error = estimates.std() / math.sqrt(len(estimates))
    assert abs(estimates.mean() - target) < 4 * standard_error, (estimates.mean(), target, standard_error)


@pytest.mark.parametrize("pooling_class", [TensorSketchPooling, RandomMaclaurinPooling])
def test_compact_pooling_error_falls_with_the_dimension(pooling_class):
    """The variance of ⟨ψ(x), ψ(y)⟩ falls as 1/d: over 100 seeds the mean squared relative error
    at d = 4096 is below a quarter of that at d = 256 (1/16 in theory; measured ratios 0.060 for
    Tensor Sketch, 0.081 for Random Maclaurin; errors 0.032 and 0.046 at d = 256)."""
    target = float(KERNEL_X @ KERNEL_Y) ** 2
    errors = {d: (((kernel_estimates(pooling_class, d, range(100)) - target) / target) ** 2).mean() for d in (256, 4096)}
    assert errors[256] > 0.01  # d = 256 is a real approximation, not exact
    assert errors[4096] < errors[256] / 4, errors


# --- the fixed projections, saved and drawn again ----------------------------------------------------

@pytest.mark.parametrize("pooling_class", [TensorSketchPooling, RandomMaclaurinPooling])
def test_compact_poolings_in_chunks_of_locations_give_the_same_values_and_gradients(pooling_class):
    """The compact poolings sum their locations a chunk at a time (recomputed in the backward
    pass): with chunks of 7 of 50 locations (the last one partial), with a mask, Φ and the
    gradients of both streams are those of one pass over every location."""
    torch.manual_seed(0)
    pooling = pooling_class(6, 5, output_size=64, seed=3, **RAW)
    features_a, features_b = torch.randn(3, 50, 6, requires_grad=True), torch.randn(3, 50, 5, requires_grad=True)
    mask = torch.ones(3, 50)
    mask[2, 40:] = 0
    results = []
    for locations_per_chunk in (256, 7):
        pooling.locations_per_chunk = locations_per_chunk
        pooled = pooling(features_a, features_b, mask)
        results.append((pooled, *torch.autograd.grad((pooled * torch.arange(64.0)).sum(), (features_a, features_b))))
    for one_pass, chunked in zip(*results, strict=True):
        torch.testing.assert_close(chunked, one_pass, rtol=1e-5, atol=1e-6)
    assert results[0][0].abs().max() > 0.1
    with torch.no_grad():  # without gradients, the chunks are summed directly
        torch.testing.assert_close(pooling(features_a, features_b, mask), results[0][0], rtol=1e-5, atol=1e-6)


def projection_buffers(model) -> dict[str, torch.Tensor]:
    buffers = {name: tensor.clone() for name, tensor in model.model.pooling.named_buffers()}
    assert buffers
    return buffers


@pytest.mark.parametrize("pooling", ["tensor_sketch", "random_maclaurin"])
def test_projections_are_saved_with_the_weights_and_drawn_again_from_the_seed_when_missing(pooling, tmp_path):
    """The projections are persistent buffers: a model whose projections were changed (no longer the
    seed's) saves them and reloads them through AutoModelForImageClassification as saved, with the
    same logits. A checkpoint without them gets them drawn again from ``projection_seed``, equal to
    a fresh model's (the other weights still come from the checkpoint); another seed draws
    different ones."""
    model = make_bcnn(pooling=pooling, projection_seed=5)
    fresh = projection_buffers(model)
    with torch.no_grad():
        for name, buffer in model.model.pooling.named_buffers():
            buffer.copy_(buffer.flip(0) if "hash" in name else -buffer)  # still a valid sketch / ±1 matrix
    changed = projection_buffers(model)
    assert any(not torch.equal(changed[name], fresh[name]) for name in fresh)
    model.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "model.safetensors")
    assert {f"model.pooling.{name}" for name in changed} <= set(saved)
    reloaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert type(reloaded) is BilinearCnnForImageClassification
    for name, tensor in projection_buffers(reloaded).items():
        assert torch.equal(tensor, changed[name]), name
    pixels = random_classification_images(model.config)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**pixels).logits, model(**pixels).logits)

    partial = {key: value for key, value in model.state_dict().items() if not key.startswith("model.pooling.")}
    assert len(partial) < len(model.state_dict())
    redrawn = BilinearCnnForImageClassification.from_pretrained(None, config=model.config, state_dict=partial)
    for name, tensor in projection_buffers(redrawn).items():
        assert torch.equal(tensor, fresh[name]), name
    assert torch.equal(redrawn.classifier.weight, model.classifier.weight)

    other = projection_buffers(make_bcnn(pooling=pooling, projection_seed=6))
    assert any(not torch.equal(other[name], fresh[name]) for name in fresh)


# --- the model ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("symmetric", [True, False], ids=["symmetric", "two_streams"])
def test_logits_match_a_hand_computation_from_the_models_parts(symmetric):
    """logits = W z + b, z = normalise((1/L) Σ_l f_A(l) f_B(l)ᵀ) by loops, with f_A from the model's
    image encoder and f_B = f_A (B-CNN [D, D]) or the second encoder's map (a [4, 8] scratch CNN
    beside the [4, 16] one: 16 x 8 = 128 dimensions)."""
    overrides = {} if symmetric else dict(symmetric=False, second_scratch_cnn_channels=[4, 8])
    model = make_bcnn(**overrides).double()
    base = model.model
    assert model.classifier.in_features == (16 * 16 if symmetric else 16 * 8)
    assert (base.second_image_encoder is None) == symmetric
    pixels = random_classification_images(model.config, seed=1, dtype=torch.float64)["pixel_values"]
    with torch.no_grad():
        logits = model(pixel_values=pixels).logits
        features_a, mask, grid = base.image_encoder(pixels)
        assert mask is None and grid == (8, 8) and features_a.shape == (3, 64, 16)
        features_b = features_a if symmetric else base.second_image_encoder(pixels)[0]
        if not symmetric:
            assert not torch.allclose(features_b, features_a[..., :8])  # its own network
        for row in range(3):
            z = normalize_by_hand(bilinear_by_hand(features_a[row], features_b[row]))
            torch.testing.assert_close(logits[row], model.classifier(z), rtol=1e-6, atol=1e-9)


def test_base_model_outputs_the_unit_descriptor_and_stream_a_locations():
    """AutoModel gives the base model: ``pooler_output`` the normalised descriptor (unit L2 norm,
    equal to the classifier's input), ``last_hidden_state`` stream A's feature map as row-major
    locations: location h·W + w holds the map's column (h, w)."""
    model = make_bcnn()
    base = AutoModel.from_config(model.config)
    assert type(base) is BilinearCnnModel
    base.load_state_dict(model.model.state_dict())
    base.eval()
    pixels = random_classification_images(model.config, seed=2)["pixel_values"]
    with torch.no_grad():
        output = base(pixel_values=pixels)
        feature_map = base.image_encoder.cnn(pixels)  # (3, 16, 8, 8)
        logits = model(pixel_values=pixels).logits
    torch.testing.assert_close(output.pooler_output.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(output.last_hidden_state[:, 3 * 8 + 5], feature_map[:, :, 3, 5])
    torch.testing.assert_close(output.last_hidden_state, feature_map.flatten(2).transpose(1, 2))
    torch.testing.assert_close(logits, model.classifier(output.pooler_output))
    as_tuple = base(pixel_values=pixels, return_dict=False)
    torch.testing.assert_close(as_tuple[1], output.pooler_output)


def test_average_pooling_model_is_the_normalised_mean_over_stream_a_locations():
    """pooling="average" (the first-order baseline): the descriptor is normalise(mean_l f_A(l)), of
    C_A = 16 dimensions."""
    model = make_bcnn(pooling="average").double()
    assert model.classifier.in_features == 16
    pixels = random_classification_images(model.config, seed=3, dtype=torch.float64)["pixel_values"]
    with torch.no_grad():
        output = model.model(pixel_values=pixels)
        mean = output.last_hidden_state.mean(dim=1)
        for row in range(3):
            torch.testing.assert_close(output.pooler_output[row], normalize_by_hand(mean[row].tolist()))


def test_feature_map_input_with_padding_pools_only_the_real_locations():
    """image_encoder="features": padded locations (mask 0) change nothing: an image with two padded
    locations gives the descriptor of its five real ones alone."""
    model = make_bcnn("features").double()
    images = random_classification_images(model.config, dtype=torch.float64)  # the last image: 5 real locations
    with torch.no_grad():
        batch = model(**images).logits
        alone = model(image_features=images["image_features"][-1:, :5]).logits
        images["image_features"][-1, 5:] = 50.0
        scrambled = model(**images).logits
    torch.testing.assert_close(batch[-1:], alone)
    torch.testing.assert_close(scrambled, batch)


def test_two_streams_of_different_grids_pool_to_one_grid_with_image_grid_pool_size():
    """The grid error's advice works: image_grid_pool_size=[4, 4] average-pools both streams' maps
    (8x8 and 4x4) to 4x4, and stream A's locations are its adaptive average pooling."""
    model = make_bcnn(symmetric=False, second_scratch_cnn_channels=[4, 8, 8], image_grid_pool_size=[4, 4])
    pixels = random_classification_images(model.config)["pixel_values"]
    with torch.no_grad():
        output = model.model(pixel_values=pixels)
        pooled_map = F.adaptive_avg_pool2d(model.model.image_encoder.cnn(pixels), (4, 4))
    torch.testing.assert_close(output.last_hidden_state, pooled_map.flatten(2).transpose(1, 2))
    torch.testing.assert_close(output.pooler_output.norm(dim=-1), torch.ones(3))


# --- training ----------------------------------------------------------------------------------------

def test_gradients_reach_every_convolution_of_both_streams():
    """Fine-tuning end to end (Lin et al. section 3.3): one backward of the loss through the full
    bilinear pooling gives every convolution of both scratch CNNs a nonzero gradient."""
    model = make_bcnn(symmetric=False, second_scratch_cnn_channels=[4, 8]).train()
    pixels = random_classification_images(model.config, batch=4)["pixel_values"]
    model(pixel_values=pixels, labels=torch.tensor([0, 1, 2, 0])).loss.backward()
    convolutions = [(name, p) for name, p in model.named_parameters() if "cnn.blocks" in name and p.dim() == 4]
    assert len(convolutions) == 4
    for name, parameter in convolutions:
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert model.classifier.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("freeze_backbone", [True, False])
def test_a_frozen_backbone_gets_no_gradient(freeze_backbone):
    """freeze_backbone=True: the backbone's parameters get no gradient while the classifier does;
    with freeze_backbone=False (the paper's fine-tuning) they all do."""
    model = make_bcnn("backbone", freeze_backbone=freeze_backbone).train()
    pixels = random_classification_images(model.config, batch=4)["pixel_values"]
    model(pixel_values=pixels, labels=torch.tensor([0, 1, 2, 0])).loss.backward()
    backbone = list(model.model.image_encoder.backbone.named_parameters())
    assert backbone
    if freeze_backbone:
        assert all(parameter.grad is None and not parameter.requires_grad for _, parameter in backbone)
    else:
        assert all(parameter.grad is not None for _, parameter in backbone)
        assert sum(parameter.grad.abs().sum() for _, parameter in backbone) > 0
    assert model.classifier.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("pooling", ["bilinear", "tensor_sketch", "random_maclaurin"])
def test_a_tiny_bilinear_cnn_learns_to_separate_three_classes(pooling):
    """24 random 32x32 images in 3 classes, 40 full-batch Adam steps (lr 0.03): the training loss
    falls below 10% of its start (measured 0.9-5%) and every image is classified right."""
    model = make_bcnn(pooling=pooling).train()
    pixels = torch.randn(24, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    labels = torch.arange(24) % 3
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    losses = []
    for _ in range(40):
        loss = model(pixel_values=pixels, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        predictions = model(pixel_values=pixels).logits.argmax(-1)
    assert losses[-1] < 0.1 * losses[0], losses
    assert torch.equal(predictions, labels)


# --- the image-classification pipeline -----------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_classifier(tmp_path_factory):
    """A tiny pixel model (scratch CNN) with a classifier scaled up so that its classes' scores are
    far apart, saved with a 32x32 image processor."""
    model = make_bcnn()
    with torch.no_grad():
        model.classifier.weight.normal_(0, 3, generator=torch.Generator().manual_seed(0))
    processor = square_image_processor(32, [0.5] * 3, [0.5] * 3)
    folder = tmp_path_factory.mktemp("bcnn")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return model, processor, folder


def test_pipeline_returns_every_label_ordered_as_the_models_softmax(saved_classifier):
    """transformers' own pipeline: every class of id2label once, scores summing to 1 and equal to the
    model's softmax over the processor's pixels, in descending order."""
    model, processor, folder = saved_classifier
    classifier = pipeline("image-classification", model=str(folder))
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8))
    results = classifier(image, top_k=None)
    assert sorted(result["label"] for result in results) == sorted(model.config.id2label.values())
    assert math.isclose(sum(result["score"] for result in results), 1.0, rel_tol=1e-5)
    with torch.no_grad():
        probabilities = model(**processor(images=image, return_tensors="pt")).logits.softmax(-1)[0]
    order = probabilities.argsort(descending=True).tolist()
    assert [result["label"] for result in results] == [model.config.id2label[index] for index in order]
    torch.testing.assert_close(torch.tensor([result["score"] for result in results]), probabilities[order])
    assert probabilities.max() - probabilities.min() > 0.1  # the order is not a tie broken by chance
    gray = image.convert("L")  # converted to RGB by the processor: the same scores as the RGB copy
    gray_scores = [result["score"] for result in classifier(gray, top_k=None)]
    assert gray_scores == [result["score"] for result in classifier(gray.convert("RGB"), top_k=None)]


def test_pipeline_refuses_a_path_that_is_not_an_image(saved_classifier, tmp_path):
    _, _, folder = saved_classifier
    classifier = pipeline("image-classification", model=str(folder))
    with pytest.raises(ValueError, match="Incorrect image source. Must be a valid URL .* a valid path to an image file"):
        classifier(str(tmp_path / "no_such_image.png"))


# --- bad inputs and configs ----------------------------------------------------------------------------

PIXELS = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    ("inputs", "error", "message"),
    [
        ({}, ValueError, "pixel_values is required"),
        ({"pixel_values": torch.randn(2, 1, 32, 32)}, ValueError, r"must have shape \(batch, 3, height, width\); got \(2, 1, 32, 32\)"),
        ({"pixel_values": torch.full((2, 3, 32, 32), 200.0)}, ValueError, "reach 200, beyond ±20: they look like raw 0-255 pixels"),
        ({"pixel_values": torch.where(torch.arange(32) == 7, float("nan"), 0.5).expand(2, 3, 32, 32)}, ValueError, "NaN or infinite"),
        ({"pixel_values": torch.randn(0, 3, 32, 32)}, ValueError, r"empty batch \(0 images\)"),
        ({"pixel_values": torch.randn(2, 3, 2, 2)}, ValueError, "2x2 pixels are too small .* at least 4x4"),
        ({"pixel_value": PIXELS}, TypeError, "unexpected keyword argument 'pixel_value'"),
        ({"pixel_values": PIXELS, "output_hidden_states": True}, ValueError, "return no hidden_states"),
        ({"pixel_values": PIXELS, "labels": torch.tensor([0, 3])}, ValueError, r"class indices in \[0, 3\) or -100; got 0..3"),
    ],
    ids=["no_image", "one_channel", "raw_pixels", "nan", "empty_batch", "too_small", "unknown_keyword", "hidden_states", "labels"],
)
def test_bad_pixel_inputs_are_refused_with_a_clear_error(inputs, error, message):
    model = make_bcnn()
    with pytest.raises(error, match=message):
        model(**inputs)


def test_feature_maps_of_the_wrong_size_are_refused():
    model = make_bcnn("features")
    with pytest.raises(ValueError, match=r"image_features must have shape \(batch, regions, 6\); got \(2, 7, 5\)"):
        model(image_features=torch.randn(2, 7, 5))
    with pytest.raises(ValueError, match="an image has no regions"):
        model(image_features=torch.randn(2, 7, 6), image_attention_mask=torch.tensor([[1] * 7, [0] * 7]))


@pytest.mark.parametrize(
    ("image_encoder", "overrides", "message"),
    [
        ("features", {"pooling": "max"},
         r"pooling must be one of \('bilinear', 'tensor_sketch', 'random_maclaurin', 'average'\), got 'max'"),
        ("features", {"pooled_size": 0}, "pooled_size must be a positive integer, got 0"),
        ("features", {"symmetric": False}, "symmetric=False builds a second feature extractor from pixels"),
        ("backbone", {"symmetric": False, "second_backbone_config": {"out_features": ["stage4"]}},
         "second_backbone_config needs a model_type"),
        # A second stream's setting for the other kind of encoder, or for a symmetric model, would be ignored.
        ("scratch_cnn", {"symmetric": False, "second_backbone_config": {"model_type": "resnet"}},
         "second_backbone_config sets stream B of a two-stream model with image_encoder='backbone'"),
        ("backbone", {"symmetric": False, "second_scratch_cnn_channels": [4, 8]},
         "second_scratch_cnn_channels sets stream B of a two-stream model with image_encoder='scratch_cnn'"),
        ("scratch_cnn", {"second_scratch_cnn_channels": [4, 8]}, "this config has symmetric=True"),
    ],
    ids=["pooling", "pooled_size", "two_streams_of_features", "second_backbone_without_model_type", "second_backbone_on_scratch_cnn",
         "second_scratch_cnn_on_backbone", "second_stream_of_a_symmetric_model"],
)
def test_bad_configs_are_refused(image_encoder, overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_image_classification_config(BilinearCnnConfig, image_encoder, **overrides)


def test_two_streams_whose_grids_differ_are_refused_naming_both_grids():
    """A second scratch CNN of three blocks (4x4 at 32 pixels) beside the first's two (8x8)."""
    model = make_bcnn(symmetric=False, second_scratch_cnn_channels=[4, 8, 8])
    with pytest.raises(ValueError, match="stream A gives 8x8, stream B 4x4"):
        model(pixel_values=PIXELS)


# --- VGG-16 -------------------------------------------------------------------------------------------

def test_the_vgg16_presets_build_on_the_meta_device():
    """B-CNN [D, D]: VGG-16 relu5_3 (512 channels, fine-tuned) and a 512·512-input classifier; the
    compact presets' classifiers read d = 8192 dimensions, their projections of 512 channels."""
    with torch.device("meta"):
        model = BilinearCnnForImageClassification(BilinearCnnConfig.from_preset("vgg16", num_labels=200))
        tensor_sketch = BilinearCnnForImageClassification(BilinearCnnConfig.from_preset("vgg16-tensor-sketch", num_labels=200))
    backbone = model.model.image_encoder.backbone
    assert isinstance(backbone, VggBackbone)
    assert backbone.out_features == ["relu5_3"] and backbone.channels == [512]
    assert backbone.config.layers[-3:] == [512, 512, "M"] and not model.config.freeze_backbone
    assert all(parameter.requires_grad for parameter in backbone.parameters())
    assert isinstance(model.model.pooling, FullBilinearPooling)
    assert (model.classifier.in_features, model.classifier.out_features) == (512 * 512, 200)
    assert model.classifier.weight.is_meta
    assert isinstance(tensor_sketch.model.pooling, TensorSketchPooling)
    assert tensor_sketch.classifier.in_features == 8192
    assert tensor_sketch.model.pooling.sketch.question_hash.shape == (512,)


def test_a_tiny_vgg_bilinear_cnn_runs_and_loads_a_pretrained_backbone(tmp_path):
    """A VGG-shaped toy backbone (relu5_3 at 1/16: a 2x2 grid at 32 pixels): finite logits, and
    ``load_pretrained_backbone`` copies a saved VggBackbone's weights in, after which the model's
    locations are that backbone's relu5_3 map."""
    model = make_bcnn("backbone", backbone_config=dict(TINY_VGG))
    pixels = random_classification_images(model.config)["pixel_values"]
    with torch.no_grad():
        output = model.model(pixel_values=pixels)
        logits = model(pixel_values=pixels).logits
    assert output.last_hidden_state.shape == (3, 4, 8)
    assert torch.isfinite(logits).all() and logits.std() > 0
    torch.manual_seed(123)
    pretrained = VggBackbone(VggConfig(**{key: value for key, value in TINY_VGG.items() if key != "model_type"})).eval()
    pretrained.save_pretrained(tmp_path)
    backbone = model.model.image_encoder.backbone
    assert not all(torch.equal(value, pretrained.state_dict()[key]) for key, value in backbone.state_dict().items())
    model.load_pretrained_backbone(tmp_path)
    loaded, expected = backbone.state_dict(), pretrained.state_dict()
    assert loaded.keys() == expected.keys() and loaded
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key
    with torch.no_grad():
        torch.testing.assert_close(model.model(pixel_values=pixels).last_hidden_state,
                                   pretrained(pixels).feature_maps[-1].flatten(2).transpose(1, 2))
