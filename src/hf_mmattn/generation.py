"""What the package's recurrent decoders need of transformers' ``generate()``, written once for
the captioners (Show and Tell, Show, Attend and Tell) and the translators (Bahdanau, Luong).

A recurrent decoder carries its whole state (the RNN state, the encoded image or source
sentence) in a [`~hf_mmattn.layers.recurrent_generation.RecurrentStateCache`], not in
transformers' attention key/value caches; docs/transformers.md ("generate() with recurrent
decoders") says why each piece is needed:

* :class:`RecurrentGenerationMixin`: no default ``DynamicCache`` (the first forward pass makes
  the cache), the settings check of :func:`check_generation_settings` before ``generate()``;
* :class:`CacheNameAliases`: transformers before 5.25 hands the state through ``generate()`` as
  ``past_key_values``, 5.25 as ``cache``; a model output answers to both names;
* :func:`resolve_cache_argument`: ``forward`` takes the state under either name.
"""

from __future__ import annotations

from .layers.recurrent_generation import RecurrentStateCache

# generate() settings that must be integers (not booleans) of at least this value, and flags.
GENERATION_INTEGER_SETTINGS = {
    "max_new_tokens": 1, "max_length": 1, "min_new_tokens": 0, "min_length": 0, "num_beams": 1,
    "num_return_sequences": 1, "num_beam_groups": 1, "top_k": 0, "no_repeat_ngram_size": 0,
}
GENERATION_FLAGS = ("do_sample", "use_cache", "output_attentions", "output_scores", "return_dict_in_generate")


def check_generation_settings(settings: dict) -> None:
    """Refuses generate() settings that transformers would turn into a crash deep in the search
    (``num_beams=0`` divides by zero, ``max_new_tokens="5"`` compares a string) or accept silently
    (``max_new_tokens=2.5``, ``max_new_tokens=0``, ``do_sample="yes"``)."""
    for name, minimum in GENERATION_INTEGER_SETTINGS.items():
        value = settings.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
            raise ValueError(f"generate(): {name} must be an integer >= {minimum}; got {value!r}")
    for name in GENERATION_FLAGS:
        value = settings.get(name)
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"generate(): {name} must be True or False; got {value!r}")


def resolve_cache_argument(cache, past_key_values) -> RecurrentStateCache | None:
    """The decoder state given as ``cache`` (transformers >= 5.25) or ``past_key_values`` (before);
    anything but a [`RecurrentStateCache`] is refused (a transformers ``DynamicCache`` holds
    attention keys and values, not an RNN state)."""
    if past_key_values is not None:
        if cache is not None and cache is not past_key_values:
            raise ValueError("give the decoder state as cache or as past_key_values, not both")
        cache = past_key_values
    if cache is not None and not isinstance(cache, RecurrentStateCache):
        raise TypeError(
            f"cache must be the RecurrentStateCache a previous call of this model returned (outputs.cache); "
            f"got {type(cache).__name__}"
        )
    return cache


class CacheNameAliases:
    """Mixed into a ``ModelOutput`` with a ``cache`` field: ``"past_key_values"`` reads it too.

    transformers before 5.25 looks the state up as ``"past_key_values"`` (with ``in``, ``[...]``
    and ``getattr``); from 5.25 its ``ModelOutput`` maps that name to ``"cache"`` itself."""

    def __contains__(self, key):
        return super().__contains__("cache" if key == "past_key_values" else key)

    def __getitem__(self, key):
        return super().__getitem__("cache" if key == "past_key_values" else key)

    @property
    def past_key_values(self) -> RecurrentStateCache | None:
        return self.cache


class RecurrentGenerationMixin:
    """Put before ``PreTrainedModel`` in a recurrent decoder's bases (the model also lists
    transformers' ``GenerationMixin`` among its own bases: transformers only grants
    ``generate()`` to a class that inherits it directly)."""

    _is_stateful = True

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        # The decoder carries its own RecurrentStateCache (created by the first forward pass).
        return False

    def generate(self, inputs=None, generation_config=None, **kwargs):
        """transformers' ``generate()``, after :func:`check_generation_settings` on the settings given
        as keyword arguments or in ``generation_config``."""
        given = generation_config.to_diff_dict() if generation_config is not None else {}
        check_generation_settings({**given, **kwargs})
        return super().generate(inputs, generation_config=generation_config, **kwargs)


__all__ = [
    "GENERATION_FLAGS",
    "GENERATION_INTEGER_SETTINGS",
    "CacheNameAliases",
    "RecurrentGenerationMixin",
    "check_generation_settings",
    "resolve_cache_argument",
]
