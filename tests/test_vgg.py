"""VGG beyond the shared routine: Table 1's columns (weight layers, LRN, 1x1 convolutions),
Table 2's counts for the two configurations no implementation has, the BatchNorm variants,
keras.applications' VGG16/VGG19, and the options' errors. (The exact counts and FLOPs of the
torchvision names: test_reference_counts.py; their weights' logit parity: test_port.py.)"""

import csv
import os

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras
from keras_convnets.layers import LocalResponseNormalization
from keras_convnets.models import vgg

from reference_tables import PARAMS_TSV

#: Table 2 of the paper (millions), and Table 1's "N weight layers" header.
TABLE_2 = {"vgg11": 133, "vgg11_lrn": 133, "vgg13": 133, "vgg16_c": 134, "vgg16": 138,
           "vgg19": 144}
WEIGHT_LAYERS = {"vgg11": 11, "vgg11_lrn": 11, "vgg13": 13, "vgg16_c": 16, "vgg16": 16,
                 "vgg19": 19}
TINY = (64, 64, 3)


def _of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def _short(model, layers):
    return [layer.name[len(model.name) + 1:] for layer in layers]


def test_registry_counts_round_to_table_2():
    """The four names with a torchvision count (checked to the integer by
    test_reference_counts.py) round to Table 2's millions."""
    for name in ("vgg11", "vgg13", "vgg16", "vgg19"):
        assert round(kc.get_spec(name).params / 1e6) == TABLE_2[name], name


@pytest.mark.slow
@pytest.mark.parametrize("name, count", [
    ("vgg11_lrn", 132_863_336),  # A's weights: the normalisation has none
    ("vgg16_c", 133_638_952),    # D less 3 x (3x3 - 1x1) kernels: 138,357,544 - 4,718,592
])
def test_configurations_without_an_implementation_match_table_2(name, count):
    model = kc.get_model(name)
    assert kc.count_params(model) == (count, 0)
    assert round(count / 1e6) == TABLE_2[name]


@pytest.mark.parametrize("name", sorted(WEIGHT_LAYERS))
def test_table_1_weight_layers(name):
    model = kc.get_spec(name).build_tiny(input_shape=TINY)
    convs, dense = _of(model, keras.layers.Conv2D), _of(model, keras.layers.Dense)
    assert len(convs) + len(dense) == WEIGHT_LAYERS[name]
    assert len(dense) == 3 and len(_of(model, keras.layers.MaxPooling2D)) == 5
    assert all(c.use_bias and c.strides == (1, 1) for c in convs)


def test_table_1_as_data():
    assert vgg.table_column("C")[2] == ((3, 256), (3, 256), (1, 256))
    assert [len(stage) for stage in vgg.table_column("E")] == [2, 2, 4, 4, 4]
    assert [f for stage in vgg.table_column("A") for _, f in stage] == [
        64, 128, 256, 256, 512, 512, 512, 512]


def test_lrn_only_after_the_first_convolution_of_a_lrn():
    model = kc.VGG11_LRN.tiny(input_shape=TINY)
    lrn = _of(model, LocalResponseNormalization)
    assert _short(model, lrn) == ["block1_lrn"]
    names = _short(model, model.layers)
    index = names.index("block1_lrn")
    assert names[index - 1:index + 2] == ["block1_conv1_relu", "block1_lrn", "stage1_out"]
    # AlexNet's constants (Sec. 2.1 of the paper)
    assert {k: lrn[0].get_config()[k] for k in ("size", "bias", "alpha", "beta")} == {
        "size": 5, "bias": 2.0, "alpha": 1e-4, "beta": 0.75}
    assert not _of(kc.VGG11.tiny(input_shape=TINY), LocalResponseNormalization)


def test_configuration_c_closes_the_last_three_stages_with_1x1():
    c = kc.VGG16_C.tiny(input_shape=TINY)
    d = kc.VGG16.tiny(input_shape=TINY)
    kernels = {name: layer.kernel_size[0] for name, layer in
               zip(_short(c, _of(c, keras.layers.Conv2D)), _of(c, keras.layers.Conv2D))}
    assert [n for n, k in kernels.items() if k == 1] == [
        "block3_conv3", "block4_conv3", "block5_conv3"]
    assert _short(c, _of(c, keras.layers.Conv2D)) == _short(d, _of(d, keras.layers.Conv2D))
    # 1x1 keeps the map size
    assert c.get_layer("vgg16_c_block5_conv3").output.shape[1] == 4


