"""GUNN beyond the shared routine: the gradual update against a NumPy computation, the counts
of the authors' Torch definitions against the paper's figures, the two layouts, and the
options' errors. (Full-size counts against the paper: test_reference_counts.py's
test_parameters_match_paper_table.)"""

import dataclasses

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.applications.builder import BuildContext
from keras_convnets.backend import keras
from keras_convnets.layers import DropPath
from keras_convnets.models import gunn
from keras_convnets.weights.porting import float64_models

#: the paper's counts (millions; its CIFAR and ImageNet results tables, as the authors'
#: README repeats them) and the exact counts of the authors' models/gunn-15.lua and
#: models/gunn-18.lua, counted by _lua_count
PAPER = {"gunn15": (1.6, 10, 1_585_746), "gunn18": (28.9, 1000, 28_909_736)}


def _lua_count(cfg, classes):
    """Trainable parameters of the authors' Torch model, term by term: bias-free convolutions
    (cudnn >= 4 drops their bias), BN scale and shift, a linear classifier with bias.
    GunnLayer.lua: per segment of o = C / K channels, 1x1 C -> 2o, 3x3 2o -> 2o, 1x1 2o -> o,
    their three BNs, and on CIFAR the 1x1 C -> o + BN projection."""
    cifar = cfg.variant == "cifar"
    stem = cfg.stem_width
    total = 3 * stem * (9 if cifar else 49) + 2 * stem
    previous = stem
    for width, segments in zip(cfg.widths, cfg.segments):
        total += previous * width + 2 * width                      # 1x1 conv-BN before it
        o = width // segments
        e = cfg.expansion * o
        unit = width * e + 2 * e + e * e * 9 + 2 * e + e * o + 2 * o
        if cifar:
            unit += width * o + 2 * o
        total += segments * unit
        previous = width
    if cifar:
        total += previous * previous + 2 * previous                # final 1x1 conv-BN
    return total + previous * classes + classes


@pytest.mark.parametrize("name", sorted(PAPER))
def test_authors_definitions_have_the_papers_counts(name):
    paper, classes, exact = PAPER[name]
    spec = kc.get_spec(name)
    assert spec.paper_params == paper and spec.default_classes == classes
    assert _lua_count(spec.config, classes) == exact
    assert round(exact / 1e6, 1) == paper
    assert str(exact)[:-3] in spec.builder.__doc__.replace(",", "")


@pytest.mark.parametrize("name", sorted(PAPER))
def test_hand_count_is_our_count(name):
    """The hand count of the Lua definition is our builder's count (on the tiny
    configuration; the full-size ones are built by test_parameters_match_paper_table)."""
    spec = kc.get_spec(name)
    model = spec.builder.tiny(input_shape=(None, None, 3), classes=7)
    assert kc.count_params(model)[0] == _lua_count(spec.tiny, 7)


def _np_conv(x, kernel):
    """A stride-1 'same' convolution, NHWC / HWIO, in NumPy."""
    k = kernel.shape[0]
    pad = k // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
    for dy in range(k):
        for dx in range(k):
            window = padded[:, dy:dy + x.shape[1], dx:dx + x.shape[2], :]
            out += window @ kernel[dy, dx]
    return out


def _np_bn(x, gamma, beta, mean, variance, eps=1e-5):
    return (x - mean) / np.sqrt(variance + eps) * gamma + beta


def _np_gunn(model, x, segments, prefix, projection, gradual=True):
    """The paper's gradual update in NumPy with the model's weights: segment i becomes
    x_i + unit(state), the state holding the segments updated so far (``gradual``) or, for
    the simultaneously updated layer it must differ from, the input."""
    def weights(suffix):
        return [np.asarray(w) for w in model.get_layer(prefix + suffix).get_weights()]

    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    width = x.shape[-1] // segments
    state = x.copy()
    for i in range(segments):
        seg = f"_seg{i + 1}"
        source = state if gradual else x
        y = relu(_np_bn(_np_conv(source, *weights(seg + "_conv1")), *weights(seg + "_bn1")))
        y = relu(_np_bn(_np_conv(y, *weights(seg + "_conv2")), *weights(seg + "_bn2")))
        y = _np_bn(_np_conv(y, *weights(seg + "_conv3")), *weights(seg + "_bn3"))
        if projection:
            y = y + _np_bn(_np_conv(source, *weights(seg + "_proj_conv")),
                           *weights(seg + "_proj_bn"))
        state = state.copy()
        state[..., i * width:(i + 1) * width] = x[..., i * width:(i + 1) * width] + y
    return state


