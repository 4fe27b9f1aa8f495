"""Deep Roots (hierarchical filter groups in ResNet-50) beyond the shared routine: the groups
per stage, the abstract's savings, the options."""

import pytest

import keras_convnets as kc
from keras_convnets.models import deep_roots


# -- Deep Roots -------------------------------------------------------------------------------
def test_deep_roots_groups_halve_per_stage():
    assert deep_roots.root_groups(64) == (64, 32, 16, 8)
    assert deep_roots.root_groups(8) == (8, 4, 2, 1)
    assert deep_roots.root_groups(2) == (2, 1, 1, 1)


@pytest.mark.slow
def test_deep_roots_root64_saves_what_the_abstract_says():
    """"For ResNet 50, our model has 40% fewer parameters, 45% fewer floating point
    operations": root-64 against the (Caffe, stride-in-1x1) ResNet-50, to the percent."""
    model = kc.ResNet50_Root64()
    params = kc.count_params(model)[0]
    assert round(1 - params / kc.get_spec("resnet50").params, 2) == 0.40
    assert round(1 - kc.count_flops(model) / kc.get_spec("resnet50").flops, 2) == 0.45
    layer = model.get_layer("resnet50_root64_stage1_block1_conv2")
    assert layer.groups == 64 and layer.filters == 64  # conv2_x is depthwise at root-64
    assert model.get_layer("resnet50_root64_stage4_block3_conv2").groups == 8


def test_deep_roots_rejects_cardinality():
    with pytest.raises(ValueError, match="cardinality"):
        kc.ResNet50_Root8(cardinality=4)
