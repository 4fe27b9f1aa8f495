"""TFLite conversion with builtin ops only -- float32 or post-training quantised -- and a check
against the Keras model.

>>> from keras_convnets.optimize import tflite
>>> flatbuffer = tflite.convert(model)                 # bytes; builtin ops only
>>> tflite.op_names(flatbuffer)                        # ['ADD', 'CONV_2D', 'HARD_SWISH', ...]
>>> tflite.check(model, flatbuffer, images)            # max |TFLite - Keras|
>>> int8 = tflite.convert(model, quantization="int8", representative_data=train_dataset)
>>> tflite.run(int8, images)                           # float32 outputs, whatever the I/O type

Quantisation modes (``quantization=``), after the TFLite post-training quantisation guide:

- ``None`` / ``"float32"``: no quantisation.
- ``"float16"``: weights stored as float16 (about half the size), computed in float32 on CPU.
- ``"dynamic"``: dynamic-range quantisation: int8 weights, activations quantised on the fly by
  the kernels that support it (about a quarter of the size; no calibration data).
- ``"int8"``: full-integer quantisation (Jacob et al. 2018, arXiv:1712.05877): int8 weights and
  activations, calibrated on ``representative_data`` (a ``tf.data.Dataset`` of images or
  ``(images, labels)``, batched or not, or an array of images; the first ``num_samples`` images
  are fed one batch of ``batch_size`` at a time). Only TFLite's int8 builtin kernels are allowed.
  ``int8_io=True`` makes the input and output tensors int8 too (the fully integer model for
  microcontrollers and NPUs); otherwise the model takes and returns float32 and quantises at its
  edges. A quantisation-aware-trained model (:mod:`keras_convnets.optimize.qat`) carries its
  own ranges and needs no representative data; given some, the converter also quantises the
  layers QAT left in float (its documented fallback), which otherwise stay float in the file.
  h-swish is exported as int8 ``MUL``/``ADD`` ops by default (``int8_hard_swish``), because
  LiteRT's XNNPACK delegate has no int8 ``HARD_SWISH``, with its ``1/6`` folded into the
  kernels of the linear layers after it where it only feeds such layers: see
  docs/compression.md.

Converter facts this module relies on:

- The graph is converted at a **fixed batch** (``batch_size``, default 1). A dilated convolution
  reaches TFLite as ``SpaceToBatchND -> Conv2D -> BatchToSpaceND``; the converter folds that back
  into one dilated ``CONV_2D`` only when the batch is static and 1, and a
  ``GroupNormalization`` (``norm="group"``) converted with a dynamic batch dimension converts but
  fails at run time in the interpreter (its reshape needs the batch). Both are why the batch
  is fixed here.
- Keras 3's ``model.export(path, format="litert")`` enables ``SELECT_TF_OPS`` (Flex) unless told
  otherwise, so a model that needs TensorFlow kernels silently yields a file that needs the
  larger Flex runtime. This module does not use it: it converts a traced ``tf.function`` with
  ``TFLITE_BUILTINS`` only (``TFLITE_BUILTINS_INT8`` for ``"int8"``) and raises
  :class:`UnsupportedOpsError` instead.

The model is traced through a ``tf.function`` at a fixed input shape (batch 1 by default), which
works the same for Keras 3 and legacy Keras models. Only TFLite's builtin op set is allowed: a
model that would need TensorFlow ("Flex" / Select) or custom ops raises
:class:`UnsupportedOpsError` naming them, rather than producing a file that needs the larger
runtime.
"""

import re

import numpy as np

from ..applications import inference_model
from ..backend import tf
from ..flops import leaf_layers
from ..layers.activations import decomposed_hard_swish
from ..utils import check_choice
from .fold import fold_hard_activations

_UNSUPPORTED_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_OP_LISTS = re.compile(r"^(?:TF Select|Flex|Custom) ops: (.+)$", re.MULTILINE)


