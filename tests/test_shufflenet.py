"""ShuffleNet v1 and v2 beyond the shared routine: the papers' tables (widths, complexities),
the layout options that give the reference implementations' counts, the units, the errors.
Exact reference counts (params.tsv) are checked by test_reference_counts.py."""

import math

import pytest

import keras_convnets as kc
from keras_convnets.backend import keras
from keras_convnets.layers import ChannelShuffle, GroupConv2D
from keras_convnets.models import shufflenet
from keras_convnets.weights.mappings import mapping_module

from reference_tables import params_tsv


def _conv_macs(model):
    """Multiply-adds of the convolutions alone (count_flops / 2 without the classifier)."""
    dense = sum(2 * layer.kernel.shape[0] * layer.kernel.shape[1] for layer in model.layers
                if isinstance(layer, keras.layers.Dense))
    return (kc.count_flops(model) - dense) // 2


# -- ShuffleNet v1 ----------------------------------------------------------------------------
@pytest.mark.parametrize("groups, expected", [(1, 144), (2, 200), (3, 240), (4, 272), (8, 384)])
def test_shufflenet_v1_widths_are_table_1(groups, expected):
    cfg = shufflenet.v1_config(groups, 1.0)
    assert cfg.widths == (expected, 2 * expected, 4 * expected) and cfg.stem == 24
    assert cfg.repeats == (4, 8, 4)  # Stage 2: 1 + 3, Stage 3: 1 + 7, Stage 4: 1 + 3


def test_shufflenet_v1_scaled_widths_and_stems():
    # exact Table 1 x s wherever it divides into 4g; official Conv1 widths for g = 3 and 8
    assert shufflenet.v1_config(3, 0.5).widths == (120, 240, 480)
    assert shufflenet.v1_config(3, 0.5).stem == 12 and shufflenet.v1_config(8, 0.5).stem == 16
    assert shufflenet.v1_config(3, 1.5).stem == 24 and shufflenet.v1_config(3, 2.0).stem == 48
    assert shufflenet.v1_config(8, 0.25).widths == (96, 192, 384)
    # 200 x 0.5 = 100 and 272 x 0.25 = 68 are not multiples of 4g: rounded to the nearest
    assert shufflenet.v1_config(2, 0.5).widths[0] == 104
    assert shufflenet.v1_config(4, 0.25).widths[0] == 64
    for g in shufflenet.V1_GROUPS:
        for s in shufflenet.V1_SCALES:
            cfg = shufflenet.v1_config(g, s)
            assert all(w % (4 * g) == 0 for w in cfg.widths)
            assert (cfg.widths[0] - cfg.stem) % g == 0


#: Table 1 of arXiv:1707.01083 (complexity, MFLOPs = multiply-adds, at 1x) and Table 5 of
#: arXiv:1807.11164, typed from the papers.
V1_PAPER_MFLOPS = {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}
V2_PAPER_MFLOPS = {"shufflenetv2_0_5x": 41, "shufflenetv2_1x": 146, "shufflenetv2_1_5x": 299,
                   "shufflenetv2_2x": 591}


def test_shufflenet_v1_paper_complexities_are_table_1():
    assert shufflenet.V1_PAPER_MFLOPS == V1_PAPER_MFLOPS
    assert shufflenet.V2_PAPER_MFLOPS == V2_PAPER_MFLOPS


@pytest.mark.slow
def test_shufflenet_v1_complexity_is_table_1():
    """Table 1: 143 / 140 / 137 / 133 / 137 MFLOPs (multiply-adds) for g = 1, 2, 3, 4, 8.

    Tolerance: the paper's integer after rounding to the nearest million, counting the
    convolutions (the classifier's 0.96-1.5M multiply-adds excluded). That is how all five
    figures come out -- e.g. g = 1: 142.50M -> 143, g = 3: 136.50M -> 137 -- while with the
    classifier g = 2, 4, 8 would read 141, 134, 138.
    """
    for groups, paper in V1_PAPER_MFLOPS.items():
        model = kc.get_model(f"shufflenetv1_g{groups}_1x")
        macs = _conv_macs(model)
        assert round(macs / 1e6) == paper, (groups, macs)
        assert abs(kc.count_flops(model) / 2e6 / paper - 1) < 0.011
        keras.backend.clear_session()


@pytest.mark.slow
def test_shufflenet_v1_options_give_pytorchcv_and_paper_layouts():
    # pytorchcv's port has a biased classifier: +1000 parameters (params.tsv)
    assert kc.count_params(kc.ShuffleNetV1_g3_1x(classifier_bias=True))[0] == 1_865_728
    assert kc.count_params(kc.ShuffleNetV1_g8_1x(classifier_bias=True))[0] == 2_434_768
    # the paper's scaling rule at 1.5x: Conv1 of 36 instead of the official 24
    official = kc.count_params(kc.ShuffleNetV1_g3_1_5x())[0]
    paper = kc.count_params(kc.ShuffleNetV1_g3_1_5x(stem_channels=36))[0]
    # Conv1 + BN: 12 more filters (27 + 2 each); Stage 2's first (ungrouped) 1x1 sees 12 more
    # inputs (x 90 bottleneck channels); its grouped 1x1 makes 12 fewer (x 30 inputs, + BN)
    assert paper - official == 12 * (27 + 2) + 12 * 90 - 12 * (30 + 2)


