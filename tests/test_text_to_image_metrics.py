"""Tests of the text-to-image evaluation (hf_mmattn.tasks.text_to_image.metrics): caption consistency of
hand-built scenes with exact fractions, the classifier's targets, R-precision and diversity on hand-built
inputs, image conversion, and a scene classifier that learns real shapes-captions scenes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from hf_mmattn.data.shapes_captions import generate_shapes_captions
from hf_mmattn.tasks.text_to_image.metrics import (
    COLORS,
    SceneClassifier,
    caption_consistency,
    cell_contents,
    consistency_from_scenes,
    diversity,
    evaluator_accuracy,
    images_to_tensor,
    predict_scenes,
    r_precision,
    scene_targets,
    train_scene_classifier,
)


def obj(color: str, shape: str, row: int, column: int) -> dict:
    return {"color": color, "shape": shape, "row": row, "column": column}


# --- consistency_from_scenes: hand-built scenes and captions ---------------------------------------

RED_CIRCLE_TOP_LEFT = "a red circle at the top left"

# (name, scene, caption, expected counts: (mentions, colour hits, shape hits, stated cells, cell hits,
#  object count right, caption true))
CASES = [
    ("perfect", [obj("red", "circle", 0, 0), obj("blue", "square", 1, 2)],
     "a red circle at the top left and a blue square on the right", (2, 2, 2, 2, 2, True, True)),
    ("wrong colour", [obj("green", "circle", 0, 0)], RED_CIRCLE_TOP_LEFT, (1, 0, 0, 1, 0, True, False)),
    ("wrong shape", [obj("red", "square", 0, 0)], RED_CIRCLE_TOP_LEFT, (1, 1, 0, 1, 0, True, False)),
    ("wrong cell", [obj("red", "circle", 2, 2)], RED_CIRCLE_TOP_LEFT, (1, 1, 1, 1, 0, True, False)),
    ("extra object", [obj("red", "circle", 0, 0), obj("blue", "square", 1, 1)], RED_CIRCLE_TOP_LEFT,
     (1, 1, 1, 1, 1, False, False)),
    ("missing object", [obj("red", "circle", 0, 0)], "a red circle and a blue square", (2, 1, 1, 0, 0, False, False)),
]


@pytest.mark.parametrize("name, scene, caption, counts", CASES, ids=[case[0] for case in CASES])
def test_consistency_of_one_scene(name, scene, caption, counts):
    mentions, colour_hits, shape_hits, stated_cells, cell_hits, count_right, caption_true = counts
    result = consistency_from_scenes([scene], [caption])
    assert result == {
        "color": colour_hits / mentions,
        "shape": shape_hits / mentions,
        "position": cell_hits / stated_cells if stated_cells else None,
        "relation": None,
        "object_count": float(count_right),
        "caption_true": float(caption_true),
        "num_images": 1,
    }


def test_consistency_averages_over_mentions_cells_and_images():
    """Micro averages: colour and shape over the 8 mentioned objects, position over the 6 stated cells,
    object count and caption truth over the 6 images."""
    result = consistency_from_scenes([case[1] for case in CASES], [case[2] for case in CASES])
    assert result["color"] == 6 / 8  # all but the wrong colour's red circle and the missing blue square
    assert result["shape"] == 5 / 8  # and not the wrong shape's
    assert result["position"] == 3 / 6  # perfect (2 of 2) and extra object (1 of 1)
    assert result["relation"] is None
    assert result["object_count"] == 4 / 6  # all but extra object and missing object
    assert result["caption_true"] == 1 / 6  # only the perfect scene
    assert result["num_images"] == 6


def test_consistency_of_relations():
    caption = "a red circle to the left of a blue square"
    scenes = [
        [obj("red", "circle", 0, 0), obj("blue", "square", 2, 2)],  # left of (and above): true
        [obj("red", "circle", 0, 2), obj("blue", "square", 0, 0)],  # right of: false
        [obj("red", "circle", 1, 1), obj("blue", "circle", 1, 2)],  # the blue object is not a square: false
        [obj("red", "circle", 1, 0), obj("blue", "square", 1, 1), obj("green", "triangle", 0, 0)],  # extra object
    ]
    result = consistency_from_scenes(scenes, [caption] * 4)
    assert result["relation"] == 2 / 4
    assert result["position"] is None
    assert result["shape"] == 7 / 8
    assert result["object_count"] == 3 / 4
    assert result["caption_true"] == 1 / 4


def test_consistency_rejects_bad_input():
    scene = [obj("red", "circle", 0, 0)]
    with pytest.raises(ValueError, match="2 scenes but 1 captions"):
        consistency_from_scenes([scene, scene], ["a red circle"])
    with pytest.raises(ValueError, match="empty"):
        consistency_from_scenes([], [])
    with pytest.raises(ValueError, match=r"captions\[1\].*unknown word 'banana'"):
        consistency_from_scenes([scene, scene], ["a red circle", "a red banana"])
    with pytest.raises(ValueError, match=r"scenes\[0\] has an object without row"):
        consistency_from_scenes([[{"color": "red", "shape": "circle", "column": 0}]], ["a red circle"])
    with pytest.raises(ValueError, match=r"captions\[0\] is a int"):
        consistency_from_scenes([scene], [3])


# --- scene_targets ---------------------------------------------------------------------------------

def test_scene_targets_by_hand():
    assert COLORS == ("red", "green", "blue", "yellow", "purple", "orange", "cyan", "white")
    shapes, cells = scene_targets([[obj("red", "circle", 0, 0), obj("white", "diamond", 2, 1)], [],
                                   [obj("blue", "triangle", 1, 2)]])
    assert shapes.dtype == cells.dtype == torch.long
    assert shapes.tolist() == [[1, 0, 0, 0, 0, 0, 0, 4], [0] * 8, [0, 0, 3, 0, 0, 0, 0, 0]]
    assert cells.tolist() == [[1, 0, 0, 0, 0, 0, 0, 8], [0] * 8, [0, 0, 6, 0, 0, 0, 0, 0]]


def test_cell_contents_by_hand():
    shapes, cells = scene_targets([[obj("red", "circle", 0, 0), obj("white", "diamond", 2, 1)], [],
                                   [obj("blue", "triangle", 1, 2)]])
    # 1 + colour index * 4 + shape index: red circle 1, white diamond 1 + 7 * 4 + 3 = 32, blue triangle 1 + 2 * 4 + 2 = 11
    assert cell_contents(shapes, cells).tolist() == [[1, 0, 0, 0, 0, 0, 0, 32, 0], [0] * 9, [0, 0, 0, 0, 0, 11, 0, 0, 0]]


def test_scene_targets_rejects_bad_scenes():
    with pytest.raises(ValueError, match="empty"):
        scene_targets([])
    with pytest.raises(ValueError, match="two red objects"):
        scene_targets([[obj("red", "circle", 0, 0), obj("red", "square", 1, 1)]])
    with pytest.raises(ValueError, match="pink circle"):
        scene_targets([[obj("pink", "circle", 0, 0)]])
    with pytest.raises(ValueError, match=r"cell \(3, 0\)"):
        scene_targets([[obj("red", "circle", 3, 0)]])


# --- images_to_tensor ------------------------------------------------------------------------------

def test_images_to_tensor_from_pil_and_uint8():
    array = np.zeros((2, 3, 3), dtype=np.uint8)  # height 2, width 3
    array[0, 1] = (255, 0, 51)
    image = Image.fromarray(array)
    from_pil = images_to_tensor([image, Image.new("L", (3, 2), 102)])
    assert from_pil.shape == (2, 3, 2, 3) and from_pil.dtype == torch.float32
    assert from_pil[0, :, 0, 1].tolist() == pytest.approx([1.0, 0.0, 0.2])
    assert from_pil[0].sum().item() == pytest.approx(1.2)
    assert torch.allclose(from_pil[1], torch.full((3, 2, 3), 0.4))

    as_uint8 = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)
    assert torch.equal(images_to_tensor(as_uint8), from_pil[:1])
    floats = torch.rand(2, 3, 4, 4)
    assert torch.equal(images_to_tensor(floats), floats)


def test_images_to_tensor_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        images_to_tensor([])
    with pytest.raises(ValueError, match=r"\[image\]"):
        images_to_tensor(Image.new("RGB", (4, 4)))
    with pytest.raises(ValueError, match="same size"):
        images_to_tensor([Image.new("RGB", (4, 4)), Image.new("RGB", (5, 4))])
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        images_to_tensor(torch.zeros(2, 4, 8, 8))
    with pytest.raises(ValueError, match=r"\[0, 1\].*\(x \+ 1\) / 2"):
        images_to_tensor(torch.full((1, 3, 4, 4), -0.5))
    with pytest.raises(ValueError, match="PIL image"):
        images_to_tensor([np.zeros((4, 4, 3))])


# --- r_precision -----------------------------------------------------------------------------------

def test_r_precision_of_matching_embeddings_is_one():
    embeds = torch.eye(10)
    assert r_precision(embeds, embeds, num_candidates=5) == 1.0
    assert r_precision(2 * embeds + 0.1, embeds, num_candidates=10, seed=3) == 1.0


def test_r_precision_counts_misses_and_ties():
    """With as many candidates as rows every other row is drawn, so the misses are known whatever the draw."""
    texts = torch.eye(6)
    images = torch.eye(6)
    images[1] = -texts[1]  # its caption scores -1, the others 0: a miss
    images[2] = 0  # every caption scores 0: a tie, a miss
    images[4] = texts[5]  # caption 5 scores higher than its own: a miss
    assert r_precision(images, texts, num_candidates=6) == 3 / 6


def test_r_precision_excludes_identical_texts():
    texts = ["a red circle", "a red circle", "a blue square", "a green triangle"]
    text_embeds = torch.eye(4)
    text_embeds[1] = text_embeds[0]  # identical captions, identical embeddings
    image_embeds = text_embeds.clone()
    # Without the texts, images 0 and 1 meet the other's identical caption: a tie, a miss.
    assert r_precision(image_embeds, text_embeds, num_candidates=4) == 2 / 4
    # With them, the duplicate is never a candidate.
    assert r_precision(image_embeds, text_embeds, texts, num_candidates=3) == 1.0
    with pytest.raises(ValueError, match=r"needs 3 other captions per image, but image 0 has only 2 other rows with a different text"):
        r_precision(image_embeds, text_embeds, texts, num_candidates=4)


def test_r_precision_is_seeded():
    generator = torch.Generator().manual_seed(0)
    images, texts = torch.randn(40, 8, generator=generator), torch.randn(40, 8, generator=generator)
    first = r_precision(images, texts, num_candidates=5, seed=1)
    assert r_precision(images, texts, num_candidates=5, seed=1) == first
    values = {r_precision(images, texts, num_candidates=5, seed=seed) for seed in range(10)}
    assert len(values) > 1  # random embeddings: which captions are drawn matters


def test_r_precision_rejects_bad_input():
    embeds = torch.eye(4)
    with pytest.raises(ValueError, match="needs 4 other captions per image, but image 0 has only 3 other rows"):
        r_precision(embeds, embeds, num_candidates=5)
    with pytest.raises(ValueError, match="same shape"):
        r_precision(embeds, torch.eye(5)[:, :4], num_candidates=2)
    with pytest.raises(ValueError, match="2-D"):
        r_precision(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="at least 2"):
        r_precision(embeds, embeds, num_candidates=1)
    with pytest.raises(ValueError, match="3 texts for 4"):
        r_precision(embeds, embeds, ["a", "b", "c"], num_candidates=2)
    with pytest.raises(ValueError, match="empty"):
        r_precision(torch.zeros(0, 4), torch.zeros(0, 4))


# --- diversity -------------------------------------------------------------------------------------

def test_diversity_by_hand():
    identical = torch.rand(1, 1, 3, 4, 4).expand(3, 4, 3, 4, 4)
    assert diversity(identical) == 0.0

    images = torch.zeros(2, 3, 3, 1, 2)
    images[0, 1] = 0.2
    images[0, 2] = 0.6  # pairs differ by 0.2, 0.6 and 0.4: mean 0.4
    images[1, 1, 0, 0, 0] = 1.0  # one of 6 values differs by 1 between samples 0 and 1, and 1 and 2; none between 0 and 2
    assert diversity(images) == pytest.approx((0.4 + (1 / 6 + 1 / 6 + 0) / 3) / 2)


def test_diversity_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2 samples"):
        diversity(torch.zeros(3, 1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\(num_captions, samples_per_caption, 3, H, W\)"):
        diversity(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="empty"):
        diversity(torch.zeros(0, 2, 3, 4, 4))


# --- the scene classifier on real scenes -----------------------------------------------------------

@pytest.fixture(scope="module")
def shapes():
    return generate_shapes_captions(num_train=600, num_val=0, num_test=200, seed=0)


@pytest.fixture(scope="module")
def classifier(shapes):
    """Trained on 600 real scenes in about 20 s on one core (300 steps of 16 scenes, augmented)."""
    return train_scene_classifier(shapes["train"], epochs=8, batch_size=16, seed=0)


def test_classifier_learns_real_scenes(classifier, shapes):
    """Well above chance on 200 held-out real scenes. Chance: "absent" is right for about 3 colour slots in 4
    (2 objects of 8 colours on average), a random cell for 1 in 9, a whole scene almost never. Measured with
    seeds 0, 1 and 2: shape accuracy 0.988, 0.983, 0.990; cell accuracy 1.0; exact scenes 0.91, 0.87, 0.92."""
    accuracy = evaluator_accuracy(classifier, shapes["test"])
    assert accuracy["num_images"] == 200
    assert accuracy["shape_accuracy"] >= 0.95
    assert accuracy["cell_accuracy"] >= 0.98
    assert accuracy["exact_scene"] >= 0.7
    consistency = accuracy["caption_consistency"]
    assert consistency["num_images"] == 200
    assert consistency["color"] >= 0.98 and consistency["shape"] >= 0.85
    assert consistency["caption_true"] >= accuracy["exact_scene"]  # the first caption is true of the true scene


def test_predicted_scenes_and_caption_consistency(classifier, shapes):
    test = shapes["test"]
    scenes = predict_scenes(classifier, test["image"][:20], batch_size=7)
    assert len(scenes) == 20
    for scene in scenes:
        assert all(set(o) == {"color", "shape", "row", "column"} for o in scene)
        assert len({o["color"] for o in scene}) == len(scene)
    captions = [captions[0] for captions in test["captions"][:20]]
    assert caption_consistency(classifier, test["image"][:20], captions) == consistency_from_scenes(scenes, captions)
    with pytest.raises(ValueError, match="20 images but 19 captions"):
        caption_consistency(classifier, test["image"][:20], captions[:19])
    with pytest.raises(ValueError, match=r"images of shape \(B, 3, 64, 64\)"):
        predict_scenes(classifier, torch.zeros(2, 3, 32, 32))


def test_save_and_load_give_identical_predictions(classifier, shapes, tmp_path):
    classifier.save(tmp_path / "evaluator")
    loaded = SceneClassifier.load(tmp_path / "evaluator")
    assert loaded.config() == classifier.config() and not loaded.training
    images = images_to_tensor(shapes["test"]["image"][:16])
    with torch.no_grad():
        original, restored = classifier(images), loaded(images)
    assert torch.equal(original.shape_logits, restored.shape_logits)
    assert torch.equal(original.cell_logits, restored.cell_logits)
    with pytest.raises(ValueError, match="SceneClassifier.save"):
        SceneClassifier.load(tmp_path / "nothing here")


def test_training_is_deterministic_for_a_seed(shapes):
    few = shapes["train"].select(range(48))
    first, second, other = (train_scene_classifier(few, epochs=1, batch_size=16, seed=seed) for seed in (0, 0, 1))
    for (name, a), (_, b), (_, c) in zip(first.state_dict().items(), second.state_dict().items(), other.state_dict().items()):
        assert torch.equal(a, b), name
    assert not all(torch.equal(a, c) for a, c in zip(first.state_dict().values(), other.state_dict().values()))


def test_training_and_classifier_reject_bad_input(shapes):
    with pytest.raises(ValueError, match="lacks objects"):
        train_scene_classifier(shapes["train"].remove_columns("objects"))
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        train_scene_classifier(shapes["train"], epochs=0)
    with pytest.raises(ValueError, match="empty"):
        train_scene_classifier(shapes["train"].select([]))
    with pytest.raises(ValueError, match="channels"):
        SceneClassifier(channels=())
    with pytest.raises(ValueError, match=r"shape \(B, 3, 64, 64\)"):
        SceneClassifier()(torch.zeros(1, 3, 48, 48))
