"""Configuration of Show, Attend and Tell (Xu, Ba, Kiros, Cho, Courville, Salakhutdinov, Zemel,
Bengio, ICML 2015), with switches for the released Theano code (kelvinxu/arctic-captions) and
the common PyTorch port (sgrvinod/a-PyTorch-Tutorial-to-Image-Captioning)."""

from __future__ import annotations

from ...tasks.captioning.configuration import MMAttnCaptioningConfig

ATTENTION_TYPES = ("soft", "hard")
ATTENTION_ACTIVATIONS = ("tanh", "relu")
GATES = ("scalar", "vector", "none")
DEEP_OUTPUT_ACTIVATIONS = ("none", "tanh")
INIT_STATE_ACTIVATIONS = ("tanh", "none")
PENALTY_REDUCTIONS = ("sum", "mean")
HARD_ATTENTION_INFERENCE = ("expected", "argmax")
EXPECTED_ATTENTION_SCOPES = ("image", "batch")
REINFORCE_NORMALIZATIONS = ("mean", "arctic")
INITIALIZATIONS = ("pytorch", "arctic")

# Every switch at the paper's value, then the differences of each public implementation.
# The paper states no initialisation: the xu2015 presets draw the weights as the released code does.
SHOW_ATTEND_TELL_PRESETS = {
    "xu2015-soft": {"initialization": "arctic"},
    # λ_r = 0.1 and λ_e = 0.002 are arctic-captions' values, on its scale (reinforce_normalization).
    "xu2015-hard": {"attention_type": "hard", "reinforce_normalization": "arctic", "initialization": "arctic"},
    # The PyTorch tutorial (ResNet-101 14x14x2048 annotations): ReLU in the attention MLP, a
    # vector gate sigmoid(f_beta(h)) of the annotation size, linear f_init, no deep output
    # (fc(dropout(h))), CrossEntropyLoss over words and the penalty averaged over locations.
    "sgrvinod": {
        "embedding_size": 512,
        "hidden_size": 512,
        "attention_size": 512,
        "image_feature_size": 2048,
        "image_grid_pool_size": [14, 14],
        "attention_activation": "relu",
        "gate": "vector",
        "init_state_activation": "none",
        "deep_output": False,
        "caption_loss_reduction": "token",
        "attention_penalty_reduction": "mean",
        "attention_penalty_weight": 1.0,
    },
}

# The tests' "tiny" sizes; "scratch-cnn": the examples' settings for the 64x64 shapes-captions
# scenes with the scratch CNN (three conv-BN-ReLU-pool blocks: an 8x8 grid of 128-d annotations,
# kept unpooled), used by run_captioning.py with --image_encoder scratch_cnn. The shapes vocabulary
# has about 40 words, so small embeddings suffice; dropout is lower than the paper's 0.5 because
# these models see 25,000 captions, not COCO's 600,000, for a few epochs.
SHOW_ATTEND_TELL_PRESETS["tiny"] = dict(embedding_size=8, hidden_size=10, attention_size=7, dropout=0.0)
SHOW_ATTEND_TELL_PRESETS["scratch-cnn"] = dict(
    scratch_cnn_channels=[32, 64, 128], embedding_size=128, hidden_size=256, attention_size=128, dropout=0.1,
    image_grid_pool_size=None,
)


