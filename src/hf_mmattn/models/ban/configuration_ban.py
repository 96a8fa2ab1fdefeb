"""Configuration of Bilinear Attention Networks (Kim, Jun, Zhang, NeurIPS 2018)."""

from __future__ import annotations

from ...tasks.vqa.configuration import MMAttnVQAConfig

QUESTION_PADDINGS = ("masked", "released")
WORD_EMBEDDING_TYPES = ("concat", "single")
ANSWER_HEADS = ("mlp", "linear")

# Sizes and switches of the released models. ban-vqa: jnhwkim/ban-vqa (``main.py`` defaults,
# ``base_model.build_ban``); OpenVQA: MILVLG/openvqa ``configs/vqa/ban_{4,8}.yml`` and
# ``openvqa/models/ban`` (no counter, one 300-d GloVe table, rank factor 3 in the pooling too).
BAN_PRESETS: dict[str, dict] = {
    "ban-vqa": dict(
        word_embedding_size=300, word_embedding_type="concat", hidden_size=1280, num_glimpses=8,
        attention_rank_factor=3, pooling_rank_factor=1, use_counter=True, num_counted_objects=10,
        dropout=0.2, attention_dropout=0.5, classifier_dropout=0.5, answer_head="mlp", answer_hidden_size=2560,
        image_feature_size=2048, image_encoder="features", question_max_length=14,
    ),
    "openvqa-ban-4": dict(
        word_embedding_size=300, word_embedding_type="single", hidden_size=1024, num_glimpses=4,
        attention_rank_factor=3, pooling_rank_factor=3, use_counter=False,
        dropout=0.2, attention_dropout=0.5, classifier_dropout=0.5, answer_head="mlp", answer_hidden_size=2048,
        image_feature_size=2048, image_encoder="features", question_max_length=14,
    ),
}
BAN_PRESETS["openvqa-ban-8"] = dict(BAN_PRESETS["openvqa-ban-4"], num_glimpses=8)

# The tests' "tiny" sizes; "scratch-cnn": the examples' settings for 64x64 synthetic images with the
# scratch CNN (easy-VQA; the defaults are the papers' sizes for 448x448 VGG/ResNet features), used
# by run_vqa.py with --image_encoder scratch_cnn. On easy-VQA dropout slows these small models
# down and buys nothing (benchmarks/README.md).
BAN_PRESETS["tiny"] = dict(
    word_embedding_size=5, hidden_size=6, num_glimpses=2, answer_hidden_size=8, use_counter=False, num_counted_objects=4,
)
BAN_PRESETS["scratch-cnn"] = dict(  # no counting module: easy-VQA asks no "how many" questions
    word_embedding_size=32, word_embedding_type="single", hidden_size=64, num_glimpses=2, use_counter=False,
    answer_hidden_size=128, dropout=0.0, attention_dropout=0.0, classifier_dropout=0.0,
)


class BanConfig(MMAttnVQAConfig):
    r"""
    Configuration of [`BanModel`] and [`BanForVisualQuestionAnswering`].

    Defaults are ban-vqa's released model (``BAN_PRESETS["ban-vqa"]``): a GRU of 1280 over two
    300-d word embeddings concatenated (GloVe and tf-idf-weighted GloVe, ban-vqa's ``op='c'``), 8
    glimpses, bilinear attention maps of rank factor k = 3, the counting module over the 10 most
    attended regions, 2048-d bottom-up region features, a weight-normed 1280 → 2560 → answers
    classifier. ``BanConfig.from_preset(name, **overrides)`` gives the other released sizes.

    Args:
        word_embedding_size: size of each word embedding table (300, GloVe).
        word_embedding_type: ``"concat"``: two tables concatenated (the GRU reads 2 x 300; ban-vqa's
            ``w_emb.emb`` and ``w_emb.emb_``); ``"single"``: one table (OpenVQA, the paper's text).
        hidden_size: the GRU's hidden size, which is also the size of every joint representation
            (ban-vqa's ``num_hid``).
        num_glimpses: G, the number of bilinear attention maps and residual steps.
        attention_rank_factor: k of the attention maps: U and V project to ``hidden_size * k``.
        pooling_rank_factor: k of each glimpse's bilinear pooling, whose ``hidden_size * k`` units
            are sum-pooled by k (1 in ban-vqa, 3 in OpenVQA).
        use_counter / num_counted_objects: the counting module (Zhang et al. 2018) over the
            regions with the highest attention in each glimpse, and its projection added to the
            question (ban-vqa); it needs ``image_boxes`` with precomputed features.
        dropout: before every projection of the regions and the words (0.2).
        attention_dropout: on the projected regions of the attention maps (0.5).
        classifier_dropout: between the classifier's two layers (0.5).
        answer_head: ``"mlp"`` (ban-vqa's SimpleClassifier: weight-normed linear → ReLU → dropout →
            weight-normed linear, hidden ``answer_hidden_size``) or ``"linear"``.
        question_padding: ``"masked"`` (default): padding words are skipped by the GRU (packed),
            get no attention and are left out of the final sum. ``"released"``: as ban-vqa and
            OpenVQA run: every question is padded on the right to ``question_max_length`` with
            ``pad_token_id``, the GRU runs over the padding, the attention covers it and the final
            sum includes it (converted checkpoints use this to give the original logits); with
            precomputed features, regions whose feature row is all zero are also masked.
        question_max_length: the fixed question length of the released code (14).
    """

    model_type = "mmattn_ban"
    attention_step_name = "glimpse"

    word_embedding_size: int = 300
    word_embedding_type: str = "concat"
    hidden_size: int = 1280
    num_glimpses: int = 8
    attention_rank_factor: int = 3
    pooling_rank_factor: int = 1
    use_counter: bool = True
    num_counted_objects: int = 10
    dropout: float = 0.2
    attention_dropout: float = 0.5
    classifier_dropout: float = 0.5
    answer_head: str = "mlp"
    answer_hidden_size: int = 2560
    question_padding: str = "masked"
    question_max_length: int = 14
    image_encoder: str = "features"
    image_feature_size: int = 2048

    presets = BAN_PRESETS
    display_name = "BAN"

    def __post_init__(self, **kwargs):
        for name, allowed in (
            ("question_padding", QUESTION_PADDINGS),
            ("word_embedding_type", WORD_EMBEDDING_TYPES),
            ("answer_head", ANSWER_HEADS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("hidden_size", "num_glimpses", "attention_rank_factor", "pooling_rank_factor", "num_counted_objects", "question_max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        super().__post_init__(**kwargs)


    @property
    def question_input_size(self) -> int:
        """What the GRU reads: one or two word embeddings."""
        return self.word_embedding_size * (2 if self.word_embedding_type == "concat" else 1)


__all__ = ["BAN_PRESETS", "BanConfig"]
