"""The captioning family's config fields: the word vocabulary with its start and end tokens,
the decoder's sizes and the caption loss, on top of the image input every model shares
(configuration_base.py)."""

from __future__ import annotations

from ...configuration_base import MMAttnImageInputConfig

CAPTION_LOSS_REDUCTIONS = ("sentence", "token")


class MMAttnCaptioningConfig(MMAttnImageInputConfig):
    r"""
    Fields every captioner shares.

    Args:
        vocab_size / pad_token_id / bos_token_id / eos_token_id: the processor's word vocabulary
            and its padding, start and end tokens.
        embedding_size: word embedding size m.
        hidden_size: LSTM size n.
        dropout: dropout probability (on the LSTM output before the word classifier).
        caption_loss_reduction: ``"sentence"``: the negative log-likelihood of each caption summed
            over its words and averaged over captions (the papers' objective, and arctic-captions');
            ``"token"``: averaged over all words of the batch (the PyTorch tutorial's
            ``CrossEntropyLoss``).
        image input fields: see [`~hf_mmattn.configuration_base.MMAttnImageInputConfig`].
    """

    vocab_size: int = 10000
    pad_token_id: int | None = 0
    bos_token_id: int | None = 2
    eos_token_id: int | None = 3
    embedding_size: int = 512
    hidden_size: int = 512
    dropout: float = 0.5
    caption_loss_reduction: str = "sentence"
    use_cache: bool = True

    def validate_captioning(self) -> None:
        if self.caption_loss_reduction not in CAPTION_LOSS_REDUCTIONS:
            raise ValueError(f"caption_loss_reduction must be one of {CAPTION_LOSS_REDUCTIONS}, got {self.caption_loss_reduction!r}")
        if self.bos_token_id is None or self.eos_token_id is None:
            raise ValueError("a captioner needs bos_token_id (start of caption) and eos_token_id (end of caption)")
        for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < self.vocab_size:
                raise ValueError(f"{name}={value} is outside the vocabulary [0, {self.vocab_size})")


__all__ = ["CAPTION_LOSS_REDUCTIONS", "MMAttnCaptioningConfig"]
