"""The registry API: names, patterns, lookups, information, the builder signature."""

import inspect
import re

import pytest

import keras_convnets as kc


def test_list_models_patterns():
    assert kc.list_models("seresnext*") == ["seresnext101", "seresnext50"]
    assert "resnet50" in kc.list_models() and kc.list_models() == sorted(kc.list_models())
    assert kc.list_models("SERESNET1?") == ["seresnet18"]
    assert set(kc.list_models(family="res2net")) >= {"res2net50", "res2next50", "seres2net50"}
    assert kc.list_models("no-such-*") == []


@pytest.mark.legacy
def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match="Unknown model name 'resnet5'.*Did you mean:.*resnet50"):
        kc.get_model("resnet5")
    with pytest.raises(ValueError, match="seresnext50"):
        kc.model_info("se_resnext50")


def test_model_info_describes_the_paper_and_counts():
    info = kc.model_info("SEResNeXt50")
    assert info["paper"] == {"title": "Squeeze-and-Excitation Networks", "year": 2017,
                             "arxiv": "1709.01507", "url": "https://arxiv.org/abs/1709.01507"}
    alexnet = kc.model_info("alexnet")["paper"]  # no arXiv id: its proceedings page
    assert alexnet["arxiv"] is None and alexnet["url"].startswith("https://papers.nips.cc/")
    assert info["family"] == "senet" and info["params"] == 27_559_896
    assert info["stage_strides"] == (4, 8, 16, 32)
    assert info["default_size"] == 224 and info["min_size"] == 32
    cifar = kc.model_info("wideresnet28_10")
    assert cifar["stage_strides"] == (1, 2, 4) and cifar["default_classes"] == 10


def test_builders_have_the_keras_applications_signature():
    parameters = inspect.signature(kc.SEResNeXt50).parameters
    assert list(parameters)[:8] == ["include_top", "weights", "input_tensor", "input_shape",
                                    "pooling", "classes", "classifier_activation", "name"]
    assert parameters["classes"].default == 1000
    assert inspect.signature(kc.WideResNet28_10).parameters["classes"].default == 10
    for option in ("drop_rate", "drop_path_rate", "norm"):
        assert option in parameters


def test_get_model_builds_with_arguments_and_positionally():
    model = kc.get_model("resnet18", False, None, None, (64, 64, 3), "avg")
    assert model.output_shape == (None, 512)
    model = kc.get_model("ResNet18", include_top=True, classes=5, input_shape=(32, 32, 3))
    assert model.output_shape == (None, 5)


def test_every_public_builder_is_registered_and_exported():
    for name in kc.list_models():
        builder = kc.get_spec(name).builder
        assert getattr(kc, builder.__name__) is builder


def test_public_api_holds_no_private_name():
    assert not [n for n in kc.__all__ if n.startswith("_")]
    assert sorted(dir(kc)) == sorted(kc.__all__)
    assert len(kc.models.BUILDERS) == len(kc.list_models())


def test_every_builder_is_a_greppable_module_level_def():
    """``grep -rn "def SEResNeXt50"`` finds every public builder: each is written out in its
    family module, not generated in a loop."""
    import pathlib

    for spec in kc.registry.all_specs():
        source = pathlib.Path(inspect.getsourcefile(spec.function)).read_text()
        assert re.search(rf"^def {spec.builder.__name__}\(config, \*\*kwargs\):", source,
                         re.MULTILINE), spec.name


def test_register_refuses_duplicates_and_bare_references():
    with pytest.raises(ValueError, match="already registered"):
        kc.register(family="resnet", paper=kc.get_spec("resnet18").paper)(
            kc.get_spec("resnet18").function)
    with pytest.raises(TypeError, match="`reference` must be a Reference"):
        kc.register(family="x", paper=kc.get_spec("resnet18").paper, reference="timm x")


def test_docstrings_name_the_layout_option_their_reference_weights_need():
    """Where our default layout differs from the reference the weights port from (stride on the
    1x1 vs the 3x3, ShuffleNet v2's down-sampling unit), the docstring says which option the
    parity test and ``weights="imagenet"`` use. (The mapping tables import no torch.)"""
    from keras_convnets.weights.mappings import mapping_modules

    for module in mapping_modules():
        for name, (source, _, options, *_) in module.SOURCES.items():
            doc = kc.get_spec(name).builder.__doc__
            for option, value in options.items():
                assert re.search(rf"{option}=[\"']?{value}[\"']?", doc), (name, option, doc)


def _boolean_options():
    pairs = []
    for spec in kc.registry.all_specs():
        for parameter in inspect.signature(spec.builder).parameters.values():
            if parameter.kind is parameter.KEYWORD_ONLY and isinstance(parameter.default, bool):
                pairs.append((spec.name, parameter.name))
    return pairs


def test_every_boolean_option_takes_only_booleans():
    """Checked before anything is built: `zero_init_residual="maybe"` is an error naming the
    option, on every builder that has one."""
    pairs = _boolean_options()
    assert len(pairs) > 50
    for name, option in pairs:
        with pytest.raises(ValueError, match=rf"`{option}` must be True or False; got 'maybe'"):
            kc.get_spec(name).builder(**{option: "maybe"})


def test_unknown_options_suggest_the_close_one():
    with pytest.raises(TypeError, match=r"ResNet18\(\) got an unexpected argument `dropout`. "
                                        r"Did you mean `drop_rate`\?"):
        kc.ResNet18(dropout=0.2)
    with pytest.raises(TypeError, match=r"unexpected argument `groups`.*Its options: "):
        kc.ShuffleNetV1_g3_1x(groups=5)
    with pytest.raises(ValueError, match=r"`drop_path_rate` must be a number; got '0.1'"):
        kc.ResNet18(drop_path_rate="0.1")
