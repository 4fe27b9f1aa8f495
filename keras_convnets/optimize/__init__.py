"""Compression and deployment: TFLite conversion (float and post-training quantised), magnitude
pruning (both Keras worlds) and quantisation-aware training (legacy Keras). See
``docs/compression.md``."""

from . import pruning, qat, tflite

__all__ = ["pruning", "qat", "tflite"]
