"""Bilinear Attention Networks (BAN) for visual question answering.

Kim, Jun, Zhang, *Bilinear Attention Networks*, NeurIPS 2018 (https://arxiv.org/abs/1805.07932),
section 3-4, and the authors' code (jnhwkim/ban-vqa, ``base_model.py``). The question's word
states X and the image regions Y interact through G bilinear attention maps, each computed once
from X and Y; the glimpses then refine the word states one after the other by residual learning,
and their sum over the words is classified::

    X = GRU([E_glove(w); E_tfidf(w)])                      word states (batch, words, hidden)
    A_1..A_G = softmax(((1·p_gᵀ) ∘ σ(XᵀU)) σ(VᵀY))          [`BilinearAttentionMap`]
    for g = 1..G:
        f_g = BAN_g(X, Y; A_g)                              [`BilinearPooling`] (batch, hidden)
        X   = P_g f_g · 1ᵀ + X                              residual learning of attention (section 3)
        X   = X + ReLU(C_g count(boxes, max_words logit_g)) · 1ᵀ   (ban-vqa's counter, optional)
    logits = classifier(Σ_words X)

Paper and released code differ only in what the code adds (the counting module, the second
tf-idf embedding, running the GRU and the attention over padding words): each is a config switch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...layers.bilinear_attention import BilinearAttentionMap, BilinearPooling
from ...layers.counting import CountingModule, grid_boxes
from ...layers.image_encoders import ImageEncoder
from ...layers.masking import run_packed_rnn
from ...layers.weight_norm import WeightNormFC, WeightNormLinear
from ...tasks.vqa.modeling import MMAttnForVisualQuestionAnswering, MMAttnVQAPreTrainedModel, VQAModelOutput, check_vqa_inputs
from .configuration_ban import BanConfig


@dataclass
class BanModelOutput(VQAModelOutput):
    """[`VQAModelOutput`] plus, with ``output_attentions=True``, ``bilinear_attentions``: the full
    maps ``(batch, glimpses, regions, words)``, each summing to 1 over the real (region, word)
    pairs. ``attentions[g]`` is map g summed over the words, ``question_attentions[g]`` summed
    over the regions."""

    bilinear_attentions: torch.FloatTensor | None = None


class BanPreTrainedModel(MMAttnVQAPreTrainedModel):
    config_class = BanConfig

    def _resize_token_embeddings(self, new_num_tokens, pad_to_multiple_of=None, mean_resizing=True):
        """Both word tables (GloVe and tf-idf) follow the vocabulary, not only the input embedding."""
        embeddings = super()._resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        encoder = self.base_model.question_encoder
        if encoder.tfidf_embedding is not None:
            self._get_resized_embeddings(encoder.tfidf_embedding, embeddings.num_embeddings, mean_resizing=mean_resizing)
        return embeddings


class BanQuestionEncoder(nn.Module):
    """Word embeddings (one table, or two concatenated as ban-vqa's ``WordEmbedding(op='c')``) →
    GRU; returns every word's state ``(batch, words, hidden)`` and the word mask (``None`` in the
    released padding mode, where every position counts as a word)."""

    def __init__(self, config: BanConfig):
        super().__init__()
        self.padding = config.question_padding
        self.max_length = config.question_max_length
        self.pad_token_id = config.pad_token_id
        self.embedding = nn.Embedding(config.vocab_size, config.word_embedding_size, padding_idx=config.pad_token_id)
        self.tfidf_embedding = (
            nn.Embedding(config.vocab_size, config.word_embedding_size, padding_idx=config.pad_token_id)
            if config.word_embedding_type == "concat"
            else None
        )
        self.rnn = nn.GRU(config.question_input_size, config.hidden_size, batch_first=True)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.padding == "released":
            # The released code's questions are always max_length ids, padded on the right.
            missing = self.max_length - input_ids.shape[1]
            if missing > 0:
                input_ids = F.pad(input_ids.masked_fill(attention_mask == 0, self.pad_token_id), (0, missing), value=self.pad_token_id)
        embedded = self.embedding(input_ids)
        if self.tfidf_embedding is not None:
            embedded = torch.cat([embedded, self.tfidf_embedding(input_ids)], dim=-1)
        if self.padding == "released":
            return self.rnn(embedded)[0], None
        return run_packed_rnn(self.rnn, embedded, attention_mask)[0], attention_mask


class BanModel(BanPreTrainedModel):
    """Question GRU, image regions, G bilinear attention maps and G residual glimpses (with the
    counting module when ``use_counter``); returns the sum of the refined word states as
    ``pooled_output`` ``(batch, hidden)`` and, with ``output_attentions=True``, the maps."""

    def __init__(self, config: BanConfig):
        super().__init__(config)
        self.question_encoder = BanQuestionEncoder(config)
        self.image_encoder = ImageEncoder(config)
        region_size, hidden = self.image_encoder.output_size, config.hidden_size
        self.attention = BilinearAttentionMap(
            region_size, hidden, hidden, config.num_glimpses, config.attention_rank_factor, config.dropout, config.attention_dropout
        )
        self.glimpse_poolings = nn.ModuleList(
            BilinearPooling(region_size, hidden, hidden, config.pooling_rank_factor, config.dropout) for _ in range(config.num_glimpses)
        )
        # P_g of the residual step: dropout → weight-normed linear, no activation (ban-vqa's q_prj).
        self.question_projections = nn.ModuleList(
            WeightNormFC(hidden, hidden, activation=None, dropout=config.dropout) for _ in range(config.num_glimpses)
        )
        if config.use_counter:
            self.counter = CountingModule(config.num_counted_objects)
            self.count_projections = nn.ModuleList(
                WeightNormFC(config.num_counted_objects + 1, hidden, activation="relu") for _ in range(config.num_glimpses)
            )
        self.post_init()

    def project_regions(self, regions: torch.Tensor) -> tuple[torch.Tensor | None, list[torch.Tensor | None]]:
        """σ(Vᵀ Y) of the attention maps and of every glimpse's pooling. Without dropout (eval,
        or dropout 0) they read the same regions, so their weight-normed matrices are stacked and
        applied in ONE matrix product; in training each layer drops its own units and runs alone
        (the layers then project inside their forward: ``None`` is returned)."""
        if self.training and self.config.dropout > 0:
            return None, [None] * len(self.glimpse_poolings)
        layers = [self.attention.region_projection.linear] + [p.region_projection.linear for p in self.glimpse_poolings]
        weight = torch.cat([layer.weight for layer in layers])
        bias = torch.cat([layer.bias for layer in layers])
        projected = torch.relu(F.linear(regions, weight, bias)).split([layer.out_features for layer in layers], dim=-1)
        return projected[0], list(projected[1:])

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        pixel_values: torch.FloatTensor | None = None,
        image_features: torch.FloatTensor | None = None,
        image_attention_mask: torch.LongTensor | None = None,
        image_index: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        image_boxes: torch.FloatTensor | None = None,
        output_hidden_states: bool | None = None,
    ) -> BanModelOutput | tuple:
        r"""
        image_boxes (`torch.FloatTensor` of shape `(batch, regions, 4)`, *optional*):
            (x1, y1, x2, y2) of each region of `image_features`, normalised to [0, 1]: the counting
            module needs them (`use_counter`). Grid inputs (`pixel_values`) use each cell's box.
        image_index (`torch.LongTensor` of shape `(batch,)`, *optional*):
            For each question, the row of `pixel_values` / `image_features` (and `image_boxes`)
            holding its image, so several questions share one encoded image.
        """
        config = self.config
        output_attentions = output_attentions if output_attentions is not None else config.output_attentions
        return_dict = return_dict if return_dict is not None else config.return_dict
        attention_mask = check_vqa_inputs(
            config, input_ids, attention_mask, pixel_values, image_features, image_attention_mask, image_index, image_boxes,
            output_hidden_states=output_hidden_states,
        )
        if config.use_counter and config.image_encoder == "features" and image_boxes is None:
            raise ValueError(
                "this BAN counts objects (use_counter=True) and needs image_boxes (batch, regions, 4): the (x1, y1, x2, y2) "
                "box of each region normalised to [0, 1], as stored with bottom-up features"
            )

        words, word_mask = self.question_encoder(input_ids, attention_mask)  # (batch, words, hidden)
        regions, region_mask, grid_size = self.image_encoder(pixel_values, image_features, image_attention_mask, image_index)
        if config.image_encoder == "features" and config.question_padding == "released":
            # The released code masks the regions whose feature row is all zero (its padding).
            nonzero = regions.abs().sum(dim=-1) != 0
            region_mask = nonzero if region_mask is None else region_mask.bool() & nonzero

        attention_regions, glimpse_regions = self.project_regions(regions)
        logits, attention = self.attention(regions, words, region_mask, word_mask, projected_regions=attention_regions)

        if config.use_counter:
            boxes = self._region_boxes(image_boxes, image_index, grid_size, regions)
            if region_mask is not None:
                boxes = boxes * region_mask.unsqueeze(-1).to(boxes.dtype)  # padded regions: empty boxes
            batch, glimpses, num_regions = logits.shape[:3]
            # The counter reads the attention logit of each region (its best word), every glimpse
            # at once: the maps are all computed before the residual steps.
            counts = self.counter(
                boxes.unsqueeze(1).expand(-1, glimpses, -1, -1).reshape(batch * glimpses, num_regions, 4),
                logits.max(dim=-1).values.reshape(batch * glimpses, num_regions),
            ).view(batch, glimpses, -1)

        for g, pooling in enumerate(self.glimpse_poolings):
            joint = pooling(regions, words, attention[:, g], projected_regions=glimpse_regions[g])
            words = self.question_projections[g](joint).unsqueeze(1) + words
            if config.use_counter:
                words = words + self.count_projections[g](counts[:, g]).unsqueeze(1)

        if word_mask is None:
            pooled = words.sum(dim=1)
        else:
            pooled = (words * word_mask.unsqueeze(-1).to(words.dtype)).sum(dim=1)

        output = BanModelOutput(
            pooled_output=pooled,
            image_embeds=regions,
            question_embeds=words,
            attentions=tuple(attention.sum(dim=-1).unbind(1)) if output_attentions else None,
            image_grid_size=grid_size,
            question_attentions=tuple(attention.sum(dim=-2).unbind(1)) if output_attentions else None,
            bilinear_attentions=attention if output_attentions else None,
        )
        return output if return_dict else output.to_tuple()

    @staticmethod
    def _region_boxes(image_boxes, image_index, grid_size, regions) -> torch.Tensor:
        """(batch, regions, 4) boxes for the counter: the given ones (indexed by ``image_index``),
        or each grid cell's box for pixel inputs."""
        if grid_size is not None:
            boxes = grid_boxes(*grid_size, device=regions.device, dtype=regions.dtype)
            return boxes.unsqueeze(0).expand(regions.shape[0], -1, -1)
        boxes = image_boxes.to(regions.dtype)
        return boxes[image_index] if image_index is not None else boxes


