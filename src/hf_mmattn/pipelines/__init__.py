from .visual_question_answering import VisualQuestionAnsweringPipeline

__all__ = ["VisualQuestionAnsweringPipeline"]
