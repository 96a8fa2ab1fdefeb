"""Tiny document classifiers and documents shared by the HAN tests and the contract zoo."""

from __future__ import annotations

import torch

# Ids 0 [PAD], 1 [UNK], 2 "." and 3 "¶" end sentences, 4.. are words.
PAD, UNK, PERIOD, BREAK = 0, 1, 2, 3
END_IDS = [PERIOD, BREAK]


def tiny_text_classification_config(config_class, image_encoder: str = "features", vocab_size: int = 12, **overrides):
    """``config_class`` at its "tiny" preset's sizes with 3 labels (``image_encoder`` is ignored:
    the contract tests pass one to every family)."""
    settings = dict(
        config_class.presets["tiny"], vocab_size=vocab_size, pad_token_id=PAD, sentence_end_token_ids=END_IDS, num_labels=3,
        id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2},
    )
    return config_class(**{**settings, **overrides})


def random_documents(config, batch: int = 3, seed: int = 0) -> dict:
    """Right-padded flat documents of 3, 2 and 1 sentences (then repeating), sentences of 1-4
    words ending with ".", one with a line break after its period."""
    generator = torch.Generator().manual_seed(seed)
    documents = []
    for row in range(batch):
        tokens = []
        for sentence in range(3 - row % 3):
            length = 1 + int(torch.randint(0, 4, (1,), generator=generator))
            tokens += torch.randint(4, config.vocab_size, (length,), generator=generator).tolist() + [PERIOD]
            if sentence == 0 and row == 0:
                tokens.append(BREAK)
        documents.append(tokens)
    length = max(len(tokens) for tokens in documents)
    input_ids = torch.full((batch, length), PAD)
    attention_mask = torch.zeros(batch, length, dtype=torch.long)
    for row, tokens in enumerate(documents):
        input_ids[row, : len(tokens)] = torch.tensor(tokens)
        attention_mask[row, : len(tokens)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}
