"""Shapes captions: a small caption dataset generated offline, whose captions need attention.

Every image (``image_size`` x ``image_size`` RGB, black background) holds 1 to ``max_objects``
flat shapes drawn with PIL, each in its own cell of a 3x3 grid (so no two overlap and every
pair of objects is clearly apart in x, in y or in both), each of a different colour. The
captions describe which shapes there are, where they are and where they are relative to each
other, so a captioner has to look at several places of the image to produce them.

Vocabulary: shapes ``circle``, ``square``, ``triangle``, ``diamond``; colours ``red``,
``green``, ``blue``, ``yellow``, ``purple``, ``orange``, ``cyan``, ``white`` (exact RGB values
in :data:`SHAPES_CAPTIONS_COLORS`; shapes are drawn without anti-aliasing, so every pixel of a
shape, its centre pixel included, has exactly its colour).

Grammar (captions are lower-case, words separated by single spaces, commas only in lists, no
final period)::

    OBJ      := "a" COLOR SHAPE                       first mention, e.g. "a red circle"
    REF      := "the" COLOR SHAPE                     later mention of the same object
    REL      := "to the left of" | "to the right of" | "above" | "below"
    WHERE    := "at the top left" | "at the top" | "at the top right" | "on the left"
              | "in the middle" | "on the right" | "at the bottom left" | "at the bottom"
              | "at the bottom right"
    LIST(X1..Xn) := X1                                 n = 1
                  | X1 "and" X2                        n = 2
                  | X1 "," X2 "," ... X(n-1) "and" Xn   n >= 3 (written "x1, x2 and x3")

    one object:     OBJ | "there is" OBJ | "a single" COLOR SHAPE | OBJ WHERE
                    | "there is" OBJ WHERE | "one" COLOR SHAPE WHERE
    several (n):    relation:  OBJ REL OBJ ("and" OBJ REL REF)*   every object mentioned once
                                                                  with "a", then as REF
                    list:      LIST(OBJ, ..., OBJ)                every object, any order
                    position:  LIST(OBJ WHERE, ..., OBJ WHERE)    every object, any order

e.g. "a red circle above a blue square and a green triangle to the left of the red circle",
"a blue square, a green triangle and a red circle", "a red circle at the top and a blue square
on the left". With several objects the first caption of an image is always a relation
caption and about 60% of the rest are.

Truth: WHERE names the grid cell of the object's centre (rows top/middle/bottom, columns
left/middle/right). "X to the left of Y" means X's column is left of Y's (so
``x_X < x_Y - image_size / 6``; "right of" likewise), "X above Y" means X's row is above Y's
(``y_X < y_Y - image_size / 6``, image y growing downwards; "below" likewise); two objects in
the same column are never said to be left or right of each other, nor two in the same row
above or below each other.

Determinism: a split's images and captions depend only on ``seed``, the split's name and its
own size and the other arguments (not on the sizes of the other splits), and are identical
across runs, machines and Python hash seeds.

:func:`caption_is_true` decides whether a caption of the grammar is true of a scene (its ``objects``).
"""

import functools
import io
import random

from datasets import Dataset, DatasetDict, Features, Image, List, Value
from PIL import Image as PILImage
from PIL import ImageDraw

SHAPES_CAPTIONS_SHAPES = ("circle", "square", "triangle", "diamond")
SHAPES_CAPTIONS_COLORS = {
    "red": (255, 0, 0),
    "green": (0, 200, 0),
    "blue": (0, 80, 255),
    "yellow": (255, 230, 0),
    "purple": (160, 32, 240),
    "orange": (255, 140, 0),
    "cyan": (0, 220, 220),
    "white": (255, 255, 255),
}
BACKGROUND = (0, 0, 0)
GRID = 3
RELATIONS = ("to the left of", "to the right of", "above", "below")
_WHERE = {
    (0, 0): "at the top left", (0, 1): "at the top", (0, 2): "at the top right",
    (1, 0): "on the left", (1, 1): "in the middle", (1, 2): "on the right",
    (2, 0): "at the bottom left", (2, 1): "at the bottom", (2, 2): "at the bottom right",
}

