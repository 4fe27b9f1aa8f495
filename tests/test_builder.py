"""Shared builder behaviour: bad input gets a clear error naming the argument; options work."""

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras, tf

SMALL = (32, 32, 3)


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_shape=(16, 16, 3)), r"`input_shape` height 16 is below the minimum of 32"),
    (dict(input_shape=(64, 20, 3)), r"`input_shape` width 20 is below the minimum of 32"),
    (dict(input_shape=(64, 64)), r"`input_shape` must be \(height, width, channels\)"),
    (dict(input_shape=(64, 64, 0)), r"positive channel count"),
    (dict(classes=0), r"`classes` must be an integer >= 1; got 0"),
    (dict(classes=2.5), r"`classes` must be an integer >= 1; got 2.5"),
    (dict(include_top=False, pooling="mean"), r"`pooling` must be one of None, 'avg', 'max'"),
    (dict(pooling="avg"), r"`pooling`='avg' applies only with include_top=False"),
    (dict(weights="/nonexistent/w.weights.h5"), r"`weights`: no weights file at "
                                                r"'/nonexistent/w.weights.h5'"),
    (dict(weights=3), r"`weights` must be None or the path to a weights file; got 3"),
    (dict(norm="instance"), r"`norm` must be one of 'batch', 'sync_batch', 'group', 'layer'"),
    (dict(drop_rate=1.5), r"`drop_rate` must be a number in \[0, 1\)"),
    (dict(drop_path_rate=-0.1), r"`drop_path_rate` must be a number in \[0, 1\)"),
    (dict(attention="cbam"), r"`attention` must be one of None, 'se'"),
    (dict(classifier_activation="nope"), r"`classifier_activation` must be None or a Keras"),
    (dict(name=""), r"`name` must be a non-empty string"),
])
@pytest.mark.legacy
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kc.ResNet18(**kwargs)


@pytest.mark.legacy
def test_unknown_argument_is_a_type_error():
    with pytest.raises(TypeError, match="clases"):
        kc.ResNet18(clases=10)


def test_input_tensor_rank_and_shape_are_checked():
    with pytest.raises(ValueError, match="`input_tensor` must be a 4-D"):
        kc.ResNet18(input_tensor=keras.Input((32, 32)))
    with pytest.raises(ValueError, match="below the minimum"):
        kc.ResNet18(input_tensor=keras.Input((8, 8, 3)))
    with pytest.raises(ValueError, match="does not match `input_tensor`"):
        kc.ResNet18(input_tensor=keras.Input(SMALL), input_shape=(64, 64, 3))


def test_input_tensor_is_used_as_the_model_input():
    inputs = keras.Input(SMALL)
    scaled = keras.layers.Rescaling(1 / 255.0)(inputs)
    model = kc.ResNet18(input_tensor=scaled, classes=4)
    assert model.inputs[0] is inputs
    assert model(np.zeros((1, *SMALL), "float32")).shape == (1, 4)


def test_cardinality_and_base_width_options():
    model = kc.ResNeXt50.tiny(input_shape=SMALL, cardinality=2, base_width=64)
    grouped = [layer for layer in model.layers if type(layer).__name__ == "GroupConv2D"]
    assert grouped and all(layer.groups == 2 for layer in grouped)
    assert grouped[0].filters == 8 * 64 // 64 * 2  # tiny first-stage planes 8
    with pytest.raises(ValueError, match=r"`base_width`=4 leaves .* use base_width >= 8"):
        kc.ResNeXt50.tiny(base_width=4, input_shape=SMALL)  # 8 planes x 4 / 64 < 1
    with pytest.raises(ValueError, match="`cardinality` must be an integer >= 1; got 0"):
        kc.ResNeXt50(cardinality=0, base_width=4, input_shape=SMALL)
    with pytest.raises(ValueError, match="bottleneck blocks only"):
        kc.ResNet18(cardinality=2)


@pytest.mark.parametrize("name", ["resnext50", "resnext50_2x40d", "resnext101_64x4d",
                                  "seresnext50", "seresnext101", "senet154", "res2next50"])
def test_grouped_families_use_group_conv2d(name):
    from keras_convnets.layers import GroupConv2D

    model = kc.get_spec(name).builder.tiny(input_shape=(64, 64, 3))
    grouped = [layer for layer in model.layers if isinstance(layer, GroupConv2D)]
    assert grouped and all(layer.groups > 1 for layer in grouped)
    assert not [layer for layer in model.layers
                if isinstance(layer, keras.layers.Conv2D) and layer.groups > 1]


