"""Teacher forcing against the papers' equations (Show and Tell's image as the first LSTM
input, Show, Attend and Tell eq. 4-7 in float64) and the losses: the caption negative
log-likelihood and the doubly stochastic attention penalty (eq. 14)."""

from __future__ import annotations

import pytest
import torch
from captioning_utils import (
    FEATURE_SIZE,
    KINDS,
    NUM_REGIONS,
    caption_nll_by_hand,
    linear,
    lstm_cell,
    make_captioner,
    random_captions,
    random_images,
)


def show_attend_tell_by_hand(model, annotations, region_mask, input_ids):
    """Section 3.1.2 of Xu et al. written out with the model's weights, one word at a time:
    h_0, c_0 = f_init(mean a); e_ti = w·act(W_a a_i + W_h h_{t-1}) + b; α_t = softmax(e_t) over
    the real regions; ẑ_t = β_t Σ_i α_ti a_i with β_t = σ(f_β(h_{t-1})); the LSTM on [E y_t; ẑ_t];
    deep output L_o(E y_t + L_h h_t + L_z ẑ_t) (or L_o h_t without it). Returns (logits, alphas)."""
    config = model.config
    mask = region_mask.to(annotations.dtype)
    mean_annotation = (annotations * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    hidden, cell = linear(model.init_hidden, mean_annotation), linear(model.init_cell, mean_annotation)
    if config.init_state_activation == "tanh":
        hidden, cell = torch.tanh(hidden), torch.tanh(cell)
    activation = torch.tanh if config.attention_activation == "tanh" else torch.relu
    all_logits, alphas = [], []
    for t in range(input_ids.shape[1]):
        word = model.embedding.weight[input_ids[:, t]]
        hidden_projection = hidden @ model.attention_state.weight.T
        hidden_layer = activation(linear(model.attention_annotations, annotations) + hidden_projection[:, None])
        scores = linear(model.attention_score, hidden_layer)[..., 0]
        alpha = torch.softmax(scores.masked_fill(region_mask == 0, -torch.inf), dim=-1)
        context = (alpha[..., None] * annotations).sum(1)
        if config.gate != "none":
            context = torch.sigmoid(linear(model.gate, hidden)) * context  # (B, 1) or (B, D)
        lstm = model.lstm
        hidden, cell = lstm_cell(torch.cat([word, context], -1), hidden, cell, lstm.weight_ih, lstm.weight_hh, lstm.bias_ih, lstm.bias_hh)
        if config.deep_output:
            deep = word + linear(model.output_hidden, hidden) + linear(model.output_context, context)
            if config.deep_output_activation == "tanh":
                deep = torch.tanh(deep)
            all_logits.append(linear(model.word_classifier, deep))
        else:
            all_logits.append(linear(model.word_classifier, hidden))
        alphas.append(alpha)
    return torch.stack(all_logits, 1), torch.stack(alphas, 1)


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # the paper: tanh attention, scalar gate, tanh f_init, deep output
        {"deep_output_activation": "tanh", "gate": "none"},  # arctic-captions' tanh before L_o
        "sgrvinod",  # ReLU attention, vector gate, linear f_init, no deep output
    ],
)
def test_soft_attention_logits_follow_the_paper_equations_in_float64(overrides):
    kind = "sgrvinod" if overrides == "sgrvinod" else "soft"
    model = make_captioner(kind, **({} if overrides == "sgrvinod" else overrides)).double()
    images = random_images(model.config, batch=3, seed=11, dtype=torch.float64)
    region_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 1, 1, 0, 1]])
    captions = random_captions(batch=3, length=5)
    with torch.no_grad():
        # Every id read as a word (padding too), as the equations below do: an explicit all-ones mask
        # (without one, the padding id would be masked).
        output = model(**images, image_attention_mask=region_mask, input_ids=captions["input_ids"],
                       attention_mask=torch.ones_like(captions["input_ids"]), output_attentions=True)
        logits, alphas = show_attend_tell_by_hand(model, images["image_features"], region_mask, captions["input_ids"])
    torch.testing.assert_close(output.logits, logits, rtol=1e-12, atol=1e-12)
    assert len(output.attentions) == 5
    torch.testing.assert_close(torch.stack(output.attentions, 1), alphas, rtol=1e-12, atol=1e-12)
    attentions = torch.stack(output.attentions, 1)
    torch.testing.assert_close(attentions.sum(-1), torch.ones(3, 5, dtype=torch.float64))
    assert (attentions.masked_select(region_mask[:, None, :].expand_as(attentions) == 0) == 0).all()
    gate_shape = {"scalar": (3, 5), "vector": (3, 5, FEATURE_SIZE)}.get(model.config.gate)
    assert (output.gates is None) if gate_shape is None else (output.gates.shape == gate_shape)


