"""CondenseNet beyond the shared routine: the condensation rule against a NumPy transcription of
the authors' rule, the paper's schedule, a tiny CondenseNet trained on the digits condensing on
schedule and converting to the deployed network with the same outputs and the paper's
parameter drop, the ported index buffers against pytorchcv (random indices), the full-size
conversions' counts against params.tsv, the group-lasso penalty, pruning, the new layers'
configs and the errors. (The deployed networks' counts and FLOPs: test_reference_counts.py,
which builds them with the registry's ``count_options``; parity with pytorchcv's
``condensenet74_*``: test_port.py.)"""

import dataclasses

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import keras, tf
from keras_convnets.data import load_digits
from keras_convnets.layers import ChannelGather, ChannelMask, ChannelShuffle, GroupConv2D
from keras_convnets.layers import LearnedGroupConv
from keras_convnets.models import condensenet as cn

from reference_tables import params_tsv

NAMES = ("condensenet74_c4_g4", "condensenet74_c8_g8")
#: the training networks' trainable parameters at 1000 classes (every 1x1 weight, the full
#: classifier), as the docstrings say
TRAINING_COUNTS = {"condensenet74_c4_g4": 11_922_680, "condensenet74_c8_g8": 11_103_608}


def _authors_rule(kernel, groups, factor, stages):
    """The authors' ``LearnedGroupConv._dropping`` transcribed to NumPy, one mask per stage:
    group g's filters are the outputs g, g + G, ...; the importance of input j to it is the sum
    of |W * mask| over them; the channels at positions count .. count + in/C of the ascending
    order are dropped (the ones dropped earlier, all zeros, sort first)."""
    channels = kernel.shape[0]
    mask, delta, count, masks = np.ones_like(kernel), channels // factor, 0, []
    for _ in range(stages):
        weights = np.abs(kernel * mask)
        for g in range(groups):
            importance = weights[:, g::groups].sum(axis=1)
            for j in np.argsort(importance, kind="stable")[count:count + delta]:
                mask[j, g::groups] = 0
        count += delta
        masks.append(mask.copy())
    return masks


def _learned(model):
    return [layer for layer in model.layers if isinstance(layer, LearnedGroupConv)]


def _learned_kernel_size(model):
    return sum(int(np.prod(layer.kernel.shape)) for layer in _learned(model))


def test_condensation_follows_the_authors_rule(rng):
    for groups, factor in ((4, 4), (2, 4), (4, 2), (1, 2)):
        _check_rule(groups, factor, rng)


