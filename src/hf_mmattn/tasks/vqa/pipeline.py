"""The ``visual-question-answering`` pipeline that transformers 5 removed, restored.

After ``import hf_mmattn``::

    vqa = pipeline("visual-question-answering", model="./out/san-easyvqa")
    vqa(image="shapes.png", question="what color is the circle?", top_k=3)
    # [{"answer": "red", "score": 0.98}, ...]

Inputs follow the transformers 4 pipeline: ``image`` (PIL image, path, URL, numpy array) and
``question``; a list of images and one question (or the reverse) answers each pair; a list of
images and a list of questions answers every question for every image; ``{"image", "question"}``
dicts or a list of them work too. With ``return_attention=True`` each result is a dict
``{"answers": [...], "attentions": [one (h, w) or (regions,) numpy map per attention step],
"image_grid_size": (h, w) | None}`` for ``hf_mmattn.visualization``; models that also attend over
the question (HieCoAtt, DAN) add ``"question_attentions"``: one map per step over the question's
tokens (``processor.tokenizer`` gives the words).

Misspelled or unknown parameters (``topk=3``) are refused with a ``TypeError`` that names the
closest parameter, as are empty lists, a question that is not a string and dicts with other keys
than ``image`` and ``question``.

Models that read precomputed region features (``config.image_encoder == "features"``, as BAN and
MCAN converted from their released checkpoints) take, in place of a picture, the features of
one image: an ``(N, D)`` array or tensor, a ``.npy`` / ``.npz`` file (see
``hf_mmattn.data.region_features``), or a dict ``{"image_features": (N, D), "image_boxes": (N, 4)
(x1, y1, x2, y2 in [0, 1], optional), "image_attention_mask": (N,) of 0/1 (optional)}``. Features
with no region, boxes outside [0, 1] and masks of other values are refused. No region detector
is bundled, so such a model refuses a picture with an error that says so.
"""

from __future__ import annotations

import logging
import numbers
import os
import types

import numpy as np
import torch
from transformers import Pipeline

from ...modeling_base import check_image_boxes, check_mask_values
from ...pipelines.inputs import check_flag, check_timeout, read_image, refuse_unknown_parameters

logger = logging.getLogger(__name__)

INPUT_KEYS = ("image", "question")


def _is_question_input(value) -> bool:
    return isinstance(value, dict) and "image" in value


def _read_region_features(image, feature_size: int) -> dict[str, torch.Tensor]:
    """The inputs of a region-feature model for one image: ``image_features`` (1, N, D), and
    ``image_attention_mask`` / ``image_boxes`` when known."""
    from ...data.region_features import load_region_features

    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        path = os.fsdecode(image)
        if not path.endswith((".npy", ".npz")):
            raise ValueError(
                f"this model reads precomputed region features of {feature_size} dimensions (bottom-up attention "
                f"Faster R-CNN features), not pictures: no region detector is bundled. Pass an (N, {feature_size}) "
                f"array, a .npy/.npz file of one, or a dict with 'image_features'; got {path!r}"
            )
        regions = load_region_features(path)
        image = {"image_features": regions.features, "image_attention_mask": regions.mask}
        if regions.boxes is not None:
            image["image_boxes"] = regions.boxes
    elif isinstance(image, (np.ndarray, torch.Tensor)):
        image = {"image_features": image}
    elif not isinstance(image, dict) or "image_features" not in image:
        raise ValueError(
            f"this model reads precomputed region features (N, {feature_size}) (bottom-up attention), not pictures: "
            f"no region detector is bundled. Pass an array, a .npy/.npz path or a dict with 'image_features'; "
            f"got {type(image).__name__}"
        )
    inputs = {}
    for key, value in image.items():
        if key not in ("image_features", "image_boxes", "image_attention_mask"):
            raise ValueError(f"unknown key {key!r} in the region features dict; expected image_features, image_boxes, image_attention_mask")
        tensor = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
        expected_dims = 1 if key == "image_attention_mask" else 2
        if tensor.dim() != expected_dims:
            raise ValueError(f"{key} of one image must have {expected_dims} dimensions; got shape {tuple(tensor.shape)}")
        inputs[key] = tensor.unsqueeze(0)
    features = inputs["image_features"] = inputs["image_features"].float()
    if features.shape[1] == 0:
        raise ValueError(f"the region features hold no region (shape {tuple(features.shape[1:])}): an image needs at least one")
    if "image_attention_mask" in inputs:
        check_mask_values("image_attention_mask", inputs["image_attention_mask"])
        inputs["image_attention_mask"] = inputs["image_attention_mask"].long()
    if "image_boxes" in inputs:
        inputs["image_boxes"] = inputs["image_boxes"].float()
        if features.shape[-1] == feature_size:  # else the model names the feature size expected
            check_image_boxes(inputs["image_boxes"], features, inputs.get("image_attention_mask"))
    return inputs


