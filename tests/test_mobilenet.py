"""MobileNet v1/V2/V3 (and, where they share options, Xception) beyond the shared routine: the
papers' multiply-add tables, widths, options and errors. (Parameter counts and FLOPs against the
reference implementations are in test_reference_counts.py.)"""

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras
from keras_convnets.layers import DropPath, HardSwish, SEBlock


def _layers(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


# -- MobileNet v1: Tables 6 and 7 of arXiv:1704.04861 -----------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name, size, million_mult_adds", [
    ("mobilenet", 224, 569), ("mobilenet_075", 224, 325), ("mobilenet_050", 224, 149),
    ("mobilenet_025", 224, 41),                                    # Table 6: width multiplier
    ("mobilenet", 192, 418), ("mobilenet", 160, 290), ("mobilenet", 128, 186),  # Table 7
])
def test_mobilenet_v1_mult_adds_match_the_paper(name, size, million_mult_adds):
    model = kc.get_model(name, input_shape=(size, size, 3))
    mult_adds = kc.count_flops(model) / 2 / 1e6
    # the tables' integer millions: each is our count rounded or truncated (568.74M is "569",
    # 290.68M is "290"), so the check is to the paper's own precision
    assert million_mult_adds in (int(mult_adds), round(mult_adds)), f"{name}@{size}: {mult_adds}M"


def test_mobilenet_v1_widths_and_depth_multiplier():
    model = kc.MobileNet(alpha=0.5, depth_multiplier=2, include_top=False,
                         input_shape=(32, 32, 3))
    depthwise = _layers(model, keras.layers.DepthwiseConv2D)
    assert len(depthwise) == 13
    # Table 1 at alpha 0.5: 16 stem channels into the first depthwise, doubled by it.
    assert depthwise[0].output.shape[-1] == 32 and depthwise[-1].output.shape[-1] == 2 * 512
    assert model.output_shape == (None, 1, 1, 512)
    assert [layer.strides[0] for layer in depthwise] == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]


# -- MobileNetV2 ------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha, last", [(0.35, 1280), (1.0, 1280), (1.3, 1664), (1.4, 1792)])
def test_mobilenet_v2_last_conv_grows_only_above_one(alpha, last):
    model = kc.MobileNetV2(alpha=alpha, include_top=False, input_shape=(32, 32, 3))
    assert model.output_shape[-1] == last


def test_mobilenet_v2_residuals_and_drop_path():
    model = kc.MobileNetV2(drop_path_rate=0.2, input_shape=(32, 32, 3))
    # Table 2: 17 blocks, of which the repeats (n - 1 per row) keep the shape: 10 residuals.
    drop = _layers(model, DropPath)
    assert len(drop) == 10 == len(_layers(model, keras.layers.Add))
    rates = [layer.rate for layer in drop]
    assert rates == sorted(rates) and 0 < rates[0] < rates[-1] <= 0.2


# -- MobileNetV3 ------------------------------------------------------------------------------
@pytest.mark.parametrize("name, squeezed", [
    # torchvision: make_divisible(expanded // 4, 8), on the expanded (depthwise) channels
    ("mobilenetv3large", [24, 32, 32, 120, 168, 168, 240, 240]),
    ("mobilenetv3small", [8, 24, 64, 64, 32, 40, 72, 144, 144]),
])
def test_mobilenet_v3_se_blocks(name, squeezed):
    model = kc.get_model(name, input_shape=(32, 32, 3))
    se = _layers(model, SEBlock)
    assert [layer.reduce_kernel.shape[1] for layer in se] == squeezed
    assert all(layer.gate == "hard_sigmoid" and layer.activation == "relu" for layer in se)
    dense = _layers(model, keras.layers.Dense)
    assert [d.units for d in dense] == [1280 if "large" in name else 1024, 1000]
    assert isinstance(model.get_layer(f"{name}_head_act"), HardSwish)


def test_mobilenet_v3_minimalistic_has_no_se_hard_swish_or_5x5():
    for model in (kc.MobileNetV3SmallMinimal(input_shape=(32, 32, 3)),
                  kc.MobileNetV3Large(minimalistic=True, input_shape=(32, 32, 3))):
        assert not _layers(model, SEBlock) and not _layers(model, HardSwish)
        assert {layer.kernel_size for layer in _layers(model, keras.layers.DepthwiseConv2D)} == {
            (3, 3)}
    assert kc.count_params(kc.MobileNetV3Large(minimalistic=True))[0] == 3_924_288


