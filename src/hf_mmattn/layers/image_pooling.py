"""Orderless pooling of a CNN feature map into one image vector: first-order (average) and
second-order (bilinear, exact or compact).

Lin, RoyChowdhury, Maji, *Bilinear CNN Models for Fine-grained Visual Recognition*, ICCV 2015,
section 3: two feature extractors f_A, f_B give, at each location l of the map, vectors
f_A(l) ∈ R^{C_A} and f_B(l) ∈ R^{C_B}; the image is described by their outer products pooled
over the L locations (sum-pooling, divided by L in the released code), then normalised::

    Φ = (1/L) Σ_l f_A(l) f_B(l)ᵀ          ∈ R^{C_A × C_B}, flattened        (bilinear pooling)
    y = sign(Φ) √|Φ|,   z = y / ‖y‖₂                                      (section 3.1)

Gao, Beijbom, Zhang, Darrell, *Compact Bilinear Pooling*, CVPR 2016, section 3: Φ's inner
product is the second-order polynomial kernel, ⟨Φ(X), Φ(Y)⟩ = (1/L²) Σ_{l,m} ⟨x_l, y_m⟩², so any
map ψ with ⟨ψ(x), ψ(y)⟩ ≈ ⟨x, y⟩² gives a d-dimensional Φ ≈ (1/L) Σ_l ψ(x_l) (Algorithms 1, 2):

* Tensor Sketch (Pham & Pagh 2013): ψ(x) = FFT⁻¹(FFT(C₁x) ∘ FFT(C₂x)) with count sketches C₁, C₂:
  the very sketch MCB fuses a question and an image with (:class:`~.fusion.CompactBilinearPooling`),
  here applied to the two streams at each location and summed in the frequency domain;
* Random Maclaurin (Kar & Karnick 2012): ψ(x) = (1/√d) (W₁x) ∘ (W₂x) with W₁, W₂ ∈ {-1, +1}^{d×C}
  drawn at random.

Both are unbiased (E⟨ψ(x), ψ(y)⟩ = ⟨x, y⟩², with a variance falling as 1/d). Their projections are
drawn once from a seed and never learned (Gao et al.'s fixed setting, table 2); they are
persistent buffers saved with the weights, and drawn again from the seed when a checkpoint lacks
them (``layers/initialization.py``).

Every pooling maps ``(batch, locations, C_A)`` (and ``(batch, locations, C_B)`` for a second
stream; the first stream again when there is none, the symmetric B-CNN) with an optional
``mask`` of real locations to ``(batch, output_size)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .fusion import CompactBilinearPooling, signed_sqrt

POOLINGS = ("bilinear", "tensor_sketch", "random_maclaurin", "average")


def location_weights(features: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``(batch, locations)`` weights averaging over the real locations: 1/L, or mask / Σ mask."""
    if mask is None:
        return features.new_full(features.shape[:2], 1.0 / features.shape[1])
    mask = mask.to(features.dtype)
    return mask / mask.sum(dim=1, keepdim=True)


