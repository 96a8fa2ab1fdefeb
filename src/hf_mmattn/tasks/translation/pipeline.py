"""The ``translation`` pipeline that transformers 5 removed, restored.

After ``import hf_mmattn``::

    translator = pipeline("translation", model="./out/luong-numbers")     # or "translation_en_to_de"
    translator("three hundred and twenty - one")
    # [{"translation_text": "drei hundert ein und zwanzig"}]
    translator(["one", "two"], num_beams=5)
    # [{"translation_text": "eins"}, {"translation_text": "zwei"}]

As in transformers 4: a string gives a list with one result, a list of strings one result per
string (a list of ``num_return_sequences`` results each when more are asked for); keyword
arguments other than the pipeline's own go to ``generate()`` (``num_beams``, ``max_new_tokens``,
``do_sample``, ``length_penalty``...); ``return_tensors=True`` gives the generated ids
(``"translation_token_ids"``) in place of the text; ``translation_xx_to_yy`` names the languages,
refused when the model's config names others. With ``return_alignment=True`` each result also
holds ``"alignment"`` (target words × source words, numpy) with the source and target tokens, for
``hf_mmattn.visualization.plot_alignment`` (greedy, sampling or beam search, any ``batch_size``).

A checkpoint of the package brings its processor (two vocabularies); another seq2seq model of
transformers (Marian, T5...) is served with its tokenizer for both sides, as transformers 4 did.
Empty sentences are refused; sentences over the tokenizer's length limit are refused unless
``truncation=True``; unknown source words become ``<unk>`` (logged).
"""

from __future__ import annotations

from functools import cache

import torch
from transformers import GenerationConfig, Pipeline

from ...pipelines.inputs import check_flag, refuse_unknown_parameters


@cache
def _generation_config_names() -> frozenset[str]:
    """What a ``GenerationConfig`` has (its settings, and its methods), read once."""
    return frozenset(dir(GenerationConfig()))


OWN_PARAMETERS = ("return_tensors", "return_text", "clean_up_tokenization_spaces", "truncation", "src_lang", "tgt_lang", "return_alignment")


def task_languages(task: str | None) -> tuple[str, str] | None:
    """``("en", "de")`` for ``"translation_en_to_de"``; ``None`` for ``"translation"``."""
    parts = (task or "").split("_")
    if len(parts) == 4 and parts[0] == "translation" and parts[2] == "to" and parts[1] and parts[3]:
        return parts[1], parts[3]
    return None


