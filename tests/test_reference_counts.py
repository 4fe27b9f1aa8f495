"""Full-size builds: parameter counts and FLOPs against ../shared/reference/params.tsv.

The registry holds each model's reference integers (trainable parameters at 1000 classes and
2 x MACs at the default input size); these tests build every named configuration at full size.
"""

import math

import pytest

import keras_convnets as kc
from keras_convnets.backend import keras

WITH_REFERENCE = [n for n in kc.list_models() if kc.get_spec(n).params is not None]
WITH_PAPER_COUNT = [n for n in kc.list_models() if kc.get_spec(n).paper_params is not None]


def _full_size(name, **kwargs):
    spec = kc.get_spec(name)
    return spec.builder(input_shape=(spec.default_size, spec.default_size, 3), **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("name", WITH_REFERENCE)
def test_parameters_and_flops_match_reference(name):
    spec = kc.get_spec(name)
    model = _full_size(name, classes=1000)
    trainable, non_trainable = kc.count_params(model)
    assert trainable == spec.params, f"{name}: {trainable} != reference {spec.params}"
    if spec.flops is not None:
        flops = kc.count_flops(model)
        assert abs(flops / spec.flops - 1) < 0.01, f"{name}: {flops} vs {spec.flops}"


@pytest.mark.slow
@pytest.mark.parametrize("name", WITH_PAPER_COUNT)
def test_parameters_match_paper_table(name):
    """Models with no exact reference match their paper's table to its rounding (0.1M)."""
    spec = kc.get_spec(name)
    model = _full_size(name)
    if spec.paper_params_scope == "conv":
        count = sum(math.prod(w.shape) for layer in model.layers
                    if isinstance(layer, keras.layers.Conv2D) for w in layer.trainable_weights)
    else:
        count = kc.count_params(model)[0]
    assert round(count / 1e6, 1) == spec.paper_params, f"{name}: {count}"


@pytest.mark.slow
@pytest.mark.parametrize("name, stride_in_1x1, flops", [
    # torchvision's "v1.5" (stride in the 3x3) and the paper's v1 layout differ only in FLOPs.
    ("resnet50", False, 8_178_368_512),
    ("resnet101", False, 15_602_810_880),
    ("seresnet50", False, 8_183_398_400),  # timm seresnet50
])
def test_stride_placement_option(name, stride_in_1x1, flops):
    model = _full_size(name, stride_in_1x1=stride_in_1x1)
    assert kc.get_spec(name).params == kc.count_params(model)[0]
    assert abs(kc.count_flops(model) / flops - 1) < 0.01


@pytest.mark.slow
def test_resnet_v1_shares_torchvision_count_at_other_class_counts():
    model = kc.ResNet50(classes=10)
    assert kc.count_params(model)[0] == 25_557_032 - 2048 * 990 - 990


@pytest.mark.slow
def test_senet154_keeps_dropout_before_classifier():
    model = kc.SENet154(input_shape=(64, 64, 3))
    dropout = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert [d.rate for d in dropout] == [0.2]
