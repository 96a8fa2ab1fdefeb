"""Tests of hf_mmattn.layers against hand computations with small fixed weights.

Every expected value is computed independently of the module under test: in float64 numpy with
explicit loops over regions / words, or with explicit torch ops on the module's parameters.
"""

import importlib
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hf_mmattn.layers.additive_attention import AdditiveAttention, additive_attention_scores
from hf_mmattn.layers.bilinear_attention import BilinearAttentionMap
from hf_mmattn.layers.counting import PiecewiseLinear
from hf_mmattn.layers.fusion import CompactBilinearPooling, ElementwiseProductFusion
from hf_mmattn.layers.heads import AnswerClassifier
from hf_mmattn.layers.image_encoders import ImageEncoder, ScratchCNN
from hf_mmattn.layers.initialization import init_module
from hf_mmattn.layers.masking import (
    SequencePacking,
    is_right_padded,
    key_padding_mask,
    masked_mean,
    masked_softmax,
    run_packed_rnn,
)
from hf_mmattn.layers.modular_coattention import ReleasedLayerNorm
from hf_mmattn.layers.stacked_attention import StackedAttentionHop
from hf_mmattn.layers.text_encoders import CNNTextEncoder, RNNTextEncoder
from hf_mmattn.layers.weight_norm import WeightNormLinear


def _set_linear(linear: nn.Linear, weight, bias=None):
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight, dtype=torch.float32))
        if bias is not None:
            linear.bias.copy_(torch.tensor(bias, dtype=torch.float32))


def _np(tensor):
    return tensor.detach().double().numpy()


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


# --- masked_softmax -------------------------------------------------------------------------

def test_masked_softmax_is_the_softmax_over_the_valid_positions():
    scores = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 2.0, 0.0]])
    mask = torch.tensor([[1, 0, 1, 0], [1, 1, 1, 1]])
    out = masked_softmax(scores, mask)
    expected_row0 = _softmax(np.array([1.0, 3.0]))
    np.testing.assert_allclose(out[0].numpy(), [expected_row0[0], 0.0, expected_row0[1], 0.0], rtol=1e-6)
    np.testing.assert_allclose(out[1].numpy(), _softmax(np.array([0.5, -1.0, 2.0, 0.0])), rtol=1e-6)
    assert out[0, 1].item() == 0.0 and out[0, 3].item() == 0.0  # exactly zero, not tiny