def test_groups_that_do_not_divide_channels_are_rejected():
    # SENet-154's halved first 1x1 feeds the grouped 3x3: 16x1d is 16 wide, so the halved
    # conv gives 8 channels for 16 groups, which cannot be split.
    with pytest.raises(ValueError, match="`groups`=16 does not divide the 8 input channels"):
        kc.SENet154(input_shape=SMALL, cardinality=16, base_width=1)


def test_default_input_shape_follows_include_top():
    assert kc.ResNet18().input_shape == (None, 224, 224, 3)
    assert kc.ResNet18(include_top=False).input_shape == (None, None, None, 3)
    assert kc.WideResNet16_8().input_shape == (None, 32, 32, 3)


def test_weights_file_round_trip(tmp_path):
    model = kc.ResNet18(input_shape=SMALL, classes=3)
    path = str(tmp_path / "r18.weights.h5")
    model.save_weights(path)
    loaded = kc.ResNet18(input_shape=SMALL, classes=3, weights=path)
    x = np.random.default_rng(0).random((1, *SMALL)).astype("float32")
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6)


@pytest.mark.parametrize("norm", ["group", "layer", "sync_batch"])
def test_norm_choice_reaches_every_norm_layer(norm):
    model = kc.ResNet18.tiny(input_shape=SMALL, norm=norm)
    norms = [layer for layer in model.layers if "bn" in layer.name]
    expected = (keras.layers.BatchNormalization if norm == "sync_batch"
                else keras.layers.GroupNormalization)
    assert norms and all(isinstance(layer, expected) for layer in norms)
    if norm == "sync_batch":
        assert all(layer.synchronized for layer in norms)


def test_drop_path_and_head_dropout_are_in_the_graph():
    model = kc.ResNet50.tiny(input_shape=SMALL, drop_path_rate=0.2, drop_rate=0.3)
    rates = [layer.rate for layer in model.layers if type(layer).__name__ == "DropPath"]
    # rising linearly from 0 over the 5 tiny blocks; the first block's rate 0 adds no layer
    np.testing.assert_allclose(rates, [0.05, 0.1, 0.15, 0.2])
    assert any(isinstance(layer, keras.layers.Dropout) and layer.rate == 0.3
               for layer in model.layers)


def test_attention_option_adds_se_to_every_block():
    model = kc.ResNet50.tiny(input_shape=SMALL, attention="se")
    assert sum(type(layer).__name__ == "SEBlock" for layer in model.layers) == 5


def test_zero_init_residual_starts_blocks_as_identity():
    model = kc.ResNet50.tiny(input_shape=SMALL, zero_init_residual=True)
    last_norms = [layer for layer in model.layers if layer.name.endswith("_bn3")]
    assert last_norms and all(not np.any(layer.gamma.numpy()) for layer in last_norms)


def test_stride_in_1x1_moves_the_stride():
    v1 = kc.ResNet50.tiny(input_shape=(64, 64, 3))
    v15 = kc.ResNet50.tiny(input_shape=(64, 64, 3), stride_in_1x1=False)
    name = "stage2_block1_conv1"
    assert v1.get_layer(f"{v1.name}_{name}").strides == (2, 2)
    assert v15.get_layer(f"{v15.name}_{name}").strides == (1, 1)


def test_stride_in_last_block_is_keras_resnet_v2_layout():
    shape = (64, 64, 3)
    timm = kc.ResNet50V2.tiny(input_shape=shape)
    slim = kc.ResNet50V2.tiny(input_shape=shape, stride_in_last_block=True)
    assert kc.count_params(slim) == kc.count_params(timm)
    assert kc.count_flops(slim) < kc.count_flops(timm)  # the 1x1s before a stride run smaller
    # tiny stages have 2, 1, 1, 1 blocks: stages 1-3 end strided, the identity subsampled
    for stage, last_block in ((1, 2), (2, 1), (3, 1)):
        conv = slim.get_layer(f"{slim.name}_stage{stage}_block{last_block}_conv2")
        assert conv.strides == (2, 2)
    pool = slim.get_layer(f"{slim.name}_stage1_block2_shortcut_pool")
    assert pool.strides == (2, 2) and pool.pool_size == (1, 1)
    assert slim.get_layer(f"{slim.name}_stage4_block1_conv2").strides == (1, 1)
    assert timm.get_layer(f"{timm.name}_stage2_block1_conv2").strides == (2, 2)
    # the stage outputs carry the doubled strides the docstring promises; same final map
    assert slim.get_layer(f"{slim.name}_stage1_out").output.shape[1] == 64 // 8
    assert timm.get_layer(f"{timm.name}_stage1_out").output.shape[1] == 64 // 4
    assert slim.get_layer(f"{slim.name}_stage4_out").output.shape[1:] == \
        timm.get_layer(f"{timm.name}_stage4_out").output.shape[1:]
    with pytest.raises(ValueError, match="`stride_in_last_block` applies only to pre-act"):
        kc.ResNet50.tiny(input_shape=shape, stride_in_last_block=True)


