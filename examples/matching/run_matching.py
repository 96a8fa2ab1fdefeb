#!/usr/bin/env python
"""Train and evaluate an image–text matching model of hf-mmattn (m-DAN) with 🤗 Accelerate.

    accelerate launch examples/matching/run_matching.py --model_type mdan \\
        --dataset shapes_captions --output_dir out/mdan-shapes

Every (image, caption) pair is one training example; each batch is trained with the
bidirectional ranking loss over its other pairs (``config.ranking_loss``: all negatives, or the
hardest), captions of the same image never being each other's negatives. Evaluation embeds every
image and every caption of the evaluation split once (the models are dual encoders) and scores
the retrieval both ways (R@1/5/10, median rank; an image→text hit is any of the image's
captions; ``hf_mmattn.tasks.matching.metrics``) into ``eval_results.json``; on COCO's 5,000 test
images it reports the 5K protocol and, under ``fold_average``, the 1K protocol (5 folds of 1,000,
averaged) side by side (``--num_folds N`` does the same on any split). On
shapes-captions, whose sentences can be true of several scenes, it also reports the scene-true
R@1 (the top image for a sentence makes it true, by the generator's scene description) and the
recalls by number of objects in the scene. The output folder loads with ``from_pretrained``,
``AutoProcessor`` and transformers' ``pipeline("zero-shot-image-classification")``; it holds
``attention_<k>.png`` (the image and each step's visual attention) and ``words_<k>.png`` (each
step's attention over the words of the image's first caption).
``--checkpointing_steps`` + ``--resume_from_checkpoint latest`` resume an interrupted run where
its last checkpoint left it.

Datasets: ``shapes_captions`` is generated on the fly (``hf_mmattn.data.generate_shapes_captions``);
``coco_karpathy`` and ``flickr`` read Karpathy's split files (``--dataset_json``) and the images
(``--images_dir``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from accelerate.logging import get_logger
from transformers import AutoModel

import hf_mmattn  # noqa: F401  (registers the architectures with the Auto classes)
from hf_mmattn import MatchingProcessor, training
from hf_mmattn.data import caption_is_true
from hf_mmattn.data.batching import ImageStore
from hf_mmattn.models import discover
from hf_mmattn.tasks.matching.metrics import compute_retrieval_metrics_folds, retrieval_ranks, summarize_ranks

logger = get_logger(__name__)

# --model_type choices: the discovered matching models (models/<name>/). With --image_encoder
# scratch_cnn a model starts from its config's "scratch-cnn" preset (or --preset), sizes for the
# 64x64 shapes-captions scenes; --config_overrides changes any field.
MODEL_TYPES = {model.name: model.config for model in discover("matching")}
FREE_ON_RESUME = (
    "model_name_or_path", "backbone_checkpoint", "dataset_json", "num_validation_images", "num_test_images", "eval_split",
    "max_eval_samples", "no_cache_images", "per_device_eval_batch_size", "num_folds", "num_attention_figures", "figure_cmap",
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_type", choices=sorted(MODEL_TYPES), required=True)
    parser.add_argument("--preset", default=None, help="a preset of the model's config (m-DAN: scratch-cnn, mean-pooling); "
                                                        "default: scratch-cnn with --image_encoder scratch_cnn, the paper's sizes otherwise")
    parser.add_argument("--model_name_or_path", help="start from a saved checkpoint instead of a fresh model")
    parser.add_argument("--config_overrides", default=None, help="comma-separated key=value config overrides, e.g. num_steps=0,margin=0.2")
    parser.add_argument("--image_encoder", choices=["scratch_cnn", "backbone"], default=None, help="default: scratch_cnn for shapes_captions, backbone otherwise")
    parser.add_argument("--backbone_config", default=None, help="JSON file or inline JSON of a transformers backbone config (e.g. ResNet)")
    parser.add_argument("--backbone_checkpoint", default=None, help="folder or Hub id of pretrained backbone weights")
    parser.add_argument("--image_size", type=int, default=None, help="default: 64 for shapes_captions, 224 for a backbone")
    training.add_caption_dataset_arguments(parser, num_test_images=1000)
    parser.add_argument("--per_device_eval_batch_size", type=int, default=250)
    parser.add_argument("--num_folds", type=int, default=None,
                        help="also report the recalls within N consecutive folds of the evaluation images, averaged "
                             "(default: 5 on COCO's 5,000 test images, the 1K protocol; none otherwise)")
    parser.add_argument("--num_attention_figures", type=int, default=4)
    parser.add_argument("--figure_cmap", default=None, help="colour map of the attention figures (default: jet on shapes_captions)")
    training.add_training_arguments(parser, FREE_ON_RESUME)
    args = parser.parse_args(argv)
    training.check_training_arguments(parser, args)
    training.check_caption_dataset_arguments(parser, args)
    if args.preset is not None and args.preset not in MODEL_TYPES[args.model_type].presets:
        parser.error(f"--preset {args.preset!r} is not a preset of {args.model_type}: {sorted(MODEL_TYPES[args.model_type].presets)}")
    if args.num_folds is not None and args.num_folds < 1:
        parser.error("--num_folds must be at least 1")
    if args.per_device_eval_batch_size < 1:
        parser.error("--per_device_eval_batch_size must be at least 1")
    if args.figure_cmap is None and args.dataset == "shapes_captions":
        args.figure_cmap = "jet"
    return args


def build_model_and_processor(args, train):
    if args.model_name_or_path:
        return AutoModel.from_pretrained(args.model_name_or_path), MatchingProcessor.from_pretrained(args.model_name_or_path)
    captions = [caption for image_captions in train["captions"] for caption in image_captions]
    if args.image_encoder == "scratch_cnn":
        processor = MatchingProcessor.from_sentences(
            captions, image_size=args.image_size or args.shapes_image_size, image_mean=[0.5] * 3, image_std=[0.5] * 3,
            min_word_count=args.min_word_count, max_sentence_length=args.max_caption_length,
        )
    else:
        processor = MatchingProcessor.from_sentences(
            captions, image_size=args.image_size or 224, min_word_count=args.min_word_count, max_sentence_length=args.max_caption_length,
        )
    config_class = MODEL_TYPES[args.model_type]
    preset = args.preset or ("scratch-cnn" if args.image_encoder == "scratch_cnn" else None)
    settings = dict(config_class.presets[preset]) if preset else {}
    settings.update(training.backbone_settings(args.backbone_config, args.image_encoder))
    settings.update(training.parse_config_overrides(args.config_overrides))
    tokenizer = processor.tokenizer
    config = config_class(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, image_encoder=args.image_encoder, **settings)
    model = AutoModel.from_config(config)
    if args.backbone_checkpoint:
        model.load_pretrained_backbone(args.backbone_checkpoint)
    return model, processor


class PairCollator:
    """A training batch from pair indices: the images, the captions, and ``image_ids`` (the image
    store row of each pair) so that captions of one image are not each other's negatives."""

    def __init__(self, pairs: training.CaptionPairs, images: ImageStore, processor: MatchingProcessor):
        self.pairs, self.images, self.processor = pairs, images, processor

    def __call__(self, pair_indices: list[int]) -> dict[str, torch.Tensor]:
        rows = self.pairs.image_rows[pair_indices]
        batch = dict(self.processor(text=[self.pairs.captions[k] for k in pair_indices]))
        batch.update(self.images.batch(rows.tolist()))
        return {**batch, "image_ids": rows, "return_loss": True}