def test_mobilenet_v3_backbone_has_no_head_layer():
    model = kc.MobileNetV3Large(include_top=False, pooling="avg", input_shape=(32, 32, 3))
    assert not _layers(model, keras.layers.Dense) and model.output_shape == (None, 960)


@pytest.mark.parametrize("name, channels", [
    ("mobilenet", [64, 128, 256, 512, 1024]),
    ("mobilenetv2", [16, 24, 32, 96, 1280]),
    ("mobilenetv3large", [16, 24, 40, 112, 960]),
    ("mobilenetv3small", [16, 16, 24, 48, 576]),  # the stem closes Small's stride-2 stage
])
def test_mobilenet_stage_outputs_at_224(name, channels):
    features = kc.feature_extractor(kc.get_model(name, include_top=False,
                                                 input_shape=(224, 224, 3)))
    shapes = [tuple(o.shape[1:]) for o in features.outputs]
    assert shapes == [(224 // s, 224 // s, c) for s, c in zip((2, 4, 8, 16, 32), channels)]


# -- options shared with keras.applications and the package ----------------------------------
@pytest.mark.parametrize("name, rate", [
    ("mobilenet", 1e-3), ("mobilenetv2", 0.2), ("mobilenetv3small", 0.2), ("xception", 0.5)])
def test_default_dropout_before_the_classifier(name, rate):
    spec = kc.get_spec(name)
    model = spec.builder.tiny(input_shape=(spec.min_size,) * 2 + (3,))
    assert [d.rate for d in _layers(model, keras.layers.Dropout)] == [rate]
    model = spec.builder.tiny(input_shape=(spec.min_size,) * 2 + (3,), drop_rate=0.0)
    assert not _layers(model, keras.layers.Dropout)


@pytest.mark.parametrize("name", ["mobilenetv2", "mobilenetv3small", "xception"])
def test_norm_option_reaches_every_norm(name):
    spec = kc.get_spec(name)
    model = spec.builder.tiny(input_shape=(spec.min_size,) * 2 + (3,), norm="group")
    assert _layers(model, keras.layers.GroupNormalization)
    assert not _layers(model, keras.layers.BatchNormalization)


@pytest.mark.parametrize("name, kwargs, match", [
    ("mobilenet", {"alpha": 0}, "alpha"),
    ("mobilenetv2", {"alpha": -0.5}, "alpha"),
    ("mobilenetv3large", {"alpha": "large"}, "alpha"),
    ("mobilenet", {"depth_multiplier": 0}, "depth_multiplier"),
    ("mobilenet", {"depth_multiplier": 1.5}, "depth_multiplier"),
    ("mobilenet", {"drop_path_rate": 0.1}, "has none"),
    ("mobilenetv3small", {"drop_path_rate": 1.0}, "drop_path_rate"),
    ("mobilenet", {"input_shape": (31, 31, 3)}, "minimum of 32"),
    ("xception", {"input_shape": (66, 66, 3)}, "minimum of 67"),
])
def test_bad_arguments_raise_clear_errors(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        kc.get_model(name, **kwargs)


def test_named_alpha_variants_are_the_generic_builder_at_that_alpha():
    assert (kc.count_params(kc.MobileNetV2_035(input_shape=(32, 32, 3)))
            == kc.count_params(kc.MobileNetV2(alpha=0.35, input_shape=(32, 32, 3))))
    assert kc.model_info("mobilenetv3small_050")["stage_strides"] == (2, 4, 8, 16, 32)


# -- legacy Keras -----------------------------------------------------------------------------
@pytest.mark.legacy
@pytest.mark.parametrize("name", ["mobilenet", "mobilenetv2", "mobilenetv3small", "xception"])
def test_tiny_models_in_both_keras_worlds(name, save_and_reload):
    spec = kc.get_spec(name)
    size = max(spec.min_size, 64)
    model = spec.builder.tiny(input_shape=(size, size, 3), classes=5)
    x = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    probs = np.asarray(model(x, training=False))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(save_and_reload(model)(x, training=False)), probs,
                               rtol=1e-5, atol=1e-6)