def _weighted_layers(model):
    return [layer for layer in model.layers if layer.weights]


def test_strided_padding_same_is_keras_applications_arithmetic():
    """``strided_padding="same"`` builds keras.applications' MobileNetV2 function: its weights,
    copied layer by layer, give its logits (BN epsilon 1e-3 as keras), with no pad layers."""
    shape = (96, 96, 3)
    theirs = keras.applications.MobileNetV2(input_shape=shape, weights=None,
                                            classifier_activation=None)
    options = dict(input_shape=shape, bn_epsilon=1e-3, classifier_activation=None)
    ours = kc.MobileNetV2(strided_padding="same", **options)
    symmetric = kc.MobileNetV2(**options)
    assert not [layer for layer in ours.layers if isinstance(layer, keras.layers.ZeroPadding2D)]
    assert sum(kc.count_params(ours)) == theirs.count_params()
    rng = np.random.default_rng(0)
    for source, target in zip(_weighted_layers(theirs), _weighted_layers(ours), strict=True):
        # He-scaled kernels and BatchNorms that are not the identity (keras' initial ones
        # shrink the signal to 1e-12 by the last layer, where any two models agree)
        if isinstance(source, keras.layers.BatchNormalization):
            values = [rng.uniform(0.8, 1.2, v.shape) if i in (0, 3) else
                      rng.normal(0, 0.05, v.shape) for i, v in enumerate(source.get_weights())]
        else:
            kernel, *bias = source.get_weights()
            fan_in = np.prod(kernel.shape[:-1] if not isinstance(
                source, keras.layers.DepthwiseConv2D) else kernel.shape[:2])
            values = [rng.normal(0, np.sqrt(2 / fan_in), kernel.shape),
                      *(rng.normal(0, 0.05, b.shape) for b in bias)]
        values = [v.astype("float32") for v in values]
        source.set_weights(values)
        target.set_weights(values)
        symmetric.get_layer(target.name.replace(ours.name, symmetric.name)).set_weights(values)
    x = rng.uniform(-1, 1, (2, *shape)).astype("float32")
    expected = theirs(x, training=False).numpy()
    assert np.abs(expected[0] - expected[1]).max() > 1e-2  # the logits depend on the image
    # float32 rounding only (our fused BatchNorm sums in another order): 3e-5 on logits near 2
    np.testing.assert_allclose(ours(x, training=False).numpy(), expected, rtol=1e-4, atol=1e-4)
    # the default (PyTorch's symmetric padding) computes another function with those weights
    assert np.abs(symmetric(x, training=False).numpy() - expected).max() > 0.1


@pytest.mark.legacy
def test_strided_padding_is_checked():
    with pytest.raises(ValueError, match=r"`strided_padding` must be one of 'symmetric', "
                                         r"'same'; got 'valid'"):
        kc.MobileNetV2.tiny(input_shape=SMALL, strided_padding="valid")
    # VGG strides only by pooling: "same" would change nothing
    with pytest.raises(ValueError, match=r"`strided_padding`='same': vgg11 has no strided conv"):
        kc.VGG11.tiny(input_shape=SMALL, strided_padding="same")


def test_mixed_precision_keeps_float32_probabilities():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = kc.ResNet18.tiny(input_shape=SMALL, classes=3)
        out = model(np.zeros((1, *SMALL), "float32"))
        assert out.dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy(previous)


def test_trains_one_step_with_sgd():
    model = kc.SEResNeXt50.tiny(input_shape=SMALL, classes=3, drop_path_rate=0.1)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((4, *SMALL)).astype("float32")
    history = model.fit(x, np.array([0, 1, 2, 0]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("name", ["resnet18", "preactresnet164", "res2net50"])
def test_pooling_choices(name):
    spec = kc.get_spec(name)
    x = np.zeros((2, 64, 64, 3), "float32")
    for pooling, reduce in (("avg", np.mean), ("max", np.max)):
        features = spec.builder.tiny(include_top=False, input_shape=(64, 64, 3))
        pooled = spec.builder.tiny(include_top=False, pooling=pooling, input_shape=(64, 64, 3))
        pooled.set_weights(features.get_weights())
        np.testing.assert_allclose(pooled(x), reduce(np.asarray(features(x)), axis=(1, 2)),
                                   rtol=1e-5, atol=1e-6)
