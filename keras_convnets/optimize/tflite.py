"""Float32 TFLite conversion with builtin ops only, and a check against the Keras model.

>>> from keras_convnets.optimize import tflite
>>> flatbuffer = tflite.convert(model)                 # bytes; builtin ops only
>>> tflite.op_names(flatbuffer)                        # ['ADD', 'CONV_2D', 'HARD_SWISH', ...]
>>> tflite.check(model, flatbuffer, images)            # max |TFLite - Keras|

The model is traced through a ``tf.function`` at a fixed input shape (batch 1 by default), which
works the same for Keras 3 and legacy Keras models. Only TFLite's builtin op set is allowed: a
model that would need TensorFlow ("Flex" / Select) or custom ops raises
:class:`UnsupportedOpsError` naming them, rather than producing a file that needs the larger
runtime.
"""

import re

import numpy as np

from ..backend import tf

_UNSUPPORTED_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_OP_LISTS = re.compile(r"^(?:TF Select|Flex|Custom) ops: (.+)$", re.MULTILINE)


class UnsupportedOpsError(ValueError):
    """The model needs ops outside TFLite's builtin set; ``ops`` names them."""

    def __init__(self, model_name, ops):
        self.ops = tuple(ops)
        super().__init__(
            f"{model_name} does not convert to TFLite with builtin ops only: it needs the "
            f"TensorFlow op(s) {', '.join(self.ops)}, which exist in TFLite only as Flex "
            f"(Select TF) or custom ops. Replace them with ops that have TFLite builtins.")


def _unsupported_ops(message):
    ops = list(dict.fromkeys(_UNSUPPORTED_OP.findall(message)))
    if not ops:
        for line in _OP_LISTS.findall(message):
            ops += [op.strip() for op in line.split(",") if op.strip()]
    return list(dict.fromkeys(ops))


def _fixed_input_shape(model, input_shape, batch_size):
    if len(model.inputs) != 1:
        raise ValueError(f"convert() takes single-input models; {model.name} has "
                         f"{len(model.inputs)} inputs.")
    shape = tuple(model.inputs[0].shape[1:]) if input_shape is None else tuple(input_shape)
    if any(d is None for d in shape):
        raise ValueError(
            f"{model.name} takes inputs of shape {tuple(model.inputs[0].shape[1:])}; TFLite "
            f"needs a fixed size: pass input_shape=(height, width, channels).")
    return (batch_size,) + shape


def _variables_of(model):
    """A ``tf.Module`` tracking the model's ``tf.Variable``s, so that the converter finds (and
    freezes into constants, folding BatchNorm) every variable the traced function captures.
    Keras 3 wraps each ``tf.Variable`` (its ``.value``); legacy Keras uses them directly."""
    module = tf.Module()
    module.model_variables = [v if isinstance(v, tf.Variable) else v.value
                              for v in model.variables]
    return module


def convert(model, *, input_shape=None, batch_size=1):
    """Converts ``model`` to a float32 TFLite flatbuffer (``bytes``) with builtin ops only.

    Args:
        model: a single-input Keras model (Keras 3 or legacy).
        input_shape: ``(height, width, channels)`` to convert at, required where the model's
            own input has unknown dimensions.
        batch_size: the fixed batch dimension of the converted graph.

    Raises:
        UnsupportedOpsError: the graph needs Flex / Select TF or custom ops.
    """
    shape = _fixed_input_shape(model, input_shape, batch_size)
    spec = tf.TensorSpec(shape, model.inputs[0].dtype, name="input")

    @tf.function(input_signature=[spec], autograph=False)
    def inference(images):
        return model(images, training=False)

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [inference.get_concrete_function()], _variables_of(model))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        return converter.convert()
    except Exception as exc:  # the converter raises ConverterError from a private module
        ops = _unsupported_ops(str(exc))
        if ops:
            raise UnsupportedOpsError(model.name, ops) from None
        raise


def _interpreter(tflite_bytes):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Running TFLite models needs the LiteRT interpreter: pip install ai-edge-litert "
            "(part of the 'test' and 'optimize' extras).") from exc
    return Interpreter(model_content=tflite_bytes)


def op_names(tflite_bytes):
    """The sorted, distinct builtin op names (``"CONV_2D"``, ``"HARD_SWISH"``...) in a model."""
    return sorted({op["op_name"] for op in _interpreter(tflite_bytes)._get_ops_details()})


def run(tflite_bytes, inputs):
    """Runs the converted model on ``inputs``, in chunks of the graph's fixed batch size."""
    interpreter = _interpreter(tflite_bytes)
    (input_detail,), outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(outputs) != 1:
        raise ValueError(f"run() takes single-output models; this one has {len(outputs)}.")
    shape = tuple(int(d) for d in input_detail["shape"])
    inputs = np.asarray(inputs, dtype=input_detail["dtype"])
    if inputs.shape[1:] != shape[1:] or len(inputs) % shape[0]:
        raise ValueError(
            f"The TFLite model takes batches of shape {shape}; got inputs of shape "
            f"{inputs.shape} (the number of images must be a multiple of {shape[0]}).")
    interpreter.allocate_tensors()
    results = []
    for start in range(0, len(inputs), shape[0]):
        interpreter.set_tensor(input_detail["index"], inputs[start:start + shape[0]])
        interpreter.invoke()
        results.append(interpreter.get_tensor(outputs[0]["index"]).copy())
    return np.concatenate(results)


def check(model, tflite_bytes, inputs):
    """The largest absolute difference between the TFLite model's and ``model``'s outputs."""
    expected = np.asarray(model(np.asarray(inputs, dtype="float32"), training=False))
    got = run(tflite_bytes, inputs)
    if got.shape != expected.shape:
        raise ValueError(f"TFLite output shape {got.shape} differs from Keras' {expected.shape}.")
    return float(np.max(np.abs(got.astype("float64") - expected)))
