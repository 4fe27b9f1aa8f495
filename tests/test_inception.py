"""GoogLeNet, BN-Inception, SE-BN-Inception and Inception-v3 beyond the shared routine: the
GoogLeNet counts of both layouts with and without auxiliary classifiers against params.tsv,
Table 1's per-module widths and costs, the auxiliary heads, where SE-BN-Inception's SE blocks
sit and what they cost, and the options' errors. (The registered defaults' counts and FLOPs:
test_reference_counts.py; logit parity: test_port.py.)"""

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras
from keras_convnets.flops import layer_flops
from keras_convnets.layers import LocalResponseNormalization, SEBlock

from reference_tables import params_tsv

#: Table 1 of arXiv:1409.4842, typed from the paper: module -> (output size, output depth,
#: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj, ops in millions)
TABLE1 = {
    "3a": (28, 256, 64, 96, 128, 16, 32, 32, 128),
    "3b": (28, 480, 128, 128, 192, 32, 96, 64, 304),
    "4a": (14, 512, 192, 96, 208, 16, 48, 64, 73),
    "4b": (14, 512, 160, 112, 224, 24, 64, 64, 88),
    "4c": (14, 512, 128, 128, 256, 24, 64, 64, 100),
    "4d": (14, 528, 112, 144, 288, 32, 64, 64, 119),
    "4e": (14, 832, 256, 160, 320, 32, 128, 128, 170),
    "5a": (7, 832, 256, 160, 320, 32, 128, 128, 54),
    "5b": (7, 1024, 384, 192, 384, 48, 128, 128, 71),
}


def _tsv(model):
    row = params_tsv()[model]
    return int(row["params"]), int(row["flops"])


