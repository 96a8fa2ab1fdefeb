from .image_captioning import ImageCaptioningPipeline
from .visual_question_answering import VisualQuestionAnsweringPipeline

__all__ = ["ImageCaptioningPipeline", "VisualQuestionAnsweringPipeline"]