def test_attention_maps_lay_over_the_pixel_grid():
    for kind, grid in (("soft", (4, 4)), ("sgrvinod", (2, 2))):  # sgrvinod pools the 4x4 grid to 2x2
        model = make_captioner(kind, image_encoder="scratch_cnn")
        captions = random_captions(batch=2, length=4)
        with torch.no_grad():
            output = model(**random_images(model.config, batch=2), input_ids=captions["input_ids"], output_attentions=True)
        assert output.image_grid_size == grid
        assert [tuple(a.shape) for a in output.attentions] == [(2, grid[0] * grid[1])] * 4
        torch.testing.assert_close(torch.stack(output.attentions).sum(-1), torch.ones(4, 2))


def test_show_and_tell_reads_the_image_embedding_as_its_first_lstm_input_in_float64():
    """x_{-1} = W_I mean(a) from a zero state, then x_t = W_e S_t, p_{t+1} = softmax(W_o m_t)."""
    model = make_captioner("show_tell").double()
    images = random_images(model.config, batch=2, seed=12, dtype=torch.float64)
    captions = random_captions(batch=2, length=4)
    with torch.no_grad():
        output = model(**images, input_ids=captions["input_ids"], attention_mask=torch.ones_like(captions["input_ids"]))
        lstm = model.lstm
        weights = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
        image_input = linear(model.image_embedding, images["image_features"].mean(1))
        zeros = torch.zeros(2, model.config.hidden_size, dtype=torch.float64)
        hidden, cell = lstm_cell(image_input, zeros, zeros, *weights)
        logits = []
        for t in range(4):
            hidden, cell = lstm_cell(model.embedding.weight[captions["input_ids"][:, t]], hidden, cell, *weights)
            logits.append(linear(model.word_classifier, hidden))
    torch.testing.assert_close(output.logits, torch.stack(logits, 1), rtol=1e-12, atol=1e-12)
    assert output.attentions is None


# --- losses --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reduction", ["sentence", "token"])
def test_caption_loss_is_the_negative_log_likelihood(kind, reduction):
    model = make_captioner(kind, caption_loss_reduction=reduction, attention_penalty_weight=0.0).double()
    captions = random_captions(batch=3, length=6)
    with torch.no_grad():
        output = model(**random_images(model.config, dtype=torch.float64), **captions)
    nll, predicted = caption_nll_by_hand(output.logits, captions["labels"])
    assert predicted.sum(1).tolist() == [5, 4, 3]
    expected = nll.sum(1).mean() if reduction == "sentence" else nll.sum() / predicted.sum()
    torch.testing.assert_close(output.caption_loss, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(output.loss, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("with_region_mask", [False, True])
def test_doubly_stochastic_penalty_against_the_attention_maps(reduction, with_region_mask):
    """loss = caption NLL + λ Σ_i (1 − Σ_t α_ti)² (eq. 14), the sum over t running over the steps
    that predict a word, the sum over i over the real regions (divided by their number for
    "mean"), averaged over captions."""
    weight = 0.7
    model = make_captioner("soft", attention_penalty_weight=weight, attention_penalty_reduction=reduction).double()
    captions = random_captions(batch=3, length=6)
    images = random_images(model.config, dtype=torch.float64)
    region_mask = torch.ones(3, NUM_REGIONS, dtype=torch.long)
    if with_region_mask:
        region_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 1, 1, 0, 1]])
    if with_region_mask:
        images["image_attention_mask"] = region_mask
    with torch.no_grad():
        output = model(**images, **captions, output_attentions=True)
    alphas = torch.stack(output.attentions, 1)  # (batch, words, regions)
    predicts = captions["labels"][:, 1:] != -100  # step t predicts labels[:, t + 1]
    coverage = (alphas[:, :-1] * predicts[..., None]).sum(1)
    penalty = ((1 - coverage) ** 2 * region_mask).sum(1)
    if reduction == "mean":
        penalty = penalty / region_mask.sum(1)
    torch.testing.assert_close(output.loss - output.caption_loss, weight * penalty.mean(), rtol=1e-12, atol=1e-12)
    assert penalty.min() > 0  # the check above is not a comparison of zeros
