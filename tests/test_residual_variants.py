"""The residual research variants: RoR (arXiv:1608.02908) and multi-residual networks
(arXiv:1609.05672) as options of the residual builder, and merge-and-run networks (DMRNet,
arXiv:1611.07718) in their own module.

Counts: RoR-3 against pytorchcv's ror3_* (to the integer, parameters and FLOPs), the others
against their papers' tables (the shared test_reference_counts checks ``paper_params``; the
figures are typed here once more). Structure: on tiny networks, each variant's defining sum
recomputed in NumPy from the tensors that feed it. Options: their errors.
"""

import dataclasses

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras
from keras_convnets.models import dmrnet, resnet


def _outputs(model, names, x):
    """The outputs of ``model``'s layers ``<model>_<name>`` on ``x`` (one probe model)."""
    probe = keras.Model(model.input,
                        [model.get_layer(f"{model.name}_{n}").output for n in names])
    return [np.asarray(o) for o in probe(x, training=False)]


def _images(size=8, n=2, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)).astype("float32")


def _relu(x):
    return np.maximum(x, 0)


# -- counts -------------------------------------------------------------------------------------

#: The papers' figures (millions, their rounding): arXiv:1609.05672's CIFAR results table
#: (Multi-ResNet-200, k = 5: 10.2M); arXiv:1611.07718's CIFAR/SVHN results table (as the
#: authors' fusenet README reproduces it: depth 56 1.7M, depth 32 k = 4 14.9M).
PAPER_COUNTS = {"multiresnet200": 10.2, "dmrnet56": 1.7, "dmrnetwide32": 14.9}


def test_paper_counts_are_the_tables():
    for name, millions in PAPER_COUNTS.items():
        assert kc.get_spec(name).paper_params == millions, name
    # The two configurations whose paper figures are not reproduced say so instead of
    # carrying a count (their notes give ours).
    for name in ("ror3_wrn58_4", "dmrnetwide50"):
        spec = kc.get_spec(name)
        assert spec.paper_params is None and "not reproduced" in str(spec.reference), name


