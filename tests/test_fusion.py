"""Fusion layers and multi-glimpse attention against direct, slow formulas.

MCB is checked against the count sketch of the explicit outer product, MUTAN against the full
Tucker core tensor its rank-R factors define, Tucker against explicit mode products, and the
glimpse attention against a loop over glimpses and regions; all in float64 numpy.
"""

import numpy as np
import pytest
import torch

from hf_mmattn.layers.fusion import (
    CompactBilinearPooling,
    ElementwiseProductFusion,
    LowRankBilinearFusion,
    MutanFusion,
    TuckerFusion,
    normalize_bilinear,
    signed_sqrt,
)
from hf_mmattn.layers.glimpse_attention import MultiGlimpseAttention


def _np(tensor):
    return tensor.detach().double().numpy()


def _generator(seed=0):
    return torch.Generator().manual_seed(seed)


# --- MCB ------------------------------------------------------------------------------------

def _sketch_of_outer_product(x, y, h1, s1, h2, s2, d):
    """Ψ(x ⊗ y) with the joint hash (h1(i) + h2(j)) mod d and sign s1(i) s2(j), term by term."""
    out = np.zeros(d)
    for i in range(len(x)):
        for j in range(len(y)):
            out[(h1[i] + h2[j]) % d] += s1[i] * s2[j] * x[i] * y[j]
    return out


def test_mcb_is_the_count_sketch_of_the_outer_product():
    mcb = CompactBilinearPooling(question_size=5, image_size=7, output_size=11, seed=3, normalize=False)
    x, y = torch.randn(2, 5, generator=_generator(1)), torch.randn(2, 7, generator=_generator(2))
    out = _np(mcb(x, y))
    h1, s1, h2, s2 = (_np(b).astype(int) if b.dtype == torch.long else _np(b) for b in (mcb.question_hash, mcb.question_sign, mcb.image_hash, mcb.image_sign))
    for row in range(2):
        expected = _sketch_of_outer_product(_np(x[row]), _np(y[row]), h1, s1, h2, s2, 11)
        np.testing.assert_allclose(out[row], expected, atol=1e-5)


def test_mcb_normalisation_is_signed_sqrt_then_l2():
    raw = CompactBilinearPooling(4, 6, 16, seed=0, normalize=False)
    normalized = CompactBilinearPooling(4, 6, 16, seed=0, normalize=True)
    x, y = torch.randn(3, 4, generator=_generator(4)), torch.randn(3, 6, generator=_generator(5))
    z = _np(raw(x, y))
    expected = np.sign(z) * np.sqrt(np.abs(z))
    expected /= np.linalg.norm(expected, axis=-1, keepdims=True)
    np.testing.assert_allclose(_np(normalized(x, y)), expected, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(_np(normalized(x, y)), axis=-1), 1.0, atol=1e-6)


def test_mcb_broadcasts_one_question_over_the_regions():
    # Compared before the signed square root, whose infinite slope at 0 turns the FFT's float32
    # rounding (which differs with the batch layout and the CPU's vector unit) into errors of 1e-5
    # near zero; the normalisation has its own test above.
    mcb = CompactBilinearPooling(4, 6, 32, seed=1, normalize=False)
    question, regions = torch.randn(2, 4, generator=_generator(6)), torch.randn(2, 5, 6, generator=_generator(7))
    tiled = mcb(question.unsqueeze(1), regions)
    assert tiled.shape == (2, 5, 32)
    for n in range(5):
        torch.testing.assert_close(tiled[:, n], mcb(question, regions[:, n]))


def test_mcb_image_index_equals_fusing_with_the_indexed_images():
    torch.manual_seed(6)
    mcb = CompactBilinearPooling(4, 5, output_size=16)
    questions, images = torch.randn(5, 1, 4, requires_grad=True), torch.randn(2, 7, 5, requires_grad=True)
    image_index = torch.tensor([1, 0, 1, 1, 0])
    shared = mcb(questions, images, image_index=image_index)
    shared.square().sum().backward()
    gradients = questions.grad.clone(), images.grad.clone()
    questions.grad = images.grad = None
    repeated = mcb(questions, images[image_index])
    repeated.square().sum().backward()
    torch.testing.assert_close(shared, repeated)
    torch.testing.assert_close(gradients, (questions.grad, images.grad))


