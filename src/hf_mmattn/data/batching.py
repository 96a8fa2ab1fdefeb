"""Turning a VQA ``datasets.Dataset`` into training batches quickly.

A VQA dataset asks many questions about each image (easy-VQA: about 10). Batching by image
(all the questions of the images in a batch, ``image_index`` telling each question its image)
lets the image encoder run once per image instead of once per question; on easy-VQA it trained
SAN about 5x faster at the same accuracy (docs/equations.md, easy-VQA). Images are processed once and kept as
one tensor when they fit in memory (``cache_images``), since decoding per question dominates
otherwise.
"""

from __future__ import annotations

import numpy as np
import torch
from datasets import Dataset, Image
from torch.utils.data import DataLoader, Sampler

from .answers import soft_target_tensor
from .region_features import load_region_features, pad_region_features


class EncodedQuestions:
    """Questions tokenized once, their image row, and their labels.

    Labels are answer indices (``-100`` when the answer is outside ``label2id``) when every
    question has exactly one answer, else soft VQA scores ``(num_questions, num_labels)``.
    """

    def __init__(self, dataset: Dataset, tokenizer, label2id: dict[str, int], image_rows: np.ndarray):
        encoded = tokenizer(list(dataset["question"]), padding=True, truncation=True, return_tensors="pt")
        self.input_ids = encoded["input_ids"]
        self.attention_mask = encoded["attention_mask"]
        self.image_rows = torch.as_tensor(image_rows, dtype=torch.long)
        answers = list(dataset["answers"])
        self.single_answer = all(len(a) == 1 for a in answers)
        if self.single_answer:
            self.labels = torch.tensor([label2id.get(a[0], -100) for a in answers], dtype=torch.long)
        else:
            self.labels = soft_target_tensor(answers, label2id, len(label2id))

    def __len__(self) -> int:
        return len(self.input_ids)


class ImageStore:
    """The distinct images of a split, addressed by row; ``question_rows[i]`` is the row of the
    image of the dataset's question ``i``.

    With ``cache=True`` every image is processed once into a float tensor; otherwise images are
    decoded and processed per batch (for datasets such as COCO that do not fit in memory).

    Datasets with an ``image_features_path`` column (and ``image_features_offset`` for a
    bottom-up-attention TSV, see :func:`~hf_mmattn.data.vqa_v2.load_vqa_v2`) give precomputed
    region features instead: ``image_features`` ``(B, R, D)``, ``image_attention_mask`` ``(B, R)``
    and, when the files have boxes, ``image_boxes`` ``(B, R, 4)`` normalised to ``[0, 1]``
    (:func:`~hf_mmattn.data.region_features.pad_region_features`). ``R`` is the largest region
    count of each batch (as ban-vqa trims its batches), or ``max_regions`` for every batch (as
    OpenVQA pads to 100), images with more regions being cut to their first ``max_regions``.
    """

    def __init__(self, dataset: Dataset, image_processor=None, cache: bool = True, max_regions: int | None = None):
        _, first_rows, self.question_rows = np.unique(np.asarray(dataset["image_id"]), return_index=True, return_inverse=True)
        self.uses_features = "image_features_path" in dataset.column_names
        self.image_processor = image_processor
        self.max_regions = max_regions
        firsts = dataset.select(first_rows.tolist())
        if self.uses_features:
            offsets = (
                list(firsts["image_features_offset"]) if "image_features_offset" in firsts.column_names
                else [None] * len(firsts)
            )
            self.sources = list(zip(firsts["image_features_path"], offsets, firsts["image_id"]))
        else:
            self.sources = list(firsts.cast_column("image", Image(decode=False))["image"])
        self.cached = self._process(list(range(len(self.sources)))) if cache else None
        if self.cached is not None and self.uses_features:
            # Rows up to each image's last region, to trim a cached batch to its own largest count.
            mask = self.cached["image_attention_mask"]
            positions = torch.arange(1, mask.shape[1] + 1)
            self._cached_lengths = (mask.bool() * positions).amax(dim=1)

    def __len__(self) -> int:
        return len(self.sources)

    def _process(self, rows: list[int]) -> dict[str, torch.Tensor]:
        if self.uses_features:
            regions = []
            for row in rows:
                path, offset, image_id = self.sources[row]
                regions.append(load_region_features(path, offset=offset, image_id=image_id if offset is not None else None))
            return pad_region_features(regions, self.max_regions)
        decoder = Image()
        images = [decoder.decode_example(self.sources[row]) for row in rows]
        return {"pixel_values": self.image_processor(images, return_tensors="pt")["pixel_values"]}

    def batch(self, rows: list[int]) -> dict[str, torch.Tensor]:
        if self.cached is None:
            return self._process(rows)
        index = torch.as_tensor(rows, dtype=torch.long)
        batch = {key: value[index] for key, value in self.cached.items()}
        if self.uses_features and self.max_regions is None:
            num_regions = max(int(self._cached_lengths[index].max()), 1)
            batch = {key: value[:, :num_regions] for key, value in batch.items()}
        return batch


