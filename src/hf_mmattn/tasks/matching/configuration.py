"""The matching family's config fields: the word vocabulary and the ranking loss
(``tasks/matching/modeling.py``), on top of the image input every model shares
(configuration_base.py)."""

from __future__ import annotations

from ...configuration_base import MMAttnImageInputConfig

RANKING_LOSSES = ("sum", "max")


class MMAttnMatchingConfig(MMAttnImageInputConfig):
    r"""
    Args:
        vocab_size / pad_token_id: the word vocabulary of the processor's tokenizer.
        ranking_loss: how the bidirectional hinge loss treats the negatives of a pair (the batch's
            other images and sentences): ``"sum"`` over all of them (the ranking loss of DAN and of
            the visual-semantic embeddings before it), or ``"max"``, only the hardest negative in
            each direction (VSE++, Faghri et al., BMVC 2018).
        margin: the hinge's margin ``m`` (in the units of the similarity; VSE++ uses 0.2 with
            cosine similarities).
        dropout: dropout probability of the model (where each paper puts it).
        image input fields: see [`~hf_mmattn.configuration_base.MMAttnImageInputConfig`].
    """

    vocab_size: int = 10000
    pad_token_id: int | None = 0
    ranking_loss: str = "sum"
    margin: float = 0.2
    dropout: float = 0.0

    # What one map of ``outputs.attentions`` is (figure titles).
    attention_step_name = "step"

    def __post_init__(self, **kwargs):
        if self.ranking_loss not in RANKING_LOSSES:
            raise ValueError(f"ranking_loss must be one of {RANKING_LOSSES}, got {self.ranking_loss!r}")
        if not self.margin >= 0:
            raise ValueError(f"margin must be a non-negative number, got {self.margin!r}")
        super().__post_init__(**kwargs)


__all__ = ["RANKING_LOSSES", "MMAttnMatchingConfig"]