class UnsupportedOpsError(ValueError):
    """The model needs ops outside TFLite's builtin set; ``ops`` names them, and ``sources``
    maps each op to the ``(layer name, layer class, reason)`` of the layers known to use it
    (layers declare such ops in a ``tflite_unsupported_ops = {op: reason}`` class attribute)."""

    def __init__(self, model_name, ops, sources=None):
        self.ops = tuple(ops)
        self.sources = dict(sources or {})
        origins = "".join(
            f" {op} comes from layer(s) "
            f"{', '.join(f'{name!r} ({cls})' for name, cls, _ in found)}: {found[0][2]}."
            for op, found in self.sources.items())
        super().__init__(
            f"{model_name} does not convert to TFLite with builtin ops only: it needs the "
            f"TensorFlow op(s) {', '.join(self.ops)}, which exist in TFLite only as Flex "
            f"(Select TF) or custom ops.{origins} Replace them with ops that have TFLite "
            f"builtins.")


def _op_sources(model, ops):
    """``{op: [(layer name, layer class, reason)]}`` for the model's layers that declare they
    use one of ``ops`` (``tflite_unsupported_ops``)."""
    sources = {}
    for layer in leaf_layers(model):
        for op, reason in getattr(layer, "tflite_unsupported_ops", {}).items():
            if op in ops:
                sources.setdefault(op, []).append((layer.name, type(layer).__name__, reason))
    return sources


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


QUANTIZATIONS = (None, "float32", "float16", "dynamic", "int8")


def _is_quantization_aware(model):
    """True for a model holding tfmot's QAT wrappers (fake-quant ranges learnt in training)."""
    return any(type(layer).__name__ == "QuantizeWrapperV2" or
               type(layer).__name__ == "QuantizeWrapper" for layer in model.layers)


def _representative_images(data, num_samples, shape):
    """The first ``num_samples`` images of ``data`` as a float32 array of ``shape[1:]`` images."""
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if isinstance(spec, (tuple, list)):
            data = data.map(lambda *element: element[0])
            spec = spec[0]
        if not isinstance(spec, tf.TensorSpec) or spec.shape.rank not in (3, 4):
            raise ValueError(
                f"`representative_data` must yield images of shape (height, width, channels) or "
                f"batches of them, alone or as (images, labels); it yields {spec}.")
        if spec.shape.rank == 4:
            data = data.unbatch()
        images = np.stack([np.asarray(x) for x in data.take(num_samples)]) \
            if num_samples else np.zeros((0,) + shape[1:])
    else:
        try:
            images = np.asarray(data, dtype="float32")
        except (TypeError, ValueError):
            raise ValueError(
                f"`representative_data` must be a tf.data.Dataset or an array of images; got "
                f"{type(data).__name__}.") from None
        if images.ndim == 3:
            images = images[None]
        images = images[:num_samples]
    images = images.astype("float32")
    if len(images) == 0:
        raise ValueError("`representative_data` holds no images; int8 calibration needs some.")
    if images.shape[1:] != tuple(shape[1:]):
        raise ValueError(
            f"`representative_data` images have shape {images.shape[1:]}; the model is "
            f"converted at {tuple(shape[1:])}.")
    return images


def _set_quantization(converter, model, shape, quantization, representative_data, int8_io,
                      num_samples):
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"`quantization` must be one of {QUANTIZATIONS}; got {quantization!r}.")
    if int8_io and quantization != "int8":
        raise ValueError(f"`int8_io=True` needs quantization='int8'; got "
                         f"quantization={quantization!r}.")
    if representative_data is not None and quantization != "int8":
        raise ValueError(f"`representative_data` is used by quantization='int8' only; got "
                         f"quantization={quantization!r}.")
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
        raise ValueError(f"`num_samples` must be a positive int; got {num_samples!r}.")
    if quantization in (None, "float32"):
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        quantization_aware = _is_quantization_aware(model)
        if representative_data is None and not quantization_aware:
            raise ValueError(
                "`representative_data` is None, but quantization='int8' needs calibration "
                "images (a tf.data.Dataset of images or (images, labels), or an array), unless "
                "the model was quantisation-aware trained.")
        if representative_data is not None:
            images = _representative_images(representative_data, num_samples, shape)
            batch = shape[0]
            images = images[:len(images) - len(images) % batch] if len(images) >= batch \
                else np.resize(images, (batch,) + images.shape[1:])

            def representative_dataset():
                for start in range(0, len(images), batch):
                    yield [images[start:start + batch]]

            converter.representative_dataset = representative_dataset
        # A QAT model carries its ranges in fake-quant ops, which the converter finds only
        # once the graph is frozen; asking for TFLITE_BUILTINS_INT8 makes an early check in
        # TF 2.21's converter demand a representative dataset for it all the same. Its float
        # fallback layers are quantised from representative_data where given, else stay float.
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS if quantization_aware and representative_data is None
            else tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8


