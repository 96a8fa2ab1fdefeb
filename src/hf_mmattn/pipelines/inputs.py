"""What the package's pipelines share about their inputs: reading an image (URLs through
transformers' loader, everything else through :func:`hf_mmattn.processing.images.load_image`, so
both pipelines accept the same images and give the same errors) and refusing call parameters
they do not know, rather than ignoring a misspelled one."""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable

from transformers.image_utils import load_image as load_image_from_url

from ..processing.images import URL_PREFIXES, load_image


def read_image(image, timeout=None):
    """An RGB PIL image from a URL (fetched by transformers, with ``timeout``), a path, a PIL
    image, a numpy array or a torch tensor (see ``hf_mmattn.processing.images``)."""
    if isinstance(image, str) and image.startswith(URL_PREFIXES):
        image = load_image_from_url(image, timeout=timeout)
    return load_image(image)


def refuse_unknown_parameters(pipeline, unknown: dict, accepted: Iterable[str], hint: str = "") -> None:
    """A ``TypeError`` naming the parameters of ``unknown`` (the call's leftovers), the closest
    accepted name of each, and the accepted names; nothing when ``unknown`` is empty."""
    if not unknown:
        return
    accepted = sorted(set(accepted))
    guesses = [
        f"{name!r} (did you mean {match[0]!r}?)" if (match := difflib.get_close_matches(name, accepted, n=1)) else repr(name)
        for name in sorted(unknown)
    ]
    raise TypeError(
        f"{type(pipeline).__name__} got unexpected parameter(s) {', '.join(guesses)}; it takes {', '.join(accepted)} "
        f"(and batch_size, num_workers){hint}"
    )


def check_flag(name: str, value) -> bool | None:
    """``value`` if it is ``None`` or a bool; anything else (``"no"``, which is true) is refused."""
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {type(value).__name__} {value!r}")
    return value


def check_timeout(timeout):
    """``None`` or a positive number of seconds (for fetching URLs)."""
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or timeout <= 0):
        raise ValueError(f"timeout must be a positive number of seconds (for fetching image URLs); got {timeout!r}")
    return timeout
