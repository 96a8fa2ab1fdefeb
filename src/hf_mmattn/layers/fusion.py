"""Fusions of a question vector with an image vector (or with every image region): bilinear
models of the pair, each computed without its full weight tensor.

* [`LowRankBilinearFusion`]: MLB, Kim et al., ICLR 2017, eq. (3)-(4) (and the point-wise product
  of the VQA baseline, Antol et al. 2015, section 5);
* [`CompactBilinearPooling`]: MCB, Fukui et al., EMNLP 2016, section 3.1 and Algorithm 1;
* [`MutanFusion`] and [`TuckerFusion`]: Ben-Younes et al., ICCV 2017, eq. (2)-(3) and (8)-(9).

Each fusion maps ``question (..., Q)`` and ``image (..., V)`` to a joint vector ``(..., F)``;
leading dimensions broadcast, so the same module fuses a question with one pooled image vector
(the answer branch) or with every region of a grid (the attention branch). The models then apply
their own output projection (an answer classifier, ``layers/heads.py``, where
[`AnswerClassifier`] lives and is still importable from here, or the score layer of an attention).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .heads import AnswerClassifier  # noqa: F401 (its home before layers/heads.py)

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "none": nn.Identity}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


def scale_initialization(layer: nn.Linear | nn.Bilinear, gain: float) -> None:
    """Draw ``layer.weight`` from U(±gain/√fan_in), PyTorch's default times ``gain``, and record
    the gain as ``layer.init_gain`` so that a model's ``_init_weights`` draws it the same way."""
    layer.init_gain = gain
    if gain != 1.0:
        bound = gain / math.sqrt(layer.weight.shape[1])
        nn.init.uniform_(layer.weight, -bound, bound)


