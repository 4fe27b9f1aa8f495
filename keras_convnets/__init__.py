"""keras_convnets: the convolutional networks of the image-classification era for Keras 3.

>>> import keras_convnets as kc
>>> model = kc.SEResNeXt50(weights=None)          # a plain functional keras.Model
>>> kc.list_models("seresnet*")
['seresnet101', 'seresnet152', 'seresnet18', 'seresnet34', 'seresnet50']
"""

from . import layers, training, weights
from .applications import aux_loss_weights, inference_model
from .backend import USE_LEGACY_KERAS, describe as keras_description, keras
from .features import feature_extractor
from .flops import count_flops, count_params
from .models import BUILDERS, __all__ as _MODEL_NAMES
from .registry import get_model, get_spec, list_models, model_info, register

globals().update(BUILDERS)
from . import export  # noqa: E402 - last: it builds on the registry

__version__ = "0.1.0"
__all__ = ["layers", "training", "weights", "export", "keras", "USE_LEGACY_KERAS",
           "keras_description", "feature_extractor", "inference_model", "aux_loss_weights",
           "count_flops",           "count_params", "get_model", "get_spec", "list_models", "model_info", "register",
           *_MODEL_NAMES]


def __dir__():
    return sorted(__all__)


del BUILDERS, _MODEL_NAMES
