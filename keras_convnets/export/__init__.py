"""Deployment exports: a SavedModel for TensorFlow Serving and a checked TFLite file.

>>> import keras_convnets as kc
>>> kc.export.saved_model(model, "serving", version=1)   # serving/<name>/1/, two signatures
>>> report = kc.export.tflite(model, "model.tflite")     # size, ops, max |TFLite - Keras|

See ``docs/serving.md`` for serving the SavedModel with ``tensorflow/serving`` (REST and gRPC).
"""

from .lite import format_report, tflite
from .preprocessing import DEFAULT_PREPROCESSING, PREPROCESSINGS
from .serving import OUTPUTS, RAW_SIGNATURE, SERVING_SIGNATURE, read_metadata, saved_model

__all__ = ["saved_model", "tflite", "format_report", "read_metadata", "PREPROCESSINGS",
           "DEFAULT_PREPROCESSING", "SERVING_SIGNATURE", "RAW_SIGNATURE", "OUTPUTS"]
