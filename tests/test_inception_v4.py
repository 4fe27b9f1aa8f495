"""Inception-v4 and the Inception-ResNets beyond the shared routine: residual scaling and the
linear last module, stochastic depth, Inception-ResNet-v1's widths from the paper's figures (no
reference implementation has its layout) and its modules against pytorchcv's FaceNet variant,
the minimum input, and keras.applications' InceptionResNetV2 count. (Counts and FLOPs of v4 and
IR-v2: test_reference_counts.py; weight parity with timm: test_port.py.)"""

import csv
import os

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras, tf
from keras_convnets.layers import DropPath
from keras_convnets.models import inception_v4 as iv4

from reference_tables import PARAMS_TSV

SIZE = 75  # the minimum input: a 1x1 last map


def _layers(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def _producer(tensor):
    return tensor._keras_history[0]


def test_residual_scales_and_the_linear_last_module():
    model = kc.InceptionResNetV2.tiny(input_shape=(SIZE, SIZE, 3))  # 1 A, 1 B, 2 C modules
    scales = {layer.name[len("inceptionresnetv2_"):]: layer.scale
              for layer in _layers(model, keras.layers.Rescaling)}
    assert scales == {"block_a1_scale": 0.17, "block_b1_scale": 0.1, "block_c1_scale": 0.2}
    # x + scale * up-projection(branches(x)), then ReLU; the up-projection has a bias, no BN
    add = model.get_layer("inceptionresnetv2_block_a1_add")
    shortcut, branch = (_producer(t) for t in add.input)
    assert shortcut.name == "inceptionresnetv2_mixed_5b_concat"
    assert branch.name == "inceptionresnetv2_block_a1_scale"
    projection = _producer(branch.input)
    assert projection.name == "inceptionresnetv2_block_a1_proj" and projection.use_bias
    assert projection.filters == shortcut.output.shape[-1]
    # the last C module: scale 1.0 and no ReLU, straight into the 1x1 head convolution
    last = model.get_layer("inceptionresnetv2_block_c2_add")
    assert _producer(last.input[1]).name == "inceptionresnetv2_block_c2_proj"
    assert _producer(model.get_layer("inceptionresnetv2_head_conv_conv").input) is last

    rescaled = kc.InceptionResNetV1.tiny(input_shape=(SIZE, SIZE, 3),
                                         residual_scales=(1.0, 0.5, 0.25))
    assert [layer.scale for layer in _layers(rescaled, keras.layers.Rescaling)] == [0.5, 0.25]
    with pytest.raises(ValueError, match=r"`residual_scales` must be 3 positive numbers; "
                                         r"got \(0.1, 0.2\)"):
        kc.InceptionResNetV1.tiny(residual_scales=(0.1, 0.2))
    with pytest.raises(ValueError, match=r"`residual_scales`=\(0.1, 0.1, 0.1\) needs residual "
                                         r"modules, and Inception-v4 has none"):
        kc.InceptionV4.tiny(residual_scales=(0.1, 0.1, 0.1))


def test_drop_path_on_the_residual_branches_only():
    model = kc.InceptionResNetV2.tiny(input_shape=(SIZE, SIZE, 3), drop_path_rate=0.3)
    # four residual modules, the rate rising linearly from 0: the first has no DropPath
    assert [(d.name[len("inceptionresnetv2_"):], round(d.rate, 6))
            for d in _layers(model, DropPath)] == [
        ("block_b1_drop_path", 0.1), ("block_c1_drop_path", 0.2), ("block_c2_drop_path", 0.3)]
    with pytest.raises(ValueError, match=r"`drop_path_rate`=0.1 needs residual blocks, and "
                                         r"Inception-v4 has none"):
        kc.InceptionV4.tiny(drop_path_rate=0.1)


def test_minimum_input_is_75():
    with pytest.raises(ValueError, match=r"`input_shape` height 74 is below the minimum of 75 "
                                         r"for inceptionresnetv1"):
        kc.InceptionResNetV1.tiny(input_shape=(74, 91, 3))
    # At 74 the 17x17 stage is 2x2 ((74 - 27) // 16), too small for Reduction-B's unpadded
    # 3x3 convolutions and pooling (the stem's margins: module docstring).
    backbone = kc.InceptionV4.tiny(include_top=False, input_shape=(None, None, 3))
    assert backbone(np.zeros((1, 75, 107, 3), "float32")).shape[1:3] == (1, 2)
    with pytest.raises(tf.errors.OpError):
        backbone(np.zeros((1, 74, 74, 3), "float32"))


def _figure_counts():
    """Inception-ResNet-v1's trainable parameters and FLOPs at 299, typed from the paper's
    figures: every convolution with BatchNorm (gamma, beta), the linear up-projections with a
    bias; the maps 149, 147, 73, 71, 35, 17 and 8 of Figures 14 and 15."""
    params, flops = 0, 0

    def conv(cin, cout, size, kh=1, kw=None, norm=True):
        nonlocal params, flops
        params += cin * cout * kh * (kw or kh) + (2 * cout if norm else cout)
        flops += 2 * cin * cout * kh * (kw or kh) * size * size

    def up(cin, cout, size):
        conv(cin, cout, size, norm=False)  # linear, with a bias

    conv(3, 32, 149, 3), conv(32, 32, 147, 3), conv(32, 64, 147, 3)  # Figure 14
    conv(64, 80, 73), conv(80, 192, 71, 3), conv(192, 256, 35, 3)
    for _ in range(5):  # Figure 10
        conv(256, 32, 35), conv(256, 32, 35), conv(32, 32, 35, 3), conv(256, 32, 35)
        conv(32, 32, 35, 3), conv(32, 32, 35, 3), up(96, 256, 35)
    conv(256, 384, 17, 3), conv(256, 192, 35), conv(192, 192, 35, 3)  # Figure 7, Table 1
    conv(192, 256, 17, 3)
    for _ in range(10):  # Figure 11
        conv(896, 128, 17), conv(896, 128, 17), conv(128, 128, 17, 1, 7)
        conv(128, 128, 17, 7, 1), up(256, 896, 17)
    conv(896, 256, 17), conv(256, 384, 8, 3), conv(896, 256, 17), conv(256, 256, 8, 3)  # Fig. 12
    conv(896, 256, 17), conv(256, 256, 17, 3), conv(256, 256, 8, 3)
    for _ in range(5):  # Figure 13
        conv(1792, 192, 8), conv(1792, 192, 8), conv(192, 192, 8, 1, 3)
        conv(192, 192, 8, 3, 1), up(384, 1792, 8)
    params += 1792 * 1000 + 1000  # the classifier
    flops += 2 * 1792 * 1000
    return params, flops


@pytest.mark.slow
def test_inception_resnet_v1_is_the_papers_figures():
    model = kc.InceptionResNetV1()
    assert (kc.count_params(model)[0], kc.count_flops(model)) == _figure_counts() == (
        22_756_328, 12_412_723_392)
    # Figure 15's maps: 35x35x256, 17x17x896, 8x8x1792 (and the stem's 147 and 71)
    maps = [tuple(model.get_layer(f"inceptionresnetv1_stage{i}_out").output.shape[1:])
            for i in range(1, 6)]
    assert maps == [(147, 147, 64), (71, 71, 192), (35, 35, 256), (17, 17, 896),
                    (8, 8, 1792)]
    assert len(_layers(model, keras.layers.Add)) == 5 + 10 + 5


@pytest.mark.slow
def test_inception_resnet_v1_modules_match_pytorchcv():
    """pytorchcv's ``inceptionresnetv1`` is the FaceNet variant: the same stem and modules with
    a sixth, linear C module (scale 1.0) and a 512-wide embedding before its classifier. Our
    modules in that configuration give its features (float64, its fixed 8x8 pooling: 299 to
    330 pixels)."""
    torch = pytest.importorskip("torch")
    from keras_convnets.weights import porting
    from keras_convnets.weights.mappings import inception_v4 as mapping

    torch.manual_seed(0)
    reference = porting.randomize_normalization(
        porting.create_reference("pytorchcv:inceptionresnetv1"))
    reference.output = torch.nn.Identity()  # the pooled 1792 features
    spec = kc.get_spec("inceptionresnetv1")
    facenet = iv4.dataclasses.replace(spec.config, blocks=(5, 10, 6), final_block=(1.0, False))
    size = (299, 315)
    with porting.float64_models():
        model = spec.function(facenet, include_top=False, pooling="avg",
                              input_shape=(*size, 3), name="inceptionresnetv1")
    porting.assign(model, reference, mapping.KEY_RULES["pytorchcv_inceptionresnetv1"])
    difference, scale = porting.compare(model, reference, size=size, batch=1)
    assert scale > 0 and difference < 1e-6, difference


@pytest.mark.slow
def test_keras_inception_resnet_v2_lacks_only_the_batchnorm_scales():
    """keras_applications_params.tsv: keras' InceptionResNetV2 has 55,813,192 trainable and
    55,873,736 parameters in all; ours (timm's) 55,843,464 trainable. The difference is one
    gamma per BatchNorm channel (keras builds BatchNormalization(scale=False)); both keep a bias
    on the up-projections and none elsewhere."""
    path = os.path.join(os.path.dirname(PARAMS_TSV), "keras_applications_params.tsv")
    with open(path, newline="") as f:
        row = next(r for r in csv.DictReader(f, delimiter="\t")
                   if r["keras_app"] == "InceptionResNetV2")
    model = kc.InceptionResNetV2()
    trainable, frozen = kc.count_params(model)
    gammas = sum(layer.gamma.shape[0] for layer in _layers(model, keras.layers.BatchNormalization))
    assert trainable == int(row["torch_params"]) == 55_843_464
    assert trainable - gammas == int(row["trainable_params"])
    assert trainable + frozen - gammas == int(row["total_params(count_params)"])