class GroupByImageBatchSampler(Sampler[list[int]]):
    """Batches of question indices made of whole images: images are shuffled (or kept in order)
    and their questions added until a batch holds at least ``questions_per_batch`` questions.

    ``image_rows[i]`` is the image of question ``question_ids[i]`` (default: question ``i``), so a
    subset of the questions can be batched. The order depends only on ``seed`` and ``epoch``
    (``set_epoch``), so a resumed run replays the same batches and skips those it trained on.
    Batch sizes vary; the sampler has deliberately no ``batch_size`` attribute, from which
    accelerate would infer fixed-size batches and drop the others when sharding across processes.
    """

    def __init__(
        self,
        image_rows: torch.Tensor,
        questions_per_batch: int,
        shuffle: bool = True,
        seed: int = 0,
        question_ids: torch.Tensor | None = None,
    ):
        self.questions_per_batch = questions_per_batch
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        question_ids = torch.arange(len(image_rows)) if question_ids is None else question_ids
        order = torch.argsort(image_rows, stable=True)
        counts = torch.bincount(image_rows)
        counts = counts[counts > 0]
        self.questions_of_image = [question_ids[q].tolist() for q in torch.split(order, counts.tolist())]
        self.num_images = len(self.questions_of_image)
        self._length = sum(1 for _ in self._batches(torch.arange(self.num_images)))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self, image_order):
        batch = []
        for image in image_order.tolist():
            batch.extend(self.questions_of_image[image])
            if len(batch) >= self.questions_per_batch:
                yield batch
                batch = []
        if batch:
            yield batch

    def __iter__(self):
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            image_order = torch.randperm(self.num_images, generator=generator)
        else:
            image_order = torch.arange(self.num_images)
        yield from self._batches(image_order)

    def __len__(self) -> int:
        return self._length


class VQACollator:
    """Builds a model batch from question indices: trimmed ``input_ids`` / ``attention_mask``,
    each distinct image once plus ``image_index``, and ``labels``."""

    def __init__(self, questions: EncodedQuestions, images: ImageStore):
        self.questions = questions
        self.images = images

    def __call__(self, question_indices: list[int]) -> dict[str, torch.Tensor]:
        index = torch.as_tensor(question_indices, dtype=torch.long)
        attention_mask = self.questions.attention_mask[index]
        length = int(attention_mask.sum(dim=1).max())
        image_rows = self.questions.image_rows[index]
        unique_rows, image_index = torch.unique(image_rows, return_inverse=True)
        batch = {
            "input_ids": self.questions.input_ids[index, :length],
            "attention_mask": attention_mask[:, :length],
            "image_index": image_index,
            "labels": self.questions.labels[index],
            "question_indices": index,
        }
        batch.update(self.images.batch(unique_rows.tolist()))
        return batch


def row_dataloaders(num_train: int, num_eval: int, args, train_collate, eval_collate) -> tuple[DataLoader, DataLoader]:
    """The training and evaluation loaders of a dataset whose every row is one example (a
    document, an image): batches of row indices from :class:`GroupByImageBatchSampler` with one
    row per "image" (shuffled by ``args.seed`` and the epoch for training, in order for
    evaluation), of ``args.per_device_train_batch_size`` / ``args.per_device_eval_batch_size``
    rows, turned into tensors by the collate functions (which receive the list of rows)."""
    train_sampler = GroupByImageBatchSampler(torch.arange(num_train), args.per_device_train_batch_size, shuffle=True, seed=args.seed)
    eval_sampler = GroupByImageBatchSampler(torch.arange(num_eval), args.per_device_eval_batch_size, shuffle=False)
    train_dataloader = DataLoader(range(num_train), batch_sampler=train_sampler, collate_fn=train_collate,
                                  generator=torch.Generator().manual_seed(args.seed))
    return train_dataloader, DataLoader(range(num_eval), batch_sampler=eval_sampler, collate_fn=eval_collate)
