from .. import ModelDeclaration
from .configuration_lstm_q_norm_i import LSTM_Q_NORM_I_PRESETS, LstmQNormIConfig
from .modeling_lstm_q_norm_i import LstmQNormIForVisualQuestionAnswering, LstmQNormIModel, LstmQNormIPreTrainedModel

MODEL = ModelDeclaration(family="vqa", config=LstmQNormIConfig, base=LstmQNormIModel, heads=(LstmQNormIForVisualQuestionAnswering,))

__all__ = ["MODEL", "LSTM_Q_NORM_I_PRESETS", "LstmQNormIConfig", "LstmQNormIModel", "LstmQNormIForVisualQuestionAnswering", "LstmQNormIPreTrainedModel"]
