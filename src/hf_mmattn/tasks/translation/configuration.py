"""The translation family's config fields: the source and target vocabularies with their
special tokens, and the sizes every encoder-decoder of the family has, on top of the named
presets every config has (configuration_base.py)."""

from __future__ import annotations

from ...configuration_base import MMAttnConfig


class MMAttnTranslationConfig(MMAttnConfig):
    r"""
    Fields every translator shares.

    Args:
        source_vocab_size / source_pad_token_id: the source tokenizer's vocabulary and padding id.
        vocab_size / pad_token_id / bos_token_id / eos_token_id: the target vocabulary (what the
            model generates), its padding, start and end tokens. ``decoder_start_token_id``: the
            token the decoder reads first (the start token; ``labels`` are shifted right behind
            it).
        embedding_size: source and target word embedding size.
        hidden_size: the decoder's recurrent state size.
        dropout: dropout probability (where each paper puts it).
        max_new_tokens: the default length limit of ``generate()``.
        source_language / target_language: the languages' codes (``"en"``, ``"de"``), when known:
            ``pipeline("translation_xx_to_yy")`` refuses a model that translates other languages.
    """

    source_vocab_size: int = 10000
    vocab_size: int = 10000
    source_pad_token_id: int = 0
    pad_token_id: int | None = 0
    bos_token_id: int | None = 2
    eos_token_id: int | None = 3
    decoder_start_token_id: int | None = 2
    embedding_size: int = 256
    hidden_size: int = 256
    dropout: float = 0.0
    max_new_tokens: int = 128
    source_language: str | None = None
    target_language: str | None = None
    is_encoder_decoder: bool = True
    use_cache: bool = True

    def validate_translation(self) -> None:
        if self.eos_token_id is None or self.decoder_start_token_id is None or self.pad_token_id is None:
            raise ValueError("a translator needs pad_token_id, eos_token_id and decoder_start_token_id (the decoder's first input)")
        for name, size in (("source_vocab_size", self.source_vocab_size), ("vocab_size", self.vocab_size)):
            if not isinstance(size, int) or size < 2:
                raise ValueError(f"{name} must be an integer >= 2, got {size!r}")
        if not 0 <= self.source_pad_token_id < self.source_vocab_size:
            raise ValueError(
                f"source_pad_token_id={self.source_pad_token_id} is outside the source vocabulary [0, {self.source_vocab_size})"
            )
        for name in ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < self.vocab_size:
                raise ValueError(f"{name}={value} is outside the target vocabulary [0, {self.vocab_size})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive integer, got {self.max_new_tokens!r}")


__all__ = ["MMAttnTranslationConfig"]
