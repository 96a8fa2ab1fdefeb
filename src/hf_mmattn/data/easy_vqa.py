"""easy-VQA as a ``datasets.DatasetDict``, built offline from the PyPI package ``easy-vqa``.

easy-VQA (Victor Zhou, 2020, https://github.com/vzhou842/easy-VQA) is a small real VQA
dataset: 64x64 PNG images of one coloured shape, 4,000 train / 1,000 test images,
38,575 / 9,673 questions and 13 answers (yes/no, 3 shapes, 8 colours). The package ships
every file, so the dataset needs no download: this module turns those files into a
``DatasetDict`` with the columns of :func:`hf_mmattn.data.load_vqa_v2`.
"""

from datasets import Dataset, DatasetDict, Features, Image, List, Value

# The 13 answers in the order of the package's data/answers.txt (the label ids of a model
# trained on easy-VQA).
EASY_VQA_ANSWERS = ("circle", "green", "red", "gray", "yes", "teal", "black", "rectangle",
                    "yellow", "triangle", "brown", "blue", "no")

_SHAPES = frozenset({"circle", "rectangle", "triangle"})
_YES_NO = frozenset({"yes", "no"})
_COLORS = frozenset(EASY_VQA_ANSWERS) - _SHAPES - _YES_NO

FEATURES = Features({
    "question_id": Value("int64"),
    "question": Value("string"),
    "answers": List(Value("string")),
    "answer_type": Value("string"),
    "image_id": Value("int64"),
    "image": Image(),
})


def easy_vqa_answers() -> list[str]:
    """The 13 easy-VQA answers, in the order of the package's answers.txt."""
    return list(EASY_VQA_ANSWERS)


def easy_vqa_answer_type(answer: str) -> str:
    """The answer type of an easy-VQA answer: ``"yes/no"``, ``"shape"`` or ``"color"``
    (the dataset has no answer types of its own; these follow the VQA v2 convention)."""
    if answer in _YES_NO:
        return "yes/no"
    if answer in _SHAPES:
        return "shape"
    if answer in _COLORS:
        return "color"
    raise ValueError(f"{answer!r} is not an easy-VQA answer; expected one of {EASY_VQA_ANSWERS}")


def _import_easy_vqa():
    try:
        import easy_vqa
    except ImportError as error:
        raise ImportError(
            "easy-VQA needs the `easy-vqa` package, which ships the images and questions: "
            "`pip install easy-vqa` (or `pip install hf-mmattn[examples]`)."
        ) from error
    return easy_vqa


def _build_split(questions: tuple[list, list, list], image_paths: dict[int, str], split: str) -> Dataset:
    texts, answers, image_ids = questions
    missing = sorted(set(image_ids) - image_paths.keys())
    if missing:
        raise FileNotFoundError(
            f"easy-VQA {split}: no image for image ids {missing[:5]} (expected <image_id>.png in "
            "the easy_vqa package's data folder); reinstall easy-vqa"
        )
    return Dataset.from_dict(
        {
            "question_id": list(range(len(texts))),
            "question": texts,
            "answers": [[answer] for answer in answers],
            "answer_type": [easy_vqa_answer_type(answer) for answer in answers],
            "image_id": image_ids,
            "image": [image_paths[image_id] for image_id in image_ids],
        },
        features=FEATURES,
        split=split,
    )


def load_easy_vqa() -> DatasetDict:
    """easy-VQA as a ``DatasetDict`` with splits ``"train"`` (38,575 questions) and
    ``"test"`` (9,673 questions).

    Columns: ``question_id`` (the question's index, unique within its split), ``question``,
    ``answers`` (a list holding the single answer), ``answer_type`` (``"yes/no"``,
    ``"shape"`` or ``"color"``), ``image_id`` and ``image`` (an ``Image()`` feature that
    refers to the package's PNG file and decodes to a 64x64 RGB ``PIL.Image``).

    Image ids are the PNG file names and start at 0 in both splits, so the same ``image_id``
    names different images in train and test: key per-image caches by split and id.
    """
    easy_vqa = _import_easy_vqa()
    return DatasetDict({
        "train": _build_split(easy_vqa.get_train_questions(), easy_vqa.get_train_image_paths(), "train"),
        "test": _build_split(easy_vqa.get_test_questions(), easy_vqa.get_test_image_paths(), "test"),
    })