@torch.no_grad()
def embed_split(model, images: ImageStore, store_rows, captions: list[list[str]], processor, batch_size: int, device):
    """The embeddings of every image of the split (in dataset order) and of every caption
    (flattened in order), and ``text_image``: the image of each caption. Each image and each
    caption is encoded once, on its own (the models are dual encoders)."""
    model.eval()
    image_embeds, text_embeds = [], []
    for start in range(0, len(store_rows), batch_size):
        rows = [int(row) for row in store_rows[start:start + batch_size]]
        inputs = {k: v.to(device) for k, v in images.batch(rows).items()}
        image_embeds.append(model.get_image_features(**inputs).pooler_output.float().cpu())
    texts = [caption for image_captions in captions for caption in image_captions]
    text_image = np.repeat(np.arange(len(captions)), [len(image_captions) for image_captions in captions])
    for start in range(0, len(texts), batch_size):
        inputs = processor(text=texts[start:start + batch_size]).to(device)
        text_embeds.append(model.get_text_features(**inputs).pooler_output.float().cpu())
    model.train()
    return torch.cat(image_embeds), torch.cat(text_embeds), text_image


def scene_truth(similarity: np.ndarray, ranks, texts: list[str], text_image: np.ndarray, objects: list, image_size: int) -> dict:
    """shapes-captions: ``scene_true_r1``, the share (%) of captions whose top-ranked image makes
    them true by the scene description, and every recall by the number of objects of the caption's
    own scene (``by_objects``: {count: {text_to_image_r1, image_to_text_r1, scene_true_r1, ...}});
    ``ranks``: ``retrieval_ranks(similarity, text_image)``."""
    top_images = similarity.argmax(axis=0)
    true_at_top = np.array([caption_is_true(text, objects[image], image_size) for text, image in zip(texts, top_images)])
    counts = np.array([len(scene) for scene in objects])
    # Each group's queries are ranked against the whole gallery: the ranks of the full matrix.
    by_objects = {}
    for count in sorted(set(counts.tolist())):
        images = np.flatnonzero(counts == count)
        captions = np.flatnonzero(counts[text_image] == count)
        by_objects[str(count)] = {
            "num_images": len(images),
            "image_to_text_r1": 100.0 * float(np.mean(ranks.image_to_text[images] < 1)),
            "text_to_image_r1": 100.0 * float(np.mean(ranks.text_to_image[captions] < 1)),
            "text_to_image_r5": 100.0 * float(np.mean(ranks.text_to_image[captions] < 5)),
            "scene_true_r1": 100.0 * float(np.mean(true_at_top[captions])),
        }
    return {"scene_true_r1": 100.0 * float(true_at_top.mean()), "by_objects": by_objects}


