"""Interleaved group convolutions (IGCNet) and clcNet beyond the shared routine: the papers'
parameter columns, the block structure, the options and their errors."""

import math

import pytest

import keras_convnets as kc
from keras_convnets.backend import keras
from keras_convnets.layers import GroupConv2D


def _weights(model, kinds):
    return sum(math.prod(w.shape) for layer in model.layers if isinstance(layer, kinds)
               for w in layer.trainable_weights)


#: The papers' #Params column (millions; conv + classifier weights at 100 classes), typed from
#: arXiv:1707.02725's comparison table.
IGC_PAPER_PARAMS = {"igcnet_l16m32": 17.7, "igcnet_l32m26": 24.1, "igcnet_l450m2": 19.3}


# -- IGCNet -----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(IGC_PAPER_PARAMS))
def test_igcnet_matches_the_papers_parameter_column(name):
    """#Params (17.7M, 24.1M, 19.3M) = convolution + classifier weights at 100 classes, to
    the paper's 0.1M. (With BN's affine parameters L450M2 would read 19.4M.)"""
    paper = IGC_PAPER_PARAMS[name]
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
    # clcnet.lua's repeats of the four stages: clcNet-A (1, 1, 5, 2), clcNet-B (1, 1, 7, 3)
    for name, repeats in (("clcnet_a", (1, 1, 5, 2)), ("clcnet_b", (1, 1, 7, 3))):
        assert _clc_count(*repeats) == kc.get_spec(name).params, name
