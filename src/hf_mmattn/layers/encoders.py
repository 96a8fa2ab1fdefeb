"""Question and image encoders shared by the VQA models.

Images come in one of three ways, chosen by ``config.image_encoder``:

* ``"scratch_cnn"``: a small convolutional network trained from scratch (right for 64x64
  synthetic images such as easy-VQA), its last feature map used as a grid of regions;
* ``"backbone"``: any transformers vision backbone built from ``config.backbone_config``
  (ResNet, ConvNeXt, ...; ``AutoBackbone``), its last feature map used as the grid, frozen by
  default as in the papers, which use fixed ImageNet CNN features (VGG pool5 / ResNet res5c);
* ``"features"``: precomputed region or grid features ``(batch, num_regions, dim)`` with an
  optional ``image_attention_mask`` (bottom-up Faster R-CNN features, cached CNN grids).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .masking import is_right_padded, run_packed_rnn  # noqa: F401 (is_right_padded: importable from here)

IMAGE_ENCODERS = ("scratch_cnn", "backbone", "features")


class ScratchCNN(nn.Module):
    """Stacked conv3x3 → BatchNorm → ReLU → 2x2 max-pool blocks; a 64x64 image gives an 8x8 grid
    with three blocks. The ReLU matters: the easy-VQA author's Keras model, whose convolutions
    have no non-linearity, never leaves the 67% plateau (docs/equations.md, easy-VQA)."""

    def __init__(self, channels: list[int] | tuple[int, ...], in_channels: int = 3):
        super().__init__()
        blocks = []
        for out_channels in channels:
            blocks += [
                nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            in_channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = in_channels

    @property
    def min_image_size(self) -> int:
        """The smallest height and width that leave a 1x1 map: each block's 2x2 pooling halves them."""
        return 2 ** sum(isinstance(layer, nn.MaxPool2d) for layer in self.blocks)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.blocks(pixel_values)


