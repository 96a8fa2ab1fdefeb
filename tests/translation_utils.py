"""Tiny translators and sentence pairs shared by the translation tests and the contract zoo."""

from __future__ import annotations

import torch

# Both vocabularies: 0 <pad>, 1 <unk>, 2 <s>, 3 </s>, 4.. words.
PAD, UNK, START, END = 0, 1, 2, 3


def tiny_translation_config(config_class, image_encoder: str = "features", **overrides):
    """``config_class`` at its "tiny" preset (``image_encoder`` is ignored: the contract tests
    pass one to every family). The tiny source and target vocabularies differ in size, so a test
    can tell the two word tables apart."""
    return config_class(**{**config_class.presets["tiny"], **overrides})


def random_sentences(vocab_size: int, lengths: list[int], generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded sentences of the given lengths (words, then the end token): ids and mask."""
    ids = torch.full((len(lengths), max(lengths) + 1), PAD)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(4, vocab_size, (length,), generator=generator)
        ids[row, length] = END
        mask[row, : length + 1] = 1
    return ids, mask


def random_translation_inputs(config, batch: int = 3, seed: int = 0, labels: bool = False) -> dict:
    """Source sentences of 4, 2, 3, ... words (right-padded) and targets of 3, 1, 2, ... words:
    ``decoder_input_ids`` starting with the start token or, with ``labels``, the labels alone
    (padding -100; the model shifts them right)."""
    generator = torch.Generator().manual_seed(seed)
    source, source_mask = random_sentences(config.source_vocab_size, [[4, 2, 3][row % 3] for row in range(batch)], generator)
    target, target_mask = random_sentences(config.vocab_size, [[3, 1, 2][row % 3] for row in range(batch)], generator)
    inputs = {"input_ids": source, "attention_mask": source_mask}
    if labels:
        return {**inputs, "labels": target.masked_fill(target_mask == 0, -100)}
    start = torch.full((batch, 1), START)
    return {**inputs, "decoder_input_ids": torch.cat([start, target[:, :-1]], dim=1)}