class VisualQuestionAnsweringPipeline(Pipeline):
    _load_processor = True
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def _sanitize_parameters(self, top_k=None, return_attention=None, timeout=None, **unknown):
        refuse_unknown_parameters(self, unknown, ("top_k", "return_attention", "timeout"))
        preprocess_params, forward_params, postprocess_params = {}, {}, {}
        if check_timeout(timeout) is not None:
            preprocess_params["timeout"] = timeout
        if top_k is not None:
            if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1:
                raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
            postprocess_params["top_k"] = int(top_k)  # numpy integers too
        if check_flag("return_attention", return_attention) is not None:
            forward_params["return_attention"] = return_attention
            postprocess_params["return_attention"] = return_attention
        return preprocess_params, forward_params, postprocess_params

    def __call__(self, image=None, question: str | list[str] | None = None, **kwargs):
        for name, value in (("images", image), ("questions", question)):
            if isinstance(value, (list, tuple)) and not value:
                raise ValueError(f"an empty list of {name} was given: nothing to answer")
        if _is_question_input(image) or (isinstance(image, (list, tuple)) and all(_is_question_input(i) for i in image)):
            if question is not None:
                raise ValueError("the questions are given twice: in the {'image', 'question'} dicts and as question=")
            inputs = list(image) if isinstance(image, tuple) else image
        elif isinstance(image, types.GeneratorType) and question is None:
            inputs = image  # a stream of {"image", "question"} dicts, answered lazily
        elif image is None or question is None:
            raise ValueError("the pipeline needs an image and a question, e.g. vqa(image='cat.png', question='what is this?')")
        elif isinstance(image, (list, tuple)) and isinstance(question, (list, tuple)):
            inputs = [{"image": im, "question": q} for q in question for im in image]
        elif isinstance(image, (list, tuple)):
            inputs = [{"image": im, "question": question} for im in image]
        elif isinstance(question, (list, tuple)):
            inputs = [{"image": image, "question": q} for q in question]
        else:
            inputs = {"image": image, "question": question}
        return super().__call__(inputs, **kwargs)

    def preprocess(self, inputs, timeout=None):
        if not isinstance(inputs, dict) or "image" not in inputs or "question" not in inputs:
            raise ValueError("each input must be a dict with an 'image' and a 'question'")
        unknown = sorted(set(inputs) - set(INPUT_KEYS))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in an input dict; it holds an 'image' and a 'question' only")
        question = inputs["question"]
        if not isinstance(question, str):
            raise TypeError(f"each question must be a string; got {type(question).__name__}: {question!r}")
        if self.model.config.image_encoder == "features":
            model_inputs = self.processor(text=question, return_tensors="pt")
            model_inputs.update(_read_region_features(inputs["image"], self.model.config.image_feature_size))
        else:
            model_inputs = self.processor(images=read_image(inputs["image"], timeout), text=question, return_tensors="pt")
        model_inputs = model_inputs.to(self.dtype)  # image inputs in the model's dtype (bf16 / fp16 loads)
        unknown = self.processor.unknown_words(question)
        if unknown:
            logger.warning("words the model never saw in training, read as [UNK]: %s", ", ".join(unknown))
        return model_inputs

    def _forward(self, model_inputs, return_attention=False):
        outputs = self.model(**model_inputs, output_attentions=return_attention, return_dict=True)
        result = {"logits": outputs.logits, "attentions": outputs.attentions, "question_attentions": outputs.question_attentions}
        if return_attention:
            result["question_length"] = model_inputs["attention_mask"].sum(dim=1)
        if outputs.image_grid_size is not None:
            # One row per example: the pipeline's batching slices every value along the batch.
            result["image_grid_size"] = torch.tensor([outputs.image_grid_size] * len(outputs.logits))
        return result

    def postprocess(self, model_outputs, top_k=5, return_attention=False):
        logits = model_outputs["logits"][0].float()
        if self.model.config.problem_type == "multi_label_classification":
            scores = logits.sigmoid()  # trained with soft VQA scores and BCE
        else:
            scores = logits.softmax(dim=-1)
        top_k = min(top_k, scores.shape[-1])
        values, indices = scores.topk(top_k)
        id2label = self.model.config.id2label
        answers = [{"score": value.item(), "answer": id2label[index.item()]} for value, index in zip(values, indices)]
        if not return_attention:
            return answers
        grid_size = model_outputs.get("image_grid_size")
        grid_size = tuple(grid_size[0].tolist()) if grid_size is not None else None
        maps = []
        for attention in model_outputs.get("attentions") or ():
            attention = attention[0].float().cpu().numpy()
            maps.append(attention.reshape(grid_size) if grid_size is not None else attention)
        result = {"answers": answers, "attentions": maps, "image_grid_size": grid_size}
        if model_outputs.get("question_attentions"):
            length = int(model_outputs["question_length"][0])
            result["question_attentions"] = [a[0, :length].float().cpu().numpy() for a in model_outputs["question_attentions"]]
        return result


__all__ = ["VisualQuestionAnsweringPipeline"]