def evaluate_retrieval(model, images, evaluation, processor, args, device) -> dict:
    """Recall both ways on the evaluation split (and the 1K protocol on 5,000 COCO images), plus
    the scene truth on shapes-captions."""
    captions = [list(c) for c in evaluation["captions"]]
    image_embeds, text_embeds, text_image = embed_split(
        model, images, images.question_rows, captions, processor, args.per_device_eval_batch_size, device
    )
    similarity = (image_embeds @ text_embeds.T).numpy()
    ranks = retrieval_ranks(similarity, text_image)
    results = summarize_ranks(ranks)
    num_folds = args.num_folds
    if num_folds is None and args.dataset == "coco_karpathy" and len(captions) == 5000:
        num_folds = 5  # COCO 1K: the 5,000 test images in 5 folds of 1,000
    if num_folds is not None:
        folds = compute_retrieval_metrics_folds(similarity, text_image, num_folds=num_folds)
        results["fold_average"] = {k: v for k, v in folds.items() if k != "folds"}
    if "objects" in evaluation.column_names:
        texts = [caption for image_captions in captions for caption in image_captions]
        results.update(scene_truth(similarity, ranks, texts, text_image, list(evaluation["objects"]), args.shapes_image_size))
    return results


def save_attention_figures(model, processor, dataset, output_dir: Path, count: int, cmap: str | None = None) -> list[str]:
    """``attention_<k>.png`` (the image and each step's visual attention) and ``words_<k>.png``
    (each step's textual attention over its first caption) for the first ``count`` images."""
    from hf_mmattn.visualization import plot_image_attention, plot_word_attention

    if count <= 0 or not getattr(model.config, "num_steps", 0):
        return []
    model.eval()
    paths = []
    titles = [f"step {k}" for k in range(1, model.config.num_steps + 1)]
    for row in range(min(count, len(dataset))):
        image, caption = dataset[row]["image"], dataset[row]["captions"][0]
        inputs = processor(images=[image], text=[caption]).to(model.device)
        with torch.no_grad():
            output = model(**inputs, output_attentions=True)
        image_path, words_path = output_dir / f"attention_{row}.png", output_dir / f"words_{row}.png"
        plot_image_attention(image, [step[0] for step in output.attentions], caption, grid_size=output.image_grid_size, titles=titles,
                           path=image_path, cmap=cmap, alpha=0.5 if cmap else 0.6)
        length = int(inputs["attention_mask"][0].sum())
        words = processor.tokenizer.convert_ids_to_tokens(inputs["input_ids"][0, :length].tolist())
        plot_word_attention(words, [step[0, :length] for step in output.text_attentions], path=words_path, row_titles=titles)
        paths += [str(image_path), str(words_path)]
    return paths


