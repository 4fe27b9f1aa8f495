"""Xception beyond the shared routine: the stage sizes of the paper's Fig. 5, the blocks and
stochastic depth. (Parameter counts and FLOPs: test_reference_counts.py.)"""

import pytest

import keras_convnets as kc
from keras_convnets.backend import keras
from keras_convnets.layers import DropPath


def _layers(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


# -- Xception ---------------------------------------------------------------------------------
@pytest.mark.parametrize("size, expected", [(299, [74, 37, 19, 10]), (99, [24, 12, 6, 3])])
def test_xception_stage_sizes(size, expected):
    features = kc.feature_extractor(kc.Xception(include_top=False, input_shape=(size, size, 3)))
    assert [o.shape[1] for o in features.outputs] == expected
    assert [o.shape[-1] for o in features.outputs] == [128, 256, 728, 2048]


def test_xception_blocks_and_drop_path():
    model = kc.Xception(drop_path_rate=0.1, input_shape=(71, 71, 3))
    assert len(_layers(model, keras.layers.SeparableConv2D)) == 2 * 4 + 3 * 8 + 2
    # Twelve residual blocks; the rate rises linearly from 0, so the first has no DropPath.
    assert len(_layers(model, keras.layers.Add)) == 12
    assert [d.name for d in _layers(model, DropPath)][0] == "xception_entry2_drop_path"
    assert len(_layers(model, DropPath)) == 11
