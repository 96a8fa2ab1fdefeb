"""Pretrained word vectors in the text formats of word2vec (Mikolov et al. 2013; a first line
"<count> <dimension>", then "<word> <v1> ... <vd>" per line) and GloVe (Pennington et al. 2014;
the same lines without the header), copied into a model's word embedding: HAN initialises its
embedding with word2vec vectors (Yang et al. 2016, section 3.3)."""

from __future__ import annotations

import os

import torch
from torch import nn


def load_word_vectors(embedding: nn.Embedding, vocab: dict[str, int], path: str | os.PathLike, *, lowercase: bool = True) -> int:
    """Copies the vector of every word of ``vocab`` (word → row of ``embedding``) that the file at
    ``path`` holds into ``embedding``; the other rows keep their values. Returns how many rows were
    set. With ``lowercase`` the file's words are lower-cased (the package's tokenizers lower-case
    text), the first vector of a word winning. A line of another dimension than the embedding's,
    or with a value that is not a number, raises ``ValueError`` naming the file and the line."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"word vector file not found: {path}")
    dimension, found = embedding.embedding_dim, 0
    seen = set()
    with open(path, encoding="utf-8", errors="strict") as file, torch.no_grad():
        for number, line in enumerate(file, start=1):
            parts = line.rstrip("\n").rstrip().split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                if int(parts[1]) != dimension:
                    raise ValueError(f"{path}: vectors of dimension {parts[1]}, but the embedding has {dimension}")
                continue  # word2vec's header
            if len(parts) < 2 or not parts[0]:
                continue
            if len(parts) - 1 != dimension:
                raise ValueError(f"{path}, line {number}: {len(parts) - 1} values for {parts[0]!r}, the embedding has {dimension}")
            word = parts[0].lower() if lowercase else parts[0]
            if word in seen or word not in vocab:
                continue
            try:
                values = torch.tensor([float(v) for v in parts[1:]], dtype=embedding.weight.dtype)
            except ValueError:
                raise ValueError(f"{path}, line {number}: a value of {parts[0]!r} is not a number") from None
            embedding.weight[vocab[word]] = values
            seen.add(word)
            found += 1
    return found


__all__ = ["load_word_vectors"]