def _layers(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def _names(model):
    return {layer.name[len(model.name) + 1:] for layer in model.layers[1:]}


def _table1_count():
    """GoogLeNet's trainable parameters from Table 1's widths (paper layout: every convolution
    with a bias, no normalisation), 1000 classes."""
    def conv(cin, cout, k):
        return k * k * cin * cout + cout

    total = conv(3, 64, 7) + conv(64, 64, 1) + conv(64, 192, 3)
    channels = 192
    for _, depth, c1, r3, c3, r5, c5, proj, _ in TABLE1.values():
        total += (conv(channels, c1, 1) + conv(channels, r3, 1) + conv(r3, c3, 3)
                  + conv(channels, r5, 1) + conv(r5, c5, 5) + conv(channels, proj, 1))
        assert c1 + c3 + c5 + proj == depth
        channels = depth
    return total + channels * 1000 + 1000


@pytest.fixture(scope="module")
def googlenet_224():
    return kc.GoogLeNet(aux_logits=True)


# -- GoogLeNet: counts -------------------------------------------------------------------------
@pytest.mark.slow
def test_googlenet_paper_layout_counts(googlenet_224):
    """The paper's layout is counted from Table 1 (the registry's integer). params.tsv's
    "paper-spec" rows have our FLOPs but took batch normalisation out of the stem only: their
    Inception modules keep it (6,960 channels: 13,920 parameters) and have biases only on the
    5x5 convolutions (752 of our 7,280 less the stem's 320: 6,208 fewer), 7,712 more; their
    auxiliary 1x1 convolutions keep torchvision's BN (256 each) where ours have a bias (128)."""
    row_params, row_flops = _tsv(("patched-torchvision",
                                  "googlenet paper-spec (5x5, no BN, no aux)"))
    aux_params, _ = _tsv(("patched-torchvision", "googlenet paper-spec (5x5, no BN, with aux)"))
    assert kc.get_spec("googlenet").params == _table1_count() == row_params - (13_920 - 6_208)
    assert kc.get_spec("googlenet").flops == row_flops
    assert kc.count_params(googlenet_224) == (aux_params - 7_712 - 2 * 128, 0)
    # The inference model carries none of the auxiliary classifiers' weights.
    assert kc.count_params(kc.inference_model(googlenet_224))[0] == row_params - 7_712


@pytest.mark.slow
@pytest.mark.parametrize("aux_logits", [False, True])
def test_googlenet_torchvision_layout_counts(aux_logits):
    params, flops = _tsv(("torchvision", f"googlenet(aux_logits={aux_logits})"))
    model = kc.GoogLeNet(layout="torchvision", aux_logits=aux_logits)
    assert kc.count_params(model)[0] == params
    if not aux_logits:  # params.tsv counts FLOPs in eval mode, without the auxiliary heads
        assert kc.count_flops(model) == flops


# -- GoogLeNet: Table 1 and the two layouts ----------------------------------------------------
@pytest.mark.slow
def test_googlenet_table1_modules(googlenet_224):
    """Every module's widths, output size and depth, and its cost against Table 1's ops column
    (multiply-adds, millions; the paper truncates 4a's 73.6). 5a's 54M is inconsistent with the
    table's own 1072K parameters at 7x7 (52.5M); ours is 51.1M."""
    model = googlenet_224
    layers = {layer.name[len(model.name) + 1:]: layer for layer in model.layers}
    outputs = {"3b": "stage2_out", "4e": "stage3_out", "5b": "stage4_out"}
    for module, (size, depth, c1, r3, c3, r5, c5, proj, ops) in TABLE1.items():
        p = f"inception_{module}_"
        out = layers[outputs.get(module, p + "output")].output
        assert tuple(out.shape[1:]) == (size, size, depth), module
        widths = [layers[p + n].filters for n in ("1x1", "3x3_reduce", "3x3", "5x5_reduce",
                                                  "5x5", "pool_proj")]
        assert widths == [c1, r3, c3, r5, c5, proj], module
        assert layers[p + "5x5"].kernel_size == (5, 5)
        macs = sum(layer_flops(layer) for name, layer in layers.items()
                   if name.startswith(p)) / 2e6
        assert abs(macs - ops) < 1 or module == "5a", (module, macs)


def test_googlenet_layouts():
    paper = kc.GoogLeNet.tiny(input_shape=(64, 64, 3), name="paper")
    torchvision = kc.GoogLeNet.tiny(layout="torchvision", input_shape=(64, 64, 3),
                                    name="torchvision")
    lrn = _layers(paper, LocalResponseNormalization)
    assert [layer.name for layer in lrn] == ["paper_norm1", "paper_stage1_out"]
    assert lrn[0].get_config()["alpha"] == pytest.approx(2e-5) and lrn[0].bias == 1.0
    assert not _layers(paper, keras.layers.BatchNormalization)
    assert all(layer.use_bias for layer in _layers(paper, keras.layers.Conv2D))
    assert paper.get_layer("paper_inception_3a_5x5").kernel_size == (5, 5)
    assert paper.get_layer("paper_pool4").pool_size == (3, 3)
    assert [d.rate for d in _layers(paper, keras.layers.Dropout)] == [0.4]

    assert not _layers(torchvision, LocalResponseNormalization)
    assert not any(layer.use_bias for layer in _layers(torchvision, keras.layers.Conv2D))
    norms = _layers(torchvision, keras.layers.BatchNormalization)
    assert len(norms) == len(_layers(torchvision, keras.layers.Conv2D))
    assert {layer.epsilon for layer in norms} == {1e-3}
    assert torchvision.get_layer("torchvision_inception_3a_5x5").kernel_size == (3, 3)
    assert torchvision.get_layer("torchvision_pool4").pool_size == (2, 2)
    assert [d.rate for d in _layers(torchvision, keras.layers.Dropout)] == [0.2]
    with pytest.raises(ValueError, match="`layout` must be one of 'paper', 'torchvision'; "
                                         "got 'caffe'"):
        kc.GoogLeNet(layout="caffe")
    with pytest.raises(ValueError, match="`drop_rate`"):
        kc.GoogLeNet(drop_rate=1.5)


# -- auxiliary classifiers ---------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["paper", "torchvision"])
def test_googlenet_auxiliary_classifiers(layout):
    x = np.random.default_rng(0).uniform(-1, 1, (2, 96, 96, 3)).astype("float32")
    keras.backend.clear_session()
    plain = kc.GoogLeNet.tiny(layout=layout, classes=5, input_shape=(96, 96, 3))
    model = kc.GoogLeNet.tiny(layout=layout, aux_logits=True, classes=5, input_shape=(96, 96, 3))
    outputs = model(x, training=False)
    assert [tuple(o.shape) for o in outputs] == [(2, 5)] * 3
    # The same names with and without the flag; the auxiliary layers are under aux1_ / aux2_.
    extra = _names(model) - _names(plain)
    assert _names(plain) <= _names(model) and {n[:5] for n in extra} == {"aux1_", "aux2_"}
    for i, after in ((1, "inception_4a_output"), (2, "stage3_out")):  # 4d ends the tiny group
        pool = model.get_layer(f"{model.name}_aux{i}_pool")
        assert pool.input is model.get_layer(f"{model.name}_{after}").output
        assert pool.pool_size == (5, 5) and pool.strides == (3, 3)
        assert model.get_layer(f"{model.name}_aux{i}_head_dropout").rate == 0.7
    # The inference model drops them and computes the main output.
    inference = kc.inference_model(model)
    np.testing.assert_allclose(np.asarray(inference(x)), np.asarray(outputs[0]), rtol=1e-6)
    assert kc.count_params(inference) == kc.count_params(plain)
    assert kc.aux_loss_weights(model) == [1.0, 0.3, 0.3]


def test_auxiliary_classifier_errors():
    with pytest.raises(ValueError, match="`aux_logits`=True needs include_top=True"):
        kc.GoogLeNet(aux_logits=True, include_top=False)
    with pytest.raises(ValueError, match="input size must be fixed"):
        kc.GoogLeNet.tiny(aux_logits=True, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match=r"after inception 4a .*at least 5x5; the input gives "
                                         r"4x4"):
        kc.GoogLeNet.tiny(aux_logits=True, input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match=r"Mixed_6e .*at least 17x17; the input gives 16x16"):
        kc.InceptionV3.tiny(aux_logits=True, input_shape=(298, 298, 3))
    with pytest.raises(ValueError, match="bninception has no auxiliary classifiers"):
        kc.BNInception.tiny(aux_logits=True, input_shape=(64, 64, 3))


def test_inception_v3_auxiliary_classifier():
    model = kc.InceptionV3.tiny(aux_logits=True, classes=4, input_shape=(299, 299, 3))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 299, 299, 3)).astype("float32")
    outputs = model(x, training=False)
    assert [tuple(o.shape) for o in outputs] == [(1, 4), (1, 4)]
    assert model.get_layer("inceptionv3_aux_pool").input is (
        model.get_layer("inceptionv3_stage3_out").output)  # Mixed_6e
    assert model.get_layer("inceptionv3_aux_conv1").kernel_size == (5, 5)
    assert kc.aux_loss_weights(model) == [1.0, 0.4]
    assert len(kc.inference_model(model).outputs) == 1