def test_masked_softmax_without_mask_and_over_another_dim():
    scores = torch.randn(3, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(masked_softmax(scores, None), torch.softmax(scores, -1))
    mask = torch.tensor([[1], [0], [1]]).expand(3, 5)
    out = masked_softmax(scores, mask, dim=0)
    torch.testing.assert_close(out.sum(dim=0), torch.ones(5))
    assert (out[1] == 0).all()
    torch.testing.assert_close(out[[0, 2]], torch.softmax(scores[[0, 2]], dim=0))


def test_masked_softmax_ignores_huge_scores_at_masked_positions():
    scores = torch.tensor([[1e30, 0.0, 1.0]])
    out = masked_softmax(scores, torch.tensor([[0, 1, 1]]))
    np.testing.assert_allclose(out[0].numpy(), [0.0, *_softmax(np.array([0.0, 1.0]))], rtol=1e-6)


# --- masking and packing -------------------------------------------------------------------

def test_masked_mean_is_the_mean_of_the_real_positions():
    values = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, -100.0]], [[0.5, 1.5], [2.5, -0.5], [1.0, 1.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    expected = [[(1 + 3) / 2, (2 + 4) / 2], [(0.5 + 2.5 + 1) / 3, (1.5 - 0.5 + 1) / 3]]
    np.testing.assert_allclose(masked_mean(values, mask).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(masked_mean(values, None).numpy(), _np(values).mean(axis=1), rtol=1e-6)
    assert masked_mean(values.double(), mask.bool()).dtype == torch.float64


def test_is_right_padded_accepts_words_then_padding_only():
    assert is_right_padded(torch.tensor([[1, 1, 0], [1, 1, 1], [1, 0, 0]]))
    assert is_right_padded(torch.tensor([[True, False]]))
    assert not is_right_padded(torch.tensor([[0, 1, 1]]))  # left padding
    assert not is_right_padded(torch.tensor([[1, 0, 1]]))  # a hole


@pytest.mark.parametrize("rnn_class", [nn.LSTM, nn.GRU])
def test_run_packed_rnn_gives_each_sequence_alone(rnn_class):
    """Each row's outputs and final state are those of the RNN run on its real words alone; the
    outputs are zero at the padding, whatever the padded inputs hold."""
    torch.manual_seed(0)
    rnn = rnn_class(3, 4, batch_first=True)
    inputs = torch.randn(3, 5, 3)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    outputs, state = run_packed_rnn(rnn, inputs, mask)
    hidden = state[0] if isinstance(state, tuple) else state
    for row, length in enumerate(mask.sum(dim=1).tolist()):
        alone, alone_state = rnn(inputs[row : row + 1, :length])
        alone_hidden = alone_state[0] if isinstance(alone_state, tuple) else alone_state
        torch.testing.assert_close(outputs[row, :length], alone[0])
        torch.testing.assert_close(hidden[:, row], alone_hidden[:, 0])
        assert (outputs[row, length:] == 0).all()


def test_key_padding_mask_broadcasts_over_heads_and_queries():
    mask = torch.tensor([[True, False, True]])
    assert key_padding_mask(None) is None
    assert key_padding_mask(mask).shape == (1, 1, 1, 3)
    scores = torch.zeros(1, 2, 4, 3).masked_fill(~key_padding_mask(mask), -1.0)
    assert (scores[..., 1] == -1).all() and (scores[..., [0, 2]] == 0).all()


def test_sequence_packing_round_trips_the_real_rows():
    mask = torch.tensor([[True, False, True, False], [True, True, True, True], [False, True, False, False]])
    x = torch.arange(3 * 4 * 2, dtype=torch.float32).view(3, 4, 2)
    packing = SequencePacking(mask)
    packed = packing.pack(x)
    torch.testing.assert_close(packed, x[mask])  # the real rows, in order
    torch.testing.assert_close(packing.unpack(packed), x * mask.unsqueeze(-1))
    padded = packing.pad(packed, fill=-1.0)  # (batch, longest = 4): real rows first
    assert padded.shape == (3, 4, 2)
    torch.testing.assert_close(padded[0, :2], x[0, [0, 2]])
    assert (padded[0, 2:] == -1).all() and (padded[2, 1:] == -1).all()
    torch.testing.assert_close(packing.unpad(padded), packed)
    # A map over packed positions goes back to the original positions, zero at the padding.
    weights = packing.pad(torch.ones(packed.shape[0])) * torch.arange(1.0, 5.0)
    torch.testing.assert_close(packing.to_positions(weights, dim=1), torch.tensor([[1.0, 0, 2, 0], [1, 2, 3, 4], [0, 1, 0, 0]]))
    assert SequencePacking.if_padded(torch.ones(2, 3, dtype=torch.bool)) is None and SequencePacking.if_padded(None) is None


# --- StackedAttentionHop -------------------------------------------------------------------

# hidden d = 3, attention size k = 2, 4 regions, batch 2.
W_I = [[0.5, -0.2, 0.1], [0.3, 0.4, -0.6]]
B_I = [0.05, -0.1]
W_Q = [[0.2, 0.1, -0.3], [-0.5, 0.2, 0.4]]
B_Q = [0.1, -0.2]
W_P = [[0.7, -1.1]]
B_P = [0.3]
REGIONS = torch.tensor(
    [
        [[1.0, 0.0, -1.0], [0.5, 0.5, 0.5], [-1.0, 2.0, 0.0], [0.2, -0.3, 0.9]],
        [[0.0, 1.0, 1.0], [1.5, -0.5, 0.0], [0.3, 0.3, -0.7], [-0.4, 0.8, 0.1]],
    ]
)
QUESTION = torch.tensor([[0.3, -0.7, 1.2], [-1.0, 0.4, 0.2]])


def _hop(form):
    hop = StackedAttentionHop(hidden_size=3, attention_size=2, attention_form=form).eval()
    _set_linear(hop.image_projection, W_I, B_I if form == "code" else None)
    _set_linear(hop.question_projection, W_Q, B_Q)
    _set_linear(hop.score, W_P, B_P)
    return hop


def _expected_hop(form, regions, question, mask=None):
    """SAN eq. 15-18 (paper) or the released code's form, region by region in float64."""
    w_i, b_i, w_q, b_q, w_p, b_p = map(np.array, (W_I, B_I, W_Q, B_Q, W_P, B_P))
    regions, question = _np(regions), _np(question)
    outputs, attentions = [], []
    for b in range(regions.shape[0]):
        u = question[b]
        scores = []
        for v in regions[b]:
            if form == "paper":
                h = np.tanh(w_i @ v + (w_q @ u + b_q))
                s = (w_p @ h + b_p)[0]
            else:
                h = np.tanh(w_i @ v + b_i) + np.tanh(w_q @ u + b_q)
                s = np.tanh(w_p @ h + b_p)[0]
            scores.append(s)
        scores = np.array(scores)
        valid = np.ones(len(scores), bool) if mask is None else mask[b].numpy().astype(bool)
        p = np.zeros(len(scores))
        p[valid] = _softmax(scores[valid])
        attentions.append(p)
        outputs.append((p[:, None] * regions[b]).sum(0) + u)
    return np.array(outputs), np.array(attentions)


@pytest.mark.parametrize("form", ["paper", "code"])
def test_stacked_attention_hop_matches_hand_computation(form):
    hop = _hop(form)
    refined, attention = hop(REGIONS, QUESTION)
    expected_refined, expected_attention = _expected_hop(form, REGIONS, QUESTION)
    np.testing.assert_allclose(attention.detach().numpy(), expected_attention, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(refined.detach().numpy(), expected_refined, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(attention.sum(-1), torch.ones(2))


def test_stacked_attention_hop_forms_differ():
    # The two forms are genuinely different functions of the same weights.
    _, paper = _hop("paper")(REGIONS, QUESTION)
    _, code = _hop("code")(REGIONS, QUESTION)
    assert not torch.allclose(paper, code, atol=1e-3)


def test_stacked_attention_hop_paper_form_has_no_image_bias():
    assert _hop("paper").image_projection.bias is None
    assert _hop("code").image_projection.bias is not None
    with pytest.raises(ValueError, match="attention_form"):
        StackedAttentionHop(3, 2, attention_form="both")


@pytest.mark.parametrize("form", ["paper", "code"])
def test_stacked_attention_hop_region_mask(form):
    hop = _hop(form)
    mask = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 0]])
    refined, attention = hop(REGIONS, QUESTION, mask)
    assert (attention[mask == 0] == 0).all()
    torch.testing.assert_close(attention.sum(-1), torch.ones(2))
    expected_refined, expected_attention = _expected_hop(form, REGIONS, QUESTION, mask)
    np.testing.assert_allclose(attention.detach().numpy(), expected_attention, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(refined.detach().numpy(), expected_refined, rtol=1e-5, atol=1e-6)

    # Whatever sits in the masked regions does not reach the output.
    changed = REGIONS.clone()
    changed[mask == 0] = torch.tensor([100.0, -50.0, 7.0])
    refined_changed, attention_changed = hop(changed, QUESTION, mask)
    torch.testing.assert_close(refined_changed, refined)
    torch.testing.assert_close(attention_changed, attention)


def test_stacked_attention_hop_gradients_do_not_flow_into_masked_regions():
    hop = _hop("paper")
    regions = REGIONS.clone().requires_grad_(True)
    mask = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 0]])
    refined, _ = hop(regions, QUESTION, mask)
    refined.sum().backward()
    assert (regions.grad[mask == 0] == 0).all()
    assert (regions.grad[mask == 1].abs().sum(-1) > 0).all()