class ImageEncoder(nn.Module):
    """Turns pixels or precomputed features into regions ``(num_images, num_regions, dim)``.

    Returns ``(regions, region_mask, grid_size)``; ``grid_size`` is ``(height, width)`` of the
    feature map for pixel inputs (after the optional ``config.image_grid_pool_size`` pooling) (so attention maps can be laid over the image) and ``None`` for
    precomputed features, whose layout the model cannot know. Pixels smaller than the encoder can
    read raise a ``ValueError`` naming the smallest size: ``2 ** blocks`` for the scratch CNN, found
    by probing for a backbone.
    """

    def __init__(self, config):
        super().__init__()
        self.kind = config.image_encoder
        if self.kind not in IMAGE_ENCODERS:
            raise ValueError(f"image_encoder must be one of {IMAGE_ENCODERS}, got {self.kind!r}")
        self.freeze_backbone = config.freeze_backbone
        self.grid_pool_size = tuple(config.image_grid_pool_size) if config.image_grid_pool_size is not None else None
        if self.kind == "scratch_cnn":
            self.cnn = ScratchCNN(config.scratch_cnn_channels, config.num_channels)
            self.output_size = self.cnn.out_channels
        elif self.kind == "backbone":
            from transformers.backbone_utils import load_backbone

            if config.backbone_config is None:
                raise ValueError("image_encoder='backbone' needs a backbone_config (e.g. a ResNetConfig)")
            self.backbone = load_backbone(config)
            self.output_size = self.backbone.channels[-1]
            if self.freeze_backbone:
                self.backbone.requires_grad_(False)
        else:
            self.output_size = config.image_feature_size

    def train(self, mode: bool = True):
        super().train(mode)
        if self.kind == "backbone" and self.freeze_backbone:
            # A frozen backbone keeps its BatchNorm statistics: it is a fixed feature extractor.
            self.backbone.eval()
        return self

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        image_features: torch.Tensor | None = None,
        image_attention_mask: torch.Tensor | None = None,
        image_index: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, int] | None]:
        """Returns (regions, region mask or None, grid size or None). With ``image_index``, each
        image is encoded once and row i of the result is image ``image_index[i]``'s."""
        if self.kind == "features":
            regions, region_mask, grid_size = image_features, image_attention_mask, None
        else:
            if self.kind == "scratch_cnn":
                feature_map = self._run_scratch_cnn(pixel_values)
            else:
                feature_map = self._run_backbone(pixel_values)
            if self.grid_pool_size is not None and self.grid_pool_size != tuple(feature_map.shape[-2:]):
                feature_map = F.adaptive_avg_pool2d(feature_map, self.grid_pool_size)
            regions, region_mask, grid_size = feature_map.flatten(2).transpose(1, 2), None, tuple(feature_map.shape[-2:])
        if image_index is not None:
            regions = regions[image_index]
            region_mask = region_mask[image_index] if region_mask is not None else None
        return regions, region_mask, grid_size

    @staticmethod
    def _too_small(pixel_values: torch.Tensor, min_size: int, reason: str) -> str:
        height, width = pixel_values.shape[-2:]
        return (
            f"pixel_values of {height}x{width} pixels are too small for this model's image encoder ({reason}): "
            f"it needs at least {min_size}x{min_size}. The model's processor resizes images to the size it was "
            "trained on"
        )

    def _run_scratch_cnn(self, pixel_values: torch.Tensor) -> torch.Tensor:
        min_size = self.cnn.min_image_size
        if min(pixel_values.shape[-2:]) < min_size:
            raise ValueError(self._too_small(pixel_values, min_size, f"{min_size.bit_length() - 1} 2x2 poolings"))
        return self.cnn(pixel_values)

    def _run_backbone(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The backbone's last feature map. A backbone declares no minimum input size, so an image
        too small for it (a kernel or pooling window larger than what is left of the image) fails
        inside torch: that failure becomes an error naming the smallest square size that passes
        (:meth:`backbone_min_image_size`); any other failure is raised as it is."""
        try:
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_backbone):
                return self.backbone(pixel_values).feature_maps[-1]
        except RuntimeError as error:
            min_size = self.backbone_min_image_size(pixel_values)
            if min_size is None or min(pixel_values.shape[-2:]) >= min_size:
                raise
            raise ValueError(self._too_small(pixel_values, min_size, type(self.backbone).__name__)) from error

    @torch.no_grad()
    def backbone_min_image_size(self, like: torch.Tensor, largest: int = 1024) -> int | None:
        """The smallest ``s`` such that an ``s x s`` image passes through the backbone, or ``None``
        if none up to ``largest`` does: sizes doubled from ``like``'s smaller side until one passes,
        then a binary search, on single zero images typed like ``like``, in eval mode so that no
        BatchNorm statistic moves (only run after a failure)."""
        was_training = self.backbone.training
        self.backbone.eval()

        def passes(size: int) -> bool:
            try:
                self.backbone(like.new_zeros(1, like.shape[1], size, size))
            except RuntimeError:
                return False
            return True

        try:
            low, high = 0, max(1, min(like.shape[-2:]))  # low fails (or is 0)
            while not passes(high):
                if high >= largest:
                    return None
                low, high = high, min(2 * high, largest)
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (low, middle) if passes(middle) else (middle, high)
            return high
        finally:
            self.backbone.train(was_training)


class QuestionEncoding(NamedTuple):
    """What a question encoder returns.

    last_hidden: the question vector ``(batch, hidden)`` (the top layer's state after the last
        real word; for a bidirectional RNN the sum of both directions' final states).
    word_states: the top layer's output at every word ``(batch, words, hidden)``, zero on
        padding (for bidirectional RNNs the forward and backward outputs summed), or ``None``.
    state: the RNN's final state of every layer: ``(h_n, c_n)`` for an LSTM, ``h_n`` for a GRU.
    """

    last_hidden: torch.Tensor
    word_states: torch.Tensor | None = None
    state: tuple[torch.Tensor, torch.Tensor] | torch.Tensor | None = None


class LSTMQuestionEncoder(nn.Module):
    """Word embedding → (optional tanh) → LSTM or GRU over the question; padding-aware through
    packing. ``bidirectional=True`` sums the forward and backward outputs at each word (the text
    encoder of DAN, Nam et al. 2017, section 4.1). Returns a [`QuestionEncoding`].

    ``dropout`` acts on the word embeddings (before the activation); ``rnn_dropout`` between
    stacked RNN layers (``nn.LSTM``'s own inter-layer dropout, on every layer's outputs but the
    last; ignored with one layer).
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        hidden_size: int,
        num_layers: int = 1,
        pad_token_id: int = 0,
        embedding_activation: str | None = None,
        dropout: float = 0.0,
        rnn_type: str = "lstm",
        bidirectional: bool = False,
        rnn_dropout: float = 0.0,
    ):
        super().__init__()
        if rnn_type not in ("lstm", "gru"):
            raise ValueError(f"rnn_type must be 'lstm' or 'gru', got {rnn_type!r}")
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=pad_token_id)
        self.embedding_activation = nn.Tanh() if embedding_activation == "tanh" else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        rnn_class = nn.LSTM if rnn_type == "lstm" else nn.GRU
        self.lstm = rnn_class(
            embedding_size, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=bidirectional,
            dropout=rnn_dropout if num_layers > 1 else 0.0,
        )
        self.bidirectional = bidirectional
        self.output_size = hidden_size

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> QuestionEncoding:
        embedded = self.embedding_activation(self.dropout(self.embedding(input_ids)))
        word_states, state = run_packed_rnn(self.lstm, embedded, attention_mask)
        h_n = state[0] if isinstance(state, tuple) else state
        if self.bidirectional:
            word_states = word_states.unflatten(-1, (2, -1)).sum(dim=-2)
            last_hidden = h_n[-2] + h_n[-1]
        else:
            last_hidden = h_n[-1]
        return QuestionEncoding(last_hidden, word_states, state)


