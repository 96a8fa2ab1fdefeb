"""Show, Attend and Tell: Neural Image Caption Generation with Visual Attention (Xu, Ba, Kiros,
Cho, Courville, Salakhutdinov, Zemel, Bengio, ICML 2015).

The encoder's last feature map is a grid of L annotation vectors a_i ∈ R^D (section 3.1.1). At
each word t the LSTM decoder (section 3.1.2) computes::

    e_ti = w · tanh(W_a a_i + W_h h_{t-1})            f_att, eq. 4 (arctic-captions' form)
    α_t  = softmax(e_t)                               eq. 5
    ẑ_t  = β_t φ(a, α_t),  β_t = σ(f_β(h_{t-1}))      eq. 6 and the gate of section 4.2.1
    h_t, c_t = LSTM([E y_{t-1}; ẑ_t], h_{t-1}, c_{t-1})
    p(y_t) ∝ exp(L_o(E y_{t-1} + L_h h_t + L_z ẑ_t))   deep output, eq. 7
    h_0 = f_init,h(mean_i a_i),  c_0 = f_init,c(mean_i a_i)   (MLPs with tanh)

φ is either the soft attention Σ_i α_ti a_i (section 4.2, trained end to end with the doubly
stochastic penalty λ Σ_i (1 − Σ_t α_ti)², eq. 14) or the hard attention a_{s_t} with
s_t ~ Multinoulli(α_t) (section 4.1), trained with the gradient of eq. 12::

    ∂L/∂W ≈ Σ [ ∂log p(y|s̃,a)/∂W + λ_r (log p(y|s̃,a) − b) ∂log p(s̃|a)/∂W + λ_e ∂H[s̃]/∂W ]

with the moving-average baseline b_k = 0.9 b_{k−1} + 0.1 log p(y|s̃_k, a) and, with probability
0.5 for a given image, s̃ set to its expected value α. Written here as a loss to minimise:
−log p(y|s̃,a) − λ_r (R − b)·log p(s̃|a) − λ_e H, the advantage held constant, with the reward R
and the sum over captions normalised as eq. 12 writes it (R = log p(y|s̃,a), averaged over the
samples s̃^n, here one per caption) or as arctic-captions computes it (R = log p(y|s̃,a) per
predicted word, summed over the captions of the batch): ``reinforce_normalization``, see
``compute_loss``.

Config switches reproduce the released Theano code and the PyTorch tutorial port (see
configuration_show_attend_tell.py and the model card).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin
from transformers import initialization as init

from ...layers.additive_attention import additive_attention_scores
from ...layers.masking import masked_mean, masked_softmax
from ...layers.recurrent_generation import RecurrentStateCache
from ...tasks.captioning.modeling import (
    DecodedWords,
    MMAttnCaptioningPreTrainedModel,
    caption_negative_log_likelihood,
    keep_state_at_padding,
    reduce_caption_loss,
)
from .configuration_show_attend_tell import ShowAttendTellConfig


def attention_entropy(alphas: torch.Tensor) -> torch.Tensor:
    """H(α_t) = −Σ_i α_ti log α_ti over the last dimension, with 0 log 0 = 0 in the value and in
    the gradient. A padded region (``image_attention_mask`` 0) has α_ti = 0 exactly (and a real
    one can underflow to 0); ``torch.special.xlogy(α, α)`` is 0 there but its gradient is NaN
    (its derivative in the second argument, x/y = 0/0), which the softmax spreads to every
    parameter even when λ_e = 0 (0·NaN = NaN). Here log α_ti is taken of 1 where α_ti = 0, so
    such a location contributes 0 to the value and 0 to the gradient (the limit of α log α);
    elsewhere value and gradient are xlogy's, bit for bit."""
    log_alphas = torch.where(alphas > 0, alphas, 1.0).log()
    return -(alphas * log_alphas).sum(-1)


ARCTIC_WEIGHT_STD = 0.01  # arctic-captions' norm_weight(..., scale=0.01)


