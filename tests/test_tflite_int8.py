"""int8 TFLite files that LiteRT's XNNPACK delegate runs whole (issue 19).

XNNPACK has no int8 ``HARD_SWISH``: the converter's fused h-swish ran on the builtin kernels,
each one splitting the delegated graph (MobileNetV3-Large int8 0.35x float in BENCHMARKS.md).
``tflite.convert(..., quantization="int8")`` now traces h-swish as ``(x * 1/6) * relu6(x + 3)``
(``int8_hard_swish="decomposed"``), which stays int8 ``MUL``/``ADD`` ops that XNNPACK takes. Held
here on tiny MobileNetV3s: which ops the int8 graph holds, that every op between the input
``QUANTIZE`` and the output ``DEQUANTIZE`` is int8, that XNNPACK takes all of them in one
partition (read with ``experimental_disable_delegate_node_fusion``, as
``tools/profile_tflite.py`` does), that float graphs keep the fused op, and that the decomposed
file agrees with the float model's top-1 on digits as the fused one does. Speed is measured in
docs/benchmarks/tflite_int8.md, not asserted.
"""

import os
import sys

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras, tf
from keras_convnets.layers import activations
from keras_convnets.optimize import tflite

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import profile_tflite  # noqa: E402

SIZE = 32


@pytest.fixture(scope="module")
def v3small():
    """A tiny MobileNetV3-Small (h-swish, hard-sigmoid SE gates) with logits out, its float
    and int8 files."""
    keras.utils.set_random_seed(0)
    model = kc.MobileNetV3Small.tiny(input_shape=(SIZE, SIZE, 3), classes=10,
                                     classifier_activation=None)
    images = np.random.default_rng(0).uniform(-1, 1, (16, SIZE, SIZE, 3)).astype("float32")
    return {"model": model, "images": images,
            "float32": tflite.convert(model),
            "int8": tflite.convert(model, quantization="int8", representative_data=images),
            "fused": tflite.convert(model, quantization="int8", representative_data=images,
                                    int8_hard_swish="fused")}


def _non_constant_dtypes(flatbuffer):
    """``[(op name, {dtypes of its non-constant input and output tensors})]`` in graph order."""
    interpreter = tflite.make_interpreter(flatbuffer, delegates=False)
    interpreter.allocate_tensors()
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    constant = set()
    for op in interpreter._get_ops_details():  # weights and biases: tensors with no producer
        constant.update(int(i) for i in op["inputs"])
    produced = {int(i) for op in interpreter._get_ops_details() for i in op["outputs"]}
    inputs = {d["index"] for d in interpreter.get_input_details()}
    constant -= produced | inputs
    return [(op["op_name"], {np.dtype(tensors[int(i)]["dtype"]).name
                             for i in list(op["inputs"]) + list(op["outputs"])
                             if i >= 0 and int(i) not in constant})
            for op in interpreter._get_ops_details()]


def test_int8_h_swish_is_decomposed_and_every_inner_op_is_int8(v3small):
    ops = tflite.op_names(v3small["int8"])
    assert "HARD_SWISH" not in ops and {"MUL", "ADD"} <= set(ops), ops
    assert "HARD_SWISH" in tflite.op_names(v3small["fused"])
    assert "HARD_SWISH" in tflite.op_names(v3small["float32"])  # float keeps the fused op
    graph = _non_constant_dtypes(v3small["int8"])
    assert graph[0] == ("QUANTIZE", {"float32", "int8"}), graph[0]
    assert graph[-1] == ("DEQUANTIZE", {"float32", "int8"}), graph[-1]
    floats = [(name, dtypes) for name, dtypes in graph[1:-1] if dtypes != {"int8"}]
    assert not floats, f"float tensors between QUANTIZE and DEQUANTIZE: {floats}"


def test_xnnpack_takes_the_whole_int8_graph_but_not_the_fused_h_swish(v3small):
    refused = [op for _, op, delegated in profile_tflite.delegation(v3small["int8"])
               if not delegated]
    assert refused == [], refused
    interpreter = tflite.make_interpreter(v3small["int8"])
    interpreter.allocate_tensors()
    assert [op["op_name"] for op in interpreter._get_ops_details()].count("DELEGATE") == 1
    fused = [op for _, op, delegated in profile_tflite.delegation(v3small["fused"])
             if not delegated]
    assert fused and set(fused) == {"HARD_SWISH"}, fused  # the diagnosis, held


def test_decomposed_form_is_the_same_function_and_is_scoped():
    x = tf.constant(np.linspace(-8, 8, 4001, dtype="float32"))
    fused = activations.hard_swish(x)
    with activations.decomposed_hard_swish():
        decomposed = activations.hard_swish(x)
    np.testing.assert_allclose(decomposed.numpy(), fused.numpy(), rtol=0, atol=2e-6)
    assert not activations._DECOMPOSED.get()  # reset on leaving the block


def test_int8_outputs_stay_as_close_to_keras_as_the_fused_op(v3small):
    model, images = v3small["model"], v3small["images"]
    scale = float(np.max(np.abs(np.asarray(model(images, training=False)))))
    decomposed = tflite.check(model, v3small["int8"], images)
    fused = tflite.check(model, v3small["fused"], images)
    # 8-bit activations: one more rounded intermediate (relu6(x + 3)) per h-swish
    assert decomposed <= 0.1 * scale and decomposed <= 2 * fused + 0.01 * scale, (
        decomposed, fused, scale)


def test_int8_top1_agrees_with_float_on_digits(seeded):
    """A tiny MobileNetV3-Small trained 3 epochs (91% here): the decomposed int8 file agreed
    with the float top-1 on 98.1% of the 360 test images, the fused one on 99.2% (one more
    rounded intermediate per h-swish); 97% leaves room for another machine's rounding. The
    full-size MobileNetV3-Small of docs/benchmarks/compression.md: 98.9% (fused 99.7%)."""
    from keras_convnets.data import load_digits

    (x_train, y_train), (x_test, y_test) = load_digits(image_size=SIZE)
    with seeded(0):
        model = kc.MobileNetV3Small.tiny(input_shape=(SIZE, SIZE, 3), classes=10)
        model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                      "sparse_categorical_crossentropy")
        model.fit(x_train, y_train, batch_size=32, epochs=3, verbose=0)
    float_top1 = model.predict(x_test, batch_size=120, verbose=0).argmax(-1)
    accuracy = float(np.mean(float_top1 == y_test))
    assert accuracy > 0.8, f"the float model only reached {accuracy:.1%} on digits"
    for form in tflite.INT8_HARD_SWISH:
        int8 = tflite.convert(model, quantization="int8", representative_data=x_train,
                              num_samples=100, int8_hard_swish=form)
        agreement = float(np.mean(tflite.run(int8, x_test).argmax(-1) == float_top1))
        assert agreement >= 0.97, f"{form}: int8 top-1 agreement with float {agreement:.1%}"


def test_int8_hard_swish_option_is_checked(v3small):
    with pytest.raises(ValueError, match="`int8_hard_swish` must be one of 'decomposed', "
                                         "'fused'; got 'relu6'"):
        tflite.convert(v3small["model"], quantization="int8",
                       representative_data=v3small["images"], int8_hard_swish="relu6")
