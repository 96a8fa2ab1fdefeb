#!/usr/bin/env python
"""Train and evaluate a text-to-image GAN of hf-mmattn (GAN-INT-CLS) with 🤗 Accelerate.

    accelerate launch examples/text_to_image/run_text_to_image.py --model_type gan_int_cls \\
        --text_encoder_name_or_path out/bench_matching/mdan --loss_type gan-int-cls \\
        --output_dir out/gan-int-cls-shapes

Every (image, caption) pair is one training example. The text encoder is a trained matching model
(``--text_encoder_name_or_path``: an m-DAN folder trained by examples/matching/run_matching.py),
frozen unless ``--train_text_encoder``; without one, an m-DAN text encoder is built from the
training captions and trained with the discriminator. Each batch takes a discriminator step then a
generator step (``hf_mmattn.tasks.text_to_image.training``), each with its own Adam (2e-4,
β1 = 0.5, batch 64 by default: the paper's).

Evaluation (shapes-captions; ``hf_mmattn.tasks.text_to_image.metrics``): one image for the first
caption of each of ``--num_eval_images`` evaluation scenes, from seeded noise, judged by

* a scene classifier trained on the real training scenes (``--scene_evaluator`` to reuse a saved
  one; it is validated on the real evaluation scenes, whose numbers go into the results as
  ``evaluator_real_*``): are the caption's colours and shapes there, is the caption true;
* R-precision by the matching model (``--matching_model``, by default the text encoder's
  checkpoint): the true caption ranked first among 100 (the same for the real images, as
  ``real_r_precision``);
* diversity: the mean pixel distance between ``--diversity_samples`` images of one caption.

The output folder loads with ``from_pretrained``, ``AutoProcessor`` and
``pipeline("text-to-image")``; it holds ``samples.png`` (several noises per caption),
``interpolation.png`` (between two captions' embeddings, the noise fixed) and ``fixed_noise.png``
(one noise per row across captions), as the paper's figures. ``--checkpointing_steps`` +
``--resume_from_checkpoint latest`` resume an interrupted run where its last checkpoint left it,
both networks, both optimizers and the random state included.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from accelerate.logging import get_logger
from transformers import AutoModel

import hf_mmattn  # noqa: F401  (registers the architectures with the Auto classes)
from hf_mmattn import MatchingProcessor, TextToImageProcessor, build_sentence_tokenizer, training
from hf_mmattn.data.batching import ImageStore
from hf_mmattn.models import discover, get_model
from hf_mmattn.tasks.text_to_image import LOSS_TYPES, interpolate_text_embeds
from hf_mmattn.tasks.text_to_image.metrics import (
    SceneClassifier,
    caption_consistency,
    diversity,
    evaluator_accuracy,
    images_to_tensor,
    r_precision,
    train_scene_classifier,
)
from hf_mmattn.tasks.text_to_image.training import TextToImageGANStep

logger = get_logger(__name__)

MODEL_TYPES = {model.name: model.config for model in discover("text_to_image")}
# A text encoder built from nothing: m-DAN's sizes for the shapes scenes, its (unused) image side small.
SCRATCH_TEXT_ENCODER = dict(model_type="mmattn_mdan", image_encoder="features", image_feature_size=8, word_embedding_size=64,
                            text_hidden_size=128, attention_hidden_size=128, num_steps=2)
FREE_ON_RESUME = (
    "text_encoder_name_or_path", "model_name_or_path", "num_validation_images", "num_test_images", "eval_split", "max_eval_samples",
    "no_cache_images", "num_eval_images", "diversity_captions", "diversity_samples", "scene_evaluator", "evaluator_epochs",
    "matching_model", "eval_seed", "num_figure_captions", "per_device_eval_batch_size",
)


def parse_args(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_type", choices=sorted(MODEL_TYPES), default="gan_int_cls")
    parser.add_argument("--preset", default="shapes", help="a preset of the model's config (GAN-INT-CLS: shapes, tiny)")
    parser.add_argument("--model_name_or_path", help="start from a saved text-to-image checkpoint instead of a fresh model")
    parser.add_argument("--text_encoder_name_or_path", help="a trained matching model (folder or Hub id) whose text encoder "
                                                             "conditions the GAN; without it one is trained with the discriminator")
    parser.add_argument("--train_text_encoder", action="store_true", help="train the text encoder with the discriminator")
    parser.add_argument("--loss_type", choices=LOSS_TYPES, default=None, help="the objective (default: the config's, gan-int-cls)")
    parser.add_argument("--config_overrides", default=None, help="comma-separated key=value config overrides, e.g. generator_channels=64")
    parser.add_argument("--adam_beta1", type=float, default=0.5)
    training.add_caption_dataset_arguments(parser)
    parser.add_argument("--num_eval_images", type=int, default=500, help="evaluation scenes: one image for each one's first caption")
    parser.add_argument("--diversity_captions", type=int, default=20)
    parser.add_argument("--diversity_samples", type=int, default=8)
    parser.add_argument("--scene_evaluator", default=None, help="a saved scene classifier folder (default: train one on the "
                                                                 "training scenes, saved in <output_dir>/scene_evaluator)")
    parser.add_argument("--evaluator_epochs", type=int, default=3)
    parser.add_argument("--matching_model", default=None, help="the matching model of R-precision (default: the text encoder's "
                                                                "checkpoint; none: no R-precision)")
    parser.add_argument("--eval_seed", type=int, default=0, help="the seed of the evaluation's noise")
    parser.add_argument("--num_figure_captions", type=int, default=6)
    parser.add_argument("--per_device_eval_batch_size", type=int, default=250)
    training.add_training_arguments(parser, FREE_ON_RESUME)
    # The paper's optimisation: Adam 2e-4, β1 = 0.5, batch 64, a constant rate, no clipping.
    parser.set_defaults(learning_rate=2e-4, per_device_train_batch_size=64, lr_scheduler_type="constant", max_grad_norm=0.0,
                        num_train_epochs=10)
    args = parser.parse_args(argv)
    training.check_training_arguments(parser, args)
    training.check_caption_dataset_arguments(parser, args)
    if args.preset not in MODEL_TYPES[args.model_type].presets:
        parser.error(f"--preset {args.preset!r} is not a preset of {args.model_type}: {sorted(MODEL_TYPES[args.model_type].presets)}")
    for name in ("num_eval_images", "diversity_captions", "per_device_eval_batch_size", "evaluator_epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.diversity_samples < 2:
        parser.error("--diversity_samples must be at least 2 (diversity compares images of one caption)")
    if args.per_device_train_batch_size < 2:
        parser.error("--per_device_train_batch_size must be at least 2: an image's wrong caption is another pair's")
    if args.model_name_or_path and args.text_encoder_name_or_path:
        parser.error("--model_name_or_path brings its own text encoder: leave out --text_encoder_name_or_path")
    return args


def build_model_and_processor(args, train):
    if args.model_name_or_path:
        model = AutoModel.from_pretrained(args.model_name_or_path)
        processor = TextToImageProcessor.from_pretrained(args.model_name_or_path)
        if args.train_text_encoder:
            model.set_text_encoder_trainable(True)
        if args.loss_type:
            model.config.loss_type = args.loss_type
        return model, processor
    config_class = MODEL_TYPES[args.model_type]
    settings = {**config_class.presets[args.preset], **training.parse_config_overrides(args.config_overrides)}
    settings["image_size"] = args.shapes_image_size if args.dataset == "shapes_captions" else settings.get("image_size", 64)
    if args.loss_type:
        settings["loss_type"] = args.loss_type
    if args.text_encoder_name_or_path:
        text_encoder = AutoModel.from_pretrained(args.text_encoder_name_or_path)
        tokenizer = MatchingProcessor.from_pretrained(args.text_encoder_name_or_path).tokenizer
        settings = {k: v for k, v in settings.items() if k != "text_encoder"}
        model = get_model(args.model_type).heads[0].from_text_encoder(text_encoder, train_text_encoder=args.train_text_encoder, **settings)
    else:
        captions = [caption for image_captions in train["captions"] for caption in image_captions]
        tokenizer = build_sentence_tokenizer(captions, args.min_word_count, args.max_caption_length)
        settings["text_encoder"] = dict(SCRATCH_TEXT_ENCODER, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
        settings["train_text_encoder"] = True
        model = AutoModel.from_config(config_class(**settings))
    return model, TextToImageProcessor.from_tokenizer(tokenizer, model.config.image_size)


class PairCollator:
    """A training batch from pair indices: the real images (in [-1, 1]) and a caption of each."""

    def __init__(self, pairs: training.CaptionPairs, images: ImageStore, processor: TextToImageProcessor):
        self.pairs, self.images, self.processor = pairs, images, processor

    def __call__(self, pair_indices: list[int]) -> dict[str, torch.Tensor]:
        batch = dict(self.processor(text=[self.pairs.captions[k] for k in pair_indices]))
        batch.update(self.images.batch(self.pairs.image_rows[pair_indices].tolist()))
        return batch


def load_scene_evaluator(args, train, evaluation, output_dir: Path, device) -> tuple[SceneClassifier, dict]:
    """The scene classifier (``--scene_evaluator``, or trained on the real training scenes and
    saved) and its validation on the real evaluation scenes."""
    if args.scene_evaluator:
        classifier = SceneClassifier.load(args.scene_evaluator, device=device)
    else:
        start = time.perf_counter()
        classifier = train_scene_classifier(train, epochs=args.evaluator_epochs, seed=args.seed, device=device)
        classifier.save(output_dir / "scene_evaluator")
        logger.info("scene evaluator trained in %.0f s", time.perf_counter() - start)
    validation = evaluator_accuracy(classifier, evaluation)
    real = validation["caption_consistency"]
    results = {"evaluator_real_exact_scene": validation["exact_scene"], "evaluator_real_color": real["color"],
               "evaluator_real_shape": real["shape"], "evaluator_real_caption_true": real["caption_true"]}
    logger.info("scene evaluator on the real %s scenes: %s", args.eval_split, " ".join(f"{k} {v:.4f}" for k, v in results.items()))
    return classifier, results


@torch.no_grad()
def generate_images(model, processor, captions: list[str], batch_size: int, seed: int, num_images_per_prompt: int = 1) -> torch.Tensor:
    """``num_images_per_prompt`` images per caption in [0, 1], from a generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    images = []
    for start in range(0, len(captions), batch_size):
        inputs = processor(text=captions[start:start + batch_size]).to(model.device)
        z = torch.randn(len(inputs["input_ids"]) * num_images_per_prompt, model.config.noise_size, generator=generator)
        images.append(model.generate(**inputs, num_images_per_prompt=num_images_per_prompt, z=z).cpu())
    return torch.cat(images)