# --- AdditiveAttention ---------------------------------------------------------------------

def _additive_attention_by_hand(keys, query, w_key, b_key, w_query, b_query, w_score, b_score, mask, activation):
    """e_i = Σ_k w_k act(Σ_d U[k, d] key_i[d] + b_U[k] + Σ_d W[k, d] query[d] + b_W[k]) + b_w, then
    the softmax over the real keys: explicit loops in float64."""
    act = np.tanh if activation == "tanh" else (lambda x: max(x, 0.0))
    weights = np.zeros((len(keys), len(keys[0])))
    for b in range(len(keys)):
        scores = []
        for i in range(len(keys[b])):
            e = b_score
            for k in range(len(w_score)):
                hidden = b_key[k] + b_query[k]
                hidden += sum(w_key[k][d] * keys[b][i][d] for d in range(len(keys[b][i])))
                hidden += sum(w_query[k][d] * query[b][d] for d in range(len(query[b])))
                e += w_score[k] * act(hidden)
            scores.append(e)
        real = [i for i in range(len(scores)) if mask[b][i]]
        exp = {i: math.exp(scores[i] - max(scores[j] for j in real)) for i in real}
        for i in real:
            weights[b, i] = exp[i] / sum(exp.values())
    return weights


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_additive_attention_matches_the_formula(activation):
    """Bahdanau et al. 2015 A.1.2 / Xu et al. 2015 eq. 4-5 with every bias, padded keys at 0."""
    torch.manual_seed(0)
    attention = AdditiveAttention(key_size=3, query_size=2, attention_size=4, activation=activation, query_bias=True).eval()
    keys, query = torch.randn(2, 5, 3), torch.randn(2, 2)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    weights = attention(query, attention.project_keys(keys), mask)
    expected = _additive_attention_by_hand(
        _np(keys).tolist(), _np(query).tolist(),
        _np(attention.key_projection.weight).tolist(), _np(attention.key_projection.bias).tolist(),
        _np(attention.query_projection.weight).tolist(), _np(attention.query_projection.bias).tolist(),
        _np(attention.score.weight)[0].tolist(), _np(attention.score.bias).item(), mask.tolist(), activation,
    )
    np.testing.assert_allclose(_np(weights), expected, rtol=1e-5, atol=1e-7)
    assert (weights[0, 3:] == 0).all()  # exactly zero, not tiny
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(2))