class ShowAttendTellConfig(MMAttnCaptioningConfig):
    r"""
    Args:
        attention_type: ``"soft"`` (deterministic: ẑ_t = Σ_i α_ti a_i, section 4.2) or ``"hard"``
            (stochastic: ẑ_t = a_{s_t} with s_t ~ Multinoulli(α_t), trained with REINFORCE,
            section 4.1).
        attention_size: size of the attention MLP's hidden layer (f_att, eq. 4).
        attention_activation: non-linearity of f_att, e_ti = w·act(W_a a_i + W_h h_{t-1}):
            ``"tanh"`` (paper, arctic-captions) or ``"relu"`` (PyTorch tutorial).
        gate: β_t = σ(f_β(h_{t-1})) scaling the context (section 4.2.1): ``"scalar"`` (paper),
            ``"vector"`` (one gate per annotation channel, PyTorch tutorial) or ``"none"``.
        init_state_activation: f_init of h_0, c_0 from the mean annotation: ``"tanh"`` (paper's
            MLPs, arctic's ``ff_state``/``ff_memory``) or ``"none"`` (PyTorch tutorial's Linear).
        deep_output: the deep output layer p(y_t) ∝ exp(L_o(E y_{t-1} + L_h h_t + L_z ẑ_t)) (eq. 7);
            ``False`` predicts from h_t alone (PyTorch tutorial's ``fc``).
        deep_output_activation: ``"none"`` (eq. 7 as printed) or ``"tanh"`` (arctic-captions
            applies tanh to the sum before L_o).
        attention_penalty_weight: λ of the doubly stochastic penalty λ Σ_i (1 - Σ_t α_ti)² (eq. 14);
            0 turns it off.
        attention_penalty_reduction: ``"sum"`` over locations (eq. 14, arctic) or ``"mean"`` over
            them (PyTorch tutorial); averaged over captions either way.
        reinforce_weight: λ_r of the REINFORCE term of hard attention (eq. 12); arctic-captions
            scales it by 1/10.
        entropy_weight: λ_e of the entropy bonus of hard attention (eq. 12); arctic uses 0.002.
        reinforce_normalization: the scale of hard attention's REINFORCE and entropy terms against
            the caption loss. With N captions in the batch, T_n the words caption n predicts (its
            words and the end token), s̃_n its sampled locations, H(α_nt) the entropy of α_nt and
            log p(s̃_n|a) = Σ_t log α_nt,s̃_nt (0 for the images that read the expectation):
            ``"mean"``: R_n = log p(y_n|s̃_n, a), the caption's summed log-likelihood, and
            loss = caption loss − λ_r (1/N) Σ_n (R_n − b) log p(s̃_n|a) − λ_e (1/N) Σ_n Σ_t H(α_nt);
            ``"arctic"`` (arctic-captions' capgen.py: the known gradients it gives Theano are summed
            over the batch, its reward is the NLL averaged over time steps, ``masked_cost.mean(0)``):
            R_n = log p(y_n|s̃_n, a) / T_n and
            loss = caption loss − λ_r Σ_n (R_n − b) log p(s̃_n|a) − λ_e Σ_n Σ_t H(α_nt).
            Either way the baseline tracks the reward it is subtracted from,
            b ← decay·b + (1 − decay)·(1/N) Σ_n R_n, and the caption loss is unchanged. With the
            same λ_r and λ_e, ``"arctic"`` weighs the REINFORCE term about N/T and the entropy term
            N times more than ``"mean"``. arctic divides by its batch's common length T (it batches
            captions of one length), here each caption by its own T_n: the same on such batches.
        baseline_decay: the moving-average baseline b_k = decay b_{k-1} + (1 - decay) mean_n R_n.
        expected_attention_probability: probability of using α_t instead of a sample for hard
            attention during training (section 4.1: 0.5).
        expected_attention_scope: that choice is drawn per ``"image"`` (paper's wording) or once per
            ``"batch"`` (arctic-captions' ``h_sampling_mask``).
        hard_attention_inference: hard attention at inference: the ``"expected"`` context
            Σ_i α_ti a_i (arctic's default when not sampling) or the ``"argmax"`` location.
        initialization: how the weights are drawn when a model is created (or a checkpoint lacks
            them; loaded weights are never redrawn): ``"pytorch"``, PyTorch's default of each layer
            (U(±1/√fan_in) for Linear weights and biases, U(±1/√hidden_size) for every LSTM
            parameter, N(0, 1) word embeddings; what the PyTorch tutorial trains from apart from
            its embedding and ``fc``, which it draws from U(±0.1), the ``fc`` bias 0),
            or ``"arctic"``, arctic-captions' ``init_params`` for the decoder: every weight
            orthogonal when square, else N(0, 0.01²) (``norm_weight``; the attention's annotation
            projection ``Wc_att`` always N(0, 0.01²)), the LSTM's recurrent matrix four orthogonal
            blocks (``ortho_weight``), every bias 0; the image encoder keeps ``"pytorch"``. See
            ``ShowAttendTellForConditionalGeneration._init_arctic_weights``.
        shared captioning fields: see [`~hf_mmattn.tasks.captioning.configuration.MMAttnCaptioningConfig`].
    """

    model_type = "mmattn_show_attend_tell"

    embedding_size: int = 512
    hidden_size: int = 1800
    attention_size: int = 512
    image_feature_size: int = 512
    attention_type: str = "soft"
    attention_activation: str = "tanh"
    gate: str = "scalar"
    init_state_activation: str = "tanh"
    deep_output: bool = True
    deep_output_activation: str = "none"
    attention_penalty_weight: float = 1.0
    attention_penalty_reduction: str = "sum"
    reinforce_weight: float = 0.1
    entropy_weight: float = 0.002
    reinforce_normalization: str = "mean"
    baseline_decay: float = 0.9
    expected_attention_probability: float = 0.5
    expected_attention_scope: str = "image"
    hard_attention_inference: str = "expected"
    initialization: str = "pytorch"

    attention_step_name = "word"
    presets = SHOW_ATTEND_TELL_PRESETS
    display_name = "Show, Attend and Tell"

    def validate_captioning(self) -> None:
        super().validate_captioning()
        for name, allowed in (
            ("attention_type", ATTENTION_TYPES),
            ("attention_activation", ATTENTION_ACTIVATIONS),
            ("gate", GATES),
            ("init_state_activation", INIT_STATE_ACTIVATIONS),
            ("deep_output_activation", DEEP_OUTPUT_ACTIVATIONS),
            ("attention_penalty_reduction", PENALTY_REDUCTIONS),
            ("expected_attention_scope", EXPECTED_ATTENTION_SCOPES),
            ("hard_attention_inference", HARD_ATTENTION_INFERENCE),
            ("reinforce_normalization", REINFORCE_NORMALIZATIONS),
            ("initialization", INITIALIZATIONS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not 0.0 <= self.expected_attention_probability <= 1.0:
            raise ValueError(f"expected_attention_probability must be in [0, 1], got {self.expected_attention_probability}")
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ValueError(f"baseline_decay must be in [0, 1), got {self.baseline_decay}")
