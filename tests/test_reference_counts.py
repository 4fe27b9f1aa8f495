"""Full-size builds: parameter counts and FLOPs against ../shared/reference/params.tsv.

The registry holds each model's reference integers (trainable parameters at 1000 classes and
2 x MACs at the default input size); these tests build every named configuration at full size.
"""

import csv
import math
import os
import re

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


# -- The registry's reference integers, pinned to ../shared/reference/params.tsv ---------------
# The full-size tests above compare each build with the registry's numbers; these rows pin those
# numbers to the reference table itself (the paper-faithful row where rows differ), so that a
# model and its registry entry cannot drift together. Cheap: nothing is built.
# our name: (framework, model_name in params.tsv, trainable params, FLOPs = 2 x MACs)
REFERENCE_ROWS = {
    "resnet18": ("torchvision", "resnet18", 11_689_512, 3_628_146_688),
    "resnet34": ("torchvision", "resnet34", 21_797_672, 7_327_522_816),
    # paper v1 (stride in the first 1x1): pytorchcv's rows; torchvision's differ in FLOPs only
    "resnet50": ("pytorchcv", "resnet50", 25_557_032, 7_715_946_496),
    "resnet101": ("pytorchcv", "resnet101", 44_549_160, 15_140_388_864),
    "resnet152": ("pytorchcv", "resnet152", 60_192_808, 22_564_831_232),
    "resnet50v2": ("timm", "resnetv2_50", 25_549_352, 8_178_368_512),
    "resnet101v2": ("timm", "resnetv2_101", 44_541_480, 15_602_810_880),
    "resnet152v2": ("timm", "resnetv2_152", 60_185_128, 23_027_253_248),
    "resnext50": ("torchvision", "resnext50_32x4d", 25_028_904, 8_460_959_744),
    "resnext101": ("timm", "resnext101_32x4d", 44_177_704, 15_939_993_600),
    "resnext101_32x8d": ("torchvision", "resnext101_32x8d", 88_791_336, 32_828_030_976),
    "resnext101_64x4d": ("torchvision", "resnext101_64x4d", 83_455_272, 30_920_540_160),
    "seresnet18": ("timm", "legacy_seresnet18", 11_778_592, 3_628_320_768),
    "seresnet34": ("timm", "legacy_seresnet34", 21_958_868, 7_327_837_184),
    "seresnet50": ("timm", "legacy_seresnet50", 28_088_024, 7_720_976_384),
    "seresnet101": ("timm", "legacy_seresnet101", 49_326_872, 15_149_875_200),
    "seresnet152": ("timm", "legacy_seresnet152", 66_821_848, 22_577_987_584),
    "seresnext50": ("timm", "legacy_seresnext50_32x4d", 27_559_896, 8_465_989_632),
    "seresnext101": ("timm", "legacy_seresnext101_32x4d", 48_955_416, 15_949_479_936),
    "senet154": ("timm", "legacy_senet154", 115_088_984, 41_376_727_040),
    "wideresnet50_2": ("torchvision", "wide_resnet50_2", 68_883_240, 22_796_042_240),
    "wideresnet101_2": ("torchvision", "wide_resnet101_2", 126_886_696, 45_506_101_248),
    "res2net50": ("timm", "res2net50_26w_4s", 25_699_120, 8_510_332_928),
    "res2net101": ("timm", "res2net101_26w_4s", 45_206_688, 16_133_948_928),
    "res2next50": ("timm", "res2next50", 24_671_464, 8_345_354_240),
    "xception": ("timm", "legacy_xception", 22_855_952, 16_714_806_992),
    "mobilenet": ("timm", "mobilenetv1_100", 4_231_976, 1_137_480_704),
    "mobilenet_075": ("timm", "_gen_mobilenet_v1(mult=0.75)", 2_585_560, 650_800_896),
    "mobilenet_050": ("timm", "_gen_mobilenet_v1(mult=0.5)", 1_331_592, 298_994_176),
    "mobilenet_025": ("timm", "_gen_mobilenet_v1(mult=0.25)", 470_072, 82_060_544),
    "mobilenetv2": ("torchvision", "mobilenet_v2", 3_504_872, 601_548_544),
    "mobilenetv2_140": ("torchvision", "mobilenet_v2(width_mult=1.4)", 6_108_776, 1_164_391_648),
    "mobilenetv3large": ("torchvision", "mobilenet_v3_large", 5_483_032, 433_179_520),
    "mobilenetv3small": ("torchvision", "mobilenet_v3_small", 2_542_856, 113_020_800),
    "shufflenetv1_g3_0_5x": ("official(megvii)", "ShuffleNetV1(model_size=0.5x,group=3)",
                             717_324, 75_179_712),
    "shufflenetv1_g3_1x": ("official(megvii)", "ShuffleNetV1(model_size=1.0x,group=3)",
                           1_864_728, 274_921_344),
    "shufflenetv1_g3_1_5x": ("official(megvii)", "ShuffleNetV1(model_size=1.5x,group=3)",
                             3_441_168, 584_887_104),
    "shufflenetv1_g3_2x": ("official(megvii)", "ShuffleNetV1(model_size=2.0x,group=3)",
                           5_449_776, 1_048_090_368),
    "shufflenetv1_g8_1x": ("official(megvii)", "ShuffleNetV1(model_size=1.0x,group=8)",
                           2_433_768, 276_731_904),
    "shufflenetv2_0_5x": ("official(megvii)", "ShuffleNetV2(model_size=0.5x)", 1_365_792,
                          80_952_896),
    "shufflenetv2_1x": ("official(megvii)", "ShuffleNetV2(model_size=1.0x)", 2_278_760,
                        291_628_592),
    "shufflenetv2_1_5x": ("official(megvii)", "ShuffleNetV2(model_size=1.5x)", 3_506_720,
                          597_941_312),
    "shufflenetv2_2x": ("official(megvii)", "ShuffleNetV2(model_size=2.0x)", 7_402_600,
                        1_181_566_000),
}

