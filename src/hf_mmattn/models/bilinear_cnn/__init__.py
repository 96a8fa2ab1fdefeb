from .. import ModelDeclaration
from .configuration_bilinear_cnn import BILINEAR_CNN_PRESETS, VGG16_RELU5_3, BilinearCnnConfig
from .modeling_bilinear_cnn import BilinearCnnForImageClassification, BilinearCnnModel, BilinearCnnPreTrainedModel

MODEL = ModelDeclaration(
    family="image_classification", config=BilinearCnnConfig, base=BilinearCnnModel, heads=(BilinearCnnForImageClassification,)
)

__all__ = [
    "BILINEAR_CNN_PRESETS",
    "MODEL",
    "VGG16_RELU5_3",
    "BilinearCnnConfig",
    "BilinearCnnForImageClassification",
    "BilinearCnnModel",
    "BilinearCnnPreTrainedModel",
]
