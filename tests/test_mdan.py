"""Tests of m-DAN, the matching Dual Attention Network (Nam, Ha, Kim, CVPR 2017), and of the
matching family's contract (dual encoder, ranking loss, processor, zero-shot pipeline, retrieval)
on tiny configs."""

import pytest
import torch
from matching_utils import (
    SENTENCES,
    color_image,
    matching_processor,
    random_matching_images,
    random_sentences,
    tiny_matching_config,
)
from test_dan import _expected_step
from transformers import AutoModel, AutoModelForZeroShotImageClassification, AutoProcessor, pipeline

import hf_mmattn  # noqa: F401
from hf_mmattn import ImageTextRetrieval, MatchingProcessor, MDanConfig, MDanModel
from hf_mmattn.layers.masking import masked_mean
from hf_mmattn.tasks.matching import ranking_loss


def make_mdan(image_encoder: str = "features", seed: int = 0, **overrides) -> MDanModel:
    torch.manual_seed(seed)
    return MDanModel(tiny_matching_config(MDanConfig, image_encoder, **overrides)).eval()


# --- the paper's equations -----------------------------------------------------------------------

def by_hand(model, image_features, image_attention_mask, input_ids, attention_mask):
    """v^(k), u^(k) and S written out from section 3.3 with the model's weights: separate memories,
    m^(k) = m^(k-1) + the step vector, S = Σ_k v^(k)·u^(k)."""
    regions = image_features
    words = model.text_encoder(input_ids, attention_mask).word_states
    visual = torch.tanh(model.initial_visual_projection[0](masked_mean(regions, image_attention_mask)))
    textual = masked_mean(words, attention_mask)
    visuals, textuals = [visual], [textual]
    visual_memory, textual_memory = visual, textual
    for step in model.steps:
        # Every image with every text: broadcast images over texts for the hand step.
        v, _, _, _ = _expected_step(step, regions, words[:1].expand(len(regions), -1, -1), visual_memory,
                                    textual_memory[:1].expand(len(regions), -1), image_attention_mask, attention_mask[:1].expand(len(regions), -1))
        _, u, _, _ = _expected_step(step, regions[:1].expand(len(words), -1, -1), words, visual_memory[:1].expand(len(words), -1),
                                    textual_memory, None, attention_mask)
        visual_memory, textual_memory = visual_memory + v, textual_memory + u
        visuals.append(v)
        textuals.append(u)
    similarity = sum(v @ u.T for v, u in zip(visuals, textuals, strict=True))
    return visuals, textuals, similarity


@pytest.mark.parametrize("num_steps", [0, 1, 2, 3])
def test_similarity_is_the_sum_over_steps_of_the_dot_products_of_separate_memory_steps(num_steps):
    model = make_mdan(num_steps=num_steps).double()
    images = {k: v.double() for k, v in random_matching_images(model.config, batch=4).items()}
    images["image_attention_mask"] = torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4, [1] * 7])
    texts = random_sentences(model.config, batch=3, seed=2)
    with torch.no_grad():
        output = model(**texts, **images, output_attentions=True)
        visuals, textuals, similarity = by_hand(model, images["image_features"], images["image_attention_mask"], **texts)
        image_steps = model.get_image_features(**images, output_step_embeds=True).step_embeds
        text_steps = model.get_text_features(**texts, output_step_embeds=True).step_embeds
    torch.testing.assert_close(output.logits_per_image, similarity, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(output.logits_per_text, similarity.T, rtol=1e-10, atol=1e-10)
    for actual, expected in zip(image_steps, visuals, strict=True):
        torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)
    for actual, expected in zip(text_steps, textuals, strict=True):
        torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)
    assert output.image_embeds.shape == (4, (num_steps + 1) * model.config.hidden_size) == (4, model.config.projection_dim)
    assert len(output.attentions or ()) == num_steps and len(output.text_attentions or ()) == num_steps
    if num_steps:
        assert (output.attentions[0][1, 5:] == 0).all() and (output.text_attentions[0][1, 4:] == 0).all()


