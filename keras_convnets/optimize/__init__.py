"""Deployment: TFLite conversion and checking against the Keras model."""

from . import tflite

__all__ = ["tflite"]
