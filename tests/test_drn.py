"""Dilated Residual Networks beyond the shared routine: the ``DilatedResidual`` layer against a
NumPy reference (dilated convolution written tap by tap), the layer against the builders' block,
its ``.keras`` round trip and TFLite conversion, the networks' dilation schedule and output
stride, DRN-C-58's unused projection, and the options' errors. (Exact counts and FLOPs at 224:
test_reference_counts.py; logit parity of all eight with pytorchcv / torchvision:
test_port.py; feature maps, backbones, training step, legacy build: test_models.py.)"""

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.applications.builder import BuildContext
from keras_convnets.backend import keras
from keras_convnets.layers import DilatedResidual
from keras_convnets.models import drn
from keras_convnets.optimize import tflite
from keras_convnets.weights import porting

EPS = 1e-5


# -- the NumPy reference -------------------------------------------------------------------------
def _conv(x, kernel, strides=1, dilation=1):
    """A PyTorch-padded (``dilation * (k - 1) / 2`` each side) dilated convolution as a sum of
    shifted, strided slices times each tap's matrix: out[p] = sum_t x[s p + d t] K[t]."""
    size = kernel.shape[0]
    pad = dilation * (size - 1) // 2
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    span = dilation * (size - 1)
    height = (x.shape[1] - span - 1) // strides + 1
    width = (x.shape[2] - span - 1) // strides + 1
    out = np.zeros((x.shape[0], height, width, kernel.shape[-1]))
    for i in range(size):
        for j in range(size):
            window = x[:, i * dilation: i * dilation + strides * (height - 1) + 1: strides,
                       j * dilation: j * dilation + strides * (width - 1) + 1: strides]
            out += window @ kernel[i, j]
    return out


def _bn(x, gamma, beta, mean, variance):
    return (x - mean) / np.sqrt(variance + EPS) * gamma + beta


def _block_numpy(layer, x):
    """The block from its weights and the module docstring's definition, inference mode."""
    weights = {sub.name: [np.asarray(w) for w in sub.weights] for sub in layer.sublayers}
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    y = x
    for step in layer.plan:
        y = _conv(y, weights[f"conv{step.index}"][0], step.strides, step.dilation)
        y = _bn(y, *weights[f"bn{step.index}"])
        y = relu(y) if step.relu else y
    if not layer.residual:
        return relu(y)
    shortcut = x
    if "shortcut_conv" in weights:
        shortcut = _bn(_conv(x, weights["shortcut_conv"][0], layer.strides),
                       *weights["shortcut_bn"])
    return relu(y + shortcut)


def _randomize(layers, rng):
    """Random kernels and norm statistics (a fresh BN is the identity and would hide it)."""
    for layer in layers:
        layer.set_weights([rng.normal(0, 0.5, w.shape) if len(w.shape) > 1
                           else rng.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()])


BLOCKS = {
    # a strided basic block: projection, stride 2, odd input size
    "basic_strided": dict(filters=6, block="basic", strides=2),
    # the authors' first block of a newly dilated level: (d / 2, d), identity shortcut
    "basic_dilation_pair": dict(filters=4, block="basic", dilation=(2, 4)),
    # a dilated bottleneck that widens: projection, inner width 2
    "bottleneck_dilated": dict(filters=8, block="bottleneck", dilation=2),
    # DRN-C's degridding block: no shortcut at all, channels change
    "degridding": dict(filters=6, block="basic", dilation=2, residual=False),
}


@pytest.mark.legacy
@pytest.mark.parametrize("case", sorted(BLOCKS))
def test_dilated_residual_matches_numpy(case):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 9, 11, 4))
    with porting.float64_models():
        layer = DilatedResidual(**BLOCKS[case])
        layer.build((None, 9, 11, 4))
    _randomize(layer.sublayers, rng)
    out = np.asarray(layer(x, training=False))
    expected = _block_numpy(layer, x)
    assert out.shape == expected.shape == layer.compute_output_shape((2, 9, 11, 4))
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)
    assert (layer.shortcut_conv is not None) == (case in ("basic_strided", "bottleneck_dilated"))