class CaptionRanker:
    """R-precision by a matching model for images generated from ``captions``: the captions are
    embedded once; images in [0, 1] (at the matching model's size) are normalised as its processor
    normalises pixels, then embedded."""

    def __init__(self, matching_model, matching_processor, captions: list[str], batch_size: int, seed: int):
        self.model, self.captions, self.batch_size, self.seed = matching_model, captions, batch_size, seed
        image_processor = matching_processor.image_processor
        self.mean = torch.tensor(image_processor.image_mean).view(1, -1, 1, 1)
        self.std = torch.tensor(image_processor.image_std).view(1, -1, 1, 1)
        with torch.no_grad():
            self.text_embeds = torch.cat([
                matching_model.get_text_features(**matching_processor(text=captions[start:start + batch_size]).to(matching_model.device))
                .pooler_output.float().cpu()
                for start in range(0, len(captions), batch_size)
            ])

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> float:
        image_embeds = torch.cat([
            self.model.get_image_features(pixel_values=((chunk - self.mean) / self.std).to(self.model.device)).pooler_output.float().cpu()
            for chunk in images.split(self.batch_size)
        ])
        return r_precision(image_embeds, self.text_embeds, self.captions, seed=self.seed)


def save_figures(model, processor, captions: list[str], output_dir: Path, seed: int) -> list[str]:
    """The paper's figures: samples per caption, an interpolation between two captions with the
    noise fixed, and one noise per row across captions."""
    from hf_mmattn.visualization import plot_image_grid

    columns = 8
    samples = generate_images(model, processor, captions, len(captions), seed, num_images_per_prompt=columns)
    plot_image_grid(samples.reshape(len(captions), columns, *samples.shape[1:]), output_dir / "samples.png", row_titles=captions,
                    title="samples: one noise vector z per column")
    generator = torch.Generator().manual_seed(seed)
    inputs = processor(text=captions[:2]).to(model.device)
    with torch.no_grad():
        first, second = model.get_text_features(**inputs)
    betas = torch.linspace(0, 1, columns, device=model.device)[:, None]
    rows = []
    for _ in range(3):
        z = torch.randn(1, model.config.noise_size, generator=generator).to(model.device).expand(columns, -1)
        rows.append(model.generate(text_embeds=interpolate_text_embeds(second, first, betas), z=z).cpu())
    plot_image_grid(torch.stack(rows), output_dir / "interpolation.png", column_titles=[f"{b:.2f}" for b in betas[:, 0].tolist()],
                    title=f"β·t({captions[1]!r}) + (1−β)·t({captions[0]!r}), one z per row")
    z = torch.randn(4, model.config.noise_size, generator=generator)
    fixed = [model.generate(**processor(text=captions).to(model.device), z=row.expand(len(captions), -1).to(model.device)).cpu()
             for row in z]
    plot_image_grid(torch.stack(fixed), output_dir / "fixed_noise.png", column_titles=captions, title="one z per row across captions")
    return [str(output_dir / name) for name in ("samples.png", "interpolation.png", "fixed_noise.png")]


