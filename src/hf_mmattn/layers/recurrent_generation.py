"""The generation cache of recurrent decoders (Show and Tell, Show, Attend and Tell).

Vinyals et al., *Show and Tell*, CVPR 2015, and Xu et al., *Show, Attend and Tell*, ICML 2015,
decode with an LSTM: everything the next step needs is the LSTM state (h_t, c_t) and the encoded
image (the annotation vectors a_i and their attention projection W_a a_i, eq. 4), so a decoding
step costs the same at word 1 and at word 20. transformers' ``generate()`` passes the pixels on
the first step only (docs/transformers.md, "generate() with recurrent decoders"): this cache carries
the encoded image for the later steps, and beam search reorders it through ``reorder_cache``.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache


class RecurrentStateCache(Cache):
    """Named tensors whose first dimension is the batch (LSTM state, encoded image, per-caption
    flags) plus the number of tokens decoded so far and the image grid size.

    ``reorder_cache(beam_idx)`` index-selects every tensor along the batch, as beam search needs
    after each step; without it beam search would silently continue the wrong beams.
    """

    is_compileable = False

    def __init__(self, tensors: dict[str, torch.Tensor] | None = None, seen_tokens: int = 0,
                 grid_size: tuple[int, int] | None = None):
        super().__init__(layers=[])
        self.tensors = dict(tensors or {})
        self.seen_tokens = seen_tokens
        self.grid_size = grid_size  # (height, width) of the image grid, for attention figures

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.tensors[name]

    def __setitem__(self, name: str, value: torch.Tensor) -> None:
        self.tensors[name] = value

    def __contains__(self, name) -> bool:
        return name in self.tensors

    def __len__(self) -> int:
        return 1

    def __repr__(self) -> str:
        shapes = ", ".join(f"{name}={tuple(tensor.shape)}" for name, tensor in self.tensors.items())
        return f"{type(self).__name__}(seen_tokens={self.seen_tokens}, {shapes})"

    @property
    def batch_size(self) -> int:
        return next(iter(self.tensors.values())).shape[0]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.seen_tokens

    def get_max_length(self, layer_idx: int | None = None) -> int:
        return -1

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        for name, tensor in self.tensors.items():
            self.tensors[name] = tensor.index_select(0, beam_idx.to(tensor.device))

    def batch_repeat_interleave(self, repeats: int) -> None:
        for name, tensor in self.tensors.items():
            self.tensors[name] = tensor.repeat_interleave(repeats, dim=0)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        for name, tensor in self.tensors.items():
            self.tensors[name] = tensor[indices]