def test_dilation_is_what_the_tap_by_tap_reference_says():
    """A single 3x3 tap at the corner, dilation 3: each output is the input 3 pixels away
    (up-left), zero where that falls in the padding -- the reference itself is right."""
    x = np.arange(2 * 7 * 8, dtype=float).reshape(1, 7, 8, 2)
    kernel = np.zeros((3, 3, 2, 1))
    kernel[0, 0, 1, 0] = 1.0
    out = _conv(x, kernel, dilation=3)[0, :, :, 0]
    expected = np.zeros((7, 8))
    expected[3:, 3:] = x[0, :4, :5, 1]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("case", ["basic_strided", "bottleneck_dilated", "degridding"])
def test_layer_computes_the_builders_block(case):
    """The DRN builders' plain-layer block and the layer: the same sublayer names, weights,
    outputs (inference and training) and FLOPs."""
    options = dict(BLOCKS[case])
    filters = options.pop("filters")
    inputs = keras.Input((9, 11, 4))
    plain = keras.Model(inputs, drn.dilated_residual_block(BuildContext("m_"), inputs, filters,
                                                           "b", **options))
    layer = DilatedResidual(filters, **options)
    outer = keras.Model(inputs, layer(inputs))
    _randomize([lyr for lyr in plain.layers if lyr.weights], np.random.default_rng(1))
    for sub in layer.sublayers:
        sub.set_weights(plain.get_layer(f"m_b_{sub.name}").get_weights())
    assert {f"m_b_{sub.name}" for sub in layer.sublayers} == {
        lyr.name for lyr in plain.layers if lyr.weights}
    x = np.random.default_rng(2).standard_normal((2, 9, 11, 4)).astype("float32")
    for training in (False, True):
        np.testing.assert_allclose(outer(x, training=training), plain(x, training=training),
                                   rtol=1e-5, atol=1e-5)
    assert kc.count_flops(outer) == kc.count_flops(plain) > 0
    assert kc.count_params(outer) == kc.count_params(plain)


@pytest.mark.legacy
def test_layer_saves_and_converts_with_builtin_ops(save_and_reload):
    inputs = keras.Input((12, 12, 4))
    x = DilatedResidual(8, strides=2, name="down")(inputs)
    x = DilatedResidual(8, block="bottleneck", dilation=2, name="dilated")(x)
    x = DilatedResidual(4, dilation=(1, 2), residual=False, norm="group", name="degrid")(x)
    model = keras.Model(inputs, x)
    _randomize([lyr for lyr in model.layers if lyr.weights], np.random.default_rng(3))
    images = np.random.default_rng(4).standard_normal((2, 12, 12, 4)).astype("float32")
    expected = np.asarray(model(images, training=False))
    reloaded = save_and_reload(model)
    np.testing.assert_allclose(reloaded(images, training=False), expected, rtol=1e-6, atol=1e-6)
    config = reloaded.get_layer("degrid").get_config()
    assert (config["dilation"], config["residual"], config["norm"]) == ([1, 2], False, "group")
    assert reloaded.get_layer("dilated").get_config()["dilation"] == 2
    flatbuffer = tflite.convert(model)
    ops = tflite.op_names(flatbuffer)
    assert ops and not [op for op in ops if op in ("CUSTOM", "DELEGATE") or op.startswith("Flex")]
    assert tflite.check(model, flatbuffer, images[:1]) < 1e-4


@pytest.mark.parametrize("kwargs, message", [
    (dict(filters=8, block="wide"), "`block` must be one of 'basic', 'bottleneck'; got 'wide'"),
    (dict(filters=6, block="bottleneck"), "`filters` of a bottleneck block must be a multiple"),
    (dict(filters=8, block="bottleneck", residual=False), "only the basic block comes without"),
    (dict(filters=8, strides=2, dilation=2), "`strides`=2 with `dilation`=2"),
    (dict(filters=8, dilation=0), "`dilation` must be an integer >= 1; got 0"),
    (dict(filters=8, block="bottleneck", dilation=(1, 2)), "or for block='basic' a pair"),
    (dict(filters=0), "`filters` must be an integer >= 1; got 0"),
    (dict(filters=8, residual="yes"), "`residual` must be True or False"),
    (dict(filters=8, norm="instance"), "`norm` must be one of"),
])
def test_layer_refuses_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DilatedResidual(**kwargs)


# -- the networks ---------------------------------------------------------------------------------
def _dilations(model, pattern):
    prefix = model.name + "_"
    return {layer.name[len(prefix):]: layer.dilation_rate[0] for layer in model.layers
            if isinstance(layer, keras.layers.Conv2D) and layer.kernel_size[0] == 3
            and pattern in layer.name}


