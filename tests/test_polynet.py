"""PolyNet beyond the shared routine: the PolyInception compositions (poly-2 = I + F + F^2 with
one shared F, mpoly-2 = I + F + GF, 2-way = I + F + G) against NumPy, the shared convolutions'
parameters and FLOPs, the released stage layout and scales, the options and their errors.
(Count and FLOPs: test_reference_counts.py; parity with pretrainedmodels: test_port.py.)"""

import dataclasses

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.applications.builder import BuildContext
from keras_convnets.backend import keras
from keras_convnets.layers import DropPath
from keras_convnets.models import polynet as pn
from keras_convnets.models.inception_v4 import Conv

SIZE = 75
EPS = 1e-5
#: a one-branch unit: 1x1 convolution (3 -> 5) + BN + ReLU, then the up-projection (5 -> 3) + BN
UNIT = ((Conv(5),),)


def _module(kind, scale=0.5):
    ctx = BuildContext("t_", bn_epsilon=EPS)
    inputs = keras.Input((4, 4, 3))
    return keras.Model(inputs, pn.poly_module(ctx, inputs, kind, UNIT, "m", scale))


def _randomize(model, rng):
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape) if "variance" in w.path
                               else rng.normal(0, 0.5, w.shape) for w in layer.weights])


def _unit(model, x, conv, unit):
    """F of the unit named ``unit`` using ``conv``'s kernel, in NumPy (inference-mode BN)."""
    def bn(name, y):
        gamma, beta, mean, var = model.get_layer(name).get_weights()
        return gamma * (y - mean) / np.sqrt(var + EPS) + beta

    def kernel(name):  # a 1x1 convolution's (in, out) matrix
        return np.asarray(model.get_layer(name).kernel)[0, 0]

    hidden = np.maximum(bn(f"t_{unit}_1_bn", x @ kernel(f"t_{conv}_1_conv")), 0)
    return bn(f"t_{unit}_proj_bn", hidden @ kernel(f"t_{unit}_proj_conv"))


@pytest.mark.parametrize("kind, convs", [("poly-2", ["m_1_conv"]),
                                         ("mpoly-2", ["m_u1_1_conv", "m_u2_1_conv"]),
                                         ("2-way", ["m_u1_1_conv", "m_u2_1_conv"])])
def test_poly_inception_compositions(kind, convs, rng):
    model = _module(kind)
    assert sorted(layer.name[2:] for layer in model.layers
                  if layer.name.endswith("_1_conv")) == convs
    _randomize(model, rng)
    x = rng.normal(0, 1, (2, 4, 4, 3)).astype("float32")
    relu = lambda y: np.maximum(y, 0)  # noqa: E731
    if kind == "poly-2":    # I + F + F^2: the second order reuses F's convolution
        f = _unit(model, x, "m", "m_u1")
        second = _unit(model, relu(f), "m", "m_u2")
    elif kind == "mpoly-2":  # I + F + GF
        f = _unit(model, x, "m_u1", "m_u1")
        second = _unit(model, relu(f), "m_u2", "m_u2")
    else:                    # I + F + G
        f = _unit(model, x, "m_u1", "m_u1")
        second = _unit(model, x, "m_u2", "m_u2")
    expected = relu(x + 0.5 * f + 0.5 * second)
    np.testing.assert_allclose(np.asarray(model(x, training=False)), expected, rtol=1e-5,
                               atol=1e-5)


@pytest.mark.legacy
def test_shared_convolutions_count_once_in_parameters_and_per_call_in_flops():
    """A poly-N module calls its shared convolutions once per order: their weights count once,
    their FLOPs once per call (kc.count_flops walks the graph's calls, in both Keras worlds)."""
    poly = pn.PolyNet.tiny(input_shape=(SIZE, SIZE, 3))  # stage B: one poly-3 module
    mpoly_config = dataclasses.replace(pn.PolyNet.spec.tiny, stage_b=("mpoly-3",))
    mpoly = pn.PolyNet.spec.function(mpoly_config, input_shape=(SIZE, SIZE, 3))
    shared = [layer for layer in poly.layers if layer.name.startswith("polynet_block_b1_b")
              and layer.name.endswith("_conv")]
    assert len(shared) == 4 and all(len(layer._inbound_nodes) == 3 for layer in shared)
    kernels = sum(int(np.prod(layer.kernel.shape)) for layer in shared)
    assert kc.count_params(mpoly)[0] - kc.count_params(poly)[0] == 2 * kernels
    assert kc.count_flops(mpoly) == kc.count_flops(poly)


def test_released_stage_layout_and_scales():
    cfg = pn.PolyNet.config
    assert cfg.stage_a == ("2-way",) * 10
    assert cfg.stage_b == ("poly-3", "2-way") * 10 and cfg.stage_c == ("poly-3", "2-way") * 5
    scales = pn.module_scales(40, cfg.scale_range)
    assert scales[:3] == [1.0, 0.992308, 0.984615] and scales[-1] == 0.7
    assert scales[10] == 0.923077 and scales[30] == 0.769231  # stages B and C start


def test_options_scales_and_stochastic_paths():
    model = pn.PolyNet.tiny(input_shape=(SIZE, SIZE, 3), drop_path_rate=0.2,
                            residual_scale_range=(1.0, 0.5))
    # modules 2-way (scale 1.0: no layer), poly-3 (0.75) and 2-way (0.5); each term its own
    # DropPath at the module's rate (0 for the first)
    assert [layer.scale for layer in model.layers
            if isinstance(layer, keras.layers.Rescaling)] == [0.75] * 3 + [0.5] * 2
    assert [round(d.rate, 6) for d in model.layers if isinstance(d, DropPath)] == (
        [0.1] * 3 + [0.2] * 2)


@pytest.mark.parametrize("kwargs, message", [
    ({"residual_scale_range": (1.0,)}, r"`residual_scale_range` must be two positive numbers"),
    ({"drop_path_rate": 1.0}, r"`drop_path_rate` must be a number in \[0, 1\); got 1.0"),
])
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pn.PolyNet.tiny(**kwargs)


@pytest.mark.parametrize("kind", ["poly-0", "poly3", "3-ways", "mpoly", 3])
def test_bad_module_kinds(kind):
    config = dataclasses.replace(pn.PolyNet.spec.tiny, stage_c=(kind,))
    with pytest.raises(ValueError, match=r"'poly-N', 'mpoly-N' or 'N-way' with N >= 1; got"):
        pn.PolyNet.spec.function(config)
