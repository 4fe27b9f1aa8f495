"""PaddedAveragePooling2D: PyTorch's symmetric padding left out of the mean (DARTS' reduction
cells) and TensorFlow's "same" padding counted in it (timm's NASNet-A Large), against a
brute-force mean over each window, at even and odd sizes and with unknown spatial sizes."""

import numpy as np
import pytest

from keras_convnets.backend import keras
from keras_convnets.layers import PaddedAveragePooling2D


def _brute_force(x, size, stride, pads, count_include_pad):
    """Mean over each window of ``x`` (NHWC) padded by ``pads`` = ((top, bottom), (left,
    right)); the padding counts in the divisor only if ``count_include_pad``."""
    (top, bottom), (left, right) = pads
    height, width = x.shape[1:3]
    out_h = (height + top + bottom - size) // stride + 1
    out_w = (width + left + right - size) // stride + 1
    out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]))
    for i in range(out_h):
        for j in range(out_w):
            r0, c0 = i * stride - top, j * stride - left
            rows = slice(max(r0, 0), min(r0 + size, height))
            cols = slice(max(c0, 0), min(c0 + size, width))
            window = x[:, rows, cols, :]
            count = size * size if count_include_pad else window.shape[1] * window.shape[2]
            out[:, i, j, :] = window.sum(axis=(1, 2)) / count
    return out


def _same(length, size, stride):
    total = max((-(-length // stride) - 1) * stride + size - length, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize("height, width", [(8, 8), (7, 10), (9, 5)])
@pytest.mark.parametrize("padding, count_include_pad", [(1, False), (1, True), ("same", True),
                                                        ("same", False)])
def test_matches_the_mean_over_each_window(height, width, padding, count_include_pad):
    x = np.random.default_rng(0).normal(size=(2, height, width, 3)).astype("float32")
    layer = PaddedAveragePooling2D(3, 2, padding, count_include_pad=count_include_pad)
    if padding == "same":
        pads = (_same(height, 3, 2), _same(width, 3, 2))
    else:
        pads = ((1, 1), (1, 1))
    expected = _brute_force(x, 3, 2, pads, count_include_pad)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-6)
    # unknown spatial sizes (a backbone at any input size): the same numbers
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, layer(inputs))
    np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((None, height, width, 3)) == (None, *expected.shape[1:])


def test_same_without_counting_is_keras_average_pooling():
    x = np.random.default_rng(1).normal(size=(1, 9, 6, 2)).astype("float32")
    ours = PaddedAveragePooling2D(3, 2, "same", count_include_pad=False)(x)
    np.testing.assert_allclose(ours, keras.layers.AveragePooling2D(3, 2, "same")(x), rtol=1e-5,
                               atol=1e-6)


def test_config_round_trip_and_errors():
    layer = PaddedAveragePooling2D(3, 2, "same", count_include_pad=True, name="pool")
    clone = PaddedAveragePooling2D.from_config(layer.get_config())
    assert (clone.padding, clone.count_include_pad, clone.strides) == ("same", True, 2)
    with pytest.raises(ValueError, match=r"`padding` must be 'same' or a non-negative"):
        PaddedAveragePooling2D(3, 2, "valid")
    with pytest.raises(ValueError, match=r"`padding`=2 must be at most half"):
        PaddedAveragePooling2D(3, 2, 2)
    with pytest.raises(ValueError, match=r"`count_include_pad` must be True or False"):
        PaddedAveragePooling2D(3, 2, 1, count_include_pad="yes")
