"""Weight porting from timm / torchvision: logit parity and the named-weights workflow.

Each reference is randomly initialised (with random BatchNorm statistics) in eval mode, its
state dict is mapped onto our model, and the logits must agree to 1e-4 of the logit scale.
"""

import importlib.util
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the port extra (torch, timm) is not installed")
if importlib.util.find_spec("timm") is None:  # importing it needs the torchvision op shim first
    pytest.skip("the port extra (timm) is not installed", allow_module_level=True)

import keras_convnets as kc  # noqa: E402
from keras_convnets.weights import porting as port_module  # noqa: E402
from keras_convnets.weights import store  # noqa: E402

PORTABLE = sorted(port_module.family_sources())


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("name", PORTABLE)
def test_logit_parity_with_reference(name):
    # float64 on both sides: in float32, rounding noise grows through 100+ random layers
    # (SE-ResNet-152 reaches 1e-1 that way) and would hide a real mapping error's signature.
    torch.manual_seed(0)
    size = max(32, kc.get_spec(name).min_size)
    with port_module.float64_models():
        model, reference, mapping = port_module.build_ported(name, input_size=size,
                                                             randomize=True)
    difference, scale = port_module.compare(model, reference, size=size)
    assert scale > 0
    assert difference < 1e-4, f"{name} vs {mapping.source}: {difference:.2e} of the logit scale"


def test_every_reference_row_from_timm_or_torchvision_has_a_mapping():
    from keras_convnets.models.lightweight_weights import NOT_PORTABLE

    with_reference = [n for n in kc.list_models()
                      if kc.get_spec(n).reference.startswith(("timm", "torchvision"))]
    unmapped = set(with_reference) - set(PORTABLE) - set(NOT_PORTABLE)
    assert with_reference and not unmapped, f"no weight mapping for {sorted(unmapped)}"


def test_source_strings_are_validated():
    with pytest.raises(ValueError, match="`source` must look like 'timm:MODEL"):
        port_module.parse_source("pytorch:resnet50")
    assert port_module.parse_source("timm:legacy_seresnet50.in1k") == (
        "timm", "legacy_seresnet50", "in1k")
    with pytest.raises(ValueError, match="resnet18 ports from torchvision:resnet18"):
        port_module.build_ported("resnet18", source="timm:resnet18")
    with pytest.raises(ValueError, match="No weight mapping for 'wideresnet28_10'"):
        port_module.mapping_for("wideresnet28_10")


def test_unused_reference_tensors_are_refused():
    model, reference, mapping = port_module.build_ported("resnet18", input_size=32)
    reference.register_buffer("extra_statistic", torch.zeros(3))
    with pytest.raises(ValueError, match=r"not used by any layer: \['extra_statistic'\]"):
        port_module.assign(model, reference, mapping.rules)


def test_unmapped_layers_are_refused():
    model, reference, mapping = port_module.build_ported("resnet18", input_size=32)
    rules = [rule for rule in mapping.rules if rule[1] != "fc"]
    with pytest.raises(ValueError, match="No mapping rule for our layer 'resnet18_logits'"):
        port_module.assign(model, reference, rules)


def test_port_saves_a_named_set_that_weights_loads(keras_home):
    record = kc.weights.port("resnet18", pretrained=False, check_size=32)
    weights_path, sidecar_path = store.paths("resnet18", "imagenet")
    assert os.path.isfile(weights_path)
    sidecar = json.loads(open(sidecar_path).read())
    assert sidecar["source"] == "torchvision:resnet18" and sidecar["sha256"] == record["sha256"]
    assert sidecar["max_logit_difference"] < 1e-4 and sidecar["mapping_version"] == 1
    assert sidecar["license"]

    loaded = kc.ResNet18(weights="imagenet", input_shape=(32, 32, 3))
    ported, _, _ = port_module.build_ported("resnet18", input_size=32)
    ported.load_weights(weights_path)
    x = np.random.default_rng(0).random((1, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded(x), kc.keras.activations.softmax(ported(x)), rtol=1e-5,
                               atol=1e-7)

    # Fine-tuning and backbone use keep every weight but the classifier's.
    head10 = kc.ResNet18(weights="imagenet", classes=10, input_shape=(32, 32, 3))
    backbone = kc.ResNet18(weights="imagenet", include_top=False, pooling="avg")
    stem = f"{loaded.name}_stem_conv"
    np.testing.assert_array_equal(head10.get_layer(f"{head10.name}_stem_conv").kernel,
                                  loaded.get_layer(stem).kernel)
    np.testing.assert_array_equal(backbone.get_layer(f"{backbone.name}_stem_conv").kernel,
                                  loaded.get_layer(stem).kernel)
    assert head10.output_shape == (None, 10) and backbone.output_shape == (None, 512)


def test_named_weights_apply_their_builder_options(keras_home):
    kc.weights.port("resnet50", pretrained=False, check_size=32)
    model = kc.ResNet50(weights="imagenet", input_shape=(32, 32, 3))
    assert model.get_layer(f"{model.name}_stage2_block1_conv2").strides == (2, 2)  # v1.5
    with pytest.raises(ValueError, match="`stride_in_1x1`=True conflicts with weights"):
        kc.ResNet50(weights="imagenet", stride_in_1x1=True)


def test_tampered_weights_are_refused(keras_home):
    kc.weights.port("resnet18", pretrained=False, check_size=32)
    weights_path, _ = store.paths("resnet18", "imagenet")
    with open(weights_path, "r+b") as f:
        f.seek(-64, os.SEEK_END)
        f.write(b"\x00" * 8)
    with pytest.raises(ValueError, match="does not match the sha256 recorded"):
        kc.ResNet18(weights="imagenet")


def test_missing_named_weights_say_how_to_create_them(keras_home):
    with pytest.raises(ValueError, match="keras-convnets port seresnext50 --from "
                                         "timm:legacy_seresnext50_32x4d"):
        kc.SEResNeXt50(weights="imagenet")
    with pytest.raises(ValueError, match="no reference implementation is known"):
        kc.WideResNet28_10(weights="imagenet")


def test_port_command(keras_home, capsys):
    from keras_convnets import cli

    assert cli.main(["port", "seresnet18", "--random-init", "--tag", "check"]) == 0
    out = capsys.readouterr().out
    assert "ported timm:legacy_seresnet18 onto seresnet18" in out
    assert os.path.isfile(store.paths("seresnet18", "check")[0])
    model = kc.SEResNet18(weights="check", input_shape=(32, 32, 3))
    assert model.output_shape == (None, 1000)
    assert cli.main(["port", "seresnet18", "--from", "torchvision:resnet18"]) == 2
    assert "seresnet18 ports from timm:legacy_seresnet18" in capsys.readouterr().err
