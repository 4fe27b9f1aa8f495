"""The one place that chooses which Keras the package runs on.

Keras 3 is the default. Setting ``TF_USE_LEGACY_KERAS=1`` before the first import selects the
legacy Keras 2 package ``tf_keras`` instead -- the same switch that makes ``tf.keras`` point at
``tf_keras`` -- which tensorflow-model-optimization (pruning, quantisation-aware training) needs.

Every other module imports ``keras`` from here, never directly, and custom layers compute with
``tf.*`` ops so that one implementation serves both worlds.
"""

import os

_TRUTHY = {"1", "true", "yes", "on"}

#: True when the legacy ``tf_keras`` package is in use.
USE_LEGACY_KERAS = os.environ.get("TF_USE_LEGACY_KERAS", "").strip().lower() in _TRUTHY

if not USE_LEGACY_KERAS:
    # Keras 3 is multi-backend; this package is built on TensorFlow ops.
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf  # noqa: E402

if USE_LEGACY_KERAS:
    try:
        import tf_keras as keras  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "TF_USE_LEGACY_KERAS=1 selects legacy Keras, but the 'tf_keras' package is not "
            "installed. Install it with: pip install 'keras_convnets[optimize]'"
        ) from exc
else:
    import keras  # noqa: F401

    if keras.backend.backend() != "tensorflow":
        raise ImportError(
            f"keras_convnets needs Keras' TensorFlow backend, but KERAS_BACKEND is "
            f"{keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow before importing Keras."
        )

KERAS_VERSION = keras.__version__
PACKAGE = "keras_convnets"


def register_serializable(cls):
    """Registers a custom layer so ``.keras`` files load without ``custom_objects``."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)


def import_tfmot():
    """Imports tensorflow-model-optimization without letting it switch Keras for the process.

    tfmot's ``keras/compat.py`` sets ``os.environ["TF_USE_LEGACY_KERAS"] = "1"`` when it is
    first imported. This process has chosen its Keras already, but every subprocess started
    afterwards (a multi-worker cluster, a ``keras-convnets train`` child) would inherit the
    variable and silently run legacy Keras. The variable is restored to what it was.
    Raises ``ImportError`` where tfmot is not installed.
    """
    previous = os.environ.get("TF_USE_LEGACY_KERAS")
    try:
        import tensorflow_model_optimization as tfmot  # noqa: PLC0415 - optional dependency
    finally:
        if previous is None:
            os.environ.pop("TF_USE_LEGACY_KERAS", None)
        else:
            os.environ["TF_USE_LEGACY_KERAS"] = previous
    return tfmot


def describe():
    """A one-line description of the Keras in use, for logs and the CLI."""
    world = "legacy tf_keras" if USE_LEGACY_KERAS else "Keras 3"
    return f"{world} {KERAS_VERSION} on TensorFlow {tf.__version__}"


__all__ = ["keras", "tf", "USE_LEGACY_KERAS", "KERAS_VERSION", "register_serializable", "describe",
           "import_tfmot"]
