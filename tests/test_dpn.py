"""Dual Path Networks beyond the shared routine: Table 1's residual/dense split of a block, the
dense path's growth per stage, stochastic depth, the configuration checks and the
ChannelSplit size lists the blocks use. (Counts and FLOPs: test_reference_counts.py; logit
parity with timm: test_port.py.)"""

import dataclasses

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras
from keras_convnets.layers import ChannelSplit, DropPath
from keras_convnets.models import dpn


def _channels(model, suffix):
    return model.get_layer(f"{model.name}_{suffix}").output.shape[-1]


# DPN-92, Table 1: per stage the 1x1 output splits into the residual width (256, 512, 1024,
# 2048) plus the increment (16, 32, 24, 128); the stage ends with residual + (n + 2) x increment.
DPN92_TABLE1 = [(256, 16, 3), (512, 32, 4), (1024, 24, 20), (2048, 128, 3)]


def test_dpn92_config_is_table_1():
    cfg = kc.DPN92.config
    assert [(r, k, n) for r, k, n in zip(cfg.residual, cfg.increment, cfg.blocks)] == DPN92_TABLE1
    assert cfg.bottleneck == (96, 192, 384, 768) and cfg.groups == 32


def test_dpn92_block_split_and_dense_growth():
    # Full-width stage 1 of DPN-92 only (the map is small: 32x32 input, no top).
    model = kc.DPN92(include_top=False, input_shape=(32, 32, 3))
    residual, increment, blocks = DPN92_TABLE1[0]
    split = model.get_layer("dpn92_stage1_block2_out_split")
    assert [t.shape[-1] for t in split.output] == [residual, increment]
    # Projection: residual + 2 increments; every block then adds one increment.
    assert _channels(model, "stage1_block1_proj_conv") == residual + 2 * increment
    for block in range(1, blocks):
        assert _channels(model, f"stage1_block{block}_concat") == residual + (block + 2) * increment
    for stage, (residual, increment, blocks) in enumerate(DPN92_TABLE1[:3], start=1):
        assert _channels(model, f"stage{stage}_out") == residual + (blocks + 2) * increment
    assert _channels(model, "stage4_out") == 2048 + 5 * 128 == 2688
    # The grouped 3x3 of stage 3: 384 channels in 32 groups.
    conv = model.get_layer("dpn92_stage3_block1_3x3b_conv")
    assert isinstance(conv, kc.layers.GroupConv2D) and conv.groups == 32


def test_dpn68_small_stem_and_drop_path():
    model = kc.DPN68.tiny(drop_path_rate=0.2, input_shape=(64, 64, 3))
    assert model.get_layer("dpn68_stem_conv").kernel_size == (3, 3)
    drops = [layer for layer in model.layers if isinstance(layer, DropPath)]
    # Five blocks, the rate rising linearly from 0: the first block has none.
    assert [d.name for d in drops][0] == "dpn68_stage2_block1_drop_path"
    assert [round(d.rate, 6) for d in drops] == [0.05, 0.1, 0.15, 0.2]
    # Only the residual path's new channels are dropped.
    assert all(d.output.shape[-1] == model.get_layer(d.name.replace("drop_path", "add"))
               .output.shape[-1] for d in drops)


@pytest.mark.parametrize("change, message", [
    (dict(groups=5), "groups"),
    (dict(blocks=(1, 1, 1)), "blocks"),
    (dict(increment=(4, 0, 8, 8)), "increment"),
    (dict(stem_kernel=5), "stem_kernel"),
])
def test_bad_configs_are_refused(change, message):
    cfg = dataclasses.replace(kc.DPN68.spec.tiny, **change)
    with pytest.raises(ValueError, match=message):
        dpn.build_dpn("dpn68", cfg, input_shape=(64, 64, 3))


@pytest.mark.parametrize("option, value", [("drop_path_rate", 1.0), ("drop_rate", -0.1),
                                           ("norm", "instance")])
def test_bad_options_are_refused(option, value):
    with pytest.raises(ValueError, match=option if option != "norm" else "norm"):
        kc.DPN92.tiny(**{option: value}, input_shape=(64, 64, 3))


@pytest.mark.legacy
def test_channel_split_by_sizes():
    layer = ChannelSplit([3, 5], name="split")
    x = np.arange(2 * 2 * 2 * 8, dtype="float32").reshape(2, 2, 2, 8)
    first, second = layer(x)
    np.testing.assert_array_equal(np.asarray(first), x[..., :3])
    np.testing.assert_array_equal(np.asarray(second), x[..., 3:])
    clone = ChannelSplit.from_config(layer.get_config())
    assert clone.parts == [3, 5]
    with pytest.raises(ValueError, match="add up"):
        ChannelSplit([3, 4])(keras.Input((2, 2, 8)))
    with pytest.raises(ValueError, match="parts"):
        ChannelSplit([3, 0])