CNN_WINDOWS = ("wide", "narrow")


class CNNQuestionEncoder(nn.Module):
    """Convolutional question model of SAN (Yang et al. 2016, section 3.2, eq. 7-10).

    Unigram, bigram and trigram convolutions over the word embeddings, tanh, max-pooled over
    the question (padding excluded), concatenated: ``h = [h_1; h_2; h_3]``::

        h_{c,t} = tanh(W_c x_{t:t+c-1} + b_c)          (eq. 8)
        h̃_c = max_t h_{c,t},   h = [h̃_1; h̃_2; h̃_3]     (eq. 9-10)

    ``windows`` says which windows the max runs over, for a question of T words:

    * ``"wide"``: every window that holds at least one word, the question zero-padded by c-1 on
      both sides (``T + c - 1`` windows, the first and last ones partly outside the question);
    * ``"narrow"``: eq. 8's ``h_{c,1} .. h_{c,T-c+1}``, the windows inside the question; a question
      shorter than c words keeps one window, its words followed by zeros.

    The two read the same parameters, so a checkpoint loads under either.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        kernel_sizes: list[int] | tuple[int, ...],
        channels: list[int] | tuple[int, ...],
        pad_token_id: int = 0,
        windows: str = "wide",
    ):
        super().__init__()
        if len(kernel_sizes) != len(channels):
            raise ValueError("question_cnn_kernel_sizes and question_cnn_channels must have the same length")
        if windows not in CNN_WINDOWS:
            raise ValueError(f"question_cnn_windows must be one of {CNN_WINDOWS}, got {windows!r}")
        self.windows = windows
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=pad_token_id)
        self.convolutions = nn.ModuleList(
            nn.Conv1d(embedding_size, out_channels, kernel_size, padding=kernel_size - 1 if windows == "wide" else 0)
            for kernel_size, out_channels in zip(kernel_sizes, channels, strict=True)
        )
        self.output_size = sum(channels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        # Zero past the last word, whatever ids the padding holds: windows reaching past it read zeros.
        embedded = self.embedding(input_ids) * attention_mask.unsqueeze(-1).to(self.embedding.weight.dtype)
        embedded = embedded.transpose(1, 2)  # (batch, embedding, words)
        lengths = attention_mask.sum(dim=1)
        pooled = []
        for convolution in self.convolutions:
            kernel_size = convolution.kernel_size[0]
            if self.windows == "wide":
                # padding=k-1 on both sides: output t covers words t-k+1..t, so a window is valid
                # when it touches at least one real word, i.e. t < length + k - 1.
                features = torch.tanh(convolution(embedded))
                window_count = lengths + kernel_size - 1
            else:
                # k-1 zeros on the right: output t covers words t..t+k-1, valid inside the question
                # (t < length - k + 1), and at least the first window.
                features = torch.tanh(convolution(F.pad(embedded, (0, kernel_size - 1))))
                window_count = (lengths - kernel_size + 1).clamp(min=1)
            positions = torch.arange(features.shape[-1], device=features.device)
            valid = positions.unsqueeze(0) < window_count.unsqueeze(1)
            features = features.masked_fill(~valid.unsqueeze(1), torch.finfo(features.dtype).min)
            pooled.append(features.max(dim=-1).values)
        return QuestionEncoding(torch.cat(pooled, dim=-1))