def test_the_memories_are_cumulative_and_kept_apart():
    """Step 2 of the visual attention is guided by m_v^(1) = v^(0) + v^(1), not by r-DAN's joint
    memory: feeding the hand computation r-DAN's memory gives another similarity."""
    model = make_mdan(num_steps=2).double()
    images = {k: v.double() for k, v in random_matching_images(model.config, batch=2).items()}
    texts = random_sentences(model.config, batch=2)
    with torch.no_grad():
        features = model.get_image_features(**images, output_step_embeds=True, output_attentions=True)
        regions = images["image_features"]
        v0, v1 = features.step_embeds[:2]
        step = model.steps[1]
        v2_from_cumulative, _ = step.attend_visual(regions, v0 + v1)
        v2_from_last, _ = step.attend_visual(regions, v1)
        words = model.text_encoder(**texts).word_states
        u0 = masked_mean(words, texts["attention_mask"])
        u1, _ = model.steps[0].attend_textual(words, u0, texts["attention_mask"])
        v2_from_joint, _ = step.attend_visual(regions, u0 * v0 + u1 * v1)
    torch.testing.assert_close(features.step_embeds[2], v2_from_cumulative)
    assert not torch.allclose(v2_from_cumulative, v2_from_last)
    assert not torch.allclose(v2_from_cumulative, v2_from_joint)


