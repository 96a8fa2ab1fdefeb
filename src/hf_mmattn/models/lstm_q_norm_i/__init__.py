from .configuration_lstm_q_norm_i import LstmQNormIConfig
from .modeling_lstm_q_norm_i import LstmQNormIForVisualQuestionAnswering, LstmQNormIModel, LstmQNormIPreTrainedModel

__all__ = ["LstmQNormIConfig", "LstmQNormIModel", "LstmQNormIForVisualQuestionAnswering", "LstmQNormIPreTrainedModel"]
