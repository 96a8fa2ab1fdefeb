"""Weight initialisation of every layer the models are built from, in one place.

``MMAttnPreTrainedModel._init_weights`` (``modeling_base.py``) calls [`init_module`] on each
module; transformers runs it at construction and, from ``from_pretrained``, on whatever a
checkpoint lacks. Every draw goes through ``transformers.initialization``, whose functions leave
a tensor loaded from a checkpoint as it is.

The rules, by layer type:

* ``nn.Linear``, ``nn.Conv1d/2d``, ``nn.ConvTranspose1d/2d``: PyTorch's default, the weight from
  U(±1/√fan_in) (He et al. 2015's uniform with a = √5) and the bias from U(±1/√fan_in);
  ``nn.Bilinear`` the same with fan_in = its first input's size. A layer with an ``init_gain``
  (set by [`~hf_mmattn.layers.fusion.scale_initialization`]: MUTAN's and Tucker's factors) gets
  its weight bound multiplied by it.
* RNNs and RNN cells (LSTM, GRU): every parameter from U(±1/√hidden_size), PyTorch's default.
* ``nn.Embedding``: N(0, 1), the padding row 0.
* ``nn.BatchNorm1d/2d``, ``nn.LayerNorm`` and [`ReleasedLayerNorm`] (MCAN's): weight 1, bias 0,
  running mean 0, running variance 1.
* [`WeightNormLinear`] (Salimans & Kingma 2016; BAN): V and b as ``nn.Linear``'s, g = ‖V‖ (so
  W = V at the start, as ``torch.nn.utils.weight_norm`` gives when it wraps a layer).
* [`BilinearAttentionMap`] (BAN section 3): the glimpse vectors p_g and biases from N(0, 1),
  their scale g = ‖P‖ (ban-vqa's ``weight_norm`` over ``h_mat``).
* [`PiecewiseLinear`] (Zhang et al. 2018, section 4.1): weight 0 then ones, the identity map.
* [`CompactBilinearPooling`] (Fukui et al. 2016, section 3.1): the count sketch hashes and signs
  drawn again from the layer's seed, the very sketch of its construction (also the Tensor Sketch
  of the bilinear CNN's compact pooling);
* [`RandomMaclaurinPooling`] (Gao et al. 2016, Algorithm 1): the ±1 projections drawn again from
  the layer's seed.

``released``: the U(-b, b) bounds of a released code's initialisation (a model's
``_released_initialization``, see ``modeling_base.py``), which replace the rules above for the
layers the released codes have, ``nn.Linear``, ``nn.Conv1d``, the RNNs and ``nn.Embedding``
([`RELEASED_LAYER_TYPES`]); each bound is 0 for zeros:

* ``"weight"`` / ``"bias"``: ``nn.Linear`` and ``nn.Conv1d`` weights and biases; ``"weight":
  "xavier"`` is Caffe's xavier filler U(±√(3/fan_in));
* ``"rnn_weight"`` / ``"rnn_bias"``: the LSTM's (GRU's) weights and biases, and ``"forget_bias"``
  (optional) the forget-gate slice of every ``bias_ih`` (``bias_hh``'s stays as ``"rnn_bias"``:
  the released codes have one bias, PyTorch's two add up);
* ``"embedding"``: the word embeddings (the padding row stays 0).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import initialization as init

from .bilinear_attention import BilinearAttentionMap
from .counting import PiecewiseLinear
from .fusion import CompactBilinearPooling
from .image_pooling import RandomMaclaurinPooling
from .modular_coattention import ReleasedLayerNorm
from .weight_norm import WeightNormLinear

#: The layers a released code's initialisation (``released`` bounds) applies to.
RELEASED_LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.RNNBase, nn.Embedding)


@torch.no_grad()
def init_module(module: nn.Module, released: dict | None = None) -> None:
    """Initialises the parameters and buffers that ``module`` holds itself (not its children's:
    transformers calls this on every module) by its type's rule, or by the ``released`` bounds
    when given and the layer is one of [`RELEASED_LAYER_TYPES`]. Other modules are left as they
    are."""
    if released is not None and isinstance(module, RELEASED_LAYER_TYPES):
        init_released(module, released)
    elif isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.Bilinear)):
        if isinstance(module, nn.Bilinear):
            fan_in = module.weight.shape[1]
        else:
            fan_in = nn.init._calculate_fan_in_and_fan_out(module.weight)[0]
        gain = getattr(module, "init_gain", 1.0)
        if gain == 1.0 and not isinstance(module, nn.Bilinear):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))  # U(±1/√fan_in)
        else:
            init.uniform_(module.weight, -gain / math.sqrt(fan_in), gain / math.sqrt(fan_in))
        if module.bias is not None:
            init.uniform_(module.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
    elif isinstance(module, (nn.RNNBase, nn.RNNCellBase)):  # LSTM, GRU and their cells
        bound = 1 / math.sqrt(module.hidden_size)
        for parameter in module.parameters(recurse=False):
            init.uniform_(parameter, -bound, bound)
    elif isinstance(module, nn.Embedding):
        init.normal_(module.weight)
        if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
            init.zeros_(module.weight[module.padding_idx])
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, ReleasedLayerNorm)):
        if module.weight is not None:
            init.ones_(module.weight)
        if module.bias is not None:
            init.zeros_(module.bias)
        if getattr(module, "running_mean", None) is not None:
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
    elif isinstance(module, WeightNormLinear):
        init.kaiming_uniform_(module.weight_direction, a=math.sqrt(5))
        init.copy_(module.weight_scale, module.weight_direction.norm())
        if module.bias is not None:
            bound = 1 / math.sqrt(module.in_features)
            init.uniform_(module.bias, -bound, bound)
    elif isinstance(module, BilinearAttentionMap):
        init.normal_(module.glimpse_weight_direction)
        init.copy_(module.glimpse_weight_scale, module.glimpse_weight_direction.norm())
        init.normal_(module.glimpse_bias)
    elif isinstance(module, PiecewiseLinear):
        init.copy_(module.weight, torch.cat([torch.zeros(1), torch.ones(module.num_pieces)]).to(module.weight))
    elif isinstance(module, CompactBilinearPooling):
        sketch = module.draw_sketch(module.question_hash.numel(), module.image_hash.numel())
        for name, tensor in sketch.items():
            init.copy_(getattr(module, name), tensor)
    elif isinstance(module, RandomMaclaurinPooling):
        projections = module.draw_projections(module.projection_a.shape[1], module.projection_b.shape[1])
        for name, tensor in projections.items():
            init.copy_(getattr(module, name), tensor)


def init_released(module: nn.Module, released: dict) -> None:
    """A released code's initialisation of one of [`RELEASED_LAYER_TYPES`]: U(-b, b) with the
    ``released`` bound of each of its tensors (zeros for a bound of 0; see the module docstring)."""

    def draw(tensor, bound):
        return init.zeros_(tensor) if bound == 0 else init.uniform_(tensor, -bound, bound)

    if isinstance(module, (nn.Linear, nn.Conv1d)):
        bound = released["weight"]
        if bound == "xavier":
            bound = math.sqrt(3 / nn.init._calculate_fan_in_and_fan_out(module.weight)[0])
        draw(module.weight, bound)
        if module.bias is not None:
            draw(module.bias, released["bias"])
    elif isinstance(module, nn.RNNBase):
        for name, parameter in module.named_parameters(recurse=False):
            loaded = getattr(parameter, "_is_hf_initialized", False)
            draw(parameter, released["rnn_weight"] if name.startswith("weight") else released["rnn_bias"])
            if name.startswith("bias_ih") and released.get("forget_bias") is not None and not loaded:
                # PyTorch's gates are (input, forget, cell, output): the forget gate is the second slice.
                init.constant_(parameter[module.hidden_size : 2 * module.hidden_size], released["forget_bias"])
    else:
        draw(module.weight, released["embedding"])
        if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
            init.zeros_(module.weight[module.padding_idx])


__all__ = ["RELEASED_LAYER_TYPES", "init_module", "init_released"]
