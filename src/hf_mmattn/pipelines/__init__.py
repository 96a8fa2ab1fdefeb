"""What the package's pipelines share (``inputs.py``: image reading, parameter checks). The
pipelines themselves belong to their task families (``tasks/<family>/pipeline.py``); their old
names here resolve lazily, so that importing a family's pipeline never imports this package's
others."""

_MOVED = {
    "ImageCaptioningPipeline": "hf_mmattn.tasks.captioning.pipeline",
    "VisualQuestionAnsweringPipeline": "hf_mmattn.tasks.vqa.pipeline",
}


def __getattr__(name):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ImageCaptioningPipeline", "VisualQuestionAnsweringPipeline"]