def test_additive_attention_bahdanau_form_has_no_bias_and_keys_are_projected_once():
    attention = AdditiveAttention(6, 4, 5, key_bias=False, score_bias=False)
    assert attention.key_projection.bias is None and attention.query_projection.bias is None and attention.score.bias is None
    keys = torch.randn(1, 3, 6)
    projected = attention.project_keys(keys)
    torch.testing.assert_close(projected, keys @ attention.key_projection.weight.T)
    # Every step reads the same projected keys: e = v_aᵀ tanh(W_a s + U_a h_j).
    for query in torch.randn(3, 1, 4):
        scores = (torch.tanh(query @ attention.query_projection.weight.T + projected) @ attention.score.weight.T).squeeze(-1)
        torch.testing.assert_close(attention.scores(query, projected), scores)
        torch.testing.assert_close(attention(query, projected), torch.softmax(scores, dim=-1))


def test_additive_attention_scores_with_a_models_own_layers_equal_the_module():
    """A model that keeps its own three Linear layers (their checkpoint names) and calls the
    function gets exactly what the module gives, whatever form its activation takes."""
    torch.manual_seed(1)
    attention = AdditiveAttention(3, 2, 4)
    keys, query = torch.randn(2, 4, 3), torch.randn(2, 2)
    projected = attention.project_keys(keys)
    for activation in (torch.tanh, nn.Tanh()):
        scores = additive_attention_scores(projected, attention.query_projection(query), attention.score, activation)
        assert torch.equal(scores, attention.scores(query, projected))
    with pytest.raises(ValueError, match="activation"):
        AdditiveAttention(3, 2, 4, activation="sigmoid")


# --- fusion and answer heads -----------------------------------------------------------------

def test_elementwise_product_fusion_eval_mode():
    fusion = ElementwiseProductFusion(question_size=3, image_size=2, fused_size=2, dropout=0.5).eval()
    _set_linear(fusion.question_projection, [[0.1, 0.2, 0.3], [-0.4, 0.5, 0.0]], [0.1, -0.1])
    _set_linear(fusion.image_projection, [[1.0, -1.0], [0.5, 0.25]], [0.0, 0.2])
    q = torch.tensor([[1.0, 2.0, -1.0]])
    v = torch.tensor([[0.3, 0.6]])
    expected = np.tanh([0.1 + 0.4 - 0.3 + 0.1, -0.4 + 1.0 + 0.0 - 0.1]) * np.tanh([0.3 - 0.6, 0.15 + 0.15 + 0.2])
    np.testing.assert_allclose(fusion(q, v).detach().numpy()[0], expected, rtol=1e-6)