class TranslationPipeline(Pipeline):
    """Translates sentences with an encoder-decoder's ``generate()``. See the module docstring."""

    _load_processor = None  # the package's checkpoints have one; other models only a tokenizer
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True
    _pipeline_calls_generate = True  # the pipeline gets a copy of the model's generation_config

    def _sanitize_parameters(
        self, return_tensors=None, return_text=None, clean_up_tokenization_spaces=None, truncation=None, src_lang=None,
        tgt_lang=None, return_alignment=None, **generate_kwargs,
    ):
        for name, value in (("return_tensors", return_tensors), ("return_text", return_text), ("truncation", truncation),
                            ("return_alignment", return_alignment), ("clean_up_tokenization_spaces", clean_up_tokenization_spaces)):
            check_flag(name, value)
        unknown = {name: value for name, value in generate_kwargs.items() if not self._is_generation_setting(name)}
        refuse_unknown_parameters(self, unknown, (*OWN_PARAMETERS, "generate_kwargs", "num_beams", "max_new_tokens", "do_sample"),
                                  hint=" and generate() settings (GenerationConfig fields)")
        generate_kwargs = {**generate_kwargs.pop("generate_kwargs", {}), **generate_kwargs}
        languages = task_languages(self.task)
        src_lang, tgt_lang = src_lang or (languages[0] if languages else None), tgt_lang or (languages[1] if languages else None)
        self._check_languages(src_lang, tgt_lang)
        preprocess = {"truncation": bool(truncation)} if truncation is not None else {}
        forward = dict(generate_kwargs=generate_kwargs)
        postprocess = {}
        if return_alignment is not None:
            forward["return_alignment"] = postprocess["return_alignment"] = return_alignment
        if return_tensors is not None:
            postprocess["return_tensors"] = return_tensors
        if return_text is not None:
            postprocess["return_text"] = return_text
        if clean_up_tokenization_spaces is not None:
            postprocess["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        return preprocess, forward, postprocess

    @staticmethod
    def _is_generation_setting(name: str) -> bool:
        return name in ("generate_kwargs", "generation_config", "streamer") or name in _generation_config_names()

    def _check_languages(self, src_lang, tgt_lang) -> None:
        for given, field in ((src_lang, "source_language"), (tgt_lang, "target_language")):
            declared = getattr(self.model.config, field, None)
            if given is not None and declared is not None and given != declared:
                raise ValueError(
                    f"this model translates {self.model.config.source_language} to {self.model.config.target_language}; "
                    f"asked for {src_lang} to {tgt_lang}"
                )

    @property
    def _source_tokenizer(self):
        return self.processor.tokenizer if self.processor is not None else self.tokenizer

    @property
    def _target_tokenizer(self):
        return self.processor.target_tokenizer if self.processor is not None else self.tokenizer

    def __call__(self, *args, **kwargs):
        """Translates a sentence (a string) or a list of sentences."""
        if len(args) != 1 or not (isinstance(args[0], str) or (isinstance(args[0], (list, tuple)) and args[0])):
            raise TypeError("give one sentence (a string) or a non-empty list of sentences to translate")
        texts = args[0]
        if not isinstance(texts, str) and not all(isinstance(text, str) for text in texts):
            raise TypeError(f"each sentence must be a string; got {[type(text).__name__ for text in texts]}")
        result = super().__call__(texts, **kwargs)
        if isinstance(texts, str):
            return result
        return [one[0] if len(one) == 1 else one for one in result]

    def preprocess(self, text: str, truncation: bool = False):
        if not text.strip():
            raise ValueError("an empty sentence: there is nothing to translate")
        if self.processor is not None:
            return self.processor(text=text, truncation=truncation)
        encoded = self.tokenizer(text, truncation=truncation, return_tensors="pt")
        if encoded["input_ids"].shape[1] > self.tokenizer.model_max_length and not truncation:
            limit = self.tokenizer.model_max_length
            raise ValueError(f"the sentence has more tokens than the tokenizer's limit {limit}: pass truncation=True")
        return encoded

    def _forward(self, model_inputs, generate_kwargs=None, return_alignment=False):
        overrides = dict(output_attentions=True, return_dict_in_generate=True) if return_alignment else {}
        generate_kwargs = self._prepare_generate_kwargs(dict(generate_kwargs or {}), **overrides)
        output = self.model.generate(**model_inputs, **generate_kwargs)
        sequences = output.sequences if return_alignment else output
        batch = model_inputs["input_ids"].shape[0]
        result = {"output_ids": sequences.reshape(batch, -1, sequences.shape[-1]), "input_ids": model_inputs["input_ids"],
                  "attention_mask": model_inputs["attention_mask"]}
        if return_alignment:
            alignments = self._alignments(output)
            result["alignment"] = alignments.reshape(batch, -1, *alignments.shape[1:])
        return result

    def _alignments(self, output) -> torch.Tensor:
        """``(returned sequences, generated words, source words)``: the attention behind each word
        of each returned translation (beam search: the rows of the beams it came through)."""
        if not output.cross_attentions or output.cross_attentions[0] is None:
            raise ValueError(f"{type(self.model).__name__} has no attention (its config's attention is 'none'): no alignment to return")
        steps = [step[0][..., -1, :] if step[0].dim() == 3 else step[0][:, -1, -1, :] for step in output.cross_attentions]
        alignment = torch.stack(steps, dim=1)  # (rows of the search, generated words, source words)
        beam_indices = getattr(output, "beam_indices", None)
        if beam_indices is None:
            return alignment
        rows = beam_indices[:, : alignment.shape[1]]  # -1 after a translation's end
        return alignment[rows.clamp(min=0), torch.arange(rows.shape[1])] * (rows >= 0).unsqueeze(-1)

    def postprocess(self, model_outputs, return_tensors=False, return_text=True, clean_up_tokenization_spaces=False,
                    return_alignment=False):
        results = []
        source_ids = model_outputs["input_ids"][0][model_outputs["attention_mask"][0].bool()]
        end = self._target_tokenizer.eos_token_id
        for k, ids in enumerate(model_outputs["output_ids"][0]):
            result = {}
            if return_tensors:
                result["translation_token_ids"] = ids
            if return_text:
                result["translation_text"] = self._target_tokenizer.decode(
                    ids, skip_special_tokens=True, clean_up_tokenization_spaces=clean_up_tokenization_spaces
                )
            if return_alignment:
                words = ids[1:]  # the words the alignment rows predicted, up to the end token
                ends = (words == end).nonzero()
                words = words[: int(ends[0]) + 1] if len(ends) else words
                result["alignment"] = model_outputs["alignment"][0][k][: len(words), : len(source_ids)].float().numpy()
                result["source_tokens"] = self._source_tokenizer.convert_ids_to_tokens(source_ids.tolist())
                result["target_tokens"] = self._target_tokenizer.convert_ids_to_tokens(words.tolist())
            results.append(result)
        return results

__all__ = ["OWN_PARAMETERS", "TranslationPipeline", "task_languages"]
