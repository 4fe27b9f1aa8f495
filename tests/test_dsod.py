"""The DSOD300 backbone beyond the shared routine: Table 1's output sizes and the authors'
widths, the paper's detector count from this backbone plus the prediction layers of the
authors' Caffe definition, Caffe's ceil-mode pooling on signed maps, the memory-efficient
build, and the options' errors."""

import dataclasses

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.layers.dense_bottleneck import DenseBottleneck

#: Table 1 (arXiv:1708.01241): the output size of each part at 300x300, and the authors'
#: widths (DSOD300_V3_Body; Table 1 gives none)
TABLE_1 = {"stem_conv1": (150, 64), "stem_conv2": (150, 64), "stem_conv3": (150, 128),
           "stem_pool": (75, 128), "denseblock1_concat": (75, 416), "stage1_out": (75, 416),
           "transition1_pool": (38, 416), "denseblock2_concat": (38, 800),
           "stage2_out": (38, 800), "transition2_pool": (19, 800),
           "denseblock3_concat": (19, 1184), "stage3_out": (19, 1184),
           "denseblock4_concat": (19, 1568), "stage4_out": (19, 256)}


@pytest.mark.parametrize("change, message", [
    ({"growth_rate": 0}, r"`growth_rate` must be an integer >= 1; got 0"),
    ({"growth_rate": -48}, r"`growth_rate` must be an integer >= 1; got -48"),
    ({"compression": 0.0}, r"`compression` must be a number in \(0, 1\]; got 0.0"),
    ({"compression": 1.5}, r"`compression` must be a number in \(0, 1\]; got 1.5"),
    ({"blocks": (6, 8, 8)}, r"`blocks` must be four positive integers"),
    ({"blocks": (6, 8, 0, 8)}, r"`blocks` must be four positive integers"),
    ({"stem": (64, 128)}, r"`stem` must be the widths of the stem's three 3x3 convolutions"),
    ({"out_features": 0}, r"`out_features` must be an integer >= 1; got 0"),
])
def test_bad_configurations_are_clear_errors(change, message):
    cfg = dataclasses.replace(kc.DSOD300Backbone.config, **change)
    with pytest.raises(ValueError, match=message):
        kc.DSOD300Backbone.spec.function(cfg, input_shape=(32, 32, 3))


@pytest.mark.parametrize("kwargs, message", [
    ({"drop_path_rate": 0.1}, r"`drop_path_rate`=0.1 needs residual blocks, and the DSOD"),
    ({"memory_efficient": True, "norm": "group"}, r"needs norm='batch', got norm='group'"),
    ({"memory_efficient": 1}, r"`memory_efficient` must be True or False; got 1"),
])
def test_bad_options_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kc.DSOD300Backbone.tiny(input_shape=(32, 32, 3), **kwargs)


def test_compression_and_memory_efficient_option():
    """Compression below 1 narrows transitions 1-3 (the last keeps out_features); the
    memory-efficient build has the same weights and outputs."""
    cfg = dataclasses.replace(kc.DSOD300Backbone.spec.tiny, compression=0.5)
    model = kc.DSOD300Backbone.spec.function(cfg, input_shape=(32, 32, 3))
    widths = [model.get_layer(f"dsod300backbone_stage{s}_out").filters for s in (1, 2, 3, 4)]
    assert widths == [(16 + 2 * 6) // 2, (14 + 6) // 2, (10 + 6) // 2, 32]
    plain = kc.DSOD300Backbone.tiny(input_shape=(32, 32, 3), classes=5)
    efficient = kc.DSOD300Backbone.tiny(input_shape=(32, 32, 3), classes=5,
                                        memory_efficient=True, name="efficient")
    assert len([layer for layer in efficient.layers if isinstance(layer, DenseBottleneck)]) == 5
    efficient.set_weights(plain.get_weights())
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(efficient(x, training=False), plain(x, training=False),
                               rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def backbone():
    return kc.DSOD300Backbone(include_top=False, input_shape=(300, 300, 3))


def test_table_1_output_sizes(backbone):
    for name, (size, channels) in TABLE_1.items():
        shape = backbone.get_layer(f"dsod300backbone_{name}").output.shape
        assert tuple(shape[1:]) == (size, size, channels), name
    dense = [n for n in (layer.name for layer in backbone.layers) if n.endswith("_conv2")
             and "denselayer" in n]
    assert len(dense) == 6 + 8 + 8 + 8
    cfg = kc.DSOD300Backbone.config  # "DS/64-192-48-1"
    assert (cfg.stem[0], cfg.bn_size * cfg.growth_rate, cfg.growth_rate, cfg.compression) == (
        64, 192, 48, 1.0)


def _bn(channels):
    """Caffe BatchNorm + Scale: (trainable scale and shift, stored moving mean and variance)."""
    return np.array([2 * channels, 2 * channels])


def _prediction_layers(first, classes=21):
    """DSOD300's dense prediction structure and SSD heads in the authors' Caffe definition
    (DSOD300_V3_Body after the backbone, CreateMultiBoxHead as DSOD300_pascal.py calls it):
    (trainable, moving statistics). ``first``: the 38x38 scale's channels."""
    count = np.zeros(2, dtype=np.int64)

    def bn_relu_conv(c_in, c_out, k):
        return _bn(c_in) + [c_in * c_out * k * k, 0]

    # 19x19 scale: the backbone's 256 and the pooled 38x38 map through BN-ReLU-1x1 conv 256
    count += bn_relu_conv(first, 256, 1)
    scales, channels = [first, 512], 512
    for width in (256, 128, 128, 128):  # add_bl_layer2: 10x10, 5x5, 3x3, 1x1
        count += bn_relu_conv(channels, width, 1) + bn_relu_conv(width, width, 3)
        count += bn_relu_conv(channels, width, 1)
        channels = 2 * width
        scales.append(channels)
    # heads: L2 normalisation (a scale per channel), 3x3 loc and conf convolutions with BN
    for channels, priors in zip(scales, (4, 6, 6, 6, 4, 4)):
        count += [channels, 0]
        for outputs in (4 * priors, classes * priors):
            count += [channels * outputs * 9, 0] + _bn(outputs)
    return count


def test_detector_count_is_the_papers(backbone):
    """The paper's 14.8M for DSOD300 (VOC 2007 results, dense prediction): this backbone plus
    the prediction layers counted from the authors' Caffe definition, BN moving statistics
    included as Caffe stores them; the trainable parameters alone round to 14.7M."""
    trainable, moving = kc.count_params(backbone)
    assert trainable == 10_032_608
    first = backbone.get_layer("dsod300backbone_stage2_out").output.shape[-1]
    prediction = _prediction_layers(first)
    assert round((trainable + moving + prediction.sum()) / 1e6, 1) == 14.8
    assert round((trainable + prediction[0]) / 1e6, 2) == 14.72


def test_ceil_mode_pooling_on_signed_maps(backbone):
    """Transition 1 pools a signed 75x75 map to 38x38 as Caffe does: the last window
    overhangs and takes the maximum of the pixels it covers (zero padding would not)."""
    layer = backbone.get_layer("dsod300backbone_transition1_pool")
    x = -1.0 - np.random.default_rng(0).uniform(size=(1, 5, 5, 2)).astype("float32")
    expected = np.full((1, 3, 3, 2), -np.inf, dtype="float32")
    for i in range(3):
        for j in range(3):
            expected[:, i, j] = x[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max(axis=(1, 2))
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)
