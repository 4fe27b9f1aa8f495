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


# Every model the foundation (residual family) and lightweight issues list, by builder name.
LISTED = {
    "resnet": ["ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152", "ResNet200"],
    "resnet_v2": ["ResNet50V2", "ResNet101V2", "ResNet152V2", "ResNet200V2", "PreActResNet164",
                  "PreActResNet1001"],
    "resnext": ["ResNeXt50", "ResNeXt50_2x40d", "ResNeXt50_4x24d", "ResNeXt50_8x14d",
                "ResNeXt101", "ResNeXt101_32x8d", "ResNeXt101_64x4d"],
    "senet": ["SEResNet18", "SEResNet34", "SEResNet50", "SEResNet101", "SEResNet152",
              "SEResNeXt50", "SEResNeXt101", "SENet154"],
    "wide_resnet": ["WideResNet16_8", "WideResNet28_10", "WideResNet40_4", "WideResNet50_2",
                    "WideResNet101_2"],
    "res2net": ["Res2Net50", "Res2Net50_14w8s", "Res2Net50_26w6s", "Res2Net50_26w8s",
                "Res2Net50_48w2s", "Res2Net101", "Res2NeXt50", "SERes2Net50"],
    "mobilenet": ["MobileNet", "MobileNet_075", "MobileNet_050", "MobileNet_025"],
    "mobilenet_v2": ["MobileNetV2", "MobileNetV2_035", "MobileNetV2_050", "MobileNetV2_075",
                     "MobileNetV2_130", "MobileNetV2_140"],
    "mobilenet_v3": ["MobileNetV3Large", "MobileNetV3Small", "MobileNetV3LargeMinimal",
                     "MobileNetV3SmallMinimal"],
    "shufflenet": [f"ShuffleNetV1_g{g}_{s}" for g in (1, 2, 3, 4, 8)
                   for s in ("0_25x", "0_5x", "1x", "1_5x", "2x")]
                  + ["ShuffleNetV2_0_5x", "ShuffleNetV2_1x", "ShuffleNetV2_1_5x", "ShuffleNetV2_2x"],
    "xception": ["Xception"],
    "igc": ["IGCNet_L16M32", "IGCNet_L32M26", "IGCNet_L450M2", "CLCNet_A", "CLCNet_B"],
    "deep_roots": ["ResNet50_Root64"],
    "shift": ["ShiftResNet20", "ShiftResNet56", "ShiftResNet110"],
}


@pytest.mark.parametrize("family", sorted(LISTED))
def test_every_listed_model_is_registered_in_its_family(family):
    for builder_name in LISTED[family]:
        builder = getattr(kc, builder_name)
        assert kc.get_spec(builder_name.lower()).builder is builder
        assert kc.model_info(builder_name)["family"] == family, builder_name


def test_docstrings_name_the_layout_option_their_reference_weights_need():
    """Where our default layout differs from the reference the weights port from (stride on the
    1x1 vs the 3x3, ShuffleNet v2's down-sampling unit), the docstring says which option the
    parity test and ``weights="imagenet"`` use. (The mapping tables import no torch.)"""
    from keras_convnets.models import lightweight_weights, resnet_weights

    for module in (resnet_weights, lightweight_weights):
        for name, (source, _, options) in module.SOURCES.items():
            doc = kc.get_spec(name).builder.__doc__
            for option, value in options.items():
                assert re.search(rf"{option}=[\"']?{value}[\"']?", doc), (name, option, doc)