class OrderlessPooling(nn.Module):
    """What the poolings share: the average over locations and the normalisation of the pooled
    vector, the signed square root (``signed_sqrt``) then L2 (``l2_normalize``), as Lin et al.
    section 3.1 and Gao et al. apply them to every bilinear feature."""

    output_size: int

    def __init__(self, signed_sqrt: bool = True, l2_normalize: bool = True):
        super().__init__()
        self.apply_signed_sqrt = signed_sqrt
        self.l2_normalize = l2_normalize

    def normalize(self, pooled: torch.Tensor) -> torch.Tensor:
        if self.apply_signed_sqrt:
            pooled = signed_sqrt(pooled)
        if self.l2_normalize:
            pooled = F.normalize(pooled, p=2, dim=-1)
        return pooled

    def pool(self, features_a: torch.Tensor, features_b: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, features_a: torch.Tensor, features_b: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        features_b = features_a if features_b is None else features_b
        if features_b.shape[:2] != features_a.shape[:2]:
            raise ValueError(
                f"the two streams must have the same locations: stream A gives {tuple(features_a.shape[:2])} "
                f"(batch, locations), stream B {tuple(features_b.shape[:2])}"
            )
        return self.normalize(self.pool(features_a, features_b, location_weights(features_a, mask)))


class AveragePooling(OrderlessPooling):
    """The first-order baseline: (1/L) Σ_l f_A(l), stream A only (the fully connected / average
    pooled features Lin et al. and Gao et al. compare against)."""

    def __init__(self, size_a: int, size_b: int | None = None, **normalization):
        super().__init__(**normalization)
        self.output_size = size_a

    def pool(self, features_a, features_b, weights):
        return torch.einsum("bl,blc->bc", weights, features_a)


class FullBilinearPooling(OrderlessPooling):
    """Full bilinear pooling, Lin et al. section 3: Φ = (1/L) Σ_l f_A(l) f_B(l)ᵀ, flattened
    row-major (entry (i, j) at i·C_B + j): ``C_A · C_B`` dimensions (262,144 for VGG's 512 × 512)."""

    def __init__(self, size_a: int, size_b: int | None = None, **normalization):
        super().__init__(**normalization)
        self.output_size = size_a * (size_b or size_a)

    def pool(self, features_a, features_b, weights):
        return torch.einsum("bl,bli,blj->bij", weights, features_a, features_b).flatten(1)


class CompactPooling(OrderlessPooling):
    """What the two compact poolings share: Φ is a sum over locations of a d-dimensional map of
    each location, whose intermediates (``locations x d`` values, several times over) dwarf the
    input at the paper's size (784 locations, d = 8192). The locations are therefore taken
    ``locations_per_chunk`` at a time and their partial sums added; with gradients, each chunk is
    recomputed in the backward pass (``torch.utils.checkpoint``) instead of being kept. The result
    is the same up to float rounding; with fewer locations than a chunk nothing changes."""

    locations_per_chunk: int = 256

    def pool_locations(self, features_a: torch.Tensor, features_b: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The weighted sum over these locations, before :meth:`finish`."""
        raise NotImplementedError

    def finish(self, pooled: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        raise NotImplementedError

    def pool(self, features_a, features_b, weights):
        dtype = torch.promote_types(features_a.dtype, features_b.dtype)
        starts = range(0, features_a.shape[1], self.locations_per_chunk)
        if len(starts) == 1:
            return self.finish(self.pool_locations(features_a, features_b, weights), dtype)
        recompute = torch.is_grad_enabled() and (features_a.requires_grad or features_b.requires_grad)
        pooled = None
        for start in starts:
            chunk = [tensor[:, start:start + self.locations_per_chunk] for tensor in (features_a, features_b, weights)]
            part = checkpoint(self.pool_locations, *chunk, use_reentrant=False) if recompute else self.pool_locations(*chunk)
            pooled = part if pooled is None else pooled + part
        return self.finish(pooled, dtype)


class TensorSketchPooling(CompactPooling):
    """Compact bilinear pooling by Tensor Sketch, Gao et al. Algorithm 2: Φ = (1/L) Σ_l ψ(f_A(l), f_B(l)),
    ψ(x, y) = FFT⁻¹(FFT(C₁x) ∘ FFT(C₂y)) of ``output_size`` dimensions. The count sketches and their
    FFT are MCB's (``sketch``, a :class:`~.fusion.CompactBilinearPooling` without normalisation); the
    average over locations is taken in the frequency domain, so one inverse FFT per image runs."""

    def __init__(self, size_a: int, size_b: int | None = None, output_size: int = 8192, seed: int = 0, **normalization):
        super().__init__(**normalization)
        self.output_size = output_size
        self.sketch = CompactBilinearPooling(size_a, size_b or size_a, output_size, seed=seed, normalize=False)

    def pool_locations(self, features_a, features_b, weights):
        spectrum = self.sketch.spectrum(features_a, features_b)  # (batch, locations, d // 2 + 1), complex
        return torch.einsum("bl,blk->bk", weights.float().to(spectrum.dtype), spectrum)

    def finish(self, pooled, dtype):
        return torch.fft.irfft(pooled, n=self.output_size, dim=-1).to(dtype)


class RandomMaclaurinPooling(CompactPooling):
    """Compact bilinear pooling by Random Maclaurin, Gao et al. Algorithm 1:
    Φ = (1/L) Σ_l (1/√d) (W_A f_A(l)) ∘ (W_B f_B(l)), with W_A ∈ {-1, +1}^{d×C_A} and W_B ∈
    {-1, +1}^{d×C_B} drawn from ``seed`` (persistent buffers ``projection_a``, ``projection_b``)."""

    def __init__(self, size_a: int, size_b: int | None = None, output_size: int = 8192, seed: int = 0, **normalization):
        super().__init__(**normalization)
        self.output_size = output_size
        self.seed = seed
        # device="cpu": transformers builds models under a meta-device context; the projections are data.
        for name, tensor in self.draw_projections(size_a, size_b or size_a).items():
            self.register_buffer(name, tensor)

    def draw_projections(self, size_a: int, size_b: int) -> dict[str, torch.Tensor]:
        """Rademacher W_A, W_B drawn from ``seed``: the same at every construction, and again when a
        checkpoint lacks them (``_init_weights``)."""
        generator = torch.Generator().manual_seed(self.seed)
        projections = {}
        for name, size in (("projection_a", size_a), ("projection_b", size_b)):
            signs = torch.randint(2, (self.output_size, size), generator=generator, device="cpu") * 2 - 1
            projections[name] = signs.to(torch.get_default_dtype())  # ±1: exact in any float dtype
        return projections

    def pool_locations(self, features_a, features_b, weights):
        # float32, as the Tensor Sketch: a d-term product of half-precision sums loses too much.
        projected_a = features_a.float() @ self.projection_a.float().T
        projected_b = features_b.float() @ self.projection_b.float().T
        return torch.einsum("bl,bld->bd", weights.float(), projected_a * projected_b)

    def finish(self, pooled, dtype):
        return (pooled / math.sqrt(self.output_size)).to(dtype)

    def extra_repr(self) -> str:
        return f"size_a={self.projection_a.shape[1]}, size_b={self.projection_b.shape[1]}, output_size={self.output_size}"


def build_pooling(
    kind: str, size_a: int, size_b: int | None = None, *, output_size: int = 8192, seed: int = 0,
    signed_sqrt: bool = True, l2_normalize: bool = True,
) -> OrderlessPooling:
    """The pooling ``kind`` (one of :data:`POOLINGS`) of streams of ``size_a`` and ``size_b``
    channels; ``output_size`` and ``seed`` are the compact poolings'."""
    normalization = dict(signed_sqrt=signed_sqrt, l2_normalize=l2_normalize)
    if kind == "bilinear":
        return FullBilinearPooling(size_a, size_b, **normalization)
    if kind == "average":
        return AveragePooling(size_a, size_b, **normalization)
    if kind == "tensor_sketch":
        return TensorSketchPooling(size_a, size_b, output_size, seed, **normalization)
    if kind == "random_maclaurin":
        return RandomMaclaurinPooling(size_a, size_b, output_size, seed, **normalization)
    raise ValueError(f"pooling must be one of {POOLINGS}, got {kind!r}")


__all__ = [
    "POOLINGS",
    "AveragePooling",
    "CompactPooling",
    "FullBilinearPooling",
    "OrderlessPooling",
    "RandomMaclaurinPooling",
    "TensorSketchPooling",
    "build_pooling",
    "location_weights",
]
