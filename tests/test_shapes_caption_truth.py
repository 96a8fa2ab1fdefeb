"""Tests of caption_is_true (hf_mmattn.data.shapes_captions): every generated caption is true of
its own scene; hand-made false captions (colour, shape, count, position, relation) are false;
a caption can be true of other scenes; sentences outside the grammar raise ValueError."""

import pytest

from hf_mmattn.data import caption_is_true, generate_shapes_captions


def _obj(color, shape, row, column):
    return {"color": color, "shape": shape, "row": row, "column": column}


# red circle top left, blue square middle right, green triangle bottom middle
THREE = [_obj("red", "circle", 0, 0), _obj("blue", "square", 1, 2), _obj("green", "triangle", 2, 1)]
# red circle and blue square in the same column
SAME_COLUMN = [_obj("red", "circle", 0, 1), _obj("blue", "square", 2, 1)]
ONE = [_obj("red", "circle", 1, 2)]


# --- (a) every caption of a generated dataset is true of its own scene -----------------------

@pytest.mark.parametrize("kwargs", [{"seed": 3}, {"seed": 11, "max_objects": 4}])
def test_every_generated_caption_is_true_of_its_scene(kwargs):
    train = generate_shapes_captions(num_train=300, num_val=0, num_test=0, **kwargs)["train"]
    rows = list(zip(train["captions"], train["objects"], strict=True))
    assert {len(objects) for _, objects in rows} == set(range(1, kwargs.get("max_objects", 3) + 1))
    for captions, objects in rows:
        for caption in captions:
            assert caption_is_true(caption, objects), (caption, objects)


def test_cells_from_centre_pixels_when_row_and_column_are_missing():
    train = generate_shapes_captions(num_train=50, num_val=0, num_test=0, seed=5, image_size=48)["train"]
    for captions, objects in zip(train["captions"], train["objects"], strict=True):
        bare = [{k: obj[k] for k in ("color", "shape", "x", "y")} for obj in objects]
        assert all(caption_is_true(caption, bare, image_size=48) for caption in captions)


# --- (b) hand-made scenes, true and false captions -------------------------------------------

@pytest.mark.parametrize("caption", [
    "a red circle, a blue square and a green triangle",
    "a green triangle, a red circle and a blue square",
    "a red circle at the top left, a blue square on the right and a green triangle at the bottom",
    "a red circle to the left of a blue square and a green triangle below the red circle",
    "a blue square above a green triangle and a red circle to the left of the green triangle",
    "a red  circle ,  a blue square and a green triangle",  # extra whitespace is tolerated
])
def test_true_captions_of_a_three_object_scene(caption):
    assert caption_is_true(caption, THREE)


@pytest.mark.parametrize("caption", [
    # wrong colour, wrong shape
    "a red circle, a blue square and a yellow triangle",
    "a red circle, a blue square and a green diamond",
    # wrong count: two of the three objects
    "a red circle and a blue square",
    "a red circle to the left of a blue square",
    # wrong count: four objects
    "a red circle, a blue square, a green triangle and a white diamond",
    # wrong WHERE (the blue square is on the right, not in the middle)
    "a red circle at the top left, a blue square in the middle and a green triangle at the bottom",
    # wrong relation direction
    "a red circle to the right of a blue square and a green triangle below the red circle",
    "a red circle to the left of a blue square and a green triangle above the red circle",
    "a blue square below a green triangle and a red circle to the left of the green triangle",
])
def test_false_captions_of_a_three_object_scene(caption):
    assert not caption_is_true(caption, THREE)


def test_same_column_is_neither_left_nor_right_and_same_row_neither_above_nor_below():
    assert caption_is_true("a red circle above a blue square", SAME_COLUMN)
    assert not caption_is_true("a red circle to the left of a blue square", SAME_COLUMN)
    assert not caption_is_true("a red circle to the right of a blue square", SAME_COLUMN)
    same_row = [_obj("red", "circle", 1, 0), _obj("blue", "square", 1, 2)]
    assert caption_is_true("a red circle to the left of a blue square", same_row)
    assert not caption_is_true("a red circle above a blue square", same_row)
    assert not caption_is_true("a blue square below a red circle", same_row)