def test_shufflenet_v1_units(rng):
    model = kc.ShuffleNetV1_g3_1x.tiny(input_shape=(64, 64, 3))
    names = {layer.name for layer in model.layers}
    # Stage 2's first 1x1 is ungrouped; later ones are grouped and followed by a shuffle
    first = model.get_layer("shufflenetv1_g3_1x_stage2_unit1_conv1")
    later = model.get_layer("shufflenetv1_g3_1x_stage2_unit2_conv1")
    assert isinstance(first, keras.layers.Conv2D) and isinstance(later, GroupConv2D)
    assert later.groups == 3
    assert isinstance(model.get_layer("shufflenetv1_g3_1x_stage2_unit2_shuffle"), ChannelShuffle)
    # stride-2 units concatenate a 3x3 average-pooled shortcut; stride-1 units add
    assert "shufflenetv1_g3_1x_stage3_out" in names
    assert isinstance(model.get_layer("shufflenetv1_g3_1x_stage3_out"), keras.layers.Concatenate)
    assert isinstance(model.get_layer("shufflenetv1_g3_1x_stage2_unit2_add"), keras.layers.Add)
    assert isinstance(model.get_layer("shufflenetv1_g3_1x_stage2_unit1_pool"),
                      keras.layers.AveragePooling2D)


@pytest.mark.parametrize("kwargs, match", [
    (dict(groups=5, scale=1.0), "groups"), (dict(groups=3, scale=0.75), "scale"),
    (dict(groups=8, scale=1.0, stem_channels=20), "stem_channels"),
])
def test_shufflenet_v1_rejects_unsupported_configurations(kwargs, match):
    with pytest.raises(ValueError, match=match):
        shufflenet.v1_config(**kwargs)


def test_shufflenet_v1_rejects_bad_options():
    with pytest.raises(ValueError, match="stem_channels"):
        kc.ShuffleNetV1_g3_1x(stem_channels=0)
    with pytest.raises(ValueError, match="drop_path_rate"):
        kc.ShuffleNetV1_g3_1x(drop_path_rate=1.5)
    with pytest.raises(ValueError, match="pooling"):
        kc.ShuffleNetV1_g3_1x(pooling="avg")
    with pytest.raises(ValueError, match="classes"):
        kc.ShuffleNetV1_g3_1x(classes=0)


# -- ShuffleNet v2 ----------------------------------------------------------------------------
@pytest.mark.slow
def test_shufflenet_v2_official_layout_has_the_papers_complexity():
    """Table 5: 41 / 146 / 299 / 591 MFLOPs. The official layout's multiply-adds are 40.48,
    145.81, 298.97, 590.78 M: each paper figure is the count rounded up to the next million.
    torchvision's layout (144.91, 295.76, 583.25 M at 1x-2x) cannot be read as 146/299/591."""
    for name, paper in V2_PAPER_MFLOPS.items():
        official = kc.count_flops(kc.get_model(name)) / 2e6
        assert math.ceil(official) == paper, (name, official)
        torchvision = _torchvision_row(name)[1] / 2e6
        if paper > 41:
            assert round(torchvision) < paper and math.ceil(torchvision) < paper
        keras.backend.clear_session()


def _torchvision_row(name):
    """params.tsv's (params, FLOPs) of the torchvision model our ``layout="torchvision"`` ports
    from (the weight mapping names it)."""
    source = mapping_module("shufflenet").SOURCES[name][0]
    framework, model = source.split(":")
    row = params_tsv()[(framework, model)]
    return int(row["params"]), int(row["flops"])


def test_shufflenet_v2_torchvision_counts_are_the_references():
    for name in V2_PAPER_MFLOPS:
        assert shufflenet.V2_TORCHVISION[name] == _torchvision_row(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(V2_PAPER_MFLOPS))
def test_shufflenet_v2_torchvision_layout_is_exact(name):
    params, flops = _torchvision_row(name)
    model = kc.get_model(name, layout="torchvision")
    assert kc.count_params(model)[0] == params
    assert kc.count_flops(model) == flops
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)


def test_shufflenet_v2_options():
    model = kc.ShuffleNetV2_2x.tiny(input_shape=(64, 64, 3))
    assert [layer.rate for layer in model.layers
            if isinstance(layer, keras.layers.Dropout)] == [0.2]  # the official 2.0x
    assert model.get_layer(model.name + "_logits").use_bias is False
    keras.backend.clear_session()
    model = kc.ShuffleNetV2_2x.tiny(input_shape=(64, 64, 3), layout="torchvision")
    assert model.get_layer(model.name + "_logits").use_bias is True
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
    with pytest.raises(ValueError, match="layout"):
        kc.ShuffleNetV2_1x(layout="caffe")