# Paper tables, to their rounding (millions): WRN Table 4 (CIFAR-10), arXiv:1603.05027, the WRN
# paper's ImageNet table (pre-activation ResNet-200).
PAPER_COUNTS = {
    "wideresnet16_8": 11.0, "wideresnet28_10": 36.5, "wideresnet40_4": 8.9,
    "wideresnet40_1": 0.6, "wideresnet40_2": 2.2, "wideresnet40_8": 35.7,
    "wideresnet28_12": 52.5, "wideresnet22_8": 17.2, "wideresnet22_10": 26.8,
    "wideresnet16_10": 17.1, "preactresnet164": 1.7, "preactresnet1001": 10.2,
    "resnet200v2": 64.7,
}

_TSV = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "shared", "reference",
                    "params.tsv")


@pytest.mark.parametrize("name", sorted(REFERENCE_ROWS))
def test_registry_counts_are_the_reference_rows(name):
    _, _, params, flops = REFERENCE_ROWS[name]
    spec = kc.get_spec(name)
    assert (spec.params, spec.flops) == (params, flops), name


# The families whose rows are pinned above (the foundation and lightweight issues); a later
# family adds its rows and its name here.
PINNED_FAMILIES = {"resnet", "resnet_v2", "resnext", "senet", "wide_resnet", "res2net",
                   "mobilenet", "mobilenet_v2", "mobilenet_v3", "shufflenet", "xception", "igc",
                   "deep_roots", "shift"}


def test_every_registry_count_is_a_pinned_row_or_says_where_it_comes_from():
    for name in kc.list_models():
        spec = kc.get_spec(name)
        if spec.family not in PINNED_FAMILIES:
            continue
        if spec.params is not None and name not in REFERENCE_ROWS:
            assert re.search(r"measured|not in params\.tsv", spec.reference), (
                f"{name}: count {spec.params} is neither a params.tsv row pinned here nor marked "
                f"as measured ({spec.reference!r})")
    for name, paper in PAPER_COUNTS.items():
        assert kc.get_spec(name).paper_params == paper, name


@pytest.mark.skipif(not os.path.isfile(_TSV), reason="../shared/reference/params.tsv not present")
def test_pinned_rows_are_in_params_tsv():
    with open(_TSV, newline="") as f:
        rows = {(r["framework"], r["model_name"]): r for r in csv.DictReader(f, delimiter="\t")}
    for name, (framework, model_name, params, flops) in REFERENCE_ROWS.items():
        row = rows.get((framework, model_name))
        assert row is not None, f"{name}: no row {framework} {model_name}"
        assert (int(row["params"]), int(row["flops"])) == (params, flops), name
