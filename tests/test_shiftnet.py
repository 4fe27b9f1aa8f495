"""Shift-based ResNets beyond the shared routine: the paper's CIFAR counts, the shift module,
the options and their errors."""

import pytest

import keras_convnets as kc
from keras_convnets.backend import keras
from keras_convnets.layers import Shift


#: Parameters (millions) of ShiftResNet-20/56/110 at expansion 1, 3, 6, 9, typed from the
#: CIFAR table of arXiv:1711.08141.
SHIFT_PAPER_PARAMS = {
    20: {1: 0.03, 3: 0.1, 6: 0.19, 9: 0.28},
    56: {1: 0.1, 3: 0.29, 6: 0.58, 9: 0.87},
    110: {1: 0.2, 3: 0.59, 6: 1.18, 9: 1.76},
}


# -- ShiftResNet ------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("depth", sorted(SHIFT_PAPER_PARAMS))
def test_shift_resnet_matches_the_papers_counts(depth):
    """Parameters in millions for epsilon = 1, 3, 6, 9, to the paper's 0.01M."""
    for expansion, paper in SHIFT_PAPER_PARAMS[depth].items():
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
