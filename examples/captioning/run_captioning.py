#!/usr/bin/env python
"""Train and evaluate an image captioner of hf-mmattn (Show and Tell, Show, Attend and Tell) with
🤗 Accelerate.

    accelerate launch examples/captioning/run_captioning.py --model_type show_attend_tell \\
        --dataset shapes_captions --output_dir out/sat-shapes

Every (image, caption) pair is one training example: each epoch sees all the captions of every
training image, shuffled. Evaluation captions each image of the evaluation split once with beam
search (``model.generate``) and scores the captions against all the references with the COCO
caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D; ``hf_mmattn.metrics``), written to
``eval_results.json``. The output folder loads with ``from_pretrained`` and
``pipeline("image-text-to-text")`` (model, processor, generation defaults, model card); for
attention models it also holds ``attention_<k>.png``, the figure of Xu et al. (2015): the image,
then one panel per generated word with the attention that produced it.
``--checkpointing_steps`` + ``--resume_from_checkpoint latest`` resume an interrupted run where
its last checkpoint left it (passing over a checkpoint damaged on disk), and refuse to resume on
other data or options (``--ignore_checkpoint_mismatch`` to go on anyway).

Datasets: ``shapes_captions`` is generated on the fly (``hf_mmattn.data.generate_shapes_captions``);
``coco_karpathy`` and ``flickr`` read Karpathy's split files (``--dataset_json``) and the images
(``--images_dir``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from accelerate.logging import get_logger
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import AutoModelForImageTextToText, pipeline

import hf_mmattn  # noqa: F401  (registers the architectures with the Auto classes)
from hf_mmattn import CaptioningProcessor, training
from hf_mmattn.data.batching import GroupByImageBatchSampler, ImageStore
from hf_mmattn.metrics import compute_caption_metrics
from hf_mmattn.models import discover
from hf_mmattn.models.show_attend_tell import SHOW_ATTEND_TELL_PRESETS

logger = get_logger(__name__)

# --model_type choices: the discovered captioning models (models/<name>/), e.g. "show_tell". With
# --image_encoder scratch_cnn a model starts from its config's "scratch-cnn" preset (sizes for the
# 64x64 shapes-captions scenes; the configs' defaults are the papers' sizes for ImageNet CNN
# features); --config_overrides changes any field.
MODEL_TYPES = {model.name: model.config for model in discover("captioning")}

# Options that may differ when a run is resumed: where a fresh model came from (the checkpoint's
# weights replace it; its config and vocabulary are compared), Karpathy's split file (the
# fingerprint of the training captions compares what it holds), the evaluation splits,
# evaluation and figures, and how images are decoded. Every other option is compared with the
# checkpoint's (training.describe_run); so is --images_dir, whose pixels the fingerprint does not read.
FREE_ON_RESUME = (
    "model_name_or_path", "backbone_checkpoint", "dataset_json", "num_validation_images", "num_test_images", "eval_split",
    "max_eval_samples", "no_cache_images", "per_device_eval_batch_size", "num_beams", "max_new_tokens",
    "num_attention_figures", "figure_cmap",
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_type", choices=sorted(MODEL_TYPES), required=True)
    parser.add_argument("--attention_type", choices=["soft", "hard"], default=None, help="Show, Attend and Tell: soft (default) or hard attention")
    parser.add_argument("--preset", choices=sorted(SHOW_ATTEND_TELL_PRESETS), default=None,
                        help="Show, Attend and Tell: the paper's switches (xu2015-soft/-hard) or the PyTorch tutorial's (sgrvinod)")
    parser.add_argument("--model_name_or_path", help="start from a saved checkpoint instead of a fresh model")
    parser.add_argument("--config_overrides", default=None, help="comma-separated key=value config overrides, e.g. hidden_size=512,dropout=0.5")
    parser.add_argument("--image_encoder", choices=["scratch_cnn", "backbone"], default=None, help="default: scratch_cnn for shapes_captions, backbone otherwise")
    parser.add_argument("--backbone_config", default=None, help="JSON file or inline JSON of a transformers backbone config (e.g. ResNet)")
    parser.add_argument("--backbone_checkpoint", default=None, help="folder or Hub id of pretrained backbone weights")
    parser.add_argument("--image_size", type=int, default=None, help="default: 64 for shapes_captions, 224 for a backbone")
    training.add_caption_dataset_arguments(parser, num_test_images=500)
    parser.add_argument("--per_device_eval_batch_size", type=int, default=100)
    parser.add_argument("--num_beams", type=int, default=3)
    parser.add_argument("--max_new_tokens", type=int, default=25)
    parser.add_argument("--num_attention_figures", type=int, default=4)
    parser.add_argument("--figure_cmap", default=None,
                        help="colour map of the attention figures (e.g. jet); default: darken the unattended regions as the paper "
                             "does, except on shapes_captions, whose black backgrounds stay black when darkened: jet there")
    # --output_dir, epochs/steps, optimizer (--weight_decay: Adam's L2 penalty), checkpoints, tracking, Hub
    training.add_training_arguments(parser, FREE_ON_RESUME)
    args = parser.parse_args(argv)
    training.check_training_arguments(parser, args)
    training.check_caption_dataset_arguments(parser, args)
    if args.model_type == "show_tell" and (args.attention_type or args.preset):
        parser.error("--attention_type and --preset are Show, Attend and Tell switches; Show and Tell has no attention")
    if args.num_beams < 1 or args.max_new_tokens < 1:
        parser.error("--num_beams and --max_new_tokens must be at least 1")
    if args.figure_cmap is None and args.dataset == "shapes_captions":
        args.figure_cmap = "jet"
    return args


def build_model_and_processor(args, train):
    if args.model_name_or_path:
        processor = CaptioningProcessor.from_pretrained(args.model_name_or_path)
        model = AutoModelForImageTextToText.from_pretrained(args.model_name_or_path)
        return model, processor
    captions = [caption for image_captions in train["captions"] for caption in image_captions]
    if args.image_encoder == "scratch_cnn":
        processor = CaptioningProcessor.from_captions(
            captions, image_size=args.image_size or args.shapes_image_size, image_mean=[0.5] * 3, image_std=[0.5] * 3,
            min_word_count=args.min_word_count, max_caption_length=args.max_caption_length,
        )
    else:
        processor = CaptioningProcessor.from_captions(
            captions, image_size=args.image_size or 224, min_word_count=args.min_word_count,
            max_caption_length=args.max_caption_length,
        )
    settings = dict(SHOW_ATTEND_TELL_PRESETS[args.preset]) if args.preset else {}
    if args.image_encoder == "scratch_cnn":
        settings.update(MODEL_TYPES[args.model_type].presets["scratch-cnn"])
    if args.attention_type:
        settings["attention_type"] = args.attention_type
    settings.update(training.backbone_settings(args.backbone_config, args.image_encoder))
    settings.update(training.parse_config_overrides(args.config_overrides))
    tokenizer = processor.tokenizer
    config = MODEL_TYPES[args.model_type](
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, image_encoder=args.image_encoder, **settings,
    )
    model = AutoModelForImageTextToText.from_config(config)
    if args.backbone_checkpoint:
        model.load_pretrained_backbone(args.backbone_checkpoint)
    return model, processor


def set_generation_defaults(model, args) -> None:
    """What ``generate()`` and the pipeline use unless told otherwise: the evaluation's beam
    search and caption length (the start, end and padding tokens come from the config, which
    has the processor's)."""
    generation = model.generation_config
    generation.max_new_tokens = args.max_new_tokens
    generation.num_beams = args.num_beams
    generation.do_sample = False


class CaptionCollator:
    """A training batch from pair indices: the images, and the captions as the processor encodes
    them for training (start token, words, end token; ``labels`` with -100 at the padding)."""

    def __init__(self, pairs: training.CaptionPairs, images: ImageStore, processor: CaptioningProcessor):
        self.pairs, self.images, self.processor = pairs, images, processor

    def __call__(self, pair_indices: list[int]) -> dict[str, torch.Tensor]:
        batch = dict(self.processor.encode_captions([self.pairs.captions[k] for k in pair_indices], add_end_token=True))
        batch.update(self.images.batch(self.pairs.image_rows[pair_indices].tolist()))
        return batch


class PromptCollator:
    """An evaluation batch from dataset rows: the images, the generation prompt (the start token)
    and ``row_indices`` to put the captions back in dataset order."""

    def __init__(self, images: ImageStore, store_rows, processor: CaptioningProcessor):
        self.images, self.store_rows, self.processor = images, store_rows, processor

    def __call__(self, rows: list[int]) -> dict[str, torch.Tensor]:
        prompt = self.processor.encode_captions([""] * len(rows))
        batch = {**prompt, "row_indices": torch.tensor(rows, dtype=torch.long)}
        batch.update(self.images.batch([int(self.store_rows[row]) for row in rows]))
        return batch


@torch.no_grad()
def generate_captions(model, dataloader, accelerator, processor, args, show_progress=True) -> list[str]:
    """One caption per image of the evaluation split, in dataset order, by beam search."""
    model.eval()
    generator = accelerator.unwrap_model(model)
    pad_id = processor.tokenizer.pad_token_id
    captions = {}
    for batch in tqdm(dataloader, desc="captioning", disable=not show_progress or not accelerator.is_local_main_process):
        rows = batch.pop("row_indices")
        sequences = generator.generate(**batch, num_beams=args.num_beams, max_new_tokens=args.max_new_tokens, do_sample=False)
        # Batches (the last ones) and captions differ in size across processes: pad both before
        # gathering; padded rows get index -1. Images that accelerate repeats to even out the
        # processes collapse in the dict.
        sequences = accelerator.pad_across_processes(sequences, dim=1, pad_index=pad_id)
        sequences = accelerator.pad_across_processes(sequences, dim=0, pad_index=pad_id)
        rows = accelerator.pad_across_processes(rows, pad_index=-1)
        sequences, rows = accelerator.gather((sequences, rows))
        real = rows >= 0
        texts = processor.post_process_image_text_to_text(sequences[real])
        captions.update(zip(rows[real].tolist(), texts))
    model.train()
    return [captions[row] for row in sorted(captions)]


def evaluate_captions(model, dataloader, accelerator, processor, evaluation, args, show_progress=True):
    """``(metrics, predictions)``: the caption metrics of the generated captions against every
    reference caption of their image, and the captions, in dataset order."""
    predictions = generate_captions(model, dataloader, accelerator, processor, args, show_progress)
    metrics = compute_caption_metrics(predictions, list(evaluation["captions"]))
    return metrics, predictions


def save_attention_figures(model, processor, dataset, output_dir: Path, count: int, cmap: str | None = None) -> list[str]:
    """``attention_<k>.png`` for the first ``count`` images: the caption the saved model generates
    (its default beam search) and the attention map behind each word."""
    from hf_mmattn.visualization import plot_caption_attention

    if count <= 0:
        return []
    if not getattr(model.config, "attention_type", None):
        logger.info("no attention figures: %s reads the image once and has no attention", type(model).__name__)
        return []
    model.eval()
    captioner = pipeline("image-text-to-text", model=model, processor=processor)
    paths = []
    for row in range(min(count, len(dataset))):
        image = dataset[row]["image"]
        result = captioner(image, return_attention=True)[0]
        if not result["words"]:
            logger.info("image %d: empty caption, no figure", row)
            continue
        path = output_dir / f"attention_{row}.png"
        plot_caption_attention(
            image, result["words"], result["attentions"], grid_size=result["image_grid_size"], path=path,
            cmap=cmap, alpha=0.5 if cmap else 0.8,
        )
        paths.append(str(path))
    return paths


def main(argv=None):
    args = parse_args(argv)
    accelerator = training.setup_accelerator(args)  # also logging, the seed and --output_dir
    output_dir = Path(args.output_dir)

    train, evaluation = training.load_caption_splits(args)
    model, processor = build_model_and_processor(args, train)
    set_generation_defaults(model, args)

    cache_images = not args.no_cache_images
    train_images = ImageStore(train, processor.image_processor, cache=cache_images)
    eval_images = ImageStore(evaluation, processor.image_processor, cache=cache_images)
    pairs = training.CaptionPairs(train, train_images.question_rows)

    # Each pair is its own group: plain shuffled batches whose order depends only on the seed and
    # the epoch, so a resumed run replays the same batches and skips those it trained on.
    train_sampler = GroupByImageBatchSampler(torch.arange(len(pairs)), args.per_device_train_batch_size, shuffle=True, seed=args.seed)
    eval_sampler = GroupByImageBatchSampler(torch.arange(len(evaluation)), args.per_device_eval_batch_size, shuffle=False)
    # Its own generator: building a DataLoader iterator draws from the global generator, which
    # would shift every later dropout mask of a resumed run against an uninterrupted one.
    train_dataloader = DataLoader(
        range(len(pairs)), batch_sampler=train_sampler, collate_fn=CaptionCollator(pairs, train_images, processor),
        generator=torch.Generator().manual_seed(args.seed),
    )
    eval_dataloader = DataLoader(
        range(len(evaluation)), batch_sampler=eval_sampler,
        collate_fn=PromptCollator(eval_images, eval_images.question_rows, processor),
    )

    # Adam, as sgrvinod's port (the paper used RMSProp on Flickr8k and Adam on Flickr30k/COCO).
    optimizer = torch.optim.Adam((p for p in model.parameters() if p.requires_grad), lr=args.learning_rate, weight_decay=args.weight_decay)
    step = training.SupervisedStep(model, optimizer, args.max_grad_norm, log_outputs=("caption_loss",))
    # Sets the training length, prepares the model, optimizer, schedule and dataloaders, starts the trackers.
    loop = training.TrainingLoop(accelerator, args, step, train_dataloader, eval_dataloader=eval_dataloader,
                                 project_name="run_captioning", examples="captions",
                                 count_examples=lambda batch: len(batch["input_ids"]))
    model, eval_dataloader = step.model, loop.eval_dataloader
    # What this run trains on, saved with every checkpoint; under --resume_from_checkpoint, compared
    # with the checkpoint's before its states are loaded.
    run = training.describe_run(args, accelerator, loop.steps_per_epoch, train_data=train, processor=processor, model=model,
                                free_arguments=FREE_ON_RESUME)
    unwrapped = accelerator.unwrap_model(model)
    logger.info(
        "%d training captions of %d images, %d %s images, %d words, %d parameters (%d trainable), %d steps",
        len(pairs), len(train), len(evaluation), args.eval_split, len(processor.tokenizer),
        unwrapped.num_parameters(), unwrapped.num_parameters(only_trainable=True), args.max_train_steps,
    )
    predictions = []  # the final evaluation's captions, in dataset order

    def evaluate(epoch):
        """After an epoch (``epoch``) or training (None): the caption metrics of beam search."""
        metrics, captions = evaluate_captions(model, eval_dataloader, accelerator, processor, evaluation, args,
                                              show_progress=epoch is None)
        if epoch is not None:
            logger.info("epoch %d: BLEU-4 %.4f CIDEr-D %.4f, e.g. %r", epoch + 1, metrics["bleu_4"], metrics["cider_d"], captions[0])
            return metrics
        predictions[:] = captions
        scores = ", ".join(f"{k} {metrics[k]:.4f}" for k in ("bleu_1", "bleu_4", "meteor", "rouge_l", "cider_d") if metrics[k] is not None)
        logger.info("%s (%d images, beam %d): %s", args.eval_split, metrics["num_images"], args.num_beams, scores)
        for row in range(min(3, len(captions))):
            logger.info("image %d: %r (reference: %r)", row, captions[row], evaluation[row]["captions"][0])
        return {**metrics, "split": args.eval_split, "num_beams": args.num_beams, "max_new_tokens": args.max_new_tokens}

    def save(eval_results):
        """The model with its card and generation defaults, the processor, the generated captions and
        the attention figures, into --output_dir."""
        unwrapped = accelerator.unwrap_model(model)
        dataset_id, dataset_name = training.CAPTION_DATASETS[args.dataset]
        training.save_with_card(unwrapped, processor, args, accelerator, eval_results, script="examples/captioning/run_captioning.py",
                                argv=argv, examples="captions", dataset_id=dataset_id, dataset_name=dataset_name)
        (output_dir / "generated_captions.json").write_text(json.dumps(
            [{"image_id": image_id, "caption": caption} for image_id, caption in zip(evaluation["image_id"], predictions)], indent=1,
        ))
        figures = save_attention_figures(unwrapped, processor, evaluation, output_dir, args.num_attention_figures, args.figure_cmap)
        if figures:
            logger.info("attention figures: %s", ", ".join(figures))

    # Resume, train, evaluate (after each epoch under --eval_every_epoch), save, push.
    return loop.run(run, evaluate=evaluate, tracked_metrics=("bleu_4", "cider_d", "rouge_l"), save=save)


if __name__ == "__main__":
    main()