def main(argv=None):
    args = parse_args(argv)
    accelerator = training.setup_accelerator(args)  # also logging, the seed and --output_dir
    output_dir = Path(args.output_dir)

    train, evaluation = training.load_caption_splits(args)
    model, processor = build_model_and_processor(args, train)
    cache_images = not args.no_cache_images
    train_images = ImageStore(train, processor.image_processor, cache=cache_images)
    eval_images = ImageStore(evaluation, processor.image_processor, cache=cache_images)
    pairs = training.CaptionPairs(train, train_images.question_rows)

    train_dataloader = training.caption_pair_dataloader(pairs, args.per_device_train_batch_size, args.seed,
                                                        PairCollator(pairs, train_images, processor))
    optimizer = torch.optim.Adam((p for p in model.parameters() if p.requires_grad), lr=args.learning_rate, weight_decay=args.weight_decay)
    step = training.SupervisedStep(model, optimizer, args.max_grad_norm)
    loop = training.TrainingLoop(accelerator, args, step, train_dataloader, project_name="run_matching", examples="pairs",
                                 count_examples=lambda batch: len(batch["input_ids"]))
    model = step.model
    run = training.describe_run(args, accelerator, loop.steps_per_epoch, train_data=train, processor=processor, model=model,
                                free_arguments=FREE_ON_RESUME)
    unwrapped = accelerator.unwrap_model(model)
    logger.info(
        "%d training pairs of %d images, %d %s images, %d words, %d parameters (%d trainable), %d steps",
        len(pairs), len(train), len(evaluation), args.eval_split, len(processor.tokenizer),
        unwrapped.num_parameters(), unwrapped.num_parameters(only_trainable=True), args.max_train_steps,
    )

    def evaluate(epoch):
        """After an epoch (``epoch``) or training (None): retrieval on the evaluation split, every
        process computing it whole (the encoders are cheap next to training)."""
        results = evaluate_retrieval(accelerator.unwrap_model(model), eval_images, evaluation, processor, args, accelerator.device)
        summary = " ".join(f"{k} {results[k]:.2f}" for k in ("image_to_text_r1", "text_to_image_r1", "rsum"))
        if "scene_true_r1" in results:
            summary += f" scene-true R@1 {results['scene_true_r1']:.2f}"
        logger.info("%s %s", f"epoch {epoch + 1}:" if epoch is not None else f"{args.eval_split}:", summary)
        return results if epoch is not None else {**results, "split": args.eval_split}

    def save(eval_results):
        unwrapped = accelerator.unwrap_model(model)
        dataset_id, dataset_name = training.CAPTION_DATASETS[args.dataset]
        training.save_with_card(unwrapped, processor, args, accelerator, eval_results, script="examples/matching/run_matching.py",
                                argv=argv, examples="pairs", dataset_id=dataset_id, dataset_name=dataset_name)
        figures = save_attention_figures(unwrapped, processor, evaluation, output_dir, args.num_attention_figures, args.figure_cmap)
        if figures:
            logger.info("attention figures: %s", ", ".join(figures))

    return loop.run(run, evaluate=evaluate, tracked_metrics=("image_to_text_r1", "text_to_image_r1", "rsum"), save=save)


if __name__ == "__main__":
    main()