@pytest.mark.slow
def test_ror3_counts_equal_pytorchcv():
    """RoR-3-56 and RoR-3-110 as built by default have pytorchcv's ror3_*_cifar10 parameters
    and FLOPs (torch's FlopCounterMode: convolutions and the classifier), to the integer. Both
    counts are affine in the blocks per stage n (the same block repeated), so two depths
    that agree make every depth agree: RoR-3-164's 2,512,634 among them."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from keras_convnets.weights import porting

    for depth in (56, 110):
        reference = porting.create_reference(f"pytorchcv:ror3_{depth}_cifar10")
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            reference(torch.zeros(1, 3, 32, 32))
        model = kc.get_model(f"ror3_{depth}")  # 10 classes, 32x32: the CIFAR defaults
        assert kc.count_params(model)[0] == sum(p.numel() for p in reference.parameters())
        assert kc.count_flops(model) == counter.get_total_flops(), depth
        keras.backend.clear_session()


def _wrn_count(depth, k, classes=10):
    """Trainable parameters of the CIFAR WRN-d-k of arXiv:1605.07146 (Table 1): a 3x3 stem of
    16, per stage n pre-activation B(3,3) blocks (BN, conv, BN, conv), a 1x1 projection where
    the width changes, a final BN and the classifier."""
    n = (depth - 4) // 6
    count, channels = 3 * 16 * 9, 16
    for width in (16 * k, 32 * k, 64 * k):
        for _ in range(n):
            count += 2 * channels + 9 * channels * width + 2 * width + 9 * width * width
            if channels != width:
                count += channels * width
            channels = width
    return count + 2 * channels + channels * classes + classes


@pytest.mark.slow
def test_ror3_wrn58_4_is_wrn58_4_plus_the_shortcut_projections():
    model = kc.RoR3_WRN58_4()
    shortcuts = {name: w for name, w in (
        ("stage1_ror_shortcut_conv", 16 * 64), ("stage2_ror_shortcut_conv", 64 * 128),
        ("stage3_ror_shortcut_conv", 128 * 256), ("ror_root_shortcut_conv", 16 * 256))}
    for name, weights in shortcuts.items():  # 1x1 projections, no BN (pre-activation)
        assert model.get_layer(f"ror3_wrn58_4_{name}").count_params() == weights
    assert not [layer.name for layer in model.layers
                if "ror" in layer.name[len(model.name) + 1:]
                and isinstance(layer, keras.layers.BatchNormalization)]
    assert kc.count_params(model)[0] == _wrn_count(58, 4) + 46_080 == 13_645_530


def _cross_net_count(depth, k, classes=10):
    """Trainable parameters of the authors' merge-and-run net (fusenet ``network/cross.py``,
    ``base.py``): a 3x3 conv-BN stem of 16k; per block two branches of 3x3 conv-BN, 3x3
    conv-BN, and where the width changes one 1x1 conv-BN projection per stream; no conv biases;
    the classifier."""
    n = (depth - 2) // 6
    count = 3 * 16 * k * 9 + 2 * 16 * k
    channels = 16 * k
    for width in (16 * k, 32 * k, 64 * k):
        for _ in range(n):
            count += 2 * (9 * channels * width + 2 * width + 9 * width * width + 2 * width)
            if channels != width:
                count += 2 * (channels * width + 2 * width)
            channels = width
    return count + channels * classes + classes


@pytest.mark.slow
def test_dmrnet_wide50_counts_as_the_authors_code():
    assert _cross_net_count(56, 1) == 1_710_426 and _cross_net_count(32, 4) == 14_851_402
    assert kc.count_params(kc.DMRNetWide50())[0] == _cross_net_count(50, 4) == 24_151_882


# -- RoR structure -------------------------------------------------------------------------------

def test_ror3_sums_the_three_shortcut_levels():
    """pytorchcv's layout on the tiny RoR-3: each stage's last sum adds the block's shortcut, the
    stage's mid-level projection (of the stage input) and, in the last stage, the root-level one
    (a stride-4 1x1 projection of the stem output); stages 2-3 start with a 2x2 max-pool."""
    model = kc.RoR3_56.tiny(input_shape=(8, 8, 3))
    x = _images()
    (stem, s1_in, s1_res, s1_mid, s1_out, pooled, s3_in, s3_res, s3_short, s3_mid, root,
     s3_out, root_conv) = _outputs(model, [
        "stem_relu", "stage1_block1_out", "stage1_block2_bn2", "stage1_ror_shortcut_bn",
        "stage1_out", "stage2_pool", "stage2_out", "stage3_block1_bn2",
        "stage3_block1_shortcut_bn", "stage3_ror_shortcut_bn", "ror_root_shortcut_bn",
        "stage3_out", "ror_root_shortcut_conv"], x)
    np.testing.assert_allclose(s1_out, _relu(s1_res + s1_in + s1_mid), rtol=1e-5, atol=1e-5)
    expected_pool = s1_out.reshape(2, 4, 2, 4, 2, -1).max(axis=(2, 4))
    np.testing.assert_allclose(pooled, expected_pool, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(s3_out, _relu(s3_res + s3_short + s3_mid + root), rtol=1e-5,
                               atol=1e-5)
    kernel = np.asarray(model.get_layer("ror3_56_ror_root_shortcut_conv").kernel)[0, 0]
    np.testing.assert_allclose(root_conv, stem[:, ::4, ::4] @ kernel, rtol=1e-5, atol=1e-5)
    # stage 3's input is stage 2's output pooled; its mid-level shortcut projects it at stride 1
    assert model.get_layer("ror3_56_stage3_ror_shortcut_conv").strides == (1, 1)
    assert s3_in.shape[1:3] == (4, 4) and s3_out.shape[1:3] == (2, 2)


def _layer_names(model):
    return {layer.name[len(model.name) + 1:] for layer in model.layers[1:]}


def test_ror_levels_and_downsampling_options():
    # ror_downsampling="stride": the base net's stride-2 blocks, no pools, a mid-level
    # projection (stride 2) only where the shape changes -- identity over stage 1 when it keeps
    # the stem's 16 channels, as the full-size nets do.
    config = dataclasses.replace(kc.get_spec("ror3_56").tiny, widths=(16, 4, 8))
    strided = resnet.build_resnet("ror3_56", config, ror_downsampling="stride",
                                  input_shape=(8, 8, 3))
    names = _layer_names(strided)
    assert "stage1_ror_shortcut_conv" not in names and "stage2_ror_shortcut_conv" in names
    assert strided.get_layer("ror3_56_stage2_ror_shortcut_conv").strides == (2, 2)
    assert strided.get_layer("ror3_56_stage2_block1_conv1").strides == (2, 2)
    assert not [n for n in names if n.startswith("stage") and n.endswith("_pool")]
    root_only = _layer_names(kc.RoR3_110.tiny(input_shape=(8, 8, 3), ror_levels=2))
    assert sorted(n for n in root_only if "ror" in n) == ["ror_root_shortcut_bn",
                                                         "ror_root_shortcut_conv"]
    plain = kc.RoR3_110.tiny(input_shape=(8, 8, 3), ror_levels=1)
    assert not [n for n in _layer_names(plain) if "ror" in n or n.startswith("stage")
                and n.endswith("_pool")]
    # any residual net takes the option: Pre-RoR-3 on the CIFAR pre-activation ResNet
    pre_ror = kc.PreActResNet164.tiny(input_shape=(8, 8, 3), ror_levels=3)
    names = _layer_names(pre_ror)
    assert {"stage1_ror_shortcut_conv", "stage3_ror_shortcut_conv",
            "ror_root_shortcut_conv"} <= names
    assert not [n for n in names if "ror" in n and n.endswith("_bn")]


# -- multi-residual structure -------------------------------------------------------------------

def test_multi_residual_block_is_x_plus_the_sum_of_its_functions():
    """x + f1(x) + ... + fk(x): on a tiny pre-activation Multi-ResNet (k = 3), an identity
    block's output is its input plus the three functions' last convolutions; each function
    has its own BN-ReLU there, while a projecting block shares one (the authors' code)."""
    model = kc.MultiResNet200.tiny(input_shape=(8, 8, 3), residual_functions=3)
    names = _layer_names(model)
    assert {f"stage1_block2_f{j}_preact_bn" for j in (1, 2, 3)} <= names
    assert "stage1_block2_preact_bn" not in names and "stage1_block1_f1_preact_bn" not in names
    assert "stage1_block1_preact_bn" in names and "stage1_block1_f3_conv3" in names
    x_in, f1, f2, f3, out = _outputs(model, [  # the stage's last sum is named stage1_out
        "stage1_block1_add", "stage1_block2_f1_conv3", "stage1_block2_f2_conv3",
        "stage1_block2_f3_conv3", "stage1_out"], _images())
    np.testing.assert_allclose(out, x_in + f1 + f2 + f3, rtol=1e-5, atol=1e-5)


def test_multi_residual_v1_doubles_the_residual_weights():
    """A v1 basic net with k = 2: the shortcut is shared, every function's weights doubled,
    and the block output is relu(x + f1(x) + f2(x))."""
    one = kc.RoR3_110.tiny(input_shape=(8, 8, 3), ror_levels=1)
    two = kc.RoR3_110.tiny(input_shape=(8, 8, 3), ror_levels=1, residual_functions=2)

    def block_weights(model, block, prefix):
        return sum(layer.count_params() for layer in model.layers
                   if layer.name.startswith(f"{model.name}_{block}_{prefix}"))

    single = block_weights(one, "stage2_block1", "conv") + block_weights(
        one, "stage2_block1", "bn")
    double = sum(block_weights(two, "stage2_block1", f"f{j}_") for j in (1, 2))
    assert double == 2 * single
    assert block_weights(two, "stage2_block1", "shortcut") == block_weights(
        one, "stage2_block1", "shortcut") > 0
    x_in, f1, f2, out = _outputs(two, ["stage1_block1_out", "stage1_block2_f1_bn2",
                                       "stage1_block2_f2_bn2", "stage1_out"], _images())
    np.testing.assert_allclose(out, _relu(x_in + f1 + f2), rtol=1e-5, atol=1e-5)


# -- merge-and-run structure --------------------------------------------------------------------

def test_merge_and_run_averages_the_inputs_into_both_streams():
    """Eq. (4) of arXiv:1611.07718 on the tiny DMRNet: x_a' = relu(H_a(x_a) + (x_a + x_b)/2),
    x_b' likewise; the first block's streams both start from the stem; the last block adds
    both branches to the average of the two projected streams."""
    model = kc.DMRNet56.tiny(input_shape=(8, 8, 3))
    (stem, ha0, a, b, ha, hb, a2, b2, s1_out, last_a, last_b, pa, pb, out) = _outputs(
        model, ["stem_relu", "stage1_block1_a_bn2", "stage1_block1_a_out",
                "stage1_block1_b_out", "stage1_block2_a_bn2", "stage1_block2_b_bn2",
                "stage1_block2_a_out",
                "stage1_block2_b_out", "stage1_out", "stage3_block1_a_bn2",
                "stage3_block1_b_bn2", "stage3_block1_a_shortcut_bn",
                "stage3_block1_b_shortcut_bn", "stage3_out"], _images())
    np.testing.assert_allclose(a, _relu(ha0 + stem), rtol=1e-5, atol=1e-5)  # (x + x) / 2 = x
    merged = (a + b) / 2
    np.testing.assert_allclose(a2, _relu(ha + merged), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b2, _relu(hb + merged), rtol=1e-5, atol=1e-5)
    assert not np.allclose(a2, b2)  # two streams, not one
    np.testing.assert_allclose(s1_out, np.concatenate([a2, b2], axis=-1))
    np.testing.assert_allclose(out, _relu(last_a + last_b + (pa + pb) / 2), rtol=1e-5,
                               atol=1e-5)
    # M = 1/2 [[I, I], [I, I]] is idempotent (the paper's argument for its information flow)
    matrix = np.block([[np.eye(4), np.eye(4)], [np.eye(4), np.eye(4)]]) / 2
    np.testing.assert_allclose(matrix @ matrix, matrix)
    # each stream has its own projection where the width changes
    names = _layer_names(model)
    assert {"stage2_block1_a_shortcut_conv", "stage2_block1_b_shortcut_conv"} <= names
    assert "stage1_block2_a_shortcut_conv" not in names


# -- options and their errors -------------------------------------------------------------------

#: (options, the error they raise): argument, value and what is allowed
BAD_OPTIONS = [
    ({"ror_levels": 4}, r"`ror_levels` must be one of 1, 2, 3; got 4"),
    ({"ror_levels": 0}, r"`ror_levels` must be one of 1, 2, 3; got 0"),
    ({"ror_levels": True}, r"`ror_levels` must be one of 1, 2, 3; got True"),
    ({"ror_downsampling": "avg_pool"}, r"`ror_downsampling` must be one of 'max_pool', "
                                       r"'stride'; got 'avg_pool'"),
    ({"residual_functions": 0}, r"`residual_functions` must be an integer >= 1; got 0"),
    ({"residual_functions": 1.5}, r"`residual_functions` must be an integer >= 1; got 1.5"),
]


def test_bad_options_name_argument_value_and_allowed():
    for kwargs, match in BAD_OPTIONS:
        with pytest.raises(ValueError, match=match):
            kc.RoR3_56.tiny(input_shape=(8, 8, 3), **kwargs)
    with pytest.raises(ValueError, match=r"`residual_functions`=2 applies to basic and "
                                         r"bottleneck blocks, not to the 'res2net' block"):
        kc.Res2Net50.tiny(residual_functions=2)
    with pytest.raises(ValueError, match=r"`ror_levels` > 1 does not combine with "
                                         r"`stride_in_last_block`=True"):
        kc.ResNet50V2.tiny(ror_levels=3, stride_in_last_block=True)


#: configurations of a depth (or width) their family does not allow, and the error
BAD_DEPTHS = [
    (lambda: resnet.ror_cifar_config(57), r"RoR-3 CIFAR ResNet must be 6n \+ 8 .* got 57"),
    (lambda: resnet.ror_cifar_config(8), r"6n \+ 8 with n >= 1 .* got 8"),
    (lambda: resnet.ror_wrn_config(41, 4), r"RoR-3-WRN must be 6n \+ 4 .* got 41"),
    (lambda: resnet.ror_wrn_config(40, 0), r"`k` must be an integer >= 1; got 0"),
    (lambda: resnet.multiresnet_cifar_config(164.0, 5), r"9n \+ 2 .* got 164.0"),
    (lambda: resnet.multiresnet_cifar_config(200, 0),
     r"`residual_functions` must be an integer >= 1; got 0"),
    (lambda: dmrnet.dmrnet_cifar_config(55), r"DMRNet must be 6n \+ 2 .* got 55"),
    (lambda: dmrnet.dmrnet_cifar_config(56, widen_factor=0),
     r"`widen_factor` must be an integer >= 1; got 0"),
]


def test_depths_not_of_the_family_form_are_refused():
    for make, match in BAD_DEPTHS:
        with pytest.raises(ValueError, match=match):
            make()
