"""Tests of the document figures of hf_mmattn.visualization (HAN, Yang et al. 2016, Figures 5-6)."""

import html
import math
import re

import numpy as np
import pytest
import torch
from PIL import Image

from hf_mmattn.visualization import document_attention_html, plot_document_attention

SENTENCES = [
    ["the", "pizza", "was", "<b>", "great", "&", "cheap"],
    ["we", "came", "on", "a", "tuesday"],
    ["parking", "was", "hard"],
]
# Padded (S, T) word attention as a model returns it for one document: rows longer than the sentences.
WORD_ATTENTION = torch.tensor([
    [0.05, 0.30, 0.05, 0.10, 0.40, 0.05, 0.05, 0.0, 0.0],
    [0.10, 0.20, 0.10, 0.10, 0.50, 0.0, 0.0, 0.0, 0.0],
    [0.60, 0.10, 0.30, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
])
SENTENCE_ATTENTION = torch.tensor([0.7, 0.0, 0.3])

WORD_SPAN = re.compile(r'<span style="background-color: rgba\(255, 0, 0, ([0-9.]+)\);[^"]*" title="[^"]*">([^<]*)</span>')
SENTENCE_BAR = re.compile(r"rgba\(0, 0, 255, ([0-9.]+)\)")


def word_alphas(fragment):
    """(escaped word, alpha) of every word span of the fragment, in order."""
    return [(word, float(alpha)) for alpha, word in WORD_SPAN.findall(fragment)]


def test_html_escapes_every_word_in_order():
    fragment = document_attention_html(SENTENCES, WORD_ATTENTION, SENTENCE_ATTENTION, title="Predicted: <5> stars")
    words = [word for word, _ in word_alphas(fragment)]
    assert words == [html.escape(w) for sentence in SENTENCES for w in sentence]
    assert "&lt;b&gt;" in fragment and "&amp;" in fragment
    assert "<b>" not in fragment  # the word must not become markup
    assert "Predicted: &lt;5&gt; stars" in fragment
    assert "<script" not in fragment.lower()
    # Positions in the fragment follow the document order too.
    positions = [fragment.index(f">{html.escape(w)}</span>") for w in ["pizza", "tuesday", "parking"]]
    assert positions == sorted(positions)


def test_html_alphas_follow_the_papers_rule():
    alphas = [alpha for _, alpha in word_alphas(document_attention_html(SENTENCES, WORD_ATTENTION, SENTENCE_ATTENTION))]
    first, second, third = alphas[:7], alphas[7:12], alphas[12:]
    # The most attended word ("great") of the most attended sentence is the strongest, at 1.
    assert max(alphas) == first[4] == 1.0
    # A sentence of weight 0 has invisible words; its bar has opacity 0.
    assert second == [0.0] * 5
    # sqrt(p_s) * p_w over the document maximum: "parking" = sqrt(0.3) * 0.6 / (sqrt(0.7) * 0.4).
    assert third[0] == pytest.approx(math.sqrt(0.3) * 0.6 / (math.sqrt(0.7) * 0.4), abs=1e-3)
    bars = [float(a) for a in SENTENCE_BAR.findall(document_attention_html(SENTENCES, WORD_ATTENTION, SENTENCE_ATTENTION))]
    assert bars == pytest.approx([1.0, 0.0, 0.3 / 0.7], abs=1e-3)


def test_html_accepts_ragged_lists_and_numpy():
    rows = [list(WORD_ATTENTION[s, :len(words)].numpy()) for s, words in enumerate(SENTENCES)]
    from_lists = document_attention_html(SENTENCES, rows, [0.7, 0.0, 0.3])
    from_numpy = document_attention_html(SENTENCES, WORD_ATTENTION.numpy(), SENTENCE_ATTENTION.numpy())
    from_tensors = document_attention_html(SENTENCES, list(WORD_ATTENTION), SENTENCE_ATTENTION)
    assert from_lists == from_numpy == from_tensors


def test_plot_writes_a_png_with_the_same_shading(tmp_path):
    path = tmp_path / "document.png"
    long_sentence = [f"w{k}" for k in range(25)]
    sentences = [*SENTENCES, long_sentence]
    words = torch.zeros(4, 25)
    words[:3, :9] = WORD_ATTENTION
    words[3] = torch.softmax(torch.arange(25.0), 0)
    fig = plot_document_attention(sentences, words, [0.7, 0.0, 0.2, 0.1], title="Predicted: 5 stars", path=path,
                                  max_words_per_line=10)
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert width > 100 and height > 100
    boxes = {t.get_text(): t.get_bbox_patch().get_facecolor() for t in fig.texts if t.get_bbox_patch() is not None}
    assert set(boxes) == {w for sentence in sentences for w in sentence}
    assert max(colour[3] for colour in boxes.values()) == pytest.approx(boxes["great"][3]) == pytest.approx(1.0)
    assert all(boxes[w][3] == 0.0 for w in SENTENCES[1])
    assert "Predicted: 5 stars" in [t.get_text() for t in fig.texts]
    # The 25-word sentence wraps onto three lines of at most 10 words: w0, w10, w20 start lines at the same x.
    starts = {t.get_text(): t.get_position() for t in fig.texts}
    assert starts["w0"][0] == starts["w10"][0] == starts["w20"][0] == starts["the"][0]
    assert starts["w0"][1] > starts["w10"][1] > starts["w20"][1]


@pytest.mark.parametrize(
    ("sentences", "words", "sentence_weights", "message"),
    [
        ([], [], [], "document is empty"),
        (SENTENCES, WORD_ATTENTION, [0.5, 0.5], "2 sentence weights for 3 sentences"),
        (SENTENCES, WORD_ATTENTION, [0.5, -0.1, 0.6], "non-negative"),
        (SENTENCES, WORD_ATTENTION, [0.5, float("nan"), 0.5], "NaN or infinite"),
        (SENTENCES, WORD_ATTENTION[:, :4], SENTENCE_ATTENTION, "sentence 0 has 7 words but only 4 word weights"),
        (SENTENCES, WORD_ATTENTION[:2], SENTENCE_ATTENTION, "2 rows of word weights for 3 sentences"),
        (SENTENCES, WORD_ATTENTION[None], SENTENCE_ATTENTION, "index the batch first"),
        (SENTENCES, -WORD_ATTENTION, SENTENCE_ATTENTION, "word weights of sentence 0 must be non-negative"),
        (SENTENCES, WORD_ATTENTION.clone().fill_(float("inf")), SENTENCE_ATTENTION, "NaN or infinite"),
        (["the pizza was great"], [[1.0]], [1.0], "sentence 0 must be a sequence of words"),
        (SENTENCES, WORD_ATTENTION, SENTENCE_ATTENTION[None], "sentence_attentions must be 1-D"),
    ],
)
def test_bad_inputs_raise_clear_errors(sentences, words, sentence_weights, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        document_attention_html(sentences, words, sentence_weights)
    with pytest.raises(ValueError, match=re.escape(message)):
        plot_document_attention(sentences, words, sentence_weights)


def test_padding_beyond_the_words_is_ignored():
    padded = WORD_ATTENTION.clone()
    padded[2, 3:] = float("nan")  # padding may hold anything
    assert document_attention_html(SENTENCES, padded, SENTENCE_ATTENTION) == document_attention_html(
        SENTENCES, WORD_ATTENTION, SENTENCE_ATTENTION
    )


def test_max_words_per_line_is_validated():
    with pytest.raises(ValueError, match="max_words_per_line must be a positive integer"):
        plot_document_attention(SENTENCES, WORD_ATTENTION, SENTENCE_ATTENTION, max_words_per_line=0)


def test_all_zero_attention_draws_nothing_without_dividing_by_zero():
    fragment = document_attention_html([["a", "b"]], np.zeros((1, 2)), [0.0])
    assert [alpha for _, alpha in word_alphas(fragment)] == [0.0, 0.0]
    assert SENTENCE_BAR.findall(fragment) == ["0.000"]