def test_batch_norm_variants():
    """Every convolution, its bias kept, is followed by BatchNorm and then ReLU (torchvision's
    vgg*_bn); ``norm="batch"`` on the plain name builds the same network."""
    model = kc.VGG11_BN.tiny(input_shape=TINY)
    convs = _of(model, keras.layers.Conv2D)
    assert len(_of(model, keras.layers.BatchNormalization)) == len(convs) == 8
    names = _short(model, model.layers)
    for conv in _short(model, convs):
        index = names.index(conv)
        assert names[index + 1:index + 3] == [conv + "_bn", conv + "_relu"]
    assert all(c.use_bias for c in convs)
    assert model.get_layer("vgg11_bn_block1_conv1_bn").epsilon == 1e-5

    keras.backend.clear_session()
    expected = kc.VGG11_BN.tiny(input_shape=TINY).to_json().replace('"vgg11_bn', '"MODEL')
    keras.backend.clear_session()
    plain = kc.VGG11.tiny(input_shape=TINY, norm="batch").to_json().replace('"vgg11', '"MODEL')
    assert plain == expected
    assert not _of(kc.VGG11.tiny(input_shape=TINY), keras.layers.BatchNormalization)


def _keras_applications_params(builder):
    path = os.path.join(os.path.dirname(PARAMS_TSV), "keras_applications_params.tsv")
    with open(path, newline="") as f:
        rows = {r["keras_app"]: r for r in csv.DictReader(f, delimiter="\t")}
    return int(rows[builder]["trainable_params"])


@pytest.mark.parametrize("name", ["vgg16", "vgg19"])
def test_keras_applications_twin(name):
    """keras.applications' VGG16/VGG19: the same count at 224, the same weighted layers in the
    same order, and, with its weights copied onto ours, the same predictions (built at 32x32,
    where fc6 is 512 wide: the cheap size with the same layers)."""
    spec = kc.get_spec(name)
    twin = spec.keras_twin.builder
    assert spec.params == _keras_applications_params(twin)
    theirs = getattr(keras.applications, twin)(weights=None, input_shape=(32, 32, 3))
    ours = spec.builder(input_shape=(32, 32, 3))
    shapes = lambda model: [tuple(w.shape) for w in model.weights]  # noqa: E731
    assert shapes(ours) == shapes(theirs)
    assert kc.count_params(ours) == kc.count_params(theirs)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(theirs(x)), rtol=1e-5,
                               atol=1e-7)


def test_backbone_takes_any_size_from_the_minimum():
    backbone = kc.VGG16.tiny(include_top=False, input_shape=(None, None, 3))
    for size, last in ((32, 1), (48, 1), (100, 3), (224, 7)):
        images = np.zeros((1, size, size + 16, 3), "float32")
        assert np.asarray(backbone(images)).shape == (1, last, (size + 16) // 32, 64)


def test_classifier_takes_the_flattened_map_of_its_input_size():
    model = kc.VGG11.tiny(input_shape=(96, 96, 3), classes=5)
    assert model.get_layer("vgg11_fc6").kernel.shape == (3 * 3 * 64, 512)
    dropouts = _short(model, _of(model, keras.layers.Dropout))
    assert dropouts == ["fc6_dropout", "head_dropout"]  # after fc6 and fc7 (Sec. 3.1)
    assert not _of(kc.VGG11.tiny(input_shape=TINY, drop_rate=0.0), keras.layers.Dropout)


@pytest.mark.parametrize("kwargs, message", [
    ({"input_shape": (None, None, 3)}, r"include_top=True flattens the last feature map into "
                                       r"the classifier, so the input size must be fixed"),
    ({"input_shape": (31, 64, 3)}, r"`input_shape` height 31 is below the minimum of 32"),
    ({"norm": "lrn"}, r"`norm` must be one of 'none', 'batch'.*got 'lrn'"),
    ({"drop_path_rate": 0.1}, r"`drop_path_rate`=0.1 needs residual blocks, and VGG has none"),
    ({"drop_rate": 1.0}, r"`drop_rate` must be a number in \[0, 1\); got 1.0"),
])
def test_bad_options_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kc.VGG16.tiny(**kwargs)