def main(argv=None):
    args = parse_args(argv)
    accelerator = training.setup_accelerator(args)  # also logging, the seed and --output_dir
    output_dir = Path(args.output_dir)

    train, evaluation = training.load_caption_splits(args)
    model, processor = build_model_and_processor(args, train)
    cache_images = not args.no_cache_images
    train_images = ImageStore(train, processor.image_processor, cache=cache_images)
    pairs = training.CaptionPairs(train, train_images.question_rows)
    train_dataloader = training.caption_pair_dataloader(pairs, args.per_device_train_batch_size, args.seed,
                                                        PairCollator(pairs, train_images, processor))
    betas = (args.adam_beta1, 0.999)
    generator_optimizer = torch.optim.Adam(model.generator.parameters(), lr=args.learning_rate, betas=betas, weight_decay=args.weight_decay)
    discriminator_optimizer = torch.optim.Adam(TextToImageGANStep.discriminator_parameters(model), lr=args.learning_rate, betas=betas,
                                               weight_decay=args.weight_decay)
    step = TextToImageGANStep(model, generator_optimizer, discriminator_optimizer, args.max_grad_norm)
    loop = training.TrainingLoop(accelerator, args, step, train_dataloader, project_name="run_text_to_image", examples="pairs",
                                 count_examples=lambda batch: len(batch["input_ids"]))
    run = training.describe_run(args, accelerator, loop.steps_per_epoch, train_data=train, processor=processor, model=model,
                                free_arguments=FREE_ON_RESUME)
    logger.info("%d training pairs of %d images, %d words, loss %s, text encoder %s, %d parameters (%d trainable), %d steps",
                len(pairs), len(train), len(processor.tokenizer), model.config.loss_type,
                "trained" if model.config.train_text_encoder else "frozen", model.num_parameters(),
                model.num_parameters(only_trainable=True), args.max_train_steps)

    has_scenes = "objects" in evaluation.column_names
    scene_evaluator, evaluator_results = (load_scene_evaluator(args, train, evaluation, output_dir, accelerator.device)
                                          if has_scenes and accelerator.is_main_process else (None, {}))
    eval_rows = evaluation.select(range(min(args.num_eval_images, len(evaluation))))
    eval_captions = [captions[0] for captions in eval_rows["captions"]]
    matching_path = args.matching_model or args.text_encoder_name_or_path
    ranker, real_r_precision = None, None  # R-precision needs 100 captions to rank among
    if matching_path and matching_path != "none" and len(eval_captions) >= 100 and accelerator.is_main_process:
        matching_model = AutoModel.from_pretrained(matching_path).to(accelerator.device).eval()
        ranker = CaptionRanker(matching_model, MatchingProcessor.from_pretrained(matching_path), eval_captions,
                               args.per_device_eval_batch_size, args.eval_seed)
        real_r_precision = ranker(images_to_tensor(eval_rows["image"]))

    def evaluate(epoch):
        """On the main process: consistency, R-precision and diversity of images generated for
        the evaluation captions (the other processes wait)."""
        if not accelerator.is_main_process:
            return {}
        start = time.perf_counter()
        images = generate_images(model, processor, eval_captions, args.per_device_eval_batch_size, args.eval_seed)
        generation_time = time.perf_counter() - start
        results = {"num_images": len(eval_captions), "images_per_s": len(eval_captions) / generation_time}
        if scene_evaluator is not None:
            results.update(caption_consistency(scene_evaluator, images, eval_captions))
            results.update(evaluator_results)
        results["r_precision"] = ranker(images) if ranker is not None else None
        results["real_r_precision"] = real_r_precision
        samples = generate_images(model, processor, eval_captions[:args.diversity_captions], args.per_device_eval_batch_size,
                                  args.eval_seed + 1, num_images_per_prompt=args.diversity_samples)
        results["diversity"] = diversity(samples.reshape(-1, args.diversity_samples, *samples.shape[1:]))
        summary = " ".join(f"{k} {results[k]:.4f}" for k in ("color", "shape", "caption_true", "r_precision", "diversity")
                           if results.get(k) is not None)
        logger.info("%s %s", f"epoch {epoch + 1}:" if epoch is not None else f"{args.eval_split}:", summary)
        return results if epoch is not None else {**results, "split": args.eval_split, "loss_type": model.config.loss_type}

    def save(eval_results):
        dataset_id, dataset_name = training.CAPTION_DATASETS[args.dataset]
        training.save_with_card(model, processor, args, accelerator, eval_results, script="examples/text_to_image/run_text_to_image.py",
                                argv=argv, examples="pairs", dataset_id=dataset_id, dataset_name=dataset_name)
        figure_captions = eval_captions[:args.num_figure_captions]
        if len(figure_captions) >= 2:
            logger.info("figures: %s", ", ".join(save_figures(model, processor, figure_captions, output_dir, args.eval_seed)))

    tracked_metrics = ("caption_true", "diversity") if has_scenes else ("diversity",)
    return loop.run(run, evaluate=evaluate, tracked_metrics=tracked_metrics, save=save)


if __name__ == "__main__":
    main()