@pytest.mark.parametrize("image_encoder", ["features", "scratch_cnn", "backbone"])
def test_a_true_dual_encoder_embeds_each_modality_without_the_other(image_encoder):
    """An image's embedding does not depend on the sentences it is compared with (nor on the other
    images of its batch), and a sentence's not on the images: the gallery can be encoded once."""
    model = make_mdan(image_encoder)
    images = random_matching_images(model.config, batch=3)
    texts = random_sentences(model.config, batch=3)
    other_texts = random_sentences(model.config, batch=5, length=4, seed=9)
    with torch.no_grad():
        first = model(**texts, **images)
        second = model(**other_texts, **images)
        alone = model.get_image_features(**{k: v[1:2] for k, v in images.items()}).pooler_output
        text_alone = model.get_text_features(**{k: v[2:] for k, v in texts.items()}).pooler_output
    torch.testing.assert_close(first.image_embeds, second.image_embeds, rtol=0, atol=0)
    torch.testing.assert_close(alone[0], first.image_embeds[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(text_alone[0], first.text_embeds[2], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(first.logits_per_image, first.image_embeds @ first.text_embeds.T)


def test_padding_words_and_masked_regions_change_nothing():
    model = make_mdan()
    texts = random_sentences(model.config, batch=3)
    padded = {k: torch.cat([v, torch.zeros(3, 4, dtype=v.dtype)], dim=1) for k, v in texts.items()}
    images = random_matching_images(model.config, batch=2)
    noisy = torch.cat([images["image_features"], 50 * torch.randn(2, 3, model.config.image_feature_size)], dim=1)
    mask = torch.cat([torch.ones(2, 7, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long)], dim=1)
    with torch.no_grad():
        reference = model(**texts, **images)
        again = model(**padded, image_features=noisy, image_attention_mask=mask)
    torch.testing.assert_close(again.logits_per_image, reference.logits_per_image, rtol=1e-5, atol=1e-5)


# --- the ranking loss ----------------------------------------------------------------------------

def loss_by_loops(similarity, margin, negatives, image_ids=None):
    """The bidirectional hinge loss over all pairs, one pair and one negative at a time."""
    n = similarity.shape[0]
    ids = list(range(n)) if image_ids is None else image_ids.tolist()
    total = 0.0
    for i in range(n):
        positive = similarity[i, i].item()
        to_text = [max(0.0, margin - positive + similarity[i, j].item()) for j in range(n) if ids[j] != ids[i]]
        to_image = [max(0.0, margin - positive + similarity[j, i].item()) for j in range(n) if ids[j] != ids[i]]
        if negatives == "sum":
            total += sum(to_text) + sum(to_image)
        else:
            total += max(to_text, default=0.0) + max(to_image, default=0.0)
    return total


@pytest.mark.parametrize("negatives", ["sum", "max"])
@pytest.mark.parametrize("with_ids", [False, True])
def test_ranking_loss_equals_a_slow_loop_over_all_pairs(negatives, with_ids):
    generator = torch.Generator().manual_seed(0)
    similarity = torch.randn(6, 6, generator=generator, dtype=torch.float64)
    image_ids = torch.tensor([0, 1, 1, 2, 3, 3]) if with_ids else None
    for margin in (0.0, 0.2, 1.5):
        expected = loss_by_loops(similarity, margin, negatives, image_ids)
        assert expected > 0
        torch.testing.assert_close(ranking_loss(similarity, margin, negatives, image_ids).item(), expected, rtol=1e-12, atol=1e-12)


def test_hardest_negative_selection_by_hand():
    # Image 0's texts: positive 0.9, negatives 0.5 and 0.8: the hardest is text 2 (0.8).
    # Text 0's images: negatives 0.3 (image 1) and 0.85 (image 2): the hardest is image 2.
    similarity = torch.tensor([[0.9, 0.5, 0.8], [0.3, 0.7, 0.1], [0.85, 0.2, 0.6]])
    margin = 0.2
    # max: image 0 → text: 0.2 - 0.9 + 0.8 = 0.1; text 0 → image: 0.2 - 0.9 + 0.85 = 0.15
    # image 1 → texts 0 (0.3), 2 (0.1): 0.2 - 0.7 + 0.3 < 0 → 0; text 1 → images 0 (0.5), 2 (0.2): 0
    # image 2 → texts 0 (0.85), 1 (0.2): 0.2 - 0.6 + 0.85 = 0.45; text 2 → images 0 (0.8), 1 (0.1): 0.4
    torch.testing.assert_close(ranking_loss(similarity, margin, "max"), torch.tensor(0.1 + 0.15 + 0.45 + 0.4))
    # sum adds the other violating negatives: image 0 → text 1: 0.2 - 0.9 + 0.5 < 0; none else.
    torch.testing.assert_close(ranking_loss(similarity, margin, "sum"), torch.tensor(0.1 + 0.15 + 0.45 + 0.4))
    # A margin that makes every negative count separates the two.
    assert ranking_loss(similarity, 2.0, "sum") > ranking_loss(similarity, 2.0, "max")


def test_forward_loss_uses_the_config_and_skips_captions_of_the_same_image():
    model = make_mdan(margin=0.5, ranking_loss="sum")
    images = random_matching_images(model.config, batch=4)
    texts = random_sentences(model.config, batch=4)
    with torch.no_grad():
        output = model(**texts, **images, return_loss=True)
        masked = model(**texts, **images, return_loss=True, image_ids=torch.tensor([0, 0, 1, 1]))
    torch.testing.assert_close(output.loss.item(), loss_by_loops(output.logits_per_image, 0.5, "sum"), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(masked.loss.item(), loss_by_loops(output.logits_per_image, 0.5, "sum", torch.tensor([0, 0, 1, 1])),
                               rtol=1e-5, atol=1e-5)
    assert model(**texts, **images).loss is None


def test_the_model_learns_to_match_colours():
    """A tiny task: solid-colour images and their colour's name; after training each image ranks
    its own sentence first and each sentence its own image."""
    processor = matching_processor()
    colours = ["red", "blue", "green", "yellow"]
    sentences = [f"a {c} circle" if c != "yellow" else "there is a yellow diamond" for c in colours]
    model = make_mdan("scratch_cnn", vocab_size=len(processor.tokenizer), seed=1).train()
    inputs = processor(images=[color_image(c) for c in colours], text=sentences)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = model(**inputs, return_loss=True).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        scores = model(**inputs).logits_per_image
    assert torch.equal(scores.argmax(1), torch.arange(4)) and torch.equal(scores.argmax(0), torch.arange(4))


# --- transformers integration -----------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_folder(tmp_path_factory):
    """A tiny m-DAN trained on solid colours, saved with its processor."""
    processor = matching_processor()
    colours = ["red", "blue", "green"]
    sentences = [f"a {c} circle" for c in colours]
    model = make_mdan("scratch_cnn", vocab_size=len(processor.tokenizer), seed=3).train()
    inputs = processor(images=[color_image(c) for c in colours], text=sentences)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = model(**inputs, return_loss=True).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    folder = tmp_path_factory.mktemp("mdan")
    model.eval().save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def test_auto_classes_load_the_model_and_the_processor(trained_folder):
    model = AutoModel.from_pretrained(trained_folder)
    assert type(model) is MDanModel
    assert type(AutoModelForZeroShotImageClassification.from_pretrained(trained_folder)) is MDanModel
    processor = AutoProcessor.from_pretrained(trained_folder)
    assert type(processor) is MatchingProcessor
    assert processor.tokenizer.get_vocab() == matching_processor().tokenizer.get_vocab()


def test_the_built_in_zero_shot_pipeline_serves_a_saved_folder(trained_folder):
    classifier = pipeline("zero-shot-image-classification", model=str(trained_folder))
    assert type(classifier.model) is MDanModel
    for colour in ("red", "blue", "green"):
        result = classifier(color_image(colour), candidate_labels=["red circle", "blue circle", "green circle"], hypothesis_template="a {}")
        assert result[0]["label"] == f"{colour} circle", result
        assert abs(sum(r["score"] for r in result) - 1) < 1e-5
    # The pipeline's scores are the softmax of the model's similarities with the templated labels.
    model, processor = AutoModel.from_pretrained(trained_folder), AutoProcessor.from_pretrained(trained_folder)
    with torch.no_grad():
        logits = model(**processor(images=[color_image("blue")], text=["a red circle", "a blue circle"])).logits_per_image[0]
    result = classifier(color_image("blue"), candidate_labels=["red circle", "blue circle"], hypothesis_template="a {}")
    expected = dict(zip(["red circle", "blue circle"], logits.softmax(-1).tolist(), strict=True))
    for entry in result:
        assert abs(entry["score"] - expected[entry["label"]]) < 1e-5


def test_retrieval_encodes_the_gallery_once_and_ranks_both_ways(trained_folder, monkeypatch):
    retrieval = ImageTextRetrieval.from_pretrained(trained_folder, batch_size=2)
    colours = ["red", "blue", "green"]
    gallery = retrieval.encode_images([color_image(c) for c in colours])
    assert gallery.shape == (3, retrieval.model.config.projection_dim)
    calls = []
    original = retrieval.model.get_image_features
    monkeypatch.setattr(retrieval.model, "get_image_features", lambda *a, **k: calls.append(1) or original(*a, **k))
    for index, colour in enumerate(colours):
        top = retrieval.rank_images(f"a {colour} circle", gallery, top_k=2)
        assert top[0]["index"] == index and len(top) == 2 and top[0]["score"] >= top[1]["score"]
    assert calls == []  # the queries never re-encode the gallery
    sentences = [f"a {c} circle" for c in colours]
    text_gallery = retrieval.encode_texts(sentences)
    ranked = retrieval.rank_texts([color_image(c) for c in colours], text_gallery, top_k=None)
    assert [r[0]["index"] for r in ranked] == [0, 1, 2] and all(len(r) == 3 for r in ranked)
    scores = retrieval.similarity(gallery, text_gallery)
    assert torch.equal(scores.argmax(1), torch.arange(3))
    with pytest.raises(ValueError, match="top_k"):
        retrieval.rank_images("a red circle", gallery, top_k=0)
    with pytest.raises(ValueError, match="gallery must be"):
        retrieval.rank_images("a red circle", gallery[0])
    with pytest.raises(ValueError, match="no texts"):
        retrieval.encode_texts([])


# --- bad inputs -------------------------------------------------------------------------------

def test_bad_inputs_get_clear_errors():
    model = make_mdan()
    images = random_matching_images(model.config, batch=3)
    texts = random_sentences(model.config, batch=3)
    empty = {k: v.clone() for k, v in texts.items()}
    empty["attention_mask"][1] = 0
    empty["input_ids"][1] = 0
    with pytest.raises(ValueError, match="a sentence has no tokens"):
        model(**empty, **images)
    with pytest.raises(ValueError, match="image_features is required"):
        model(**texts)
    with pytest.raises(ValueError, match="input_ids is required"):
        model(**images)
    with pytest.raises(ValueError, match="batch mismatch: 2 images but 3 texts"):
        model(**texts, image_features=images["image_features"][:2], return_loss=True)
    with pytest.raises(ValueError, match="image_ids only serve the loss"):
        model(**texts, **images, image_ids=torch.arange(3))
    with pytest.raises(ValueError, match="one integer id per pair"):
        model(**texts, **images, return_loss=True, image_ids=torch.arange(2))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(input_ids=texts["input_ids"] + 100, **images)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        model(**texts, **images, labels=torch.arange(3))
    # Without a loss, images and texts may differ in number.
    with torch.no_grad():
        assert model(**texts, image_features=images["image_features"][:2]).logits_per_image.shape == (2, 3)


def test_the_processor_refuses_empty_sentences_and_unknown_options():
    processor = matching_processor()
    with pytest.raises(ValueError, match="a sentence is empty"):
        processor(text=["a red circle", "  "])
    with pytest.raises(TypeError, match="sentence must be a string"):
        processor(text=["a red circle", 3])
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        processor(text="a red circle", padding="max_length")
    assert processor.unknown_words("a purple circle") == ["purple"]
    encoded = processor(text=list(SENTENCES[:2]))
    assert set(encoded) == {"input_ids", "attention_mask"}


@pytest.mark.parametrize("field", ["num_steps", "ranking_loss", "margin"])
def test_config_refuses_bad_values(field):
    bad = {"num_steps": -1, "ranking_loss": "mean", "margin": -0.1}[field]
    with pytest.raises(ValueError, match=field):
        MDanConfig(**{field: bad})
