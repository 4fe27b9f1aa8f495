"""The ``keras-convnets export`` command line."""

import contextlib
import os

from .preprocessing import DEFAULT_PREPROCESSING, PREPROCESSINGS

FORMATS = ("saved_model", "tflite")
#: ``--representative-data`` choices besides a .npy file.
CALIBRATION_SETS = ("digits",)


def add_arguments(parser):
    """Adds the ``export`` options to ``parser``."""
    parser.add_argument("model", help="registry name, e.g. resnet18")
    parser.add_argument("--format", default="saved_model", choices=FORMATS,
                        help="saved_model (TF Serving layout, default) or tflite")
    parser.add_argument("--out", required=True,
                        help="saved_model: the base directory (writes OUT/NAME/VERSION/); "
                             "tflite: a .tflite file, or a directory for NAME[.QUANT].tflite")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--weights", help="a weights file, or a named weight set (e.g. "
                        "imagenet) from `keras-convnets port`; default: random initialisation")
    source.add_argument("--model-file", help="a saved .keras model, e.g. "
                        "runs/resnet18/resnet18.keras written by `keras-convnets train`")
    parser.add_argument("--input-size", type=int, help="square input size (default: the "
                        "model's)")
    parser.add_argument("--classes", type=int, help="classifier size (default: the model's)")
    parser.add_argument("--tiny", action="store_true", help="the model's small .tiny variant")
    parser.add_argument("--name", help="served model / file name (default: MODEL)")
    saved = parser.add_argument_group("saved_model")
    saved.add_argument("--version", type=int, help="version directory (default: 1)")
    saved.add_argument("--top-k", type=int, help="classes top_k_classes returns (default: 5, "
                       "at most the number of classes)")
    saved.add_argument("--preprocessing", choices=PREPROCESSINGS,
                       help=f"in-graph preprocessing of the uint8 pixels (default: "
                            f"{DEFAULT_PREPROCESSING}: pixel/255, as `keras-convnets train` "
                            f"trains; imagenet for ImageNet recipes and ported weights)")
    saved.add_argument("--overwrite", action="store_true", help="replace an existing version")
    lite = parser.add_argument_group("tflite")
    lite.add_argument("--quantization", choices=("float32", "float16", "dynamic", "int8"),
                      help="post-training quantisation (default: float32)")
    lite.add_argument("--representative-data",
                      help="int8 calibration images: 'digits' (the embedded digits in [0, 1]) "
                           "or a .npy array of preprocessed images at the model's size")
    lite.add_argument("--int8-io", action="store_true", help="int8 input and output tensors")
    lite.add_argument("--no-check", action="store_true",
                      help="skip running the file against the Keras model")
    return parser


def _given(args, names):
    return [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) not in (None, False)]


def _check_combination(args):
    wrong = _given(args, ("quantization", "representative_data", "int8_io", "no_check")) \
        if args.format == "saved_model" else \
        _given(args, ("version", "top_k", "preprocessing", "overwrite"))
    if wrong:
        other = FORMATS[1 - FORMATS.index(args.format)]
        raise ValueError(f"{', '.join(wrong)}: only for --format {other}, not --format "
                         f"{args.format}.")
    if args.model_file:
        fixed = _given(args, ("input_size", "classes", "tiny"))
        if fixed:
            raise ValueError(f"{', '.join(fixed)}: not with --model-file, whose saved model "
                             f"already fixes its size, classes and variant.")
        if not os.path.isfile(args.model_file):
            raise ValueError(f"`--model-file` {args.model_file!r} does not exist.")
    data = args.representative_data
    if data is not None and data not in CALIBRATION_SETS and not (
            data.endswith(".npy") and os.path.isfile(data)):
        raise ValueError(f"`--representative-data` must be one of {', '.join(CALIBRATION_SETS)} "
                         f"or an existing .npy file; got {data!r}.")
    for flag in ("input_size", "classes", "version", "top_k"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ValueError(f"`--{flag.replace('_', '-')}` must be a positive integer; got "
                             f"{value}.")


def _quantize_scope():
    """Where QAT models can exist (legacy Keras with tfmot), the scope that loads them."""
    from ..backend import USE_LEGACY_KERAS

    if USE_LEGACY_KERAS:
        from ..optimize import qat
        try:
            return qat.quantize_scope()
        except RuntimeError:  # tfmot is not installed: plain models only
            pass
    return contextlib.nullcontext()


def load_model(args):
    """The model to export: from ``--model-file``, or built from the registry."""
    from ..backend import keras
    from ..registry import get_spec

    spec = get_spec(args.model)
    if args.model_file:
        import zipfile  # noqa: PLC0415

        if args.model_file.endswith(".keras") and not zipfile.is_zipfile(args.model_file):
            raise ValueError(f"`--model-file` {args.model_file!r} is not a readable .keras file "
                             f"(not a zip archive: truncated, or another format).")
        with _quantize_scope():
            return spec, keras.models.load_model(args.model_file, safe_mode=True,
                                                 compile=False)
    size = args.input_size or spec.default_size
    builder = spec.build_tiny if args.tiny else spec.builder
    model = builder(input_shape=(size, size, 3), classes=args.classes or spec.default_classes,
                    weights=args.weights)
    return spec, model


def _representative_data(value, model):
    if value is None:
        return None
    if value == "digits":
        from ..data import load_digits

        (images, _), _ = load_digits(image_size=int(model.inputs[0].shape[1]))
        return images
    import numpy as np

    return np.load(value)


def _tflite_path(out, name, quantization):
    if out.endswith(".tflite"):
        return out
    suffix = "" if quantization in (None, "float32") else f".{quantization}"
    return os.path.join(out, f"{name}{suffix}.tflite")


def run(args):
    """Runs the export for parsed ``args``; prints what was written; returns 0."""
    from . import lite, serving

    _check_combination(args)
    spec, model = load_model(args)
    name = args.name or spec.name
    if args.format == "saved_model":
        preprocessing = args.preprocessing or DEFAULT_PREPROCESSING
        path = serving.saved_model(
            model, args.out, name=name, version=args.version or 1,
            top_k=args.top_k or min(5, int(model.outputs[0].shape[-1])),
            preprocessing=preprocessing, overwrite=args.overwrite)
        meta = serving.read_metadata(path)
        size = "x".join(str(s) for s in meta["input_size"])
        print(f"exported {model.name} to {path} (TF Serving layout: model name {name!r}, "
              f"version {meta['version']})")
        print(f"  {serving.SERVING_SIGNATURE}: uint8 images [batch, h, w, 3] of any size -> "
              f"resized to {size}, preprocessing {preprocessing!r} -> "
              f"{', '.join(serving.OUTPUTS)} (k={meta['top_k']})")
        print(f"  {serving.RAW_SIGNATURE}: float32 preprocessed images "
              f"[batch, {size.replace('x', ', ')}, 3] -> the same outputs")
        print(f"serve it: docker run -p 8501:8501 -p 8500:8500 --mount type=bind,source="
              f"{os.path.abspath(os.path.dirname(path))},target=/models/{name} "
              f"-e MODEL_NAME={name} tensorflow/serving   (see docs/serving.md)")
    else:
        quantization = args.quantization
        report = lite.tflite(
            model, _tflite_path(args.out, name, quantization), quantization=quantization,
            representative_data=_representative_data(args.representative_data, model),
            int8_io=args.int8_io, check=not args.no_check)
        print(lite.format_report(report))
    return 0


__all__ = ["FORMATS", "add_arguments", "run"]