def test_elementwise_product_fusion_dropout_acts_on_the_inputs():
    # With p=1 dropout zeroes both inputs in training mode: only the biases remain.
    fusion = ElementwiseProductFusion(question_size=3, image_size=2, fused_size=2, dropout=1.0).train()
    q, v = torch.randn(4, 3), torch.randn(4, 2)
    expected = torch.tanh(fusion.question_projection.bias) * torch.tanh(fusion.image_projection.bias)
    torch.testing.assert_close(fusion(q, v), expected.expand(4, 2))


def test_answer_classifier_linear_and_mlp():
    torch.manual_seed(0)
    x = torch.randn(5, 4)
    linear = AnswerClassifier(4, 3, head_type="linear", dropout=0.5).eval()
    layer = linear.layers[1]
    torch.testing.assert_close(linear(x), x @ layer.weight.T + layer.bias)

    mlp = AnswerClassifier(4, 3, head_type="mlp", hidden_size=6, dropout=0.5).eval()
    first, second = mlp.layers[1], mlp.layers[4]
    expected = torch.relu(x @ first.weight.T + first.bias) @ second.weight.T + second.bias
    torch.testing.assert_close(mlp(x), expected)
    assert first.out_features == 6

    with pytest.raises(ValueError, match="'linear' or 'mlp'"):
        AnswerClassifier(4, 3, head_type="bilinear")


# --- question encoders ---------------------------------------------------------------------

def _padded(ids, length):
    return torch.tensor([ids + [0] * (length - len(ids))]), torch.tensor([[1] * len(ids) + [0] * (length - len(ids))])


@pytest.mark.parametrize("num_layers", [1, 2])
def test_lstm_question_encoder_is_padding_invariant(num_layers):
    torch.manual_seed(0)
    encoder = RNNTextEncoder(10, 4, 5, num_layers=num_layers, embedding_activation="tanh").eval()
    question = [3, 7, 2, 9]
    outputs = []
    for length in (4, 6, 11):
        ids, mask = _padded(question, length)
        last, _, (h_n, c_n) = encoder(ids, mask)
        outputs.append((last, h_n, c_n))
    for last, h_n, c_n in outputs[1:]:
        torch.testing.assert_close(last, outputs[0][0])
        torch.testing.assert_close(h_n, outputs[0][1])
        torch.testing.assert_close(c_n, outputs[0][2])

    # ... and equals the LSTM run on the words alone.
    embedded = torch.tanh(encoder.embedding(torch.tensor([question])))
    _, (h_ref, c_ref) = encoder.lstm(embedded)
    torch.testing.assert_close(outputs[0][0], h_ref[-1])
    torch.testing.assert_close(outputs[2][2], c_ref)


def test_lstm_question_encoder_batch_of_different_lengths():
    # Unsorted lengths in one batch: each row equals the question encoded alone.
    torch.manual_seed(1)
    encoder = RNNTextEncoder(10, 4, 5).eval()
    questions = [[2, 3], [4, 5, 6, 7, 8], [9]]
    ids = torch.tensor([q + [0] * (5 - len(q)) for q in questions])
    mask = (ids != 0).long()
    batched = encoder(ids, mask).last_hidden
    for row, question in enumerate(questions):
        alone = encoder(torch.tensor([question]), torch.ones(1, len(question), dtype=torch.long)).last_hidden
        torch.testing.assert_close(batched[row], alone[0])
    # Packing matters: the plain LSTM over the padded rows gives another answer for short rows.
    _, (h_unpacked, _) = encoder.lstm(encoder.embedding(ids))
    assert not torch.allclose(h_unpacked[-1][0], batched[0], atol=1e-4)


