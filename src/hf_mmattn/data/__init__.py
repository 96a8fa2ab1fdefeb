"""Datasets for the models of hf-mmattn: easy-VQA (shipped by the `easy-vqa` package), the
official VQA v2 files with their bottom-up region features (.npy, .npz or TSV), the VQA
answer handling (official normalisation, soft targets, answer vocabularies), the generated
shapes-captions dataset and the COCO / Flickr caption loaders (Karpathy's splits), and the
document classification data (Yelp, IMDB, Yahoo Answers, Amazon loaders; the generated
deciding-sentence documents), and the fine-grained image classification data (CUB-200-2011,
FGVC-Aircraft, Stanford Cars loaders; the generated co-occurrence textures), and the translation
data (parallel text, WMT SGML, IWSLT, Multi30k, Tatoeba loaders; the generated English → German
number words)."""

from .answers import (
    answers_to_soft_targets,
    build_answer_vocabulary,
    normalize_answer,
    official_evaluation_answers,
    soft_target_tensor,
    vqa_soft_score,
)
from .captions import load_coco_karpathy, load_flickr
from .documents import (
    DECIDING_SENTENCE_CLASSES,
    generate_deciding_sentence_documents,
    load_amazon_reviews,
    load_imdb_reviews,
    load_yahoo_answers,
    load_yelp,
)
from .easy_vqa import EASY_VQA_ANSWERS, easy_vqa_answers, load_easy_vqa
from .fine_grained import load_cub200, load_fgvc_aircraft, load_stanford_cars
from .number_words import generate_number_translation
from .region_features import (
    RegionFeatures,
    convert_feature_tsv_to_npz,
    index_feature_tsv,
    load_region_features,
    pad_region_features,
    read_feature_tsv_row,
)
from .shapes_captions import caption_is_true, generate_shapes_captions
from .textures import generate_cooccurrence_textures
from .translation import (
    load_iwslt_train_tags,
    load_iwslt_xml,
    load_multi30k,
    load_parallel_text,
    load_sgml,
    load_tatoeba,
    load_wmt_iwslt_pair,
)
from .vqa_v2 import load_image_features, load_vqa_v2

__all__ = [
    "DECIDING_SENTENCE_CLASSES",
    "EASY_VQA_ANSWERS",
    "RegionFeatures",
    "answers_to_soft_targets",
    "build_answer_vocabulary",
    "caption_is_true",
    "convert_feature_tsv_to_npz",
    "easy_vqa_answers",
    "generate_cooccurrence_textures",
    "generate_deciding_sentence_documents",
    "generate_number_translation",
    "generate_shapes_captions",
    "index_feature_tsv",
    "load_amazon_reviews",
    "load_coco_karpathy",
    "load_cub200",
    "load_easy_vqa",
    "load_fgvc_aircraft",
    "load_flickr",
    "load_image_features",
    "load_imdb_reviews",
    "load_iwslt_train_tags",
    "load_iwslt_xml",
    "load_multi30k",
    "load_parallel_text",
    "load_sgml",
    "load_tatoeba",
    "load_wmt_iwslt_pair",
    "load_region_features",
    "load_stanford_cars",
    "load_vqa_v2",
    "load_yahoo_answers",
    "load_yelp",
    "normalize_answer",
    "official_evaluation_answers",
    "pad_region_features",
    "read_feature_tsv_row",
    "soft_target_tensor",
    "vqa_soft_score",
]