FEATURES = Features({
    "image_id": Value("int64"),
    "image": Image(),
    "captions": List(Value("string")),
    "objects": List({
        "shape": Value("string"),
        "color": Value("string"),
        "x": Value("int32"),       # centre pixel, column
        "y": Value("int32"),       # centre pixel, row (downwards)
        "size": Value("int32"),    # half the side of the shape's bounding box
        "row": Value("int32"),     # grid cell of the centre, 0..2 from the top
        "column": Value("int32"),  # 0..2 from the left
    }),
})


def where_phrase(row: int, column: int) -> str:
    """The WHERE phrase of a grid cell, e.g. ``where_phrase(0, 2) == "at the top right"``."""
    return _WHERE[(row, column)]


def relations_between(a: dict, b: dict) -> list[str]:
    """The relations REL for which "a REL b" is true, from the objects' grid cells."""
    relations = []
    if a["column"] < b["column"]:
        relations.append("to the left of")
    if a["column"] > b["column"]:
        relations.append("to the right of")
    if a["row"] < b["row"]:
        relations.append("above")
    if a["row"] > b["row"]:
        relations.append("below")
    return relations


def _name(obj: dict) -> str:
    return f"{obj['color']} {obj['shape']}"


def _join(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _layout(rng: random.Random, image_size: int, max_objects: int) -> list[dict]:
    cell = image_size / GRID
    max_size = int(cell / 2) - 2
    min_size = max(2, int(cell * 0.25))
    n = rng.randint(1, max_objects)
    cells = rng.sample([(r, c) for r in range(GRID) for c in range(GRID)], n)
    colors = rng.sample(list(SHAPES_CAPTIONS_COLORS), n)
    objects = []
    for (row, column), color in zip(cells, colors):
        size = rng.randint(min_size, max_size)
        jitter = max(0, int(cell / 2 - size - 1))
        x = int((column + 0.5) * cell) + rng.randint(-jitter, jitter)
        y = int((row + 0.5) * cell) + rng.randint(-jitter, jitter)
        objects.append({"shape": rng.choice(SHAPES_CAPTIONS_SHAPES), "color": color, "x": x, "y": y,
                        "size": size, "row": row, "column": column})
    return objects


def _draw(objects: list[dict], image_size: int) -> bytes:
    image = PILImage.new("RGB", (image_size, image_size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for obj in objects:
        x, y, s, fill = obj["x"], obj["y"], obj["size"], SHAPES_CAPTIONS_COLORS[obj["color"]]
        if obj["shape"] == "circle":
            draw.ellipse((x - s, y - s, x + s, y + s), fill=fill)
        elif obj["shape"] == "square":
            draw.rectangle((x - s, y - s, x + s, y + s), fill=fill)
        elif obj["shape"] == "triangle":
            draw.polygon([(x, y - s), (x + s, y + s), (x - s, y + s)], fill=fill)
        else:  # diamond
            draw.polygon([(x, y - s), (x + s, y), (x, y + s), (x - s, y)], fill=fill)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _single_caption(rng: random.Random, obj: dict) -> str:
    name, where = _name(obj), where_phrase(obj["row"], obj["column"])
    return rng.choice((f"a {name}", f"there is a {name}", f"a single {name}", f"a {name} {where}",
                       f"there is a {name} {where}", f"one {name} {where}"))


def _relation_caption(rng: random.Random, objects: list[dict]) -> str:
    order = rng.sample(objects, len(objects))
    first, second = order[0], order[1]
    parts = [f"a {_name(first)} {rng.choice(relations_between(first, second))} a {_name(second)}"]
    for i, obj in enumerate(order[2:], start=2):
        # Objects sit in distinct cells, so every earlier object has some relation to this one.
        ref = rng.choice(order[:i])
        parts.append(f"a {_name(obj)} {rng.choice(relations_between(obj, ref))} the {_name(ref)}")
    return " and ".join(parts)


def _caption(rng: random.Random, objects: list[dict], first: bool) -> str:
    if len(objects) == 1:
        return _single_caption(rng, objects[0])
    kind = "relation" if first or rng.random() < 0.6 else rng.choice(("list", "position"))
    if kind == "relation":
        return _relation_caption(rng, objects)
    order = rng.sample(objects, len(objects))
    if kind == "list":
        return _join([f"a {_name(obj)}" for obj in order])
    return _join([f"a {_name(obj)} {where_phrase(obj['row'], obj['column'])}" for obj in order])


def _captions(rng: random.Random, objects: list[dict], count: int) -> list[str]:
    """``count`` captions, distinct where the grammar allows that many for this image."""
    captions: list[str] = []
    for _ in range(30 * count):
        caption = _caption(rng, objects, first=not captions)
        if caption not in captions:
            captions.append(caption)
            if len(captions) == count:
                return captions
    return [captions[i % len(captions)] for i in range(count)]


def _generate_split(split: str, num_images: int, image_size: int, seed: int, max_objects: int,
                    captions_per_image: int) -> Dataset:
    # A string seed is hashed with SHA-512 by `random`: the same on every run and machine.
    rng = random.Random(f"hf-mmattn/shapes-captions/{seed}/{split}")
    columns = {"image_id": [], "image": [], "captions": [], "objects": []}
    for image_id in range(num_images):
        objects = _layout(rng, image_size, max_objects)
        columns["image_id"].append(image_id)
        columns["image"].append({"bytes": _draw(objects, image_size), "path": None})
        columns["captions"].append(_captions(rng, objects, captions_per_image))
        columns["objects"].append(objects)
    return Dataset.from_dict(columns, features=FEATURES, split=split)


def generate_shapes_captions(num_train: int = 5000, num_val: int = 500, num_test: int = 500,
                             image_size: int = 64, seed: int = 0, max_objects: int = 3,
                             captions_per_image: int = 5) -> DatasetDict:
    """Generate the shapes-captions dataset (grammar and truth conditions in the module docstring).

    Returns a ``DatasetDict`` with splits ``"train"``, ``"validation"`` and ``"test"`` of
    ``num_train``, ``num_val`` and ``num_test`` images. Columns: ``image_id`` (index within the
    split), ``image`` (an ``Image()`` feature holding PNG bytes, decoding to an RGB
    ``PIL.Image``), ``captions`` (``captions_per_image`` reference captions, distinct unless the
    grammar has fewer for that image) and ``objects`` (a list of ``{"shape", "color", "x", "y",
    "size", "row", "column"}``: the centre pixel, half the side of the bounding box and the
    3x3 grid cell of every shape).

    Deterministic: the same arguments give the same images and captions; see the module
    docstring. About 10,000 images a second on one core.
    """
    for name, value in (("num_train", num_train), ("num_val", num_val), ("num_test", num_test)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if not isinstance(image_size, int) or image_size < 24:
        raise ValueError(f"image_size must be an integer of at least 24 pixels (3x3 grid of shapes), got {image_size!r}")
    max_possible = min(GRID * GRID, len(SHAPES_CAPTIONS_COLORS))
    if not isinstance(max_objects, int) or not 1 <= max_objects <= max_possible:
        raise ValueError(f"max_objects must be an integer from 1 to {max_possible} (grid cells and distinct "
                         f"colours), got {max_objects!r}")
    if not isinstance(captions_per_image, int) or captions_per_image < 1:
        raise ValueError(f"captions_per_image must be a positive integer, got {captions_per_image!r}")
    return DatasetDict({
        split: _generate_split(split, size, image_size, seed, max_objects, captions_per_image)
        for split, size in (("train", num_train), ("validation", num_val), ("test", num_test))
    })


# --- truth of a caption of the grammar in a scene ---------------------------------------------

_WHERE_WORDS = {tuple(phrase.split()): cell for cell, phrase in _WHERE.items()}
_RELATION_WORDS = {tuple(relation.split()): relation for relation in RELATIONS}
_VOCABULARY = frozenset(
    {",", "a", "the", "and", "there", "is", "single", "one"} | set(SHAPES_CAPTIONS_SHAPES) | set(SHAPES_CAPTIONS_COLORS)
    | {word for phrase in (*_WHERE.values(), *RELATIONS) for word in phrase.split()}
)


def _match(tokens: tuple[str, ...], i: int, phrases: dict) -> tuple[object, int] | None:
    """The value of the longest phrase of ``phrases`` (word tuples) at ``tokens[i:]`` and the index after it."""
    for words in sorted(phrases, key=len, reverse=True):
        if tokens[i:i + len(words)] == words:
            return phrases[words], i + len(words)
    return None


def _got(tokens: tuple[str, ...], i: int) -> str:
    """The word at ``tokens[i]`` quoted, for an error message, or "the end of the caption"."""
    return repr(tokens[i]) if i < len(tokens) else "the end of the caption"


def _name_at(tokens: tuple[str, ...], i: int, caption: str) -> tuple[tuple[str, str], int]:
    """COLOR SHAPE at ``tokens[i:]``: ((colour, shape), index after it)."""
    if i >= len(tokens) or tokens[i] not in SHAPES_CAPTIONS_COLORS:
        raise ValueError(f"not a shapes-captions caption: expected a colour ({', '.join(SHAPES_CAPTIONS_COLORS)}), "
                         f"got {_got(tokens, i)} in {caption!r}")
    if i + 1 >= len(tokens) or tokens[i + 1] not in SHAPES_CAPTIONS_SHAPES:
        raise ValueError(f"not a shapes-captions caption: expected a shape ({', '.join(SHAPES_CAPTIONS_SHAPES)}), "
                         f"got {_got(tokens, i + 1)} in {caption!r}")
    return (tokens[i], tokens[i + 1]), i + 2


def _item_at(tokens: tuple[str, ...], i: int, caption: str) -> tuple[tuple, int]:
    """One item of a list or relation chain: OBJ, OBJ WHERE or OBJ REL ("a" | "the") COLOR SHAPE.

    Returns ((name, where_cell | None, (relation, article, other_name) | None), index after it).
    """
    if tokens[i:i + 1] != ("a",):
        raise ValueError(f'not a shapes-captions caption: expected "a", got {_got(tokens, i)} in {caption!r}')
    name, i = _name_at(tokens, i + 1, caption)
    if i == len(tokens) or tokens[i] in (",", "and"):
        return (name, None, None), i
    where = _match(tokens, i, _WHERE_WORDS)
    if where is not None:
        return (name, where[0], None), where[1]
    relation = _match(tokens, i, _RELATION_WORDS)
    if relation is None:
        raise ValueError(f"not a shapes-captions caption: expected a position, a relation, \",\" or \"and\" after "
                         f"{' '.join(name)!r}, got {tokens[i]!r} in {caption!r}")
    i = relation[1]
    article = tokens[i] if i < len(tokens) else None
    if article not in ("a", "the"):
        raise ValueError(f'not a shapes-captions caption: expected "a" or "the" after {relation[0]!r}, got {_got(tokens, i)} '
                         f"in {caption!r}")
    other, i = _name_at(tokens, i + 1, caption)
    return (name, None, (relation[0], article, other)), i


@functools.lru_cache(maxsize=4096)
def _parse_caption(caption: str) -> tuple[tuple, tuple, tuple]:
    """(mentioned (colour, shape) pairs, ((mention, (row, column)), ...) stated cells,
    ((mention, relation, mention), ...) stated relations) of a caption of the grammar; ValueError otherwise."""
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a string, got {type(caption).__name__}")
    tokens = tuple(caption.replace(",", " , ").split())
    if not tokens:
        raise ValueError("not a shapes-captions caption: the caption is empty")
    unknown = [t for t in tokens if t not in _VOCABULARY]
    if unknown:
        raise ValueError(f"not a shapes-captions caption: unknown word {unknown[0]!r} in {caption!r}")

    # the one-object forms that are not also a one-item list: "there is" OBJ [WHERE],
    # "a single" COLOR SHAPE, "one" COLOR SHAPE WHERE
    if tokens[:2] in (("there", "is"), ("a", "single")) or tokens[0] == "one":
        start = {"there": 2, "a": 2, "one": 1}[tokens[0]]
        if tokens[0] == "there":
            (name, cell, relation), end = _item_at(tokens, start, caption)
        else:
            name, end = _name_at(tokens, start, caption)
            cell, relation = None, None
            if tokens[0] == "one":
                where = _match(tokens, end, _WHERE_WORDS)
                if where is None:
                    raise ValueError(f'not a shapes-captions caption: "one COLOR SHAPE" must be followed by a '
                                     f"position in {caption!r}")
                cell, end = where
        if relation is not None or end != len(tokens):
            raise ValueError(f"not a shapes-captions caption: a one-object caption must end after the object "
                             f"(and its position) in {caption!r}")
        return (name,), (((0, cell),) if cell is not None else ()), ()

    # a list of items separated by "," and "and": a list, position or relation caption (or "a" OBJ [WHERE])
    items, separators, i = [], [], 0
    while True:
        item, i = _item_at(tokens, i, caption)
        items.append(item)
        if i == len(tokens):
            break
        if tokens[i] not in (",", "and"):
            raise ValueError(f'not a shapes-captions caption: expected "," or "and", got {tokens[i]!r} in {caption!r}')
        separators.append(tokens[i])
        i += 1
    kinds = {("relation" if relation else "position" if cell else "list") for _, cell, relation in items}
    if len(kinds) > 1:
        raise ValueError(f"not a shapes-captions caption: it mixes {', '.join(sorted(kinds))} items in {caption!r}")
    kind = kinds.pop()
    if kind != "relation" and separators != [","] * (len(items) - 2) + ["and"] * (len(items) > 1):
        raise ValueError(f'not a shapes-captions caption: a list of {len(items)} is written "x1, x2, ... and xn" '
                         f"in {caption!r}")
    if kind == "relation" and set(separators) - {"and"}:
        raise ValueError(f'not a shapes-captions caption: relations are joined by "and", not "," in {caption!r}')

    mentions: list[tuple[str, str]] = []

    def introduce(name: tuple[str, str]) -> int:
        if name in mentions:
            raise ValueError(f"not a shapes-captions caption: the {' '.join(name)} is introduced twice with \"a\" "
                             f"in {caption!r}")
        mentions.append(name)
        return len(mentions) - 1

    cells, relations = [], []
    for position, (name, cell, relation) in enumerate(items):
        index = introduce(name)
        if cell is not None:
            cells.append((index, cell))
        if relation is not None:
            rel, article, other = relation
            if article == "a":
                if position != 0:
                    raise ValueError(f'not a shapes-captions caption: only the first relation introduces its second '
                                     f'object with "a"; later ones refer back with "the" in {caption!r}')
                other_index = introduce(other)
            else:
                if position == 0 or other not in mentions:
                    raise ValueError(f'not a shapes-captions caption: "the {" ".join(other)}" refers to no object '
                                     f"introduced before it in {caption!r}")
                other_index = mentions.index(other)
            relations.append((index, rel, other_index))
    return tuple(mentions), tuple(cells), tuple(relations)


def _cell(obj: dict, image_size: int) -> tuple[int, int]:
    """(row, column) of an object: its own, or from its centre pixel (x, y) when it has none."""
    if obj.get("row") is not None and obj.get("column") is not None:
        return obj["row"], obj["column"]
    cell = image_size / GRID
    return min(GRID - 1, int(obj["y"] // cell)), min(GRID - 1, int(obj["x"] // cell))


def caption_is_true(caption: str, objects: list[dict], image_size: int = 64) -> bool:
    """Whether a caption of the grammar (module docstring) is true of the scene of ``objects``.

    ``objects`` is a row's ``objects`` list: dicts with ``shape``, ``color`` and ``row``/``column``
    (or, without them, the centre ``x``/``y`` and the scene's ``image_size``). The caption names
    its objects by colour and shape; it is true iff the scene holds exactly those objects (as many,
    the same colour-shape pairs), each WHERE phrase names its object's grid cell and each relation
    holds ("X to the left of Y": X's column < Y's; "X above Y": X's row < Y's; likewise right of,
    below). So a one-object caption ("a red circle", "one red circle on the right") is true only of
    one-object scenes, and a caption can be true of several scenes. Extra whitespace around words
    and commas is allowed; otherwise the caption must be in the grammar (lower-case, no final
    period): ``ValueError`` for one that is not (unknown word, malformed structure, an object
    introduced twice with "a", "the ..." with nothing to refer to), so "false" and "unparseable"
    stay apart.
    """
    mentions, cells, relations = _parse_caption(caption)
    if len(objects) != len(mentions):
        return False
    by_name = {(obj["color"], obj["shape"]): obj for obj in objects}
    if len(by_name) != len(objects) or set(by_name) != set(mentions):
        return False
    grid = [dict(zip(("row", "column"), _cell(by_name[name], image_size), strict=True)) for name in mentions]
    if any((grid[index]["row"], grid[index]["column"]) != cell for index, cell in cells):
        return False
    return all(relation in relations_between(grid[a], grid[b]) for a, relation, b in relations)