class BanClassifier(nn.Module):
    """ban-vqa's ``SimpleClassifier``: weight-normed linear → ReLU → dropout → weight-normed linear
    (``answer_head="mlp"``, hidden ``answer_hidden_size``), or one weight-normed linear layer."""

    def __init__(self, config: BanConfig):
        super().__init__()
        if config.answer_head == "mlp":
            self.hidden = WeightNormLinear(config.hidden_size, config.answer_hidden_size)
            self.dropout = nn.Dropout(config.classifier_dropout)
            self.output = WeightNormLinear(config.answer_hidden_size, config.num_labels)
        else:
            self.hidden = None
            self.output = WeightNormLinear(config.hidden_size, config.num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        if self.hidden is not None:
            pooled = self.dropout(torch.relu(self.hidden(pooled)))
        return self.output(pooled)


class BanForVisualQuestionAnswering(MMAttnForVisualQuestionAnswering, BanPreTrainedModel):
    """BAN with its answer classifier over ``config.id2label`` (trained with the soft-score binary
    cross-entropy of ban-vqa when ``labels`` are scores)."""

    def __init__(self, config: BanConfig):
        super().__init__(config)
        self.model = BanModel(config)
        self.classifier = BanClassifier(config)
        self.post_init()


__all__ = ["BanModelOutput", "BanPreTrainedModel", "BanModel", "BanForVisualQuestionAnswering"]
