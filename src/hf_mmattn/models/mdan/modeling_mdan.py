"""Dual Attention Networks for Multimodal Reasoning and Matching: m-DAN, the matching model.

Nam, Ha, Kim, CVPR 2017 (https://arxiv.org/abs/1611.00471), section 3.3. A visual memory steers
an attention over the image regions and a textual memory an attention over the words; each of the
K steps adds what its attention found to its own memory. The memories never meet, so an image and
a sentence are embedded independently (a dual encoder) and their similarity is the sum over the
steps of the dot products of the step vectors.
"""

from __future__ import annotations

from torch import nn

from ...layers.dual_attention import DualAttentionStep
from ...layers.image_encoders import ImageEncoder
from ...layers.masking import masked_mean
from ...layers.text_encoders import RNNTextEncoder
from ...tasks.matching.modeling import Encoding, MMAttnMatchingPreTrainedModel
from .configuration_mdan import MDanConfig


class MDanPreTrainedModel(MMAttnMatchingPreTrainedModel):
    config_class = MDanConfig


class MDanModel(MDanPreTrainedModel):
    """Bi-LSTM text encoder, image encoder and K dual attention steps with separate memories (m-DAN)::

        u_t     = h_t^forward + h_t^backward                     (section 3.1)
        v^(0)   = tanh(P^(0) mean_n v_n),   m_v^(0) = v^(0)
        u^(0)   = mean_t u_t,               m_u^(0) = u^(0)
        v^(k)   = visual attention_k(regions, m_v^(k-1))         k = 1..K
        u^(k)   = textual attention_k(words, m_u^(k-1))
        m_v^(k) = m_v^(k-1) + v^(k),        m_u^(k) = m_u^(k-1) + u^(k)
        S(v, u) = Σ_{k=0..K} v^(k) · u^(k)

    The attention of step k is r-DAN's ([`~hf_mmattn.layers.dual_attention.DualAttentionStep`],
    with its own weights), guided by the modality's own memory instead of r-DAN's joint one, and
    the memories are updated by addition instead of r-DAN's ``m + v ⊙ u``. The image embedding is
    ``[v^(0); ...; v^(K)]`` and the text embedding ``[u^(0); ...; u^(K)]``: their dot product is S.
    """

    def __init__(self, config: MDanConfig):
        super().__init__(config)
        self.text_encoder = RNNTextEncoder(
            config.vocab_size, config.word_embedding_size, config.text_hidden_size, pad_token_id=config.pad_token_id, bidirectional=True
        )
        self.image_encoder = ImageEncoder(config)
        region_size = self.image_encoder.output_size
        self.initial_visual_projection = nn.Sequential(nn.Linear(region_size, config.hidden_size), nn.Tanh())  # tanh(P^(0) ·)
        self.steps = nn.ModuleList(
            DualAttentionStep(region_size, config.hidden_size, config.attention_hidden_size, config.dropout) for _ in range(config.num_steps)
        )
        self.post_init()

    def _attention_steps(self, initial, attend) -> tuple[tuple, tuple]:
        """The K steps of one modality from its initial vector x^(0): m^(0) = x^(0), then at step k
        ``x^(k), α^(k) = attend(step_k, m^(k-1))`` and m^(k) = m^(k-1) + x^(k). Returns
        ``(x^(0), ..., x^(K))`` and ``(α^(1), ..., α^(K))``."""
        memory, step_embeds, attentions = initial, [initial], []
        for step in self.steps:
            vector, attention = attend(step, memory)
            memory = memory + vector
            step_embeds.append(vector)
            attentions.append(attention)
        return tuple(step_embeds), tuple(attentions)

    def encode_image(self, pixel_values, image_features, image_attention_mask) -> Encoding:
        regions, region_mask, grid_size = self.image_encoder(pixel_values, image_features, image_attention_mask)
        visual = self.initial_visual_projection(masked_mean(regions, region_mask))
        step_embeds, attentions = self._attention_steps(visual, lambda step, memory: step.attend_visual(regions, memory, region_mask))
        return Encoding(step_embeds, attentions, grid_size)

    def encode_text(self, input_ids, attention_mask) -> Encoding:
        words = self.text_encoder(input_ids, attention_mask).word_states  # u_t, zero on padding
        textual = masked_mean(words, attention_mask)
        step_embeds, attentions = self._attention_steps(textual, lambda step, memory: step.attend_textual(words, memory, attention_mask))
        return Encoding(step_embeds, attentions)


__all__ = ["MDanPreTrainedModel", "MDanModel"]