def _check_rule(groups, factor, rng):
    layer = LearnedGroupConv(8, groups, factor)
    layer.build((None, 3, 3, 16))
    kernel = rng.normal(size=(16, 8)).astype("float32")
    layer.kernel.assign(kernel[None, None])
    assert layer.stage == 0 and layer.final_stage == factor - 1
    for stage, expected in enumerate(_authors_rule(kernel, groups, factor, factor - 1), 1):
        assert layer.condense(stage) == 16 // factor
        np.testing.assert_array_equal(np.asarray(layer.mask)[0, 0], expected)
        assert layer.stage == stage
        # after stage k every group keeps 1 - k/C of the inputs, the same for all its filters
        for g, kept in enumerate(layer.kept_channels()):
            assert len(kept) == 16 * (factor - stage) // factor
            np.testing.assert_array_equal(expected[:, g::groups].min(axis=1), expected[:, g])
    assert layer.condense(factor - 1) == 0  # already there
    # the deployed group convolution: outputs in group order, each group's kept inputs
    index, deployed = layer.condensed_weights()
    assert deployed.shape == (1, 1, 16 // factor, 8) and len(index) == 16 * groups // factor
    x = rng.normal(size=(2, 3, 3, 16)).astype("float32")
    y = GroupConv2D(8, 1, groups=groups, use_bias=False) if groups > 1 else \
        keras.layers.Conv2D(8, 1, use_bias=False)
    y.build((None, 3, 3, len(index)))
    y.set_weights([deployed])
    out = y(tf.gather(x, index, axis=-1))
    out = ChannelShuffle(groups)(out) if groups > 1 else out
    np.testing.assert_allclose(out, layer(x), rtol=1e-5, atol=1e-5)


def test_condensation_stage_is_the_authors_schedule():
    def authors(progress, factor):  # LearnedGroupConv._check_drop
        for i in range(factor - 1):
            if progress * 2 < (i + 1) / (factor - 1):
                return i
        return factor - 1

    for factor in (2, 4, 8):
        for progress in np.linspace(0, 1, 97):
            assert cn.condensation_stage(float(progress), factor) == authors(progress, factor)
    assert [cn.condensation_stage(p, 4) for p in (0, 1 / 6, 2 / 6, 0.5, 1)] == [0, 1, 2, 3, 3]
    assert cn.condensation_stage(0.7, 1) == 0


@pytest.mark.legacy
def test_tiny_condensenet_condenses_on_schedule_and_converts(seeded, save_and_reload):
    """Trained on the digits with SGD, 4 epochs of 3 steps: the C = 4 network reaches stage k
    at progress k/6 (batches 2, 4, 6 of 12), each group keeping 1 - k/C of its inputs, the
    classifier keeps half its features from the last stage on; the deployed network gives the
    same outputs with (1 - 1/C) of the 1x1 weights and half the classifier's gone."""
    (x, y), _ = load_digits(image_size=32)
    x, y = x[:48], y[:48]
    with seeded(0):
        model = kc.CondenseNet74_C4_G4.tiny(input_shape=(32, 32, 3), classes=10)
    mask = model.get_layer(model.name + "_output_mask")
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(({layer.stage for layer in _learned(model)},
                         {len(kept) / layer.kernel.shape[2] for layer in _learned(model)
                          for kept in layer.kept_channels()},
                         mask.selected))

    schedule = cn.CondensationSchedule()
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0, shuffle=False,
                        callbacks=[schedule, Record()])
    assert np.isfinite(history.history["loss"]).all()
    stages = [cn.condensation_stage(b / 12, 4) for b in range(12)]
    assert [min(s) for s, _, _ in seen] == [max(s) for s, _, _ in seen] == stages
    assert [k for _, k, _ in seen] == [{1 - s / 4} for s in stages]  # every group, every 1x1
    assert [m for _, _, m in seen] == [s == 3 for s in stages]
    assert [(e, b) for e, b, _ in schedule.history] == [(0, 2), (1, 1), (2, 0)]
    for layer in _learned(model):
        assert np.asarray(layer.mask).mean() == 1 / 4
    assert len(mask.kept_channels()) == 16  # of 32 pooled features

    deployed = cn.condense_model(model)
    assert deployed.name == model.name
    assert not _learned(deployed)
    assert not [layer for layer in deployed.layers if isinstance(layer, ChannelMask)]
    np.testing.assert_allclose(deployed(x[:8], training=False), model(x[:8], training=False),
                               rtol=1e-5, atol=1e-6)
    drop = kc.count_params(model)[0] - kc.count_params(deployed)[0]
    assert drop == _learned_kernel_size(model) * 3 // 4 + 16 * 10
    # both forms survive a .keras round trip with their masks and indices
    for net in (model, deployed):
        np.testing.assert_allclose(save_and_reload(net)(x[:4], training=False),
                                   net(x[:4], training=False), rtol=1e-5, atol=1e-6)


def test_the_train_job_condenses_and_saves_the_deployed_network(tmp_path):
    """`keras-convnets train condensenet74_c4_g4` condenses on the schedule by itself and saves
    the deployed network once training has passed the last condensing stage."""
    results = kc.training.train("condensenet74_c4_g4", tiny=True, image_size=32, epochs=2,
                                steps_per_epoch=3, validation_steps=1, backup=False, verbose=0,
                                out_dir=str(tmp_path / "run"))
    assert results["condensed"] is True
    saved = keras.models.load_model(results["model_path"], safe_mode=True)
    assert any(isinstance(layer, ChannelGather) for layer in saved.layers)
    assert not _learned(saved)


