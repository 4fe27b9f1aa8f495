"""TFLite export: convert, write, and check the file against the Keras model.

>>> report = kc.export.tflite(model, "resnet18.tflite")                  # float32
>>> report = kc.export.tflite(model, "resnet18.int8.tflite", quantization="int8",
...                           representative_data=train_images)
>>> print(kc.export.format_report(report))

Conversion is :func:`keras_convnets.optimize.tflite.convert` (builtin ops only; ``None`` /
``"float32"``, ``"float16"``, ``"dynamic"`` or ``"int8"`` quantisation). Pruned models are
exported once stripped (``pruning.strip_pruning``: a plain model whose zeros the converter
keeps; combine with any quantisation), and quantisation-aware-trained models
(``qat.quantize``, legacy Keras) with ``quantization="int8"``, with or without
``representative_data``. Unlike the SavedModel export, the .tflite file holds the model alone:
it takes the model's own (preprocessed) float32 input at a fixed size and batch, with no
resizing or preprocessing in the graph.
"""

import os

import numpy as np

from ..applications import inference_model
from ..optimize import tflite as _tflite
from ..utils import check_positive_int

#: How many images the check runs by default.
CHECK_IMAGES = 8


def _check_not_mid_pruning(model):
    """A model still being pruned (masks or tfmot wrappers attached) must be stripped first."""
    from ..optimize import pruning

    if pruning.is_pruning(model):
        raise ValueError(
            f"`model` {model.name!r} is still set up for pruning (made by pruning.prune() and "
            f"not stripped); export pruning.strip_pruning(model), the plain model with the "
            f"final sparse weights.")


def _check_images(model, tflite_bytes, check_data, representative_data, count, seed):
    """Images to compare on, in the model's input units, a multiple of the graph's batch."""
    interpreter = _tflite.make_interpreter(tflite_bytes)
    shape = tuple(int(d) for d in interpreter.get_input_details()[0]["shape"])
    source = "random uniform [0, 1]"
    images = None
    if check_data is not None:
        images, source = np.asarray(check_data, dtype="float32"), "check_data"
    elif isinstance(representative_data, np.ndarray):
        images, source = representative_data.astype("float32"), "representative_data"
    if images is not None:
        if images.ndim == 3:
            images = images[None]
        if images.shape[1:] != shape[1:]:
            raise ValueError(f"`check_data` images have shape {images.shape[1:]}; the TFLite "
                             f"model takes {shape[1:]}.")
        images = images[:count]
    else:
        rng = np.random.default_rng(seed)
        images = rng.uniform(0.0, 1.0, (count,) + shape[1:]).astype("float32")
    whole = -(-len(images) // shape[0]) * shape[0]
    if whole != len(images):
        images = np.resize(images, (whole,) + images.shape[1:])
    return images, source


def tflite(model, path, *, quantization=None, representative_data=None, int8_io=False,
           check=True, input_shape=None, batch_size=1, check_data=None,
           check_images=CHECK_IMAGES, seed=0):
    """Converts ``model`` to TFLite, writes ``path`` and checks it against Keras.

    Args:
        model: a single-input Keras model (Keras 3 or legacy); auxiliary classifiers
            (``aux_logits=True``) are left out.
        path: the ``.tflite`` file to write (parent directories are created; an existing file
            is replaced).
        quantization: ``None``/``"float32"``, ``"float16"``, ``"dynamic"`` or ``"int8"``.
        representative_data: calibration images for ``"int8"`` (a ``tf.data.Dataset`` or an
            array of preprocessed images at the model's size).
        int8_io: with ``"int8"``, int8 input and output tensors.
        check: run the file in the LiteRT interpreter and compare it with the Keras model.
        input_shape: ``(height, width, channels)`` where the model takes any size.
        batch_size: the fixed batch of the converted graph.
        check_data: images to check on; default: the first ``check_images`` of an array
            ``representative_data``, else random uniform images in [0, 1].
        check_images: how many images to check on.
        seed: seed of the random check images.

    Returns:
        A report dict: ``path``, ``bytes``, ``quantization``, ``ops`` (sorted builtin op
        names), ``input``/``output`` (dtype and shape), and when checked ``max_difference``
        (largest |TFLite - Keras| of the outputs), ``top1_agreement`` (fraction of images whose
        best class agrees), ``check_images`` and ``check_data`` (where they came from).
    """
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(f"`path` must be a file path; got {path!r}.")
    path = os.fspath(path)
    model = inference_model(model)  # auxiliary classifiers are for training only
    if os.path.isdir(path):
        raise ValueError(f"`path` {path!r} is a directory; give the .tflite file to write.")
    if not isinstance(check, bool):
        raise ValueError(f"`check` must be True or False; got {check!r}.")
    check_positive_int("check_images", check_images)
    _check_not_mid_pruning(model)
    data = _tflite.convert(model, input_shape=input_shape, batch_size=batch_size,
                           quantization=quantization, representative_data=representative_data,
                           int8_io=int8_io)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)

    interpreter = _tflite.make_interpreter(data)
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()[:1]
    report = {
        "path": path, "bytes": len(data), "quantization": quantization or "float32",
        "model": model.name, "ops": _tflite.op_names(data),
        "input": {"dtype": np.dtype(inp["dtype"]).name, "shape": [int(d) for d in inp["shape"]]},
        "output": {"dtype": np.dtype(out["dtype"]).name,
                   "shape": [int(d) for d in out["shape"]]},
    }
    if check:
        images, source = _check_images(model, data, check_data, representative_data,
                                       check_images, seed)
        expected = np.asarray(model(images, training=False), dtype="float64")
        got = np.asarray(_tflite.run(data, images), dtype="float64")
        if got.shape != expected.shape:
            raise ValueError(f"TFLite output shape {got.shape} differs from Keras' "
                             f"{expected.shape}.")
        report.update({
            "max_difference": float(np.max(np.abs(got - expected))),
            "top1_agreement": float(np.mean(got.argmax(-1) == expected.argmax(-1)))
            if got.ndim == 2 else None,
            "check_images": int(len(images)), "check_data": source})
    return report


def format_report(report):
    """The report as a few human-readable lines."""
    lines = [f"wrote {report['path']}: {report['bytes']:,} bytes "
             f"({report['bytes'] / 2**20:.2f} MiB), {report['quantization']}",
             f"input {report['input']['dtype']} {report['input']['shape']}, output "
             f"{report['output']['dtype']} {report['output']['shape']}",
             f"ops ({len(report['ops'])}): {', '.join(report['ops'])}"]
    if "max_difference" in report:
        agreement = report.get("top1_agreement")
        agreement = "" if agreement is None else f", top-1 agreement {agreement:.0%}"
        lines.append(f"check on {report['check_images']} images ({report['check_data']}): max "
                     f"|TFLite - Keras| {report['max_difference']:.2e}{agreement}")
    return "\n".join(lines)


__all__ = ["tflite", "format_report", "CHECK_IMAGES"]
