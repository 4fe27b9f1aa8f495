"""keras_convnets: the convolutional networks of the image-classification era for Keras 3.

>>> import keras_convnets as kc
>>> model = kc.SEResNeXt50(weights=None)          # a plain functional keras.Model
>>> kc.list_models("seresnet*")
['seresnet101', 'seresnet152', 'seresnet18', 'seresnet34', 'seresnet50']

Importing the package imports Keras and registers every custom layer, so ``.keras`` files of our
models load afterwards with ``safe_mode=True`` and no ``custom_objects``. The one exception is
the ``keras-convnets`` console command, which imports the package for its argument parser only:
there everything below loads on first use, so that ``--help`` and ``list`` answer without
starting TensorFlow.
"""

import os as _os
import sys as _sys

__version__ = "0.1.0"


def _import_everything():
    globals().pop("__getattr__", None)  # `from . import` below must not come back through it
    from . import layers, saving, search, training, weights  # noqa: F401 - public submodules
    from .applications import aux_loss_weights, inference_model
    from .backend import USE_LEGACY_KERAS, describe as keras_description, keras
    from .features import feature_extractor
    from .flops import count_flops, count_params
    from .models import BUILDERS
    from .models.condensenet import CondensationSchedule, condense_model
    from .registry import get_model, get_spec, list_models, model_info, register

    public = dict(
        layers=layers, saving=saving, search=search, training=training, weights=weights,
        keras=keras,
        USE_LEGACY_KERAS=USE_LEGACY_KERAS, keras_description=keras_description,
        feature_extractor=feature_extractor, inference_model=inference_model,
        aux_loss_weights=aux_loss_weights, count_flops=count_flops, count_params=count_params,
        get_model=get_model, get_spec=get_spec, list_models=list_models, model_info=model_info,
        register=register, condense_model=condense_model,
        CondensationSchedule=CondensationSchedule, **BUILDERS)
    globals().update(public)
    from . import export  # last: it builds on the registry

    globals()["__all__"] = ["export", *public]


def _is_console_command():
    """``keras-convnets ...`` (the installed script) or ``python -m keras_convnets ...``."""
    if _sys.argv and _os.path.basename(_sys.argv[0]) == "keras-convnets":
        return True
    command = getattr(_sys, "orig_argv", [])
    return any(flag == "-m" and module in ("keras_convnets", "keras_convnets.cli")
               for flag, module in zip(command, command[1:]))


if _is_console_command():
    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        import importlib.util  # noqa: PLC0415

        if importlib.util.find_spec(f"{__name__}.{name}") is not None:  # a submodule: only it
            return importlib.import_module(f"{__name__}.{name}")
        _import_everything()
        try:
            return globals()[name]
        except KeyError:
            raise AttributeError(f"module 'keras_convnets' has no attribute {name!r}") from None
else:
    _import_everything()


def __dir__():
    if "__all__" not in globals():
        _import_everything()
    return sorted(__all__)  # noqa: F821 - set by _import_everything