def test_drn_c_levels_dilations_and_output_stride():
    """Levels 5-8 dilated 2, 4, 2, 1 at stride 8; no max-pool; the degridding levels 7-8 have
    no residual connection; the backbone's map is 1/8 of any input."""
    model = kc.DRN_C_26.tiny(include_top=False, input_shape=(None, None, 3))
    assert model(np.zeros((1, 40, 56, 3), "float32")).shape == (1, 5, 7, 64)
    for level, dilation in zip(range(1, 9), drn.LEVEL_DILATIONS):
        assert set(_dilations(model, f"stage{level}_").values()) == {dilation}, level
    names = [layer.name for layer in model.layers]
    assert not [n for n in names if "pool" in n]
    assert [n for n in names if n.endswith("_add")] == [
        f"drn_c_26_stage{level}_block1_add" for level in range(1, 7)]


def test_drn_d_conv_levels_and_drn_a_dilation_schedule():
    """DRN-D: levels 1, 2, 7, 8 are single conv layers. DRN-A: each dilated stage's first
    block keeps the previous dilation (1 then 2 in stage 3, 2 then 4 in stage 4)."""
    model = kc.DRN_D_22.tiny(input_shape=(32, 32, 3))
    for level, dilation in ((1, 1), (2, 1), (7, 2), (8, 1)):
        assert _dilations(model, f"stage{level}_") == {f"stage{level}_conv1": dilation}
    assert model.get_layer("drn_d_22_stage2_conv1").strides == (2, 2)
    model = kc.DRN_A_50.tiny(input_shape=(32, 32, 3))
    assert _dilations(model, "stage3_") == {"stage3_block1_conv2": 1, "stage3_block2_conv2": 2}
    assert _dilations(model, "stage4_") == {"stage4_block1_conv2": 2, "stage4_block2_conv2": 4}
    assert kc.model_info("drn_a_50")["stage_strides"] == (4, 8, 8, 8)


def test_drn_c_58_unused_projection():
    """The authors' DRN-C-58 projects level 7's input (2048 -> 512 at full size) and throws the
    result away: with ``unused_projection=True`` it is built, summed in at zero weight (the
    outputs do not change) and counted: in x out + 2 x out more trainable parameters, the
    difference between params.tsv's 41,591,608 and pytorchcv's 40,542,008 at full size."""
    assert 2048 * 512 + 2 * 512 == 41_591_608 - 40_542_008
    assert kc.get_spec("drn_c_58").count_options == {"unused_projection": True}
    plain = kc.DRN_C_58.tiny(input_shape=(32, 32, 3))
    official = kc.DRN_C_58.tiny(input_shape=(32, 32, 3), unused_projection=True)
    assert kc.count_params(official)[0] - kc.count_params(plain)[0] == 256 * 64 + 2 * 64
    _randomize([lyr for lyr in official.layers if lyr.weights], np.random.default_rng(5))
    for layer in plain.layers:
        if layer.weights:
            layer.set_weights(official.get_layer(
                layer.name.replace(plain.name, official.name, 1)).get_weights())
    x = np.random.default_rng(6).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(official(x, training=False), plain(x, training=False),
                               rtol=1e-5, atol=1e-7)
    assert "drn_c_58_1_stage7_block1_unused_shortcut_conv" in [lyr.name for lyr in official.layers]


def test_drn_options_are_checked():
    with pytest.raises(TypeError, match="unexpected argument `unused_projection`"):
        kc.DRN_C_26(unused_projection=True)
    with pytest.raises(ValueError, match=r"`unused_projection`=True: only a DRN-C whose level 7"):
        kc.get_spec("drn_c_58").function(kc.get_spec("drn_c_26").tiny, unused_projection=True)
    with pytest.raises(ValueError, match="`unused_projection` must be True or False"):
        kc.DRN_C_58(unused_projection=1)
    bad = drn.DRNConfig("C", (1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"`depths` of a DRN-C must be 8 positive integers"):
        drn.build_drn("drn_c_26", bad)
    with pytest.raises(ValueError, match="`variant` must be one of 'A', 'C', 'D'; got 'B'"):
        drn.build_drn("drn_c_26", drn.DRNConfig("B", (1,) * 8))
