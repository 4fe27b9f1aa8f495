"""The lightweight / group-convolution family against its papers' tables.

Exact reference counts (params.tsv) are checked by test_reference_counts.py; here are the
papers' own figures -- complexities, rounded parameter counts, relative savings -- each to the
paper's rounding, plus the layout options that switch between reference implementations.
"""

import math

import pytest

import keras_convnets as kc
from keras_convnets.backend import keras
from keras_convnets.layers import ChannelShuffle, GroupConv2D, Shift
from keras_convnets.models import deep_roots, igc, shiftnet, shufflenet


def _conv_macs(model):
    """Multiply-adds of the convolutions alone (count_flops / 2 without the classifier)."""
    dense = sum(2 * layer.kernel.shape[0] * layer.kernel.shape[1] for layer in model.layers
                if isinstance(layer, keras.layers.Dense))
    return (kc.count_flops(model) - dense) // 2


def _weights(model, kinds):
    return sum(math.prod(w.shape) for layer in model.layers if isinstance(layer, kinds)
               for w in layer.trainable_weights)


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


def test_shufflenet_v1_paper_complexities_are_table_1():
    assert shufflenet.V1_PAPER_MFLOPS == {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}
    assert shufflenet.V2_PAPER_MFLOPS == {"shufflenetv2_0_5x": 41, "shufflenetv2_1x": 146,
                                          "shufflenetv2_1_5x": 299, "shufflenetv2_2x": 591}


@pytest.mark.slow
def test_shufflenet_v1_complexity_is_table_1():
    """Table 1: 143 / 140 / 137 / 133 / 137 MFLOPs (multiply-adds) for g = 1, 2, 3, 4, 8.

    Tolerance: the paper's integer after rounding to the nearest million, counting the
    convolutions (the classifier's 0.96-1.5M multiply-adds excluded). That is how all five
    figures come out -- e.g. g = 1: 142.50M -> 143, g = 3: 136.50M -> 137 -- while with the
    classifier g = 2, 4, 8 would read 141, 134, 138.
    """
    for groups, paper in shufflenet.V1_PAPER_MFLOPS.items():
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
        shufflenet.build_shufflenet_v1("shufflenetv1_g3_1x", **kwargs)


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
    for name, paper in shufflenet.V2_PAPER_MFLOPS.items():
        official = kc.count_flops(kc.get_model(name)) / 2e6
        assert math.ceil(official) == paper, (name, official)
        torchvision = shufflenet.V2_TORCHVISION[name][1] / 2e6
        if paper > 41:
            assert round(torchvision) < paper and math.ceil(torchvision) < paper
        keras.backend.clear_session()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(shufflenet.V2_TORCHVISION))
def test_shufflenet_v2_torchvision_layout_is_exact(name):
    params, flops = shufflenet.V2_TORCHVISION[name]
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


# -- IGCNet -----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(igc.IGC_TABLE))
def test_igcnet_matches_the_papers_parameter_column(name):
    """#Params (17.7M, 24.1M, 19.3M) = convolution + classifier weights at 100 classes, to
    the paper's 0.1M. (With BN's affine parameters L450M2 would read 19.4M.)"""
    paper = igc.IGC_TABLE[name][2]
    model = kc.get_model(name, classes=100)
    assert round(_weights(model, (keras.layers.Conv2D, GroupConv2D, keras.layers.Dense)) / 1e6,
                 1) == paper


def test_igc_block_structure():
    model = kc.IGCNet_L16M32.tiny()
    primary = model.get_layer("igcnet_l16m32_stage2_block1_primary_conv")
    secondary = model.get_layer("igcnet_l16m32_stage2_block1_secondary_conv")
    # L = 2 primary partitions; M = 4 secondary partitions of L = 2 channels at 8 channels
    assert primary.groups == 2 and primary.kernel_size == (3, 3) and primary.strides == (2, 2)
    assert secondary.groups == 4 and secondary.kernel_size == (1, 1)
    assert model.get_layer("igcnet_l16m32_stage2_block1_permute").groups == 2
    assert model.get_layer("igcnet_l16m32_stage2_block1_permute_back").groups == 4


def test_igcnet_options():
    residual = kc.IGCNet_L16M32.tiny(residual=True, drop_path_rate=0.1)
    assert any(layer.name.endswith("_shortcut_conv") for layer in residual.layers)
    with pytest.raises(ValueError, match="depth"):
        kc.IGCNet_L16M32(depth=21)
    with pytest.raises(ValueError, match="depth"):
        kc.IGCNet_L16M32(depth=23, residual=True)
    with pytest.raises(ValueError, match="drop_path_rate"):
        kc.IGCNet_L16M32(drop_path_rate=0.1)


# -- clcNet -----------------------------------------------------------------------------------
def _clc_count(a, b, c, d):
    """clcnet.lua by hand: conv(3, 32, 3x3) + BN, then clcBlock(in, out, g1 = in / 2, g2 = 2)
    = 3x3 (9 in * 2) + BN(in) + 1x1 (in * out / 2) + BN(out); Linear(1024, 1000)."""
    def block(cin, cout):
        return 9 * cin * 2 + 2 * cin + cin * cout // 2 + 2 * cout
    total = 27 * 32 + 64 + block(32, 64)
    for cin, cout, repeat in ((64, 128, a), (128, 256, b), (256, 512, c), (512, 1024, d)):
        total += block(cin, cout) + repeat * block(cout, cout)
    return total + 1024 * 1000 + 1000


def test_clcnet_counts_follow_the_authors_model_definition():
    for name, (repeats, params) in igc.CLC_TABLE.items():
        assert _clc_count(*repeats) == params == kc.get_spec(name).params


# -- ShiftResNet ------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("depth", sorted(shiftnet.PAPER_PARAMS))
def test_shift_resnet_matches_the_papers_counts(depth):
    """Parameters in millions for epsilon = 1, 3, 6, 9, to the paper's 0.01M."""
    for expansion, paper in shiftnet.PAPER_PARAMS[depth].items():
        model = kc.get_model(f"shiftresnet{depth}", expansion=expansion)
        assert round(kc.count_params(model)[0] / 1e6, 2) == paper, (depth, expansion)
        keras.backend.clear_session()


def test_shift_resnet_module():
    model = kc.ShiftResNet20.tiny(expansion=3, shift_layout="interleaved")
    shift = model.get_layer("shiftresnet20_stage2_block1_shift")
    assert isinstance(shift, Shift) and shift.layout == "interleaved"
    # the stride sits in the second 1x1, after the shift (the authors' code)
    assert model.get_layer("shiftresnet20_stage2_block1_conv2").strides == (2, 2)
    assert model.get_layer("shiftresnet20_stage2_block1_conv1").filters == 3 * 32
    # the spatial mixing costs nothing: FLOPs are the 1x1 convolutions'
    assert kc.count_flops(keras.Model(shift.input, shift.output)) == 0
    with pytest.raises(ValueError, match="expansion"):
        kc.ShiftResNet20(expansion=0)
    with pytest.raises(ValueError, match="shift_layout"):
        kc.ShiftResNet20(shift_layout="diagonal")


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
