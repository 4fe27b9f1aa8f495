"""The classification head every family shares: ``Head`` (pooling or flatten, hidden layers,
classifier bias) and auxiliary classifiers (built for training only, dropped by
``kc.inference_model``, absent without the top, with names that do not depend on them)."""

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.applications import Head, build_model
from keras_convnets.backend import keras

SHAPE = (32, 32, 3)


def _body(ctx, x):
    x = ctx.conv_norm_act(x, 8, 3, "stage1", strides=2)
    x = ctx.relu(x, "stage1_out")
    ctx.auxiliary_classifier(x, "aux1", lambda ctx, y: keras.layers.GlobalAveragePooling2D(
        name=ctx.name("aux1_pool"))(y))
    x = ctx.conv_norm_act(x, 16, 3, "stage2", strides=2)
    return ctx.relu(x, "stage2_out")


def _build(**kwargs):
    # Any registered name: build_model reads its sizes; the body and head are ours.
    kwargs.setdefault("input_shape", SHAPE)
    return build_model("resnet18", _body, classes=5, **kwargs)


def _images(n=4):
    return np.random.default_rng(0).uniform(-1, 1, (n,) + SHAPE).astype("float32")


def test_default_head_is_average_pool_and_biased_classifier():
    model = _build()
    assert isinstance(model.get_layer("resnet18_avg_pool"), keras.layers.GlobalAveragePooling2D)
    assert model.get_layer("resnet18_logits").use_bias
    assert not [layer for layer in model.layers if "aux" in layer.name]


def test_head_options():
    def hidden(ctx, x):
        return keras.layers.Dense(12, activation="relu", name=ctx.name("fc"))(x)

    model = _build(head=Head(pool="flatten", hidden=hidden, bias=False), drop_rate=0.5)
    names = [layer.name for layer in model.layers]
    assert names[-5:] == ["resnet18_flatten", "resnet18_fc", "resnet18_head_dropout",
                          "resnet18_logits", "resnet18_predictions"]
    assert model.get_layer("resnet18_fc").input.shape[-1] == 8 * 8 * 16
    assert model.get_layer("resnet18_logits").use_bias is False
    with pytest.raises(ValueError, match="flattens the last feature map.*input size must be "
                                         "fixed"):
        _build(head=Head(pool="flatten"), input_shape=(None, None, 3))
    with pytest.raises(ValueError, match=r"`Head.pool` must be one of 'avg', 'flatten'.*'sum'"):
        Head(pool="sum")


def test_auxiliary_classifiers_exist_for_training_only():
    train = _build(aux_logits=True)
    assert [o.shape[-1] for o in train.outputs] == [5, 5]
    assert train.outputs[1] is train.get_layer("resnet18_aux1_predictions").output
    plain = _build(name="plain")
    # The shared layers are named alike with and without the auxiliary head (weights port).
    aux_only = {"aux1_pool", "aux1_logits", "aux1_predictions"}
    train_names = {layer.name[len("resnet18_"):] for layer in train.layers[1:]}
    plain_names = {layer.name[len("plain_"):] for layer in plain.layers[1:]}
    assert train_names - plain_names == aux_only and not plain_names - train_names

    x = _images()
    inference = kc.inference_model(train)
    assert len(inference.outputs) == 1
    np.testing.assert_allclose(np.asarray(inference(x)), np.asarray(train(x)[0]), rtol=1e-6)
    assert kc.inference_model(plain) is plain
    backbone = _build(include_top=False, pooling="avg")
    assert len(backbone.outputs) == 1 and backbone.output_shape == (None, 16)
    assert not [layer for layer in backbone.layers if "aux" in layer.name]


def test_auxiliary_classifiers_need_the_top_and_a_model_that_has_them():
    with pytest.raises(ValueError, match=r"`aux_logits`=True needs include_top=True"):
        _build(aux_logits=True, include_top=False, pooling="avg")
    with pytest.raises(ValueError, match=r"`aux_logits`=True: resnet18 has no auxiliary "
                                         r"classifiers; models with them: .*inceptionv3"):
        kc.ResNet18.tiny(input_shape=SHAPE, aux_logits=True)
    with pytest.raises(ValueError, match=r"`aux_logits` must be True or False; got 'yes'"):
        _build(aux_logits="yes")


def test_aux_loss_weights_come_from_the_registry():
    assert kc.get_spec("googlenet").aux_loss_weight == 0.3    # Szegedy et al. 2014, Sec. 5
    assert kc.get_spec("inceptionv3").aux_loss_weight == 0.4  # Szegedy et al. 2015, Sec. 4
    assert kc.aux_loss_weights(_build(name="plain")) == [1.0]
    # resnet18 has none: a model of another name says how to give the weight
    with pytest.raises(ValueError, match=r"'resnet18' is not the name of a registered model "
                                         r"with auxiliary classifiers.*pass weight="):
        kc.aux_loss_weights(_build(aux_logits=True))
    assert kc.aux_loss_weights(_build(aux_logits=True), weight=0.3) == [1.0, 0.3]
    with pytest.raises(ValueError, match=r"`weight` must be a positive number; got -1"):
        kc.aux_loss_weights(_build(aux_logits=True), weight=-1)


def test_auxiliary_classifiers_train_with_their_loss_weight():
    model = _build(aux_logits=True)
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss_weights=kc.aux_loss_weights(model, weight=0.3),
                  loss=["sparse_categorical_crossentropy"] * 2)
    y = np.array([0, 1, 2, 3])
    aux_kernel = model.get_layer("resnet18_aux1_logits").kernel
    before = np.asarray(aux_kernel).copy()
    history = model.fit(_images(), [y, y], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(before, np.asarray(aux_kernel))


def test_exports_leave_the_auxiliary_classifiers_out(tmp_path):
    """A model trained with its auxiliary heads exports (TFLite, SavedModel) as its inference
    model: one output, the main predictions."""
    import tensorflow as tf

    from keras_convnets.optimize import tflite

    model = _build(aux_logits=True, classifier_activation=None)
    x = _images(2)
    main = np.asarray(model(x)[0])
    report = kc.export.tflite(model, tmp_path / "aux.tflite", check_data=x)
    assert report["output"]["shape"] == [1, 5] and report["max_difference"] < 1e-4
    interpreter = tflite.make_interpreter((tmp_path / "aux.tflite").read_bytes())
    assert len(interpreter.get_output_details()) == 1
    path = kc.export.saved_model(model, tmp_path / "serving", top_k=1, preprocessing="none")
    served = tf.saved_model.load(path).signatures["predict_raw"](images=tf.constant(x))
    np.testing.assert_allclose(served["probabilities"].numpy(),
                               tf.nn.softmax(main).numpy(), atol=1e-5)