def signed_sqrt(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``sign(x) * sqrt(|x|)``, the power normalisation of bilinear pooling (Fukui et al. 2016,
    section 3.2; Lin et al. 2015). ``eps`` inside the root keeps the gradient finite at 0 (there
    ``sign`` is 0, so the value is exactly 0 as without it)."""
    return torch.sign(x) * torch.sqrt(x.abs() + eps)


def normalize_bilinear(x: torch.Tensor) -> torch.Tensor:
    """Signed square root, then L2 normalisation over the last dimension (MCB's post-processing)."""
    return F.normalize(signed_sqrt(x), p=2, dim=-1)


class BlockDiagonalLinear(nn.Module):
    """``num_blocks`` independent Linear maps, each reading its own consecutive slice of the input,
    outputs concatenated: a Linear whose weight is block-diagonal.

    The glimpse embedding of MLB and MUTAN as released (jnhwkim/MulLowBiVQA ``netdef/MLB.lua``,
    Cadene/vqa.pytorch ``list_linear_v_fusion``): each attention glimpse ``v̂_g`` gets its own
    ``Linear(M, d)`` and the results are concatenated, ``[W_1 v̂_1; ...; W_G v̂_G]``. Built from
    ``nn.Linear`` blocks, so those checkpoints convert block by block.
    """

    def __init__(self, in_features: int, out_features: int, num_blocks: int):
        super().__init__()
        if in_features % num_blocks or out_features % num_blocks:
            raise ValueError(f"in_features ({in_features}) and out_features ({out_features}) must be multiples of num_blocks ({num_blocks})")
        self.blocks = nn.ModuleList(nn.Linear(in_features // num_blocks, out_features // num_blocks) for _ in range(num_blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        slices = x.chunk(len(self.blocks), dim=-1)
        return torch.cat([block(part) for block, part in zip(self.blocks, slices)], dim=-1)


def _linear(in_features: int, out_features: int, num_blocks: int = 1) -> nn.Module:
    return nn.Linear(in_features, out_features) if num_blocks == 1 else BlockDiagonalLinear(in_features, out_features, num_blocks)


class LowRankBilinearFusion(nn.Module):
    """Low-rank bilinear (Hadamard product) fusion.

    Kim, On, Lim, Kim, Ha, Zhang, *Hadamard Product for Low-rank Bilinear Pooling*, ICLR 2017,
    eq. (3)-(4) (MLB): a bilinear form ``x^T W_i y`` with ``W_i = U diag(P_i) V^T`` of rank ``d``
    is ``P^T (σ(U^T x) ∘ σ(V^T y))``; this module computes the Hadamard part::

        f = σ(U dropout(x) + b_U) ∘ σ(V dropout(y) + b_V)

    and the model's next layer is ``P`` (the answer classifier or the attention score).
    ``activation="tanh"`` is MLB's σ; ``"relu"`` is block.bootstrap's default; ``"none"`` is the
    pure low-rank bilinear pooling. The point-wise product fusion of the VQA baseline (Antol et
    al. 2015, section 5: dropout → FC → tanh on each side, then ⊙) is this module with tanh.
    ``image_blocks > 1`` makes ``V`` block-diagonal ([`BlockDiagonalLinear`]), as MLB's answer
    fusion embeds each of its concatenated glimpses separately.
    """

    def __init__(
        self,
        question_size: int,
        image_size: int,
        fused_size: int,
        dropout: float = 0.5,
        activation: str = "tanh",
        image_blocks: int = 1,
    ):
        super().__init__()
        self.question_projection = nn.Linear(question_size, fused_size)
        self.image_projection = _linear(image_size, fused_size, image_blocks)
        self.activation = _activation(activation)
        self.dropout = nn.Dropout(dropout)

    def forward(self, question: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        question_part = self.activation(self.question_projection(self.dropout(question)))
        image_part = self.activation(self.image_projection(self.dropout(image)))
        return question_part * image_part


# The baseline's fusion keeps the name its checkpoints and tests know.
ElementwiseProductFusion = LowRankBilinearFusion


class CompactBilinearPooling(nn.Module):
    """Multimodal Compact Bilinear pooling (MCB).

    Fukui, Park, Yang, Rohrbach, Darrell, Rohrbach, *Multimodal Compact Bilinear Pooling for Visual
    Question Answering and Visual Grounding*, EMNLP 2016, section 3.1 and Algorithm 1: the outer
    product ``x ⊗ y`` projected to ``d`` dimensions by a count sketch, computed without forming it
    (Pham & Pagh 2013)::

        Ψ(x, h, s)[k] = Σ_{i: h(i)=k} s(i) x_i                     (count sketch)
        Φ(x, y) = FFT⁻¹(FFT(Ψ(x, h_1, s_1)) ⊙ FFT(Ψ(y, h_2, s_2)))    (circular convolution)

    which equals the sketch of ``x ⊗ y`` with hash ``(h_1(i) + h_2(j)) mod d`` and sign
    ``s_1(i) s_2(j)``. The hashes ``h`` and signs ``s`` are drawn once from ``seed`` and never
    learned; they are persistent buffers, so they are saved with the weights and a reloaded model
    uses the very same sketch. ``normalize=True`` applies the signed square root and L2
    normalisation the paper puts after every MCB (section 3.2).
    """

    def __init__(self, question_size: int, image_size: int, output_size: int, seed: int = 0, normalize: bool = True):
        super().__init__()
        self.output_size = output_size
        self.normalize = normalize
        self.seed = seed
        # device="cpu": transformers builds models under a meta-device context; the sketch is data.
        for name, tensor in self.draw_sketch(question_size, image_size).items():
            self.register_buffer(name, tensor)

    def draw_sketch(self, question_size: int, image_size: int) -> dict[str, torch.Tensor]:
        """The hashes h and signs s of both inputs, drawn from ``seed``: the same sketch at every
        construction, and again when a checkpoint lacks the buffers (``_init_weights``)."""
        generator = torch.Generator().manual_seed(self.seed)
        sketch = {}
        for name, size in (("question", question_size), ("image", image_size)):
            sketch[f"{name}_hash"] = torch.randint(self.output_size, (size,), generator=generator, device="cpu")
            signs = torch.randint(2, (size,), generator=generator, device="cpu") * 2 - 1
            sketch[f"{name}_sign"] = signs.to(torch.get_default_dtype())  # ±1: exact in any float dtype
        return sketch

    def count_sketch(self, x: torch.Tensor, hash_indices: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
        sketch = x.new_zeros(*x.shape[:-1], self.output_size)
        return sketch.index_add_(-1, hash_indices, x * signs.to(x.dtype))

    def spectrum(self, question: torch.Tensor, image: torch.Tensor, image_index: torch.Tensor | None = None) -> torch.Tensor:
        """FFT(Ψ(x, h_1, s_1)) ⊙ FFT(Ψ(y, h_2, s_2)): the sketch of ``x ⊗ y`` in the frequency domain
        (``output_size // 2 + 1`` complex values). The FFT is linear, so a sum of sketches (the
        bilinear CNN's sum over locations) can be taken here, before the one inverse FFT."""
        # The FFT runs in float32: it has no bf16/fp16 kernels on CPU and loses precision in them.
        # Leading dimensions broadcast in the frequency domain (one question, many regions).
        question_sketch = self.count_sketch(question.float(), self.question_hash, self.question_sign)
        image_spectrum = torch.fft.rfft(self.count_sketch(image.float(), self.image_hash, self.image_sign), dim=-1)
        if image_index is not None:
            image_spectrum = image_spectrum[image_index]
        return torch.fft.rfft(question_sketch, dim=-1) * image_spectrum

    def forward(self, question: torch.Tensor, image: torch.Tensor, image_index: torch.Tensor | None = None) -> torch.Tensor:
        """``image_index`` (optional): for each row of ``question``, the row of ``image`` it is fused
        with, so that questions sharing an image share its count sketch and FFT."""
        pooled = torch.fft.irfft(self.spectrum(question, image, image_index), n=self.output_size, dim=-1)
        if self.normalize:
            pooled = normalize_bilinear(pooled)
        return pooled.to(torch.promote_types(question.dtype, image.dtype))

    def extra_repr(self) -> str:
        return f"question_size={self.question_hash.numel()}, image_size={self.image_hash.numel()}, output_size={self.output_size}"


class MutanFusion(nn.Module):
    """MUTAN: multimodal Tucker fusion with a low-rank core.

    Ben-Younes, Cadene, Cord, Thome, *MUTAN: Multimodal Tucker Fusion for Visual Question
    Answering*, ICCV 2017, eq. (2)-(3) and (8)-(9). The inputs are projected (``W_q``, ``W_v``,
    tanh), then fused by a Tucker core whose slices have rank ``R``::

        q̃ = tanh(W_q dropout(q)),   ṽ = tanh(W_v dropout(v))
        z = Σ_{r=1..R} (W_q^r q̃) ∘ (W_v^r ṽ)

    i.e. ``z = τ_c ×_1 q̃ ×_2 ṽ`` with ``τ_c[:, :, k] = Σ_r W_q^r[k]^T W_v^r[k]``. The output
    factor ``W_o`` of the paper is the model's next layer. ``projection_activation`` is the
    function on q̃ and ṽ: ``"tanh"`` in the paper and vqa.pytorch, ``"none"`` in block.bootstrap's
    ``Mutan`` / ``Tucker`` (plain linear projections). ``factor_init_gain`` scales the
    initialisation of the factor matrices W^r (PyTorch's default U(±1/√fan_in) at 1.0): with it, z,
    a product of two factor outputs, starts larger. ``output_activation`` is applied to
    ``z``: ``"none"`` in the paper's equations and in vqa.pytorch's MUTAN configurations;
    ``"tanh"`` is that code's optional ``activation_mm`` (which its MLB attention config sets).
    Dropout acts on the inputs only: vqa.pytorch's configs set ``dropout_hv = dropout_hq = 0``.
    ``image_projected_size`` (default ``projected_size``) lets ``t_v`` differ from ``t_q``, and
    ``image_blocks > 1`` makes ``W_v`` block-diagonal ([`BlockDiagonalLinear`]), as MUTAN's answer
    fusion embeds each of its concatenated glimpses separately (620 = 2 x 310 in the code).
    """

    def __init__(
        self,
        question_size: int,
        image_size: int,
        projected_size: int,
        fused_size: int,
        rank: int = 5,
        dropout: float = 0.5,
        output_activation: str = "none",
        image_projected_size: int | None = None,
        image_blocks: int = 1,
        projection_activation: str = "tanh",
        factor_init_gain: float = 1.0,
    ):
        super().__init__()
        self.projection_activation = _activation(projection_activation)
        self.rank, self.fused_size = rank, fused_size
        image_projected_size = image_projected_size or projected_size
        self.question_projection = nn.Linear(question_size, projected_size)
        self.image_projection = _linear(image_size, image_projected_size, image_blocks)
        # The R factor matrices W^r of each side as one Linear producing R slices.
        self.question_factors = nn.Linear(projected_size, rank * fused_size)
        self.image_factors = nn.Linear(image_projected_size, rank * fused_size)
        scale_initialization(self.question_factors, factor_init_gain)
        scale_initialization(self.image_factors, factor_init_gain)
        self.dropout = nn.Dropout(dropout)
        self.output_activation = _activation(output_activation)

    def forward(self, question: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        question = self.projection_activation(self.question_projection(self.dropout(question)))
        image = self.projection_activation(self.image_projection(self.dropout(image)))
        question = self.question_factors(question)
        image = self.image_factors(image)
        product = question * image
        fused = product.unflatten(-1, (self.rank, self.fused_size)).sum(dim=-2)
        return self.output_activation(fused)


class TuckerFusion(nn.Module):
    """Plain Tucker fusion: MUTAN without the rank constraint on the core tensor.

    Ben-Younes et al. 2017, eq. (2): ``z = τ_c ×_1 q̃ ×_2 ṽ`` with a full core
    ``τ_c ∈ R^{t_q × t_v × t_o}`` (plus a bias), after the same tanh projections as
    [`MutanFusion`] (same ``dropout``, activations, ``image_projected_size``, ``image_blocks`` and
    ``factor_init_gain``, here for the core). The core is
    an ``nn.Bilinear``: ``z_k = q̃^T τ_c[:, :, k] ṽ + b_k``.
    """

    def __init__(
        self,
        question_size: int,
        image_size: int,
        projected_size: int,
        fused_size: int,
        dropout: float = 0.5,
        output_activation: str = "none",
        image_projected_size: int | None = None,
        image_blocks: int = 1,
        projection_activation: str = "tanh",
        factor_init_gain: float = 1.0,
    ):
        super().__init__()
        self.projection_activation = _activation(projection_activation)
        image_projected_size = image_projected_size or projected_size
        self.question_projection = nn.Linear(question_size, projected_size)
        self.image_projection = _linear(image_size, image_projected_size, image_blocks)
        self.core = nn.Bilinear(projected_size, image_projected_size, fused_size)
        scale_initialization(self.core, factor_init_gain)
        self.dropout = nn.Dropout(dropout)
        self.output_activation = _activation(output_activation)

    def forward(self, question: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        question = self.projection_activation(self.question_projection(self.dropout(question)))
        image = self.projection_activation(self.image_projection(self.dropout(image)))
        # nn.Bilinear does not broadcast: expand the leading dimensions (t_q and t_v may differ).
        leading = torch.broadcast_shapes(question.shape[:-1], image.shape[:-1])
        fused = self.core(question.expand(*leading, -1).contiguous(), image.expand(*leading, -1).contiguous())
        return self.output_activation(fused)