# -- BN-Inception and SE-BN-Inception ----------------------------------------------------------
#: the output depth of each of BN-Inception's ten modules (Fig. 5 of arXiv:1502.03167)
FIG5_DEPTHS = {"3a": 256, "3b": 320, "3c": 576, "4a": 576, "4b": 576, "4c": 608, "4d": 608,
               "4e": 1056, "5a": 1024, "5b": 1024}


def test_se_blocks_follow_every_module():
    model = kc.SEBNInception.tiny(input_shape=(64, 64, 3))
    blocks = _layers(model, SEBlock)
    modules = [m.name for g in kc.SEBNInception.spec.tiny.groups for m in g]
    assert len(blocks) == len(modules) == 5 and {b.reduction for b in blocks} == {16}
    for block, module in zip(blocks, modules):
        source = model.get_layer(f"sebninception_inception_{module}_output")
        assert isinstance(source, keras.layers.Concatenate)
        assert block.input is source.output
    assert not _layers(kc.BNInception.tiny(input_shape=(64, 64, 3)), SEBlock)


@pytest.mark.slow
def test_se_bn_inception_count_and_table2_cost():
    """No paper gives SE-BN-Inception's parameters: they are BN-Inception's (the measured
    reference) plus one SE block per module of Fig. 5, C -> C/16 -> C with biases. Table 2 of
    the SENet paper gives 2.03 and 2.04 GFLOPs (multiply-adds) for BN-Inception and
    SE-BN-Inception: ours are 2.0326 G, and 2.0332 G counting the SE blocks' FCs -- 2.0356 G
    with their pooling and scaling, the three costs Sec. 4 of the paper names."""
    model = kc.SEBNInception()
    se = sum(2 * c * (c // 16) + c // 16 + c for c in FIG5_DEPTHS.values())
    assert kc.count_params(model)[0] == kc.get_spec("bninception").params + se == 11_941_638
    assert round(kc.get_spec("bninception").flops / 2e9, 2) == 2.03
    elementwise = sum(2 * np.prod(b.input.shape[1:]) for b in _layers(model, SEBlock))
    assert round((kc.count_flops(model) / 2 + elementwise) / 1e9, 2) == 2.04


def test_bn_inception_layout_and_errors():
    model = kc.BNInception.tiny(input_shape=(64, 64, 3))
    assert all(layer.use_bias for layer in _layers(model, keras.layers.Conv2D))
    assert {layer.epsilon for layer in _layers(model, keras.layers.BatchNormalization)} == {1e-5}
    assert not _layers(model, keras.layers.Dropout)
    pools = {n: type(model.get_layer(f"bninception_inception_{n}_pool")).__name__
             for n in ("3a", "3c", "4e", "5b")}
    assert pools == {"3a": "AveragePooling2D", "3c": "MaxPooling2D", "4e": "MaxPooling2D",
                     "5b": "MaxPooling2D"}
    with pytest.raises(ValueError, match=r"stride-2 module 4e needs an even map .*got \(3, 3\)"):
        kc.BNInception.tiny(input_shape=(48, 48, 3))


# -- Inception-v3 ------------------------------------------------------------------------------
def test_inception_v3_minimum_size_and_maps():
    with pytest.raises(ValueError, match=r"`input_shape` height 74 is below the minimum of 75 "
                                         r"for inceptionv3"):
        kc.InceptionV3(input_shape=(74, 80, 3))
    with pytest.raises(ValueError, match="width 60 is below the minimum of 75"):
        kc.InceptionV3(include_top=False, input_shape=(80, 60, 3))
    # torchvision's maps from 299: 71, 35, 17, 8 -- the registry's margins say so
    spec = kc.get_spec("inceptionv3")
    assert [(299 - m) // s for m, s in zip(spec.stage_margins, spec.stage_strides)] == [
        71, 35, 17, 8]
    model = kc.InceptionV3.tiny(include_top=False, input_shape=(75, 75, 3))
    assert model.output_shape == (None, 1, 1, 2048 // 8)