INT8_HARD_SWISH = ("folded", "decomposed", "fused")


def convert(model, *, input_shape=None, batch_size=1, quantization=None,
            representative_data=None, int8_io=False, num_samples=100,
            int8_hard_swish="folded"):
    """Converts ``model`` to a TFLite flatbuffer (``bytes``) with builtin ops only.

    Args:
        model: a single-input Keras model (Keras 3 or legacy); auxiliary classifiers
            (``aux_logits=True``) are left out.
        input_shape: ``(height, width, channels)`` to convert at, required where the model's
            own input has unknown dimensions.
        batch_size: the fixed batch dimension of the converted graph.
        quantization: ``None``/``"float32"``, ``"float16"``, ``"dynamic"`` or ``"int8"`` (see
            the module docstring).
        representative_data: calibration images for ``"int8"``: a ``tf.data.Dataset`` of
            images or ``(images, labels)`` (batched or not), or an array of images.
        int8_io: with ``"int8"``, int8 input and output tensors instead of float32.
        num_samples: how many calibration images to take from ``representative_data``.
        int8_hard_swish: how an ``"int8"`` graph expresses h-swish (MobileNetV3's
            :class:`~keras_convnets.layers.HardSwish`) and hard-sigmoid
            (:class:`~keras_convnets.layers.HardSigmoid`). ``"folded"`` (default): where
            the activation feeds only linear layers (convolutions, ``Dense``), directly or
            through padding, pooling, reshapes, dropout or an SE block, a copy of the model
            computes ``x * relu6(x + 3)`` (``relu6(x + 3)``) and those layers' kernels carry
            the ``1/6`` (:func:`keras_convnets.optimize.fold.fold_hard_activations`; exact to
            float rounding, the model given is not changed): one int8 ``ADD`` with a fused
            ReLU6 and one ``MUL`` per h-swish; the others are decomposed as below.
            ``"decomposed"`` traces every h-swish as ``(x * 1/6) * relu6(x + 3)``, int8
            ``MUL``/``ADD`` ops that LiteRT's XNNPACK delegate runs with the rest of the
            graph (one ``MUL`` more than folded); ``"fused"`` lets the converter fuse it
            into one int8 ``HARD_SWISH`` op, which XNNPACK does not take (each one runs on the
            builtin kernels and splits the delegated graph: MobileNetV3 int8 ran 2-3x slower
            than float that way) -- for runtimes with an int8 ``HARD_SWISH`` kernel of their
            own. Float graphs always keep the fused op; a quantisation-aware-trained model
            (its ranges learnt on the unfolded graph) is decomposed, never folded.

    Raises:
        UnsupportedOpsError: the graph needs Flex / Select TF or custom ops.
        ValueError: a bad argument.
    """
    check_choice("int8_hard_swish", int8_hard_swish, INT8_HARD_SWISH)
    model = inference_model(model)  # auxiliary classifiers are for training only
    if quantization == "int8" and int8_hard_swish == "folded" and \
            not _is_quantization_aware(model):
        model, _ = fold_hard_activations(model)  # a copy, or the model where nothing folds
    shape = _fixed_input_shape(model, input_shape, batch_size)
    spec = tf.TensorSpec(shape, model.inputs[0].dtype, name="input")

    @tf.function(input_signature=[spec], autograph=False)
    def inference(images):
        return model(images, training=False)

    with decomposed_hard_swish(quantization == "int8" and int8_hard_swish != "fused"):
        concrete = inference.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], _variables_of(model))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    _set_quantization(converter, model, shape, quantization, representative_data, int8_io,
                      num_samples)
    try:
        return converter.convert()
    except Exception as exc:  # the converter raises ConverterError from a private module
        ops = _unsupported_ops(str(exc))
        if ops:
            raise UnsupportedOpsError(model.name, ops, _op_sources(model, ops)) from None
        raise