def test_word_states_are_the_rnn_outputs_over_the_real_words_and_zero_on_padding():
    torch.manual_seed(2)
    encoder = RNNTextEncoder(10, 4, 5, rnn_type="gru").eval()
    ids, mask = _padded([3, 7, 2], 5)
    encoding = encoder(ids, mask)
    reference, h_ref = encoder.lstm(encoder.embedding(torch.tensor([[3, 7, 2]])))
    torch.testing.assert_close(encoding.word_states[:, :3], reference)
    assert (encoding.word_states[:, 3:] == 0).all()
    torch.testing.assert_close(encoding.state, h_ref)  # a GRU's state is h_n alone
    torch.testing.assert_close(encoding.last_hidden, reference[:, -1])


def test_bidirectional_encoder_sums_the_forward_and_backward_passes():
    # DAN's text encoder: u_t = forward_t + backward_t, the backward pass starting at the last
    # real word (not at the padding).
    torch.manual_seed(3)
    encoder = RNNTextEncoder(10, 4, 5, bidirectional=True).eval()
    words = [3, 7, 2, 5]
    ids, mask = _padded(words, 7)
    encoding = encoder(ids, mask)
    lstm = encoder.lstm
    forward = nn.LSTM(4, 5, batch_first=True)
    backward = nn.LSTM(4, 5, batch_first=True)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(forward, f"{name}_l0").copy_(getattr(lstm, f"{name}_l0"))
            getattr(backward, f"{name}_l0").copy_(getattr(lstm, f"{name}_l0_reverse"))
    embedded = encoder.embedding(torch.tensor([words]))
    forward_out, (forward_h, _) = forward(embedded)
    backward_out, (backward_h, _) = backward(embedded.flip(1))
    torch.testing.assert_close(encoding.word_states[:, :4], forward_out + backward_out.flip(1))
    assert (encoding.word_states[:, 4:] == 0).all()
    torch.testing.assert_close(encoding.last_hidden, forward_h[-1] + backward_h[-1])
    with pytest.raises(ValueError, match="rnn_type"):
        RNNTextEncoder(10, 4, 5, rnn_type="rnn")


def _expected_cnn_question(encoder, words):
    """Per n-gram width: tanh(conv) at every window touching a real word (zeros outside the
    question), max over windows; concatenated."""
    embedded = encoder.embedding(torch.tensor(words)).detach().double().numpy()  # (L, E)
    length, size = embedded.shape
    pooled = []
    for conv in encoder.convolutions:
        k = conv.kernel_size[0]
        weight = conv.weight.detach().double().numpy()  # (C, E, k)
        bias = conv.bias.detach().double().numpy()
        padded = np.concatenate([np.zeros((k - 1, size)), embedded, np.zeros((k - 1, size))])
        windows = []
        for t in range(length + k - 1):
            window = padded[t : t + k]  # (k, E)
            windows.append(np.tanh(np.einsum("cek,ke->c", weight, window) + bias))
        pooled.append(np.max(windows, axis=0))
    return np.concatenate(pooled)


def test_cnn_question_encoder_matches_explicit_ngram_max_and_is_padding_invariant():
    torch.manual_seed(0)
    encoder = CNNTextEncoder(12, 4, kernel_sizes=(1, 2, 3), channels=(3, 5, 2)).eval()
    assert encoder.output_size == 10
    for question in ([5, 3, 8, 11, 2], [7], [4, 9]):  # shorter than the trigram too
        expected = _expected_cnn_question(encoder, question)
        for length in (len(question), len(question) + 1, 9):
            ids, mask = _padded(question, length)
            out = encoder(ids, mask).last_hidden
            np.testing.assert_allclose(out[0].detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_cnn_question_encoder_batch_rows_are_independent():
    torch.manual_seed(2)
    encoder = CNNTextEncoder(12, 4, kernel_sizes=(1, 2, 3), channels=(3, 5, 2)).eval()
    questions = [[5, 3, 8, 11, 2, 6], [7], [4, 9, 10]]
    ids = torch.tensor([q + [0] * (6 - len(q)) for q in questions])
    out = encoder(ids, (ids != 0).long()).last_hidden
    for row, question in enumerate(questions):
        np.testing.assert_allclose(out[row].detach().numpy(), _expected_cnn_question(encoder, question), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="same length"):
        CNNTextEncoder(12, 4, kernel_sizes=(1, 2), channels=(3,))


# --- initialization --------------------------------------------------------------------------

def test_init_module_gives_each_layer_its_rule():
    """What init_module draws for the package's own layers, starting from garbage: weight norm
    g = ‖V‖, BAN's glimpse scale likewise, the identity piecewise map, the released LayerNorm's
    ones and zeros, and the count sketch of the layer's seed."""
    layers = [
        WeightNormLinear(4, 3),
        BilinearAttentionMap(4, 5, 2, num_glimpses=2),
        PiecewiseLinear(4),
        ReleasedLayerNorm(3),
        CompactBilinearPooling(4, 5, 8, seed=3),
    ]
    constructed = [{name: tensor.clone() for name, tensor in layer.state_dict().items()} for layer in layers]
    for layer in layers:
        for tensor in layer.state_dict(keep_vars=True).values():
            with torch.no_grad():
                tensor.fill_(7)
        for module in layer.modules():
            init_module(module)
    weight_norm, bilinear, piecewise, layer_norm, sketch = layers
    assert torch.equal(weight_norm.weight_scale, weight_norm.weight_direction.norm())
    assert weight_norm.weight_direction.abs().max() <= 1 / math.sqrt(4) and weight_norm.bias.abs().max() <= 1 / math.sqrt(4)
    assert torch.equal(bilinear.glimpse_weight_scale, bilinear.glimpse_weight_direction.norm())
    assert (bilinear.glimpse_bias != 7).all()
    assert piecewise.weight.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]
    assert layer_norm.weight.tolist() == [1.0] * 3 and layer_norm.bias.tolist() == [0.0] * 3
    for name, tensor in sketch.state_dict().items():
        assert torch.equal(tensor, constructed[4][name]), name