def test_one_object_forms():
    for caption in ("a red circle", "there is a red circle", "a single red circle", "a red circle on the right",
                    "there is a red circle on the right", "one red circle on the right"):
        assert caption_is_true(caption, ONE), caption
        # only of a one-object scene: not of a scene that has the red circle and more
        assert not caption_is_true(caption, SAME_COLUMN), caption
    for caption in ("a red circle in the middle", "one red circle at the top right", "a blue circle", "a red square",
                    "there is a red diamond on the right"):
        assert not caption_is_true(caption, ONE), caption
    assert not caption_is_true("a red circle", [])


# --- (c) a caption is true of other scenes ----------------------------------------------------

def test_a_caption_is_true_of_several_scenes():
    scenes = [
        [_obj("red", "circle", 0, 0), _obj("blue", "square", 2, 2)],
        [_obj("blue", "square", 1, 0), _obj("red", "circle", 0, 2)],
        [_obj("red", "circle", 1, 1), _obj("blue", "square", 1, 2)],
    ]
    assert all(caption_is_true("a red circle and a blue square", scene) for scene in scenes)
    assert [caption_is_true("a red circle to the left of a blue square", scene) for scene in scenes] == [True, False, True]
    assert [caption_is_true("a blue square below a red circle", scene) for scene in scenes] == [True, True, False]
    assert [caption_is_true("a red circle at the top right and a blue square on the left", scene)
            for scene in scenes] == [False, True, False]
    assert [caption_is_true("a red circle", [_obj("red", "circle", r, c)]) for r in range(3) for c in range(3)] == [True] * 9


# --- (d) sentences outside the grammar --------------------------------------------------------

@pytest.mark.parametrize("caption", [
    "",
    "a red circle.",                                  # final period
    "A red circle",                                   # upper case
    "a pink circle",                                  # unknown colour
    "a red hexagon",                                  # unknown shape
    "a circle",                                       # no colour
    "red circle",                                     # no article
    "a red circle and",                               # dangling "and"
    "a red circle, a blue square",                    # a list ends with "and"
    "a red circle and a blue square and a green triangle",  # a list of three is "x1, x2 and x3"
    "a red circle above",                             # relation without an object
    "a red circle above the blue square",             # "the" refers to nothing said before
    "a red circle above a blue square and a green triangle below a red circle",  # later object again with "a"
    "a red circle above a red circle",                # the same object introduced twice
    "a red circle and a red circle",
    "a red circle at the top and a blue square",      # position and list items mixed
    "a red circle above a blue square, a green triangle below the red circle",  # relations joined by ","
    "a single red circle at the top",                 # "a single" takes no position
    "one red circle",                                 # "one" needs a position
    "there is a red circle and a blue square",        # "there is" is one object only
    "a red circle at the middle",                     # not a WHERE phrase
    "a red circle near a blue square",                # not a relation
])
def test_sentences_outside_the_grammar_raise_value_error(caption):
    with pytest.raises(ValueError, match="not a shapes-captions caption"):
        caption_is_true(caption, THREE)


def test_same_colour_twice_is_in_the_grammar_but_false_of_every_scene():
    assert not caption_is_true("a red circle and a red square", [_obj("red", "circle", 0, 0), _obj("blue", "square", 0, 1)])


# --- (e) how often a caption is true of another scene -----------------------------------------

def test_fraction_of_captions_true_of_other_scenes():
    test = generate_shapes_captions(num_train=0, num_val=0, num_test=200, seed=0)["test"]
    scenes, captions = list(test["objects"]), list(test["captions"])  # lists: indexing a Column decodes it
    true = total = 0
    for i, image_captions in enumerate(captions):
        for caption in image_captions:
            for j, scene in enumerate(scenes):
                if j != i:
                    true += caption_is_true(caption, scene)
                    total += 1
    assert total == 200 * 5 * 199
    assert 0 < true / total < 0.05