def make_interpreter(tflite_bytes, delegates=True, **options):
    """A LiteRT interpreter; ``delegates=False`` runs the builtin reference kernels without the
    default XNNPACK delegate."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Running TFLite models needs the LiteRT interpreter: pip install ai-edge-litert "
            "(part of the 'test' and 'optimize' extras).") from exc
    if not delegates:
        options["experimental_op_resolver_type"] = \
            OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return Interpreter(model_content=tflite_bytes, **options)


def allocated_interpreter(tflite_bytes, **options):
    """``(interpreter, delegated)``: allocated with the default XNNPACK delegate, or, where
    XNNPACK refuses the file, with the builtin kernels (``delegated`` False). XNNPACK refuses
    an int8 convolution with a zero quantisation scale, which a pruned kernel whose output
    channel is entirely zero gets."""
    interpreter = make_interpreter(tflite_bytes, **options)
    try:
        interpreter.allocate_tensors()
        return interpreter, True
    except RuntimeError as exc:
        if "XNNPACK" not in str(exc):
            raise
    interpreter = make_interpreter(tflite_bytes, delegates=False, **options)
    interpreter.allocate_tensors()
    return interpreter, False


def op_names(tflite_bytes):
    """The sorted, distinct builtin op names (``"CONV_2D"``, ``"HARD_SWISH"``...) in a model."""
    return sorted({op["op_name"] for op in make_interpreter(tflite_bytes)._get_ops_details()})


def quantize(values, detail):
    """``values`` as the quantised integers of the input tensor described by ``detail`` (an
    interpreter's input details: its scale, zero point and dtype)."""
    scale, zero_point = detail["quantization"]
    if not scale:
        raise ValueError(f"The TFLite model's {detail['dtype'].__name__} tensor "
                         f"{detail['name']!r} has no quantisation parameters.")
    info = np.iinfo(detail["dtype"])
    quantized = np.round(np.asarray(values, dtype="float32") / scale + zero_point)
    return np.clip(quantized, info.min, info.max).astype(detail["dtype"])


def _dequantize(values, detail):
    scale, zero_point = detail["quantization"]
    if not scale:
        return values.astype("float32")
    return ((values.astype("float32") - zero_point) * scale).astype("float32")


def run(tflite_bytes, inputs):
    """Runs the converted model on float ``inputs``, in chunks of the graph's fixed batch size.

    Integer (int8/uint8) input tensors get the inputs quantised with the tensor's scale and zero
    point, and integer outputs come back dequantised, so the result is float32 for every
    quantisation mode.
    """
    interpreter, _ = allocated_interpreter(tflite_bytes)
    (input_detail,), outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(outputs) != 1:
        raise ValueError(f"run() takes single-output models; this one has {len(outputs)}.")
    shape = tuple(int(d) for d in input_detail["shape"])
    integer_input = np.issubdtype(input_detail["dtype"], np.integer)
    inputs = np.asarray(inputs, dtype="float32" if integer_input else input_detail["dtype"])
    if inputs.shape[1:] != shape[1:] or len(inputs) % shape[0]:
        raise ValueError(
            f"The TFLite model takes batches of shape {shape}; got inputs of shape "
            f"{inputs.shape} (the number of images must be a multiple of {shape[0]}).")
    if integer_input:
        inputs = quantize(inputs, input_detail)
    integer_output = np.issubdtype(outputs[0]["dtype"], np.integer)
    results = []
    for start in range(0, len(inputs), shape[0]):
        interpreter.set_tensor(input_detail["index"], inputs[start:start + shape[0]])
        interpreter.invoke()
        results.append(interpreter.get_tensor(outputs[0]["index"]).copy())
    results = np.concatenate(results)
    return _dequantize(results, outputs[0]) if integer_output else results


def check(model, tflite_bytes, inputs):
    """The largest absolute difference between the TFLite model's and ``model``'s outputs."""
    expected = np.asarray(model(np.asarray(inputs, dtype="float32"), training=False))
    got = run(tflite_bytes, inputs)
    if got.shape != expected.shape:
        raise ValueError(f"TFLite output shape {got.shape} differs from Keras' {expected.shape}.")
    return float(np.max(np.abs(got.astype("float64") - expected)))