@pytest.mark.parametrize("projection", [True, False])
def test_gunn_layer_updates_segments_in_order(projection):
    """A 3-segment GUNN layer equals the NumPy gradual update (each segment's unit reads the
    already-updated earlier segments), and not the simultaneous update of the same weights."""
    rng = np.random.default_rng(0)
    with float64_models():
        inputs = keras.Input((5, 5, 6))
        ctx = BuildContext("t_")
        outputs = gunn.gunn_layer(ctx, inputs, 3, "gunn", projection=projection)
        model = keras.Model(inputs, outputs)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape) if "variance" in w.name
                       else rng.normal(0, 0.5, w.shape) for w in model.weights])
    x = rng.normal(size=(2, 5, 5, 6))
    got = np.asarray(model(x, training=False))
    np.testing.assert_allclose(got, _np_gunn(model, x, 3, "t_gunn", projection),
                               rtol=1e-10, atol=1e-10)
    simultaneous = _np_gunn(model, x, 3, "t_gunn", projection, gradual=False)
    np.testing.assert_allclose(got[..., :2], simultaneous[..., :2], rtol=1e-10, atol=1e-10)
    assert np.abs(got[..., 2:] - simultaneous[..., 2:]).max() > 1e-3
    # each segment's unit reads the whole state: C channels in, C / K out
    assert model.get_layer("t_gunn_seg2_conv1").kernel.shape == (1, 1, 6, 4)
    assert model.get_layer("t_gunn_seg2_conv3").kernel.shape == (1, 1, 4, 2)
    projections = [layer.kernel.shape for layer in model.layers if "proj_conv" in layer.name]
    assert projections == ([(1, 1, 6, 2)] * 3 if projection else [])
    assert [len(model.get_layer(f"t_gunn_seg{i}_state").input) for i in (2, 3)] == [3, 3]


def _names(model, prefix):
    return [layer.name[len(prefix) + 1:] for layer in model.layers[1:]]


def test_cifar_and_imagenet_layouts():
    """GUNN-15: pooling after the stage's 1x1 conv, projections, a final 1x1 conv; GUNN-18:
    7x7 stem with max pooling, pooling after the GUNN layer, identity updates only."""
    cifar = kc.GUNN15.tiny(input_shape=(32, 32, 3))
    names = _names(cifar, "gunn15")
    assert names.index("stage2_relu") < names.index("stage2_pool") < names.index(
        "stage2_gunn_split")
    assert "stage1_pool" not in names and "stem_pool" not in names
    assert "stage1_gunn_seg2_proj_conv" in names and "head_conv" in names
    assert cifar.get_layer("gunn15_stage1_out").output.shape[1:] == (32, 32, 24)
    assert cifar.get_layer("gunn15_stage3_out").output.shape[1:] == (8, 8, 36)
    imagenet = kc.GUNN18.tiny(input_shape=(64, 64, 3))
    names = _names(imagenet, "gunn18")
    assert imagenet.get_layer("gunn18_stem_conv").kernel.shape[:2] == (7, 7)
    assert names.index("stage1_out") < names.index("stage2_pool") < names.index("stage2_conv")
    assert not [n for n in names if "proj" in n] and "head_conv" not in names
    assert [imagenet.get_layer(f"gunn18_stage{s}_out").output.shape[1]
            for s in (1, 2, 3, 4)] == [16, 8, 4, 2]
    # the unit's bottleneck: 2 x C / K channels (stage 4: 64 / 4 = 16 -> 32)
    assert imagenet.get_layer("gunn18_stage4_gunn_seg4_conv2").filters == 32


def test_drop_path_rises_over_the_segment_updates():
    model = kc.GUNN15.tiny(input_shape=(32, 32, 3), drop_path_rate=0.2)
    rates = [layer.rate for layer in model.layers if isinstance(layer, DropPath)]
    assert len(rates) == 2 + 3 + 3 - 1  # the first update has rate 0: no layer
    assert rates == sorted(rates) and rates[-1] == pytest.approx(0.2)


@pytest.mark.parametrize("change, message", [
    ({"segments": (20, 24, 30)}, r"`segments`=24 of stage 2 does not divide its 300 channels"),
    ({"segments": (20, 25)}, r"`segments` needs one count per stage of `widths` \(3 stages\)"),
    ({"widths": (240, 0, 360)}, r"`widths` must be a non-empty tuple of positive integers"),
    ({"segments": ()}, r"`segments` must be a non-empty tuple of positive integers"),
    ({"expansion": 0}, r"`expansion` must be an integer >= 1; got 0"),
    ({"variant": "svhn"}, r"`variant` must be one of 'cifar', 'imagenet'; got 'svhn'"),
])
def test_bad_configurations_are_clear_errors(change, message):
    cfg = dataclasses.replace(kc.GUNN15.config, **change)
    with pytest.raises(ValueError, match=message):
        kc.GUNN15.spec.function(cfg, input_shape=(32, 32, 3))


@pytest.mark.parametrize("kwargs, message", [
    ({"drop_path_rate": 1.0}, r"`drop_path_rate` must be a number in \[0, 1\); got 1.0"),
    ({"drop_rate": -0.1}, r"`drop_rate` must be a number in \[0, 1\); got -0.1"),
    ({"norm": "instance"}, r"`norm` must be one of .*got 'instance'"),
])
def test_bad_options_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kc.GUNN15.tiny(input_shape=(32, 32, 3), **kwargs)


def test_gunn_layer_checks_its_segments():
    x = keras.Input((4, 4, 10))
    with pytest.raises(ValueError, match=r"`segments`=4 does not divide the 10 channels"):
        gunn.gunn_layer(BuildContext("t_"), x, 4, "gunn")
    with pytest.raises(ValueError, match=r"`segments` must be an integer >= 1; got 0"):
        gunn.gunn_layer(BuildContext("t_"), x, 0, "gunn")