def arctic_norm_weight(out_features: int, in_features: int, like: torch.Tensor, ortho: bool = True) -> torch.Tensor:
    """arctic-captions' ``norm_weight(nin=in_features, nout=out_features, scale=0.01, ortho)`` as a
    PyTorch ``(out, in)`` weight: a random orthogonal matrix when it is square and ``ortho``
    (its ``ortho_weight``: the U of the SVD of a Gaussian matrix; here the Q of a QR, the same
    distribution), N(0, 0.01²) otherwise. A new tensor on ``like``'s device (float32 for
    half-precision parameters, which the QR does not support), copied in by the caller."""
    dtype = like.dtype if like.dtype in (torch.float32, torch.float64) else torch.float32
    weight = torch.empty(out_features, in_features, dtype=dtype, device=like.device)
    if ortho and out_features == in_features:
        return init.orthogonal_(weight)
    return init.normal_(weight, mean=0.0, std=ARCTIC_WEIGHT_STD)


class MovingAverageBaseline(nn.Module):
    """The REINFORCE baseline of hard attention (section 4.1): b ← decay·b + (1 − decay)·mean_n R_n,
    R_n the reward the advantage R_n − b is taken of (log p(y|s̃, a), or that divided by the
    caption's predicted words for ``reinforce_normalization="arctic"``), kept as a buffer so that
    it is saved and resumed with the weights. Its value is in the units of R_n: a checkpoint
    trained with one normalisation and resumed with the other starts from a baseline of the wrong
    scale (the moving average forgets it in a few tens of steps at decay 0.9)."""

    def __init__(self, decay: float):
        super().__init__()
        self.decay = decay
        self.register_buffer("value", torch.zeros(()))

    @torch.no_grad()
    def update(self, log_likelihood: torch.Tensor) -> None:
        self.value.mul_(self.decay).add_((1.0 - self.decay) * log_likelihood.mean().to(self.value.dtype))