def test_mcb_sketch_is_fixed_by_the_seed_and_is_part_of_the_state_dict():
    a, b, c = (CompactBilinearPooling(8, 9, 64, seed=s) for s in (5, 5, 6))
    state = a.state_dict()
    assert set(state) == {"question_hash", "question_sign", "image_hash", "image_sign"}
    for name in state:
        torch.testing.assert_close(state[name], b.state_dict()[name])
    assert not torch.equal(a.question_hash, c.question_hash)
    assert set(a.question_sign.tolist()) <= {-1.0, 1.0} and a.question_hash.max() < 64
    assert list(a.parameters()) == []  # nothing is learned


def test_mcb_runs_in_float32_inside_for_bf16_inputs():
    mcb = CompactBilinearPooling(4, 6, 32, seed=0)
    x, y = torch.randn(3, 4, generator=_generator(8)), torch.randn(3, 6, generator=_generator(9))
    low = mcb.to(torch.bfloat16)(x.bfloat16(), y.bfloat16())
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), mcb(x.bfloat16().float(), y.bfloat16().float()).float(), atol=2e-2, rtol=2e-2)


def test_signed_sqrt_values_and_finite_gradient_at_zero():
    x = torch.tensor([-4.0, 0.0, 9.0], requires_grad=True)
    torch.testing.assert_close(signed_sqrt(x), torch.tensor([-2.0, 0.0, 3.0]))
    signed_sqrt(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    torch.testing.assert_close(x.grad[[0, 2]], torch.tensor([0.25, 1 / 6]), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(normalize_bilinear(torch.tensor([[4.0, -9.0]])), torch.tensor([[2.0, -3.0]]) / np.sqrt(13))


# --- MLB ------------------------------------------------------------------------------------

@pytest.mark.parametrize("activation,function", [("tanh", np.tanh), ("relu", lambda a: np.maximum(a, 0)), ("none", lambda a: a)])
def test_low_rank_bilinear_fusion_is_the_hadamard_product_of_projections(activation, function):
    torch.manual_seed(0)
    fusion = LowRankBilinearFusion(3, 4, 5, dropout=0.5, activation=activation).eval()
    q, v = torch.randn(2, 3), torch.randn(2, 4)
    U, bU = _np(fusion.question_projection.weight), _np(fusion.question_projection.bias)
    V, bV = _np(fusion.image_projection.weight), _np(fusion.image_projection.bias)
    expected = function(_np(q) @ U.T + bU) * function(_np(v) @ V.T + bV)
    np.testing.assert_allclose(_np(fusion(q, v)), expected, rtol=1e-5, atol=1e-6)


def test_low_rank_bilinear_is_a_rank_limited_bilinear_form():
    # With no activation, P^T (U q ∘ V v) = q^T W v with W_k = U^T diag(P_k) V (Kim et al. eq. 3).
    torch.manual_seed(1)
    fusion = LowRankBilinearFusion(3, 4, 2, dropout=0.0, activation="none")
    torch.nn.init.zeros_(fusion.question_projection.bias)
    torch.nn.init.zeros_(fusion.image_projection.bias)
    P = np.random.default_rng(0).normal(size=(2, 6))  # rank 2, 6 outputs
    q, v = torch.randn(5, 3), torch.randn(5, 4)
    U, V = _np(fusion.question_projection.weight), _np(fusion.image_projection.weight)
    bilinear = np.einsum("ri,rk,rj->kij", U, P, V)
    expected = np.einsum("bi,kij,bj->bk", _np(q), bilinear, _np(v))
    np.testing.assert_allclose(_np(fusion(q, v)) @ P, expected, rtol=1e-5, atol=1e-6)
    assert np.linalg.matrix_rank(bilinear[0]) <= 2


def test_the_baseline_fusion_is_the_tanh_low_rank_bilinear_fusion():
    assert ElementwiseProductFusion is LowRankBilinearFusion
    with pytest.raises(ValueError, match="activation"):
        LowRankBilinearFusion(2, 2, 2, activation="sigmoid")


# --- MUTAN / Tucker ---------------------------------------------------------------------------

PROJECTION_FUNCTIONS = {"tanh": np.tanh, "none": lambda a: a}


def _projection(linear, x, activation="tanh"):
    return PROJECTION_FUNCTIONS[activation](_np(x) @ _np(linear.weight).T + _np(linear.bias))


def _augment(x):
    """Homogeneous coordinates: [x; 1], so a Linear's bias becomes one more column of its matrix."""
    return np.concatenate([x, np.ones((*x.shape[:-1], 1))], axis=-1)


@pytest.mark.parametrize(("projection_activation", "output_activation"), [("tanh", "none"), ("tanh", "tanh"), ("none", "none")])
def test_mutan_equals_the_full_tucker_contraction_of_its_rank_r_core(projection_activation, output_activation):
    torch.manual_seed(2)
    rank, fused = 3, 4
    mutan = MutanFusion(
        5, 6, projected_size=7, fused_size=fused, rank=rank, dropout=0.5,
        projection_activation=projection_activation, output_activation=output_activation,
    ).eval()
    q, v = torch.randn(2, 5), torch.randn(2, 6)
    q_tilde = _augment(_projection(mutan.question_projection, q, projection_activation))
    v_tilde = _augment(_projection(mutan.image_projection, v, projection_activation))
    # Factor matrices W^r (fused, projected + 1) of each side, bias as the last column.
    Wq = np.concatenate([_np(mutan.question_factors.weight), _np(mutan.question_factors.bias)[:, None]], 1).reshape(rank, fused, -1)
    Wv = np.concatenate([_np(mutan.image_factors.weight), _np(mutan.image_factors.bias)[:, None]], 1).reshape(rank, fused, -1)
    core = np.einsum("rki,rkj->ijk", Wq, Wv)  # τ_c[i, j, k] = Σ_r W_q^r[k, i] W_v^r[k, j]
    expected = np.einsum("bi,ijk,bj->bk", q_tilde, core, v_tilde)
    if output_activation == "tanh":
        expected = np.tanh(expected)
    np.testing.assert_allclose(_np(mutan(q, v)), expected, rtol=1e-5, atol=1e-6)
    # Each slice of the core has rank <= R + the bias terms' contribution, far below full rank.
    unaugmented = np.einsum("rki,rkj->kij", Wq[:, :, :-1], Wv[:, :, :-1])
    assert all(np.linalg.matrix_rank(unaugmented[k]) <= rank for k in range(fused))


@pytest.mark.parametrize("gain", [1.0, 3.0])
def test_factor_init_gain_widens_only_the_factor_initialisation(gain):
    torch.manual_seed(5)
    mutan = MutanFusion(5, 6, projected_size=40, fused_size=30, rank=2, factor_init_gain=gain)
    tucker = TuckerFusion(5, 6, projected_size=40, fused_size=30, factor_init_gain=gain)
    for weight in (mutan.question_factors.weight, mutan.image_factors.weight, tucker.core.weight):
        bound = gain / weight.shape[1] ** 0.5  # PyTorch's default U(±1/√fan_in), times the gain
        assert 0.95 * bound < weight.abs().max() <= bound
    for projection in (mutan.question_projection, tucker.image_projection):
        assert projection.weight.abs().max() <= 1 / projection.weight.shape[1] ** 0.5


@pytest.mark.parametrize("projection_activation", ["tanh", "none"])
def test_tucker_is_the_explicit_mode_product(projection_activation):
    torch.manual_seed(3)
    tucker = TuckerFusion(3, 4, projected_size=5, fused_size=2, dropout=0.5, projection_activation=projection_activation).eval()
    q, v = torch.randn(2, 3), torch.randn(2, 4)
    q_tilde = _projection(tucker.question_projection, q, projection_activation)
    v_tilde = _projection(tucker.image_projection, v, projection_activation)
    core, bias = _np(tucker.core.weight), _np(tucker.core.bias)  # (out, in1, in2)
    expected = np.zeros((2, 2))
    for b in range(2):
        for k in range(2):
            expected[b, k] = bias[k] + sum(core[k, i, j] * q_tilde[b, i] * v_tilde[b, j] for i in range(5) for j in range(5))
    np.testing.assert_allclose(_np(tucker(q, v)), expected, rtol=1e-5, atol=1e-6)


def test_mutan_is_tucker_with_a_rank_constrained_core():
    torch.manual_seed(4)
    mutan = MutanFusion(3, 4, projected_size=5, fused_size=6, rank=2, dropout=0.0)
    torch.nn.init.zeros_(mutan.question_factors.bias)
    torch.nn.init.zeros_(mutan.image_factors.bias)
    tucker = TuckerFusion(3, 4, projected_size=5, fused_size=6, dropout=0.0)
    tucker.question_projection.load_state_dict(mutan.question_projection.state_dict())
    tucker.image_projection.load_state_dict(mutan.image_projection.state_dict())
    Wq = mutan.question_factors.weight.detach().reshape(2, 6, 5)
    Wv = mutan.image_factors.weight.detach().reshape(2, 6, 5)
    with torch.no_grad():
        tucker.core.weight.copy_(torch.einsum("rki,rkj->kij", Wq, Wv))
        tucker.core.bias.zero_()
    q, v = torch.randn(4, 3), torch.randn(4, 4)
    torch.testing.assert_close(mutan(q, v), tucker(q, v), rtol=1e-5, atol=1e-6)


def test_mutan_and_tucker_broadcast_a_question_over_regions():
    torch.manual_seed(5)
    for fusion in (MutanFusion(3, 4, 5, 6, rank=2, dropout=0.0), TuckerFusion(3, 4, 5, 6, dropout=0.0)):
        q, regions = torch.randn(2, 3), torch.randn(2, 7, 4)
        tiled = fusion(q.unsqueeze(1), regions)
        torch.testing.assert_close(tiled[:, 4], fusion(q, regions[:, 4]))


# --- multi-glimpse attention -------------------------------------------------------------------

@pytest.mark.parametrize("hidden_size", [None, 3])
def test_multi_glimpse_attention_matches_a_loop_over_glimpses_and_regions(hidden_size):
    torch.manual_seed(6)
    fusion = LowRankBilinearFusion(4, 5, 6, dropout=0.0)
    attention = MultiGlimpseAttention(fusion, fused_size=6, num_glimpses=2, hidden_size=hidden_size, dropout=0.5).eval()
    regions, question = torch.randn(2, 4, 5), torch.randn(2, 4)
    mask = torch.tensor([[1, 1, 0, 1], [1, 1, 1, 1]])
    glimpses, maps = attention(regions, question, mask)
    linears = [m for m in attention.score if isinstance(m, torch.nn.Linear)]
    for b in range(2):
        scores = np.zeros((2, 4))
        for n in range(4):
            f = _np(fusion(question[b], regions[b, n]))
            for linear in linears[:-1]:
                f = np.maximum(f @ _np(linear.weight).T + _np(linear.bias), 0)
            scores[:, n] = f @ _np(linears[-1].weight).T + _np(linears[-1].bias)
        valid = mask[b].bool().numpy()
        for g in range(2):
            weights = np.zeros(4)
            weights[valid] = np.exp(scores[g, valid] - scores[g, valid].max())
            weights /= weights.sum()
            np.testing.assert_allclose(_np(maps[b, g]), weights, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(_np(glimpses[b, g]), weights @ _np(regions[b]), rtol=1e-5, atol=1e-6)
    assert (maps[0, :, 2] == 0).all()


def test_multi_glimpse_attention_ignores_masked_regions():
    torch.manual_seed(7)
    attention = MultiGlimpseAttention(MutanFusion(4, 5, 3, 6, rank=2, dropout=0.0), 6, num_glimpses=3)
    regions, question = torch.randn(1, 4, 5), torch.randn(1, 4)
    mask = torch.tensor([[1, 0, 1, 1]])
    changed = regions.clone()
    changed[0, 1] = 100.0
    torch.testing.assert_close(attention(regions, question, mask)[0], attention(changed, question, mask)[0])
    torch.testing.assert_close(attention(regions, question)[1].sum(-1), torch.ones(1, 3))