def test_init_module_released_bounds_replace_the_default_of_the_layers_they_cover():
    torch.manual_seed(0)
    released = {"weight": 0.01, "bias": 0.0, "rnn_weight": 0.02, "rnn_bias": 0.0, "forget_bias": 1.0, "embedding": 0.5}
    linear, lstm, embedding, conv = nn.Linear(300, 200), nn.LSTM(3, 4), nn.Embedding(50, 6, padding_idx=0), nn.Conv2d(3, 4, 3)
    for module in (linear, lstm, embedding, conv):
        init_module(module, released)
    assert linear.weight.abs().max() <= 0.01 and (linear.bias == 0).all()
    assert lstm.weight_ih_l0.abs().max() <= 0.02 and (lstm.bias_hh_l0 == 0).all()
    assert lstm.bias_ih_l0.tolist() == [0.0] * 4 + [1.0] * 4 + [0.0] * 8  # the forget gate's slice
    assert embedding.weight[1:].abs().max() <= 0.5 and (embedding.weight[0] == 0).all()
    assert conv.weight.abs().max() > 0.01  # not a layer the released codes have: PyTorch's default


# --- image encoders ------------------------------------------------------------------------

def test_scratch_cnn_gives_an_8x8_grid_matching_explicit_ops():
    torch.manual_seed(0)
    cnn = ScratchCNN([4, 6, 5]).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for module in cnn.blocks:
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    x = torch.randn(2, 3, 64, 64)
    out = cnn(x)
    assert out.shape == (2, 5, 8, 8) and cnn.out_channels == 5
    expected = x
    for i in range(3):
        conv, bn = cnn.blocks[4 * i], cnn.blocks[4 * i + 1]
        expected = F.conv2d(expected, conv.weight, padding=1)
        expected = (expected - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
        expected = expected * bn.weight[:, None, None] + bn.bias[:, None, None]
        expected = F.max_pool2d(torch.relu(expected), 2)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


class _Config:
    image_encoder = "scratch_cnn"
    freeze_backbone = False
    scratch_cnn_channels = [4, 6]
    num_channels = 3
    image_feature_size = 7
    backbone_config = None
    image_grid_pool_size = None


def test_image_encoder_regions_are_the_grid_in_row_major_order():
    torch.manual_seed(0)
    encoder = ImageEncoder(_Config()).eval()
    x = torch.randn(2, 3, 16, 12)
    regions, mask, grid = encoder(pixel_values=x)
    feature_map = encoder.cnn(x)
    assert grid == (4, 3) and mask is None
    for i in range(4):
        for j in range(3):
            torch.testing.assert_close(regions[:, i * 3 + j], feature_map[:, :, i, j])


def test_image_encoder_features_pass_through_and_unknown_kind_fails():
    config = _Config()
    config.image_encoder = "features"
    encoder = ImageEncoder(config)
    features, mask = torch.randn(2, 5, 7), torch.ones(2, 5)
    out, out_mask, grid = encoder(image_features=features, image_attention_mask=mask)
    assert out is features and out_mask is mask and grid is None and encoder.output_size == 7
    config.image_encoder = "vgg"
    with pytest.raises(ValueError, match="image_encoder must be one of"):
        ImageEncoder(config)
    config.image_encoder = "backbone"
    with pytest.raises(ValueError, match="backbone_config"):
        ImageEncoder(config)


def test_math_sanity_of_fixture_weights():
    # Guard against a degenerate fixture: the attention of the hand-set hop is far from uniform.
    _, attention = _hop("paper")(REGIONS, QUESTION)
    assert attention.max().item() - attention.min().item() > 0.05
    assert math.isclose(attention[0].sum().item(), 1.0, rel_tol=1e-6)


# --- layout of layers/ ------------------------------------------------------------------------

# Every name the modules of layers/ provided before each concept got its own file.
NAMES_BEFORE_THE_SPLIT = {
    "attention": ["AlternatingCoAttention", "CoAttentionOutput", "DualAttentionOutput", "DualAttentionStep", "GuidedAttention",
                  "LowRankBilinearFusion", "MultiGlimpseAttention", "ParallelCoAttention", "StackedAttentionHop", "masked_mean",
                  "masked_softmax"],
    "encoders": ["CNNQuestionEncoder", "CNN_WINDOWS", "IMAGE_ENCODERS", "ImageEncoder", "LSTMQuestionEncoder", "QuestionEncoding",
                 "ScratchCNN", "is_right_padded", "run_packed_rnn"],
    "bilinear_attention": ["BilinearAttentionMap", "BilinearPooling", "CountingModule", "PiecewiseLinear", "WeightNormFC",
                           "WeightNormLinear", "box_iou", "grid_boxes", "joint_mask"],
    "fusion": ["ACTIVATIONS", "AnswerClassifier", "BlockDiagonalLinear", "CompactBilinearPooling", "ElementwiseProductFusion",
               "LowRankBilinearFusion", "MutanFusion", "TuckerFusion", "_activation", "_linear", "normalize_bilinear",
               "scale_initialization", "signed_sqrt"],
    "modular_coattention": ["AttentionalReduction", "GuidedAttentionLayer", "LAYER_NORM_FORMS", "MultiHeadAttention",
                            "PositionWiseFeedForward", "ReleasedLayerNorm", "SelfAttentionLayer", "SequencePacking",
                            "_ReleasedLayerNormFunction", "_key_mask", "make_layer_norm"],
}


@pytest.mark.parametrize("module_name", sorted(NAMES_BEFORE_THE_SPLIT))
def test_the_old_module_paths_still_provide_their_names(module_name):
    module = importlib.import_module(f"hf_mmattn.layers.{module_name}")
    missing = [name for name in NAMES_BEFORE_THE_SPLIT[module_name] if not hasattr(module, name)]
    assert not missing, f"hf_mmattn.layers.{module_name} lost {missing}"


def test_the_question_named_encoders_are_aliases_of_the_text_encoders():
    from hf_mmattn.layers import encoders, text_encoders

    assert encoders.LSTMQuestionEncoder is text_encoders.RNNTextEncoder
    assert encoders.CNNQuestionEncoder is text_encoders.CNNTextEncoder
    assert encoders.QuestionEncoding is text_encoders.TextEncoding


def test_layers_import_no_model_and_no_task():
    """layers/ is below models/ and tasks/: none of its files imports them (nor the package's
    model bases, which import layers/)."""
    import hf_mmattn.layers

    folder = Path(hf_mmattn.layers.__file__).parent
    forbidden = re.compile(r"^\s*(from|import)\s+(\.\.|hf_mmattn\.)(models|tasks|modeling_|configuration_)", re.M)
    offenders = [path.name for path in sorted(folder.glob("*.py")) if forbidden.search(path.read_text())]
    assert not offenders, offenders
    assert set(hf_mmattn.layers.__all__) <= set(dir(hf_mmattn.layers))
