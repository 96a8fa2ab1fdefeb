from .configuration_lstm_q_norm_i import LSTM_Q_NORM_I_PRESETS, LstmQNormIConfig
from .modeling_lstm_q_norm_i import LstmQNormIForVisualQuestionAnswering, LstmQNormIModel, LstmQNormIPreTrainedModel

__all__ = ["LSTM_Q_NORM_I_PRESETS", "LstmQNormIConfig", "LstmQNormIModel", "LstmQNormIForVisualQuestionAnswering", "LstmQNormIPreTrainedModel"]
