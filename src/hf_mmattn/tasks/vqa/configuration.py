"""The VQA family's config fields: the word vocabulary and the answer head (layers/fusion.py),
on top of the image input every model shares (configuration_base.py)."""

from __future__ import annotations

from ...configuration_base import MMAttnImageInputConfig


class MMAttnVQAConfig(MMAttnImageInputConfig):
    r"""
    Args:
        vocab_size / pad_token_id: the word vocabulary of the processor's tokenizer.
        answer_head: ``"linear"`` (a single softmax layer, as the papers) or ``"mlp"`` (one ReLU
            hidden layer of ``answer_hidden_size``).
        dropout: dropout probability of the model (where each paper puts it).
        image input fields: see [`~hf_mmattn.configuration_base.MMAttnImageInputConfig`].
    """

    vocab_size: int = 10000
    pad_token_id: int | None = 0
    answer_head: str = "linear"
    answer_hidden_size: int = 1024
    dropout: float = 0.5

    # What one map of ``outputs.attentions`` is (figure titles): "hop", "glimpse", "step", ...
    attention_step_name = "hop"

    def attention_titles(self, count: int) -> list[str]:
        """Titles of the ``count`` image attention maps a forward pass returns, in order."""
        return [f"{self.attention_step_name} {k}" for k in range(1, count + 1)]