class ShowAttendTellForConditionalGeneration(MMAttnCaptioningPreTrainedModel, GenerationMixin):
    config_class = ShowAttendTellConfig

    def __init__(self, config: ShowAttendTellConfig):
        super().__init__(config)
        annotation_size = self.image_encoder.output_size
        embedding_size, hidden_size = config.embedding_size, config.hidden_size
        self.embedding = nn.Embedding(config.vocab_size, embedding_size, padding_idx=config.pad_token_id)
        # f_init: h_0 and c_0 from the mean annotation.
        self.init_hidden = nn.Linear(annotation_size, hidden_size)
        self.init_cell = nn.Linear(annotation_size, hidden_size)
        # f_att (eq. 4): W_a a_i (+ bias) is computed once per image; W_h h_{t-1} at every word.
        self.attention_annotations = nn.Linear(annotation_size, config.attention_size)
        self.attention_state = nn.Linear(hidden_size, config.attention_size, bias=False)
        self.attention_score = nn.Linear(config.attention_size, 1)
        self.attention_activation = nn.Tanh() if config.attention_activation == "tanh" else nn.ReLU()
        gate_size = {"scalar": 1, "vector": annotation_size, "none": 0}[config.gate]
        self.gate = nn.Linear(hidden_size, gate_size) if gate_size else None
        self.lstm = nn.LSTMCell(embedding_size + annotation_size, hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        if config.deep_output:
            self.output_hidden = nn.Linear(hidden_size, embedding_size)  # L_h
            self.output_context = nn.Linear(annotation_size, embedding_size)  # L_z
            self.word_classifier = nn.Linear(embedding_size, config.vocab_size)  # L_o
        else:
            self.word_classifier = nn.Linear(hidden_size, config.vocab_size)
        self.baseline = MovingAverageBaseline(config.baseline_decay) if config.attention_type == "hard" else None
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        """``config.initialization="pytorch"``: PyTorch's default initialisation of every layer
        ([`~hf_mmattn.modeling_base.MMAttnPreTrainedModel._init_weights`]). ``"arctic"``: the
        decoder as arctic-captions' ``init_params`` draws it (:meth:`_init_arctic_weights`), the
        image encoder as ``"pytorch"`` (arctic reads fixed VGG features; nothing there is
        trained). The REINFORCE baseline starts at 0 either way."""
        if self.config.initialization == "arctic" and self._init_arctic_weights(module):
            return
        super()._init_weights(module)
        if isinstance(module, MovingAverageBaseline):
            init.zeros_(module.value)

    def _init_arctic_weights(self, module) -> bool:
        """arctic-captions' initialisation (capgen.py ``init_params``, ``param_init_fflayer``,
        ``param_init_lstm_cond``) of one decoder layer; False for a layer it does not own. Every
        weight is ``norm_weight`` (orthogonal when square, else N(0, 0.01²), see
        :func:`arctic_norm_weight`), every bias 0::

            embedding          Wemb = norm_weight(n_words, dim_word)        (the padding row 0, as nn.Embedding's)
            init_hidden/_cell  ff_state / ff_memory: norm_weight(ctx_dim, dim), b = 0
            attention_annotations   Wc_att = norm_weight(dimctx, ortho=False): always N(0, 0.01²); b_att = 0
            attention_state    Wd_att = norm_weight(dim, dimctx)
            attention_score    U_att = norm_weight(dimctx, 1), c_tt = 0
            gate               W_sel = norm_weight(dim, 1), b_sel = 0     (the vector gate: norm_weight(dim, D))
            lstm.weight_ih     [W; Wc]: 4 blocks norm_weight(dim_word, dim) for the word, norm_weight(ctx_dim, 4 dim) for ẑ
            lstm.weight_hh     U: 4 orthogonal blocks ortho_weight(dim), one per gate
            lstm.bias_ih/_hh   b = 0 (arctic has one LSTM bias)
            output_hidden      ff_logit_lstm: norm_weight(dim, dim_word), b = 0
            output_context     ff_logit_ctx: norm_weight(ctx_dim, dim_word), b = 0
            word_classifier    ff_logit: norm_weight(dim_word, n_words), b = 0 (no deep output: norm_weight(dim, n_words))

        Built as new tensors and copied in with ``transformers.initialization.copy_``, which skips a
        tensor loaded from a checkpoint. The layers are recognised by identity: a word table or
        classifier that ``resize_token_embeddings(mean_resizing=False)`` creates gets the
        ``"pytorch"`` draw for its new rows."""
        if module is self.embedding:
            weight = arctic_norm_weight(module.num_embeddings, module.embedding_dim, module.weight)
            if module.padding_idx is not None:
                weight[module.padding_idx] = 0.0
            init.copy_(module.weight, weight)
            return True
        if module is self.lstm:
            hidden_size, embedding_size = module.hidden_size, self.config.embedding_size
            annotation_size = module.input_size - embedding_size
            word = torch.cat([arctic_norm_weight(hidden_size, embedding_size, module.weight_ih) for _ in range(4)], dim=0)
            context = arctic_norm_weight(4 * hidden_size, annotation_size, module.weight_ih)
            init.copy_(module.weight_ih, torch.cat([word, context], dim=1))
            recurrent = [arctic_norm_weight(hidden_size, hidden_size, module.weight_hh) for _ in range(4)]
            init.copy_(module.weight_hh, torch.cat(recurrent, dim=0))
            init.zeros_(module.bias_ih)
            init.zeros_(module.bias_hh)
            return True
        linear_layers = (
            self.init_hidden, self.init_cell, self.attention_annotations, self.attention_state, self.attention_score,
            self.gate, getattr(self, "output_hidden", None), getattr(self, "output_context", None), self.word_classifier,
        )
        if module is not None and any(module is layer for layer in linear_layers):
            ortho = module is not self.attention_annotations  # Wc_att: norm_weight(..., ortho=False)
            init.copy_(module.weight, arctic_norm_weight(module.out_features, module.in_features, module.weight, ortho=ortho))
            if module.bias is not None:
                init.zeros_(module.bias)
            return True
        return False

    def start(self, regions: torch.Tensor, region_mask: torch.Tensor | None) -> RecurrentStateCache:
        """Encodes the image for every later word: the annotations, their attention projection
        W_a a_i, the initial state f_init(mean a), and for hard attention the per-image choice of
        the expected attention."""
        mean_annotation = masked_mean(regions, region_mask)
        hidden, cell = self.init_hidden(mean_annotation), self.init_cell(mean_annotation)
        if self.config.init_state_activation == "tanh":
            hidden, cell = torch.tanh(hidden), torch.tanh(cell)
        tensors = {
            "hidden": hidden,
            "cell": cell,
            "annotations": regions,
            "projected_annotations": self.attention_annotations(regions),
        }
        if region_mask is not None:
            tensors["annotation_mask"] = region_mask
        if self.config.attention_type == "hard":
            tensors["use_expected"] = self._draw_expected_attention(regions.shape[0], regions.device)
        return RecurrentStateCache(tensors)

    def _draw_expected_attention(self, batch_size: int, device) -> torch.Tensor:
        if not self.training:
            return torch.full((batch_size,), self.config.hard_attention_inference == "expected", device=device)
        draws = 1 if self.config.expected_attention_scope == "batch" else batch_size
        use_expected = torch.rand(draws, device=device) < self.config.expected_attention_probability
        return use_expected.expand(batch_size)

    def attend(self, hidden: torch.Tensor, cache: RecurrentStateCache) -> torch.Tensor:
        """α_t = softmax_i(w · act(W_a a_i + W_h h_{t-1}) + b) over the real annotations (eq. 4-5):
        the additive attention of layers/additive_attention.py with this model's own layers
        (``attention_annotations`` W_a, b; ``attention_state`` W_h; ``attention_score`` w, b_w)."""
        scores = additive_attention_scores(
            cache["projected_annotations"], self.attention_state(hidden), self.attention_score, self.attention_activation
        )
        return masked_softmax(scores, cache.tensors.get("annotation_mask"))

    def locations_to_read(self, alpha: torch.Tensor, use_expected: torch.Tensor | None) -> torch.Tensor:
        """The weights φ reads the annotations with: α_t for soft attention; for hard attention a
        one-hot sample s_t ~ Multinoulli(α_t) while training (α_t itself for the images drawn to
        use the expectation), and α_t or its arg max at inference."""
        if self.config.attention_type == "soft":
            return alpha
        if self.training:
            location = torch.multinomial(alpha.detach().float(), 1).squeeze(1)
        else:
            location = alpha.argmax(dim=-1)
        one_hot = F.one_hot(location, alpha.shape[-1]).to(alpha.dtype)
        return torch.where(use_expected.unsqueeze(-1), alpha, one_hot)

    def decode(self, input_ids, attention_mask, cache: RecurrentStateCache) -> DecodedWords:
        words = self.embedding(input_ids)
        hidden, cell = cache["hidden"], cache["cell"]
        alphas, used, gates, contexts, hiddens = [], [], [], [], []
        for t in range(input_ids.shape[1]):
            alpha = self.attend(hidden, cache)
            weights = self.locations_to_read(alpha, cache.tensors.get("use_expected"))
            context = torch.bmm(weights.unsqueeze(1), cache["annotations"]).squeeze(1)
            if self.gate is not None:
                gate = torch.sigmoid(self.gate(hidden))
                context = gate * context
                gates.append(gate.squeeze(-1) if self.config.gate == "scalar" else gate)
            new_hidden, new_cell = self.lstm(torch.cat([words[:, t], context], dim=-1), (hidden, cell))
            step_mask = attention_mask[:, t]
            hidden = keep_state_at_padding(step_mask, new_hidden, hidden)
            cell = keep_state_at_padding(step_mask, new_cell, cell)
            alphas.append(alpha)
            used.append(weights)
            contexts.append(context)
            hiddens.append(new_hidden)
        cache["hidden"], cache["cell"] = hidden, cell
        hiddens, contexts = torch.stack(hiddens, dim=1), torch.stack(contexts, dim=1)
        if self.config.deep_output:
            deep = words + self.output_hidden(self.dropout(hiddens)) + self.output_context(contexts)
            if self.config.deep_output_activation == "tanh":
                deep = torch.tanh(deep)
            logits = self.word_classifier(self.dropout(deep))
        else:
            logits = self.word_classifier(self.dropout(hiddens))
        return DecodedWords(
            logits=logits,
            attentions=torch.stack(alphas, dim=1),
            used_attentions=torch.stack(used, dim=1),
            gates=torch.stack(gates, dim=1) if gates else None,
            hidden_states=(words, hiddens),
        )

    def attention_penalty(self, alphas: torch.Tensor, predicted: torch.Tensor, region_mask: torch.Tensor | None) -> torch.Tensor:
        """The doubly stochastic penalty Σ_i (1 − Σ_t α_ti)² (eq. 14) over the steps that predict a
        word, summed (paper) or averaged (PyTorch tutorial) over the real locations, averaged over
        captions; without the weight λ."""
        coverage = (alphas * predicted.unsqueeze(-1)).sum(dim=1)
        penalty = (1.0 - coverage) ** 2
        if region_mask is not None:
            penalty = penalty * region_mask
            locations = region_mask.sum(dim=1)
        else:
            locations = torch.full_like(penalty[:, 0], penalty.shape[1])
        per_caption = penalty.sum(dim=1)
        if self.config.attention_penalty_reduction == "mean":
            per_caption = per_caption / locations
        return per_caption.mean()

    def compute_loss(self, decoded: DecodedWords, labels: torch.Tensor, cache: RecurrentStateCache):
        """The caption loss, plus λ times the doubly stochastic penalty, plus for hard attention in
        training the REINFORCE and entropy terms of eq. 12 written as a loss. With N captions,
        T_n the words caption n predicts (its words and the end token), s̃_n its locations and
        H(α_nt) = −Σ_i α_nti log α_nti (``attention_entropy``)::

            log p(s̃_n|a) = Σ_t log α_nt,s̃_nt       0 for an image that read the expectation α
            "mean":   R_n = log p(y_n|s̃_n,a)
                      loss −= λ_r (1/N) Σ_n (R_n − b) log p(s̃_n|a) + λ_e (1/N) Σ_n Σ_t H(α_nt)
            "arctic": R_n = log p(y_n|s̃_n,a) / T_n
                      loss −= λ_r Σ_n (R_n − b) log p(s̃_n|a) + λ_e Σ_n Σ_t H(α_nt)
            b ← decay·b + (1 − decay)·(1/N) Σ_n R_n      after the loss (``MovingAverageBaseline``)

        (``config.reinforce_normalization``), the advantage R_n − b held constant; the sums over t
        run over the steps that predict a word."""
        config = self.config
        nll, predicted = caption_negative_log_likelihood(decoded.logits, labels)
        caption_loss = reduce_caption_loss(nll, predicted, config.caption_loss_reduction)
        loss = caption_loss
        loss_dtype = torch.promote_types(decoded.attentions.dtype, torch.float32)
        alphas = decoded.attentions[:, :-1].to(loss_dtype)  # the steps that predict labels[:, 1:]
        if config.attention_penalty_weight:
            loss = loss + config.attention_penalty_weight * self.attention_penalty(alphas, predicted, cache.tensors.get("annotation_mask"))
        if config.attention_type == "hard" and self.training:
            log_likelihood = -nll.sum(dim=1)  # log p(y | s̃, a) of each caption
            arctic = config.reinforce_normalization == "arctic"
            # R_n: per predicted word for "arctic" (its masked_cost.mean(0)), per caption for "mean".
            reward = log_likelihood / predicted.sum(dim=1).clamp(min=1) if arctic else log_likelihood
            read = decoded.used_attentions[:, :-1].to(loss_dtype)
            # log p(s̃ | a) = Σ_t log α_t,s̃_t; zero for the images that used the expectation.
            sampled = (~cache["use_expected"]).to(alphas.dtype)
            location_log_prob = ((alphas * read).sum(-1).clamp_min(torch.finfo(alphas.dtype).tiny).log() * predicted).sum(dim=1)
            advantage = (reward - self.baseline.value).detach()
            entropy = (attention_entropy(alphas) * predicted).sum(dim=1)
            # Σ_n over the captions for "arctic" (its known gradients), (1/N) Σ_n for "mean".
            reduce = torch.sum if arctic else torch.mean
            loss = loss - config.reinforce_weight * reduce(advantage * location_log_prob * sampled)
            loss = loss - config.entropy_weight * reduce(entropy)
            self.baseline.update(reward.detach())
        return loss, caption_loss

__all__ = ["ShowAttendTellForConditionalGeneration"]
