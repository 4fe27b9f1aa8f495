"""AlexNet and its response normalisation: the layer against NumPy, the two layouts' counts,
the options and their errors. The shared registry routine (test_models.py) and the TFLite sweep
(test_tflite.py) cover both builders as they cover every model."""

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras
from keras_convnets.layers import LocalResponseNormalization


def _lrn_numpy(a, size, bias, alpha, beta):
    """Sec. 3.3 of the paper, written out channel by channel."""
    channels = a.shape[-1]
    out = np.empty_like(a)
    for i in range(channels):
        low, high = max(0, i - size // 2), min(channels - 1, i + size // 2)
        square_sum = np.sum(a[..., low:high + 1] ** 2, axis=-1)
        out[..., i] = a[..., i] / (bias + alpha * square_sum) ** beta
    return out


@pytest.mark.legacy
@pytest.mark.parametrize("kwargs", [{}, {"size": 3, "bias": 1.0, "alpha": 0.1, "beta": 0.5}])
def test_lrn_matches_the_paper_formula(kwargs, rng, save_and_reload):
    a = rng.normal(0, 3, (2, 4, 5, 11)).astype("float32")
    layer = LocalResponseNormalization(**kwargs)
    config = {"size": 5, "bias": 2.0, "alpha": 1e-4, "beta": 0.75, **kwargs}
    np.testing.assert_allclose(np.asarray(layer(a)), _lrn_numpy(a, **config), rtol=1e-5)
    assert {k: layer.get_config()[k] for k in config} == config
    inputs = keras.Input((4, 5, 11))
    model = keras.Model(inputs, LocalResponseNormalization(**kwargs)(inputs))
    reloaded = save_and_reload(model)
    np.testing.assert_allclose(np.asarray(reloaded(a)), _lrn_numpy(a, **config), rtol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 4}, r"`size` must be odd.*got 4"),
    ({"size": 0}, r"`size` must be an integer >= 1; got 0"),
    ({"alpha": -1.0}, r"`alpha` must be a positive number; got -1.0"),
    ({"beta": "x"}, r"`beta` must be a positive number; got 'x'"),
])
def test_lrn_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LocalResponseNormalization(**kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("builder, kwargs, params", [
    (kc.AlexNet, {}, 60_965_224),             # pytorchcv alexnet + groups=2 (params.tsv)
    (kc.AlexNet, {"groups": 1}, 62_378_344),  # pytorchcv alexnet, dense (params.tsv)
    (kc.AlexNetOWT, {}, 61_100_840),          # torchvision alexnet (params.tsv)
])
def test_parameter_counts_of_both_layouts(builder, kwargs, params):
    model = builder(**kwargs)
    assert kc.count_params(model) == (params, 0)
    # The paper's maps: 55 -> 27 -> 13 -> 6 from a 224 input, so fc6 takes 6 x 6 x 256.
    maps = [model.get_layer(f"{model.name}_stage{i}_out").output.shape[1] for i in (1, 2, 3, 4)]
    assert maps == [55, 27, 13, 6]
    assert model.get_layer(f"{model.name}_fc6").kernel.shape == (9216, 4096)


def test_paper_layout_groups_and_normalisation():
    model = kc.AlexNet.tiny(input_shape=(95, 95, 3), classes=5)
    groups = {layer.name.split("_")[-1]: getattr(layer, "groups", 1) for layer in model.layers
              if layer.name.split("_")[-1] in ("conv1", "conv2", "conv3", "conv4", "conv5")}
    assert groups == {"conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}
    lrn = [layer.name for layer in model.layers
           if isinstance(layer, LocalResponseNormalization)]
    assert lrn == ["alexnet_stage1_out", "alexnet_stage2_out"]  # after conv1 and conv2
    dropouts = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert dropouts == ["alexnet_fc6_dropout", "alexnet_head_dropout"]  # after fc6 and fc7
    assert not [layer for layer in kc.AlexNetOWT.tiny(input_shape=(95, 95, 3)).layers
                if isinstance(layer, LocalResponseNormalization)]


def test_batch_norm_option_replaces_the_response_normalisation():
    model = kc.AlexNet.tiny(input_shape=(95, 95, 3), classes=5, norm="batch")
    kinds = [type(layer).__name__ for layer in model.layers]
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 5 and "LocalResponseNormalization" not in kinds
    convs = [layer for layer in model.layers if layer.name.endswith(("conv1", "conv3"))]
    assert convs and not any(layer.use_bias for layer in convs)  # BN's beta is the bias


@pytest.mark.parametrize("kwargs, message", [
    ({"norm": "lrn2"}, r"`norm` must be one of 'lrn', 'none', 'batch'.*got 'lrn2'"),
    ({"groups": 0}, r"`groups` must be an integer >= 1; got 0"),
    ({"groups": 5}, r"groups"),
    ({"input_shape": (94, 94, 3)}, r"`input_shape` height 94 is below the minimum of 95"),
    ({"input_shape": (None, None, 3)}, r"include_top=True flattens the last feature map into "
                                       r"the classifier, so the input size must be fixed"),
])
def test_bad_options_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kc.AlexNet.tiny(**kwargs)


def test_backbone_takes_any_size_from_the_minimum():
    backbone = kc.AlexNet.tiny(include_top=False, pooling="avg", input_shape=(None, None, 3))
    for size in (95, 127, 224):
        images = np.zeros((1, size, size, 3), "float32")
        assert np.asarray(backbone(images)).shape == (1, 32)


# -- ZFNet ------------------------------------------------------------------------------------
def _names(model):
    return [layer.name[len(model.name) + 1:] for layer in model.layers[1:]]


def test_zfnet_geometry_is_fig_3():
    """conv1 7x7/2, conv2 5x5/2, poolings rounding up: Fig. 3's 110 -> 55 -> 26 -> 13 -> 6 maps
    from 224, and conv3-5 of model (b)'s 512-1024-512 filters."""
    from keras_convnets.models.alexnet import ZFNET_CONFIG

    assert [c.filters for c in ZFNET_CONFIG.convs] == [96, 256, 512, 1024, 512]
    model = kc.ZFNet.tiny(input_shape=(224, 224, 3))
    sizes = {name: model.get_layer(f"zfnet_{name}").output.shape[1]
             for name in ("conv1", "pool1", "conv2", "pool2", "conv5", "stage3_out")}
    assert sizes == {"conv1": 110, "pool1": 55, "conv2": 26, "pool2": 13, "conv5": 13,
                     "stage3_out": 6}
    assert [(model.get_layer(f"zfnet_conv{i}").kernel_size[0],
             model.get_layer(f"zfnet_conv{i}").strides[0]) for i in (1, 2)] == [(7, 2), (5, 2)]
    assert model.get_layer("zfnet_fc6").kernel.shape[0] == 6 * 6 * 64  # tiny conv5: 64


def test_zfnet_normalises_after_the_pooling_or_before_it_as_pytorchcv():
    paper = kc.ZFNet.tiny(input_shape=(79, 79, 3))
    names = _names(paper)
    assert names[:6] == ["conv1_pad", "conv1", "conv1_relu", "pool1_pad", "pool1", "stage1_out"]
    lrn = [layer for layer in paper.layers if isinstance(layer, LocalResponseNormalization)]
    assert [layer.name for layer in lrn] == ["zfnet_stage1_out", "zfnet_conv2_lrn"]
    assert names.index("conv2_lrn") == names.index("pool2") + 1
    assert {layer.alpha for layer in lrn} == {1e-4}

    torch_style = kc.ZFNet.tiny(input_shape=(79, 79, 3), lrn_style="pytorchcv")
    names = _names(torch_style)
    assert names[:6] == ["conv1_pad", "conv1", "conv1_relu", "conv1_lrn", "pool1_pad",
                         "stage1_out"]
    lrn = [layer for layer in torch_style.layers
           if isinstance(layer, LocalResponseNormalization)]
    assert len(lrn) == 2 and {layer.alpha for layer in lrn} == {2e-5}  # torch's alpha / size
    # the same weights either way; AlexNet's normalisation already precedes its pooling
    assert [w.shape for w in paper.weights] == [w.shape for w in torch_style.weights]
    alexnet = kc.AlexNet.tiny(input_shape=(95, 95, 3), lrn_style="pytorchcv")
    assert _names(alexnet) == _names(kc.AlexNet.tiny(input_shape=(95, 95, 3)))


def test_zfnet_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match=r"`lrn_style` must be one of 'paper', 'pytorchcv'; "
                                         r"got 'caffe'"):
        kc.ZFNet.tiny(lrn_style="caffe")
    with pytest.raises(ValueError, match=r"`input_shape` height 78 is below the minimum of 79"):
        kc.ZFNet.tiny(input_shape=(78, 78, 3))
