#!/usr/bin/env python
"""Train and evaluate a VQA model of hf-mmattn with 🤗 Accelerate.

    accelerate launch examples/vqa/run_vqa.py --model_type san --dataset easy_vqa --output_dir out/san-easyvqa

The same script runs on one CPU, under two-process DDP on CPU
(``accelerate launch --multi_gpu --num_processes 2 ...``, docs/transformers.md, "Two-process DDP on a CPU machine") and on GPUs with
``--mixed_precision bf16``. It evaluates with the official VQA accuracy, writes
``eval_results.json``, saves a folder that ``from_pretrained`` and
``pipeline("visual-question-answering")`` load (model, processor, model card) and a few
attention figures. ``--checkpointing_steps`` + ``--resume_from_checkpoint latest`` resume an
interrupted run where its last checkpoint left it (passing over a checkpoint damaged on disk), and
refuse to resume on other data or options (``--ignore_checkpoint_mismatch`` to go on anyway).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from accelerate.logging import get_logger
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import AutoModelForVisualQuestionAnswering

import hf_mmattn  # registers the architectures with the Auto classes; discover() lists them
from hf_mmattn import training
from hf_mmattn.data import build_answer_vocabulary, easy_vqa_answers, load_easy_vqa, load_vqa_v2
from hf_mmattn.data.batching import EncodedQuestions, GroupByImageBatchSampler, ImageStore, VQACollator
from hf_mmattn.metrics import compute_vqa_accuracy
from hf_mmattn.processing import VQAProcessor

logger = get_logger(__name__)

# --model_type name (a folder under hf_mmattn/models of the VQA family) -> config class, e.g. "san".
# With --image_encoder scratch_cnn a model starts from its config's "scratch-cnn" preset: sizes for
# 64x64 synthetic images (the configs' defaults are the papers' sizes for 448x448 VGG/ResNet
# features); --config_overrides changes any of them.
MODEL_TYPES = {model.name: model.config for model in hf_mmattn.discover("vqa")}

# Options that may differ when a run is resumed: where a fresh model came from (the checkpoint's
# weights replace it; its config and vocabulary are compared), the question and annotation files
# (the fingerprint of the training questions compares what they hold), evaluation and figures,
# and how images are decoded. Every other option is compared with the checkpoint's
# (training.describe_run); so are the image folders, whose pixels the fingerprint does not read.
FREE_ON_RESUME = (
    "model_name_or_path", "backbone_checkpoint", "train_questions", "train_annotations", "eval_questions",
    "eval_annotations", "eval_images_dir", "eval_features_dir", "eval_features_tsv", "max_eval_samples",
    "no_cache_images", "per_device_eval_batch_size", "num_attention_figures",
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_type", choices=sorted(MODEL_TYPES), required=True)
    parser.add_argument("--model_name_or_path", help="start from a saved checkpoint instead of a fresh model")
    parser.add_argument("--config_overrides", default=None, help="comma-separated key=value config overrides (JSON values), e.g. num_hops=1,attention_form=code,scratch_cnn_channels=[32,64,128]")
    parser.add_argument("--image_encoder", choices=["scratch_cnn", "backbone", "features"], default=None, help="default: scratch_cnn for easy_vqa, backbone for images, features with --features_dir")
    parser.add_argument("--backbone_config", default=None, help="JSON file or inline JSON of a transformers backbone config (e.g. ResNet)")
    parser.add_argument("--backbone_checkpoint", default=None, help="folder or Hub id of pretrained backbone weights (AutoBackbone)")
    parser.add_argument("--image_size", type=int, default=None, help="default: 64 for the scratch CNN, 224 for a backbone")
    parser.add_argument("--dataset", choices=["easy_vqa", "vqa_v2"], default="easy_vqa")
    parser.add_argument("--train_questions"); parser.add_argument("--train_annotations")
    parser.add_argument("--eval_questions"); parser.add_argument("--eval_annotations")
    parser.add_argument("--images_dir"); parser.add_argument("--eval_images_dir")
    parser.add_argument("--features_dir", help="per-image region features: <image_id>.npy/.npz or COCO_<subtype>_<id>.jpg.npz (OpenVQA)")
    parser.add_argument("--eval_features_dir")
    parser.add_argument("--features_tsv", nargs="+", default=None, help="bottom-up-attention TSV file(s) of region features, instead of --features_dir")
    parser.add_argument("--eval_features_tsv", nargs="+", default=None, help="default: --features_tsv")
    parser.add_argument("--max_regions", type=int, default=None, help="pad every batch to this many regions (OpenVQA: 100), cutting images with more; default: the batch's largest count")
    parser.add_argument("--min_answer_count", type=int, default=9, help="VQA v2: keep answers seen at least this often (3,129 answers at 9)")
    parser.add_argument("--max_train_samples", type=int, default=None)
    parser.add_argument("--max_eval_samples", type=int, default=None)
    parser.add_argument("--no_cache_images", action="store_true", help="decode images per batch instead of caching them as one tensor")
    parser.add_argument("--no_group_by_image", action="store_true", help="batch questions independently (the image encoder then runs once per question)")
    parser.add_argument("--per_device_eval_batch_size", type=int, default=256)
    parser.add_argument("--num_attention_figures", type=int, default=4)
    training.add_training_arguments(parser, FREE_ON_RESUME)  # --output_dir, epochs/steps, optimizer, checkpoints, tracking, Hub
    args = parser.parse_args(argv)
    training.check_training_arguments(parser, args)
    if args.dataset == "vqa_v2" and not (args.train_questions and args.eval_questions):
        parser.error("--dataset vqa_v2 needs --train_questions/--train_annotations and --eval_questions/--eval_annotations")
    if (args.features_dir and args.features_tsv) or (args.eval_features_dir and args.eval_features_tsv):
        parser.error("give region features as --features_dir (files per image) or --features_tsv, not both")
    if args.image_encoder is None:
        args.image_encoder = "scratch_cnn" if args.dataset == "easy_vqa" else "features" if (args.features_dir or args.features_tsv) else "backbone"
    return args


def load_splits(args):
    if args.dataset == "easy_vqa":
        splits = load_easy_vqa()
        train, evaluation = splits["train"], splits["test"]
        answers = easy_vqa_answers()
    else:
        train = load_vqa_v2(
            args.train_questions, args.train_annotations, images_dir=args.images_dir, features_dir=args.features_dir,
            features_tsv=args.features_tsv,
        )
        # The evaluation split takes its own features, else the training ones (e.g. one trainval TSV).
        eval_features_dir, eval_features_tsv = args.eval_features_dir, args.eval_features_tsv
        if eval_features_dir is None and eval_features_tsv is None:
            eval_features_dir, eval_features_tsv = args.features_dir, args.features_tsv
        evaluation = load_vqa_v2(
            args.eval_questions, args.eval_annotations, images_dir=args.eval_images_dir or args.images_dir,
            features_dir=eval_features_dir, features_tsv=eval_features_tsv,
        )
        # The standard vocabulary (3,129 answers at min_count 9) counts each question's
        # multiple_choice_answer, not its 10 human answers.
        answers = build_answer_vocabulary([[a] for a in train["multiple_choice_answer"]], min_count=args.min_answer_count)
    if args.max_train_samples is not None:
        train = train.select(range(min(args.max_train_samples, len(train))))
    if args.max_eval_samples is not None:
        evaluation = evaluation.select(range(min(args.max_eval_samples, len(evaluation))))
    return train, evaluation, answers


def build_model_and_processor(args, train, answers):
    if args.model_name_or_path:
        processor = VQAProcessor.from_pretrained(args.model_name_or_path)
        model = AutoModelForVisualQuestionAnswering.from_pretrained(args.model_name_or_path)
        return model, processor
    if args.image_encoder == "scratch_cnn":
        image_size = args.image_size or 64
        processor = VQAProcessor.from_questions(list(train["question"]), image_size=image_size, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    else:
        processor = VQAProcessor.from_questions(list(train["question"]), image_size=args.image_size or 224)
    settings = dict(MODEL_TYPES[args.model_type].presets["scratch-cnn"]) if args.image_encoder == "scratch_cnn" else {}
    settings.update(training.backbone_settings(args.backbone_config, args.image_encoder))
    if args.image_encoder == "features":
        sample = ImageStore(train.select(range(1)), cache=True).cached["image_features"]
        settings["image_feature_size"] = sample.shape[-1]
    settings.update(training.parse_config_overrides(args.config_overrides))
    config = MODEL_TYPES[args.model_type](
        vocab_size=len(processor.tokenizer),
        pad_token_id=processor.tokenizer.pad_token_id,
        image_encoder=args.image_encoder,
        id2label=dict(enumerate(answers)),
        label2id={answer: i for i, answer in enumerate(answers)},
        **settings,
    )
    model = AutoModelForVisualQuestionAnswering.from_config(config)
    if args.backbone_checkpoint:
        model.load_pretrained_backbone(args.backbone_checkpoint)
    return model, processor


@torch.no_grad()
def evaluate_model(model, dataloader, accelerator, id2label, dataset, show_progress=True):
    model.eval()
    predictions = {}
    for batch in tqdm(dataloader, desc="evaluating", disable=not show_progress or not accelerator.is_local_main_process):
        question_indices = batch.pop("question_indices")
        batch.pop("labels")
        logits = model(**batch).logits
        # Batches hold whole images, so their sizes differ across processes: pad before gathering.
        # Questions that accelerate repeats to even out the processes collapse in the dict.
        predicted = accelerator.pad_across_processes(logits.argmax(dim=-1), pad_index=-1)
        question_indices = accelerator.pad_across_processes(question_indices, pad_index=-1)
        predicted, question_indices = accelerator.gather((predicted, question_indices))
        real = question_indices >= 0
        predictions.update(zip(question_indices[real].tolist(), predicted[real].tolist()))
    model.train()
    order = sorted(predictions)
    answers, answer_types = list(dataset["answers"]), list(dataset["answer_type"])
    return compute_vqa_accuracy(
        [id2label[predictions[i]] for i in order], [answers[i] for i in order], [answer_types[i] for i in order]
    )


def save_attention_figures(model, processor, dataset, output_dir: Path, count: int) -> list[str]:
    from hf_mmattn.visualization import plot_vqa_attention

    paths = []
    if "image" not in dataset.column_names:
        logger.info("no attention figures: the dataset has precomputed features, no images to draw on")
        return paths
    model.eval()
    for row in range(min(count, len(dataset))):
        example = dataset[row]
        inputs = processor(images=example["image"], text=example["question"]).to(model.device)
        with torch.no_grad():
            outputs = model(**inputs, output_attentions=True)
        if not outputs.attentions:
            break
        answer = model.config.id2label[outputs.logits[0].argmax().item()]
        path = output_dir / f"attention_{row}.png"
        plot_vqa_attention(
            example["image"], example["question"], [a[0].float().cpu() for a in outputs.attentions],
            answer=answer, grid_size=outputs.image_grid_size, path=path,
            titles=model.config.attention_titles(len(outputs.attentions)),
        )
        paths.append(str(path))
    return paths


def main(argv=None):
    args = parse_args(argv)
    accelerator = training.setup_accelerator(args)  # also logging, the seed and --output_dir
    output_dir = Path(args.output_dir)

    train, evaluation, answers = load_splits(args)
    model, processor = build_model_and_processor(args, train, answers)
    label2id = model.config.label2id

    cache_images = not args.no_cache_images
    train_images = ImageStore(train, processor.image_processor, cache=cache_images, max_regions=args.max_regions)
    eval_images = ImageStore(evaluation, processor.image_processor, cache=cache_images, max_regions=args.max_regions)
    train_questions = EncodedQuestions(train, processor.tokenizer, label2id, train_images.question_rows)
    eval_questions = EncodedQuestions(evaluation, processor.tokenizer, label2id, eval_images.question_rows)
    model.config.problem_type = "single_label_classification" if train_questions.single_answer else "multi_label_classification"
    trainable = torch.arange(len(train_questions))
    if train_questions.single_answer:
        trainable = trainable[train_questions.labels != -100]  # answers outside the vocabulary teach nothing

    group_rows = train_questions.image_rows[trainable] if not args.no_group_by_image else torch.arange(len(trainable))
    train_sampler = GroupByImageBatchSampler(group_rows, args.per_device_train_batch_size, shuffle=True, seed=args.seed, question_ids=trainable)
    eval_sampler = GroupByImageBatchSampler(eval_questions.image_rows, args.per_device_eval_batch_size, shuffle=False)
    # Its own generator: building a DataLoader iterator draws from the global generator, which
    # would shift every later dropout mask of a resumed run against an uninterrupted one.
    train_dataloader = DataLoader(
        range(len(train_questions)), batch_sampler=train_sampler, collate_fn=VQACollator(train_questions, train_images),
        generator=torch.Generator().manual_seed(args.seed),
    )
    eval_dataloader = DataLoader(range(len(eval_questions)), batch_sampler=eval_sampler, collate_fn=VQACollator(eval_questions, eval_images))

    optimizer = torch.optim.AdamW((p for p in model.parameters() if p.requires_grad), lr=args.learning_rate, weight_decay=args.weight_decay)
    step = training.SupervisedStep(model, optimizer, args.max_grad_norm, ignore_keys=("question_indices",))
    # Sets the training length, prepares the model, optimizer, schedule and dataloaders, starts the trackers.
    loop = training.TrainingLoop(accelerator, args, step, train_dataloader, eval_dataloader=eval_dataloader, project_name="run_vqa",
                                 examples="questions", count_examples=lambda batch: len(batch["input_ids"]))
    model, eval_dataloader = step.model, loop.eval_dataloader
    # What this run trains on, saved with every checkpoint; under --resume_from_checkpoint, compared
    # with the checkpoint's before its states are loaded.
    run = training.describe_run(args, accelerator, loop.steps_per_epoch, train_data=train, processor=processor, model=model,
                                free_arguments=FREE_ON_RESUME)
    logger.info(
        "%d training questions on %d images, %d eval questions, %d answers, %d parameters (%d trainable), %d steps",
        len(trainable), len(train_images), len(eval_questions), len(answers),
        accelerator.unwrap_model(model).num_parameters(), accelerator.unwrap_model(model).num_parameters(only_trainable=True), args.max_train_steps,
    )

    def evaluate(epoch):
        """After an epoch (``epoch``) or training (None): the VQA accuracy, per answer type."""
        results = evaluate_model(model, eval_dataloader, accelerator, answers, evaluation, show_progress=epoch is None)
        if epoch is not None:
            per_type = ", ".join(f"{k} {v:.2f}" for k, v in results.get("per_answer_type", {}).items())
            logger.info("epoch %d: VQA accuracy %.2f (%s)", epoch + 1, results["vqa_accuracy"], per_type)
            return results
        logger.info("VQA accuracy %.2f %s", results["vqa_accuracy"], results.get("per_answer_type"))
        return {**results, "split": "test" if args.dataset == "easy_vqa" else "eval"}

    def save(eval_results):
        """The model with its card, the processor and the attention figures, into --output_dir."""
        unwrapped = accelerator.unwrap_model(model)
        dataset_id, dataset_name = ("easy-vqa", "easy-VQA") if args.dataset == "easy_vqa" else ("vqa_v2", "VQA v2")
        training.save_with_card(unwrapped, processor, args, accelerator, eval_results, script="examples/vqa/run_vqa.py",
                                argv=argv, examples="questions", dataset_id=dataset_id, dataset_name=dataset_name)
        figures = save_attention_figures(unwrapped, processor, evaluation, output_dir, args.num_attention_figures)
        if figures:
            logger.info("attention figures: %s", ", ".join(figures))

    # Resume, train, evaluate (after each epoch under --eval_every_epoch), save, push.
    return loop.run(run, evaluate=evaluate, tracked_metrics=("vqa_accuracy",), save=save)


if __name__ == "__main__":
    main()