def test_ported_index_buffers_gather_like_pytorchcv():
    """pytorchcv's CondenseNet at the tiny configuration with random index buffers (a
    randomly initialised one has all zeros) ports onto condensed=True with equal logits."""
    pytest.importorskip("torch")
    from keras_convnets.weights import porting
    from keras_convnets.weights.mappings.condensenet import KEY_RULES

    porting._import_torchvision()
    import torch
    from pytorchcv.models.condensenet import CondenseComplexConv, CondenseLinear, CondenseNet

    cfg = kc.CondenseNet74_C4_G4.spec.tiny
    channels, width = [], cfg.init_features
    for layers, rate in zip(cfg.blocks, cfg.growth):
        channels.append([width + rate * (i + 1) for i in range(layers)])
        width = channels[-1][-1]
    torch.manual_seed(0)
    reference = CondenseNet(channels, cfg.init_features, cfg.groups, num_classes=10).eval()
    reference.features.final_pool = torch.nn.AdaptiveAvgPool2d(1)  # its 7x7 pool needs 224
    porting.randomize_normalization(reference)
    with torch.no_grad():
        for module in reference.modules():
            n = module.index.numel() if isinstance(module, (CondenseComplexConv,
                                                             CondenseLinear)) else 0
            if isinstance(module, CondenseComplexConv):  # G = C: in channels, repeats allowed
                module.index.copy_(torch.randint(0, n, (n,)))
            elif isinstance(module, CondenseLinear):
                module.index.copy_(torch.randperm(2 * n)[:n])
    with porting.float64_models():
        model = kc.CondenseNet74_C4_G4.tiny(input_shape=(64, 80, 3), classes=10, condensed=True,
                                            classifier_activation=None,
                                            name="condensenet74_c4_g4")
        porting.assign(model, reference, KEY_RULES["pytorchcv"])
    index = model.get_layer("condensenet74_c4_g4_stage2_unit1_conv1_index")
    assert len(set(np.asarray(index.index).tolist())) > 1
    difference, scale = porting.compare(model, reference, size=(64, 80))
    assert scale > 0 and difference < 1e-6, difference


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_full_size_conversion_has_the_reference_counts(name):
    """The full-size training network, condensed at once and converted: params.tsv's deployed
    count and FLOPs to the integer."""
    spec = kc.get_spec(name)
    model = spec.builder(input_shape=(224, 224, 3))
    assert kc.count_params(model)[0] == TRAINING_COUNTS[name]
    assert cn.condense(model, 1.0)
    deployed = cn.condense_model(model)
    row = params_tsv()[("pytorchcv", name)]
    assert kc.count_params(deployed)[0] == int(row["params"]) == spec.params
    assert kc.count_flops(deployed) == int(row["flops"]) == spec.flops
    factor = spec.config.condense_factor
    assert TRAINING_COUNTS[name] - spec.params == (
        _learned_kernel_size(model) * (factor - 1) // factor + 1032 * 1000)


def test_group_lasso_is_the_papers_penalty(rng):
    layer = LearnedGroupConv(8, 2, 4, group_lasso=0.1)
    layer.build((None, 2, 2, 16))
    kernel = rng.normal(size=(16, 8)).astype("float32")
    layer.kernel.assign(kernel[None, None])
    expected = sum(np.sqrt((kernel[j, g::2] ** 2).sum()) for g in range(2) for j in range(16))
    np.testing.assert_allclose(float(layer.group_lasso_loss()), expected, rtol=1e-5)
    x = tf.ones((1, 2, 2, 16))
    layer(x, training=True)
    np.testing.assert_allclose([float(v) for v in layer.losses], [0.1 * expected], rtol=1e-5)
    layer(x, training=False)
    assert not layer.losses
    layer.condense(3)  # the last stage: no more penalty
    assert float(layer.group_lasso_loss()) == 0
    model = kc.CondenseNet74_C4_G4.tiny(input_shape=(32, 32, 3), group_lasso=1e-3)
    model(np.zeros((1, 32, 32, 3), "float32"), training=True)
    assert len(model.losses) == len(_learned(model)) and all(float(v) > 0 for v in model.losses)


@pytest.mark.legacy
def test_learned_group_conv_kernels_are_pruned():
    """LearnedGroupConv declares its kernel prunable: pruning masks it in both worlds, on top
    of the condensation mask."""
    from keras_convnets.optimize import pruning

    model = kc.CondenseNet74_C8_G8.tiny(input_shape=(32, 32, 3), classes=10)
    x = np.random.default_rng(0).uniform(0, 1, (16, 32, 32, 3)).astype("float32")
    pruned = pruning.prune(model, pruning.ConstantSparsity(0.5, begin_step=0, frequency=1))
    pruned.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    pruned.fit(x, np.arange(16) % 10, batch_size=8, epochs=1, verbose=0,
               callbacks=[pruning.UpdatePruningStep()])
    rows = [r for r in pruning.sparsity_report(pruning.strip_pruning(pruned))
            if r["type"] == "LearnedGroupConv"]
    assert len(rows) == 6 and all(abs(r["sparsity"] - 0.5) <= 0.01 for r in rows), rows


@pytest.mark.legacy
def test_new_layers_round_trip_their_config():
    cases = ((LearnedGroupConv(8, 2, 4, group_lasso=0.01, name="lgc"), (None, 3, 3, 16)),
             (ChannelMask(0.25, name="mask"), (None, 12)),
             (ChannelGather(6, name="gather"), (None, 3, 3, 4)))
    for layer, shape in cases:
        layer.build(shape)
        config = layer.get_config()
        again = keras.layers.deserialize(keras.layers.serialize(layer))
        assert type(again) is type(layer) and again.get_config() == config, config
        assert again.compute_output_shape(shape) == layer.compute_output_shape(shape)
    gather, conv = layer, LearnedGroupConv(8, 2, 4)
    np.testing.assert_array_equal(np.asarray(gather.index), [0, 1, 2, 3, 0, 1])  # i % in
    assert gather.count_flops((1, 3, 3, 4), (1, 3, 3, 6)) == 0
    # the dense 1x1 the training network computes (the deployed one costs 1/C of it)
    assert conv.count_flops((1, 3, 3, 16), (1, 3, 3, 8)) == 2 * 16 * 8 * 9


BAD_CONFIGURATIONS = [
    ({"groups": 3}, r"`groups`=3 does not divide the growth rate 8"),
    ({"condense_factor": 3}, r"`condense_factor`=3 does not divide the 16 input channels"),
    ({"groups": 0}, r"`groups` must be an integer >= 1; got 0"),
    ({"condense_factor": 0}, r"`condense_factor` must be an integer >= 1; got 0"),
    ({"blocks": (4, 0, 8, 10, 8)}, r"`blocks` must be a non-empty tuple of positive integers"),
    ({"growth": (8, 16)}, r"`growth` needs one rate per block"),
    ({"classifier_keep": 0.0}, r"`classifier_keep` must be a number in \(0, 1\]; got 0.0"),
]
BAD_OPTIONS = [
    ({"condensed": "yes"}, r"`condensed` must be True or False; got 'yes'"),
    ({"group_lasso": -1}, r"`group_lasso` must be a number >= 0; got -1"),
    ({"group_lasso": 0.1, "condensed": True}, r"`group_lasso`=0.1 regularises the training"),
    ({"norm": "group"}, r"`norm` must be one of 'batch'; got 'group'"),
    ({"drop_rate": 1.0}, r"`drop_rate` must be a number in \[0, 1\); got 1.0"),
]
BAD_ARGUMENTS = [
    (lambda: LearnedGroupConv(10, 4), r"`groups`=4 does not divide `filters`=10"),
    (lambda: LearnedGroupConv(8, 0), r"`groups` must be an integer >= 1; got 0"),
    (lambda: LearnedGroupConv(8, 2, 0), r"`condense_factor` must be an integer >= 1; got 0"),
    (lambda: LearnedGroupConv(8, 2, group_lasso=-0.5), r"`group_lasso` must be a number >= 0"),
    (lambda: LearnedGroupConv(8, 2, 3).build((None, 2, 2, 16)),
     r"`condense_factor`=3 does not divide the 16 input channels"),
    (lambda: ChannelMask(keep=1.5), r"`keep` must be a number in \(0, 1\]; got 1.5"),
    (lambda: ChannelGather(0), r"`channels` must be an integer >= 1; got 0"),
    (lambda: cn.CondensationSchedule(epochs=0), r"`epochs` must be an integer >= 1; got 0"),
    (lambda: cn.CondensationSchedule(10, steps_per_epoch=-1), r"`steps_per_epoch` must be"),
    (lambda: cn.condensation_stage(1.5, 4), r"`progress` must be a number in \[0, 1\]; got 1.5"),
]


def test_bad_configurations_options_and_arguments_are_clear_errors():
    function = kc.CondenseNet74_C4_G4.spec.function
    for change, message in BAD_CONFIGURATIONS:
        cfg = dataclasses.replace(kc.CondenseNet74_C4_G4.config, **change)
        with pytest.raises(ValueError, match=message):
            function(cfg, input_shape=(32, 32, 3))
    for kwargs, message in BAD_OPTIONS:
        with pytest.raises(ValueError, match=message):
            kc.CondenseNet74_C4_G4.tiny(input_shape=(32, 32, 3), **kwargs)
    for make, message in BAD_ARGUMENTS:
        with pytest.raises(ValueError, match=message):
            make()


def test_deployed_layout_and_what_condensing_and_converting_refuse():
    layer = LearnedGroupConv(8, 2, 4)
    layer.build((None, 2, 2, 16))
    with pytest.raises(ValueError, match=r"`stage` must be at most C - 1 = 3 .*got 4"):
        layer.condense(4)
    layer.condense(2)
    with pytest.raises(ValueError, match=r"at condensing stage 2; dropped channels cannot come"):
        layer.condense(1)
    with pytest.raises(ValueError, match=r"stage 2 of 3: condense it fully"):
        layer.condensed_weights()
    model = kc.CondenseNet74_C4_G4.tiny(input_shape=(32, 32, 3))
    cn.condense(model, 0.4)  # stage 2 of 3
    with pytest.raises(ValueError, match=r"is not fully condensed .*condense\(model, 1.0\)"):
        cn.condense_model(model)
    deployed = kc.CondenseNet74_C4_G4.tiny(input_shape=(32, 32, 3), condensed=True)
    names = [layer.name[len(deployed.name) + 1:] for layer in deployed.layers]
    assert names.index("stage1_unit1_conv1_index") < names.index("stage1_unit1_conv1_bn") < \
        names.index("stage1_unit1_conv1_conv") < names.index("stage1_unit1_conv1_shuffle")
    assert deployed.get_layer(deployed.name + "_stage1_unit1_conv1_index").channels == 8
    assert deployed.get_layer(deployed.name + "_output_index").channels == 16  # half of 32
    assert "stage2_trans_pool" in names and "stage5_out" in names
    with pytest.raises(ValueError, match=r"is not a CondenseNet training network"):
        cn.condense_model(deployed)
    with pytest.raises(ValueError, match=r"has no learned group convolution"):
        cn.condense(deployed, 0.5)
