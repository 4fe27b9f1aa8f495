"""Weight porting from timm / torchvision: logit parity and the named-weights workflow.

Each reference is randomly initialised (with random BatchNorm statistics) in eval mode, its
state dict is mapped onto our model, and in float64, on non-square random inputs, the logits
must agree to ``PARITY`` of the logit scale (measured: 3e-8 to 1.5e-7; one changed weight
moves it far past that, ``test_parity_catches_one_changed_weight``).
"""

import importlib.util
import json
import os
import shutil
import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the port extra (torch, timm) is not installed")
if importlib.util.find_spec("timm") is None:  # importing it needs the torchvision op shim first
    pytest.skip("the port extra (timm) is not installed", allow_module_level=True)

import keras_convnets as kc  # noqa: E402
from keras_convnets.weights import mappings  # noqa: E402
from keras_convnets.weights import porting as port_module  # noqa: E402
from keras_convnets.weights import store  # noqa: E402

PORTABLE = sorted(port_module.family_sources())
#: the largest logit difference a correct mapping gives, relative to the logit scale (float64)
PARITY = 1e-6


def _parity_size(name):
    """A non-square input (height != width catches transposed kernels and flatten orders),
    unless the mapping fixes the size (AlexNet's flattening classifier)."""
    fixed = port_module.mapping_for(name).input_size if name in PORTABLE else None
    side = max(32, kc.get_spec(name).min_size)
    return fixed or (side, side + 16)


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
    size = _parity_size(name)
    with port_module.float64_models():
        model, reference, mapping = port_module.build_ported(name, input_size=size,
                                                             randomize=True)
    difference, scale = port_module.compare(model, reference, size=size)
    assert scale > 0
    assert difference < PARITY, f"{name} vs {mapping.source}: {difference:.2e} of the logits"


DEFAULT_LAYOUT_REFERENCES = mappings.collected("DEFAULT_LAYOUT_REFERENCES")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DEFAULT_LAYOUT_REFERENCES))
def test_default_layout_parity(name):
    """Our default layout (the paper's; e.g. ResNet v1 striding the first 1x1), not the one the
    ported weights need, against a reference implementation of that layout (pytorchcv)."""
    port_module._import_torchvision()  # pytorchcv imports torchvision
    from pytorchcv.model_provider import get_model

    source, rules = DEFAULT_LAYOUT_REFERENCES[name]
    torch.manual_seed(0)
    reference = port_module.randomize_normalization(get_model(source.split(":")[1]).eval())
    size = tuple(reference.in_size)  # pytorchcv's final pool is a fixed 7x7: 224x224 only
    with port_module.float64_models():
        model = kc.get_spec(name).builder(input_shape=(*size, 3), classifier_activation=None,
                                          name=name)
        port_module.assign(model, reference,
                           mappings.mapping_module(kc.get_spec(name).module).KEY_RULES[rules])
    difference, scale = port_module.compare(model, reference, size=size)
    assert scale > 0 and difference < PARITY, f"{name} vs {source}: {difference:.2e}"


def test_parity_catches_one_changed_weight():
    """One BatchNorm variance 1% off, or one kernel entry changed, fails the parity bound."""
    torch.manual_seed(0)
    size = _parity_size("resnet18")
    with port_module.float64_models():
        model, reference, _ = port_module.build_ported("resnet18", input_size=size,
                                                       randomize=True)
    assert port_module.compare(model, reference, size=size)[0] < PARITY
    layer = model.get_layer("resnet18_stage4_block2_bn2")  # feeds the last sum directly
    variance = np.asarray(layer.moving_variance).copy()
    layer.moving_variance.assign(variance * np.where(np.arange(len(variance)) == 7, 1.01, 1))
    assert port_module.compare(model, reference, size=size)[0] > PARITY
    layer.moving_variance.assign(variance)
    conv = model.get_layer("resnet18_stem_conv")
    kernel = np.asarray(conv.kernel).copy()
    kernel[3, 4, 0, 0] += 0.01
    conv.kernel.assign(kernel)
    assert port_module.compare(model, reference, size=size)[0] > PARITY


def _timm_mobilenet_v1(multiplier):
    from timm.models import efficientnet

    return efficientnet._gen_mobilenet_v1("mobilenetv1_100", multiplier)


def _timm_mobilenet_v3_minimal(variant):
    # timm registers only the TF port (`tf_` prefix: TensorFlow "same" padding, BN eps 1e-3);
    # its generator builds the same network with PyTorch padding and eps 1e-5, as ours.
    from timm.models import mobilenetv3

    return mobilenetv3._gen_mobilenet_v3(variant, 1.0)


#: References with no registered name (so ``keras-convnets port`` cannot name them; see
#: ``not_portable()``), built directly here for the same parity check.
UNNAMED_REFERENCES = {
    "mobilenet_075": lambda: _timm_mobilenet_v1(0.75),  # params.tsv: _gen_mobilenet_v1(mult=...)
    "mobilenet_050": lambda: _timm_mobilenet_v1(0.5),
    "mobilenet_025": lambda: _timm_mobilenet_v1(0.25),
    "mobilenetv2_130": lambda: port_module._import_torchvision().models.mobilenet_v2(
        width_mult=1.3),
    "mobilenetv3largeminimal": lambda: _timm_mobilenet_v3_minimal("mobilenetv3_large_minimal_100"),
    "mobilenetv3smallminimal": lambda: _timm_mobilenet_v3_minimal("mobilenetv3_small_minimal_100"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(UNNAMED_REFERENCES))
def test_logit_parity_with_unnamed_references(name):
    torch.manual_seed(0)
    port_module._import_torchvision()  # timm imports torchvision
    reference = port_module.randomize_normalization(UNNAMED_REFERENCES[name]().eval())
    size = _parity_size(name)
    with port_module.float64_models():
        model = kc.get_spec(name).builder(input_shape=(*size, 3), classes=1000,
                                          classifier_activation=None, name=name)
        port_module.assign(model, reference, "execution_order")
    difference, scale = port_module.compare(model, reference, size=size)
    assert scale > 0
    assert difference < PARITY, f"{name}: {difference:.2e} of the logit scale"


def test_every_reference_row_from_timm_or_torchvision_has_a_mapping():
    NOT_PORTABLE = port_module.not_portable()
    with_reference = [n for n in kc.list_models()
                      if kc.get_spec(n).reference.framework in ("timm", "torchvision")]
    unmapped = set(with_reference) - set(PORTABLE) - set(NOT_PORTABLE)
    assert with_reference and not unmapped, f"no weight mapping for {sorted(unmapped)}"
    # ... and every one without a named reference still gets a parity test
    assert set(NOT_PORTABLE) <= set(UNNAMED_REFERENCES)
    # pytorchcv rows (the paper's stride-in-1x1 ResNets) port from torchvision's v1.5
    assert {"resnet50", "resnet101", "resnet152"} <= set(PORTABLE)


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


def test_source_tag_is_the_one_the_library_resolves():
    reference = port_module.create_reference("timm:legacy_seresnet18")
    assert port_module.source_tag("timm:legacy_seresnet18", reference) == (
        reference.pretrained_cfg["tag"])
    assert port_module.source_tag("torchvision:resnet50", None) == "IMAGENET1K_V2"
    assert port_module.source_tag("torchvision:resnet50.IMAGENET1K_V1", None) == "IMAGENET1K_V1"
    assert port_module.source_tag("torchvision:resnet50", None, pretrained=False) is None


def test_batchnorm_epsilon_mismatch_is_refused():
    model, reference, mapping = port_module.build_ported("resnet18", input_size=32)
    reference.bn1.eps = 1e-3
    with pytest.raises(ValueError, match=r"resnet18_stem_bn: epsilon 1e-05 but bn1 uses 0.001"):
        port_module.assign(model, reference, mapping.rules)


def test_unmapped_layers_are_refused():
    model, reference, mapping = port_module.build_ported("resnet18", input_size=32)
    rules = [rule for rule in mapping.rules if rule[1] != "fc"]
    with pytest.raises(ValueError, match="No mapping rule for our layer 'resnet18_logits'"):
        port_module.assign(model, reference, rules)


def test_port_saves_a_named_set_that_weights_loads(keras_home):
    record = kc.weights.port("resnet18", pretrained=False, check_size=32)
    weights_path, sidecar_path = store.paths("resnet18", "random-init")
    assert os.path.isfile(weights_path)
    sidecar = json.loads(open(sidecar_path).read())
    assert sidecar["source"] == "torchvision:resnet18" and sidecar["sha256"] == record["sha256"]
    assert sidecar["tag"] == "random-init" and sidecar["model"] == "resnet18"
    assert sidecar["pretrained"] is False and sidecar["source_tag"] is None  # random init
    assert sidecar["sha256"] == store.sha256(weights_path)
    assert sidecar["max_logit_difference"] < 1e-4 and sidecar["mapping_version"] == 1
    assert sidecar["license"]

    loaded = kc.ResNet18(weights="random-init", input_shape=(32, 32, 3))
    ported, _, _ = port_module.build_ported("resnet18", input_size=32)
    ported.load_weights(weights_path)
    x = np.random.default_rng(0).random((1, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded(x), kc.keras.activations.softmax(ported(x)), rtol=1e-5,
                               atol=1e-7)

    # Fine-tuning and backbone use keep every weight but the classifier's.
    head10 = kc.ResNet18(weights="random-init", classes=10, input_shape=(32, 32, 3))
    backbone = kc.ResNet18(weights="random-init", include_top=False, pooling="avg")
    stem = f"{loaded.name}_stem_conv"
    np.testing.assert_array_equal(head10.get_layer(f"{head10.name}_stem_conv").kernel,
                                  loaded.get_layer(stem).kernel)
    np.testing.assert_array_equal(backbone.get_layer(f"{backbone.name}_stem_conv").kernel,
                                  loaded.get_layer(stem).kernel)
    assert head10.output_shape == (None, 10) and backbone.output_shape == (None, 512)


def test_named_weights_apply_their_builder_options(keras_home):
    kc.weights.port("resnet50", pretrained=False, check_size=32)
    model = kc.ResNet50(weights="random-init", input_shape=(32, 32, 3))
    assert model.get_layer(f"{model.name}_stage2_block1_conv2").strides == (2, 2)  # v1.5
    with pytest.raises(ValueError, match="`stride_in_1x1`=True conflicts with weights"):
        kc.ResNet50(weights="random-init", stride_in_1x1=True)


def test_weights_ported_with_auxiliary_classifiers_build_what_is_asked(keras_home):
    """GoogLeNet ports with its auxiliary classifiers (every torchvision tensor maps), but
    ``weights="random-init"`` builds the model asked for: one output by default, the auxiliary
    heads' weights where they are asked for, every classifier left out for other classes."""
    kc.weights.port("googlenet", pretrained=False)
    source, _, _ = port_module.build_ported("googlenet")
    source.load_weights(store.paths("googlenet", "random-init")[0])
    plain = kc.GoogLeNet(weights="random-init", input_shape=(224, 240, 3))  # the port's check size
    assert len(plain.outputs) == 1 and plain.output_shape == (None, 1000)
    x = np.random.default_rng(0).random((1, 224, 240, 3)).astype("float32")
    np.testing.assert_allclose(plain(x), kc.keras.activations.softmax(source(x)[0]),
                               rtol=1e-5, atol=1e-7)
    train = kc.GoogLeNet(weights="random-init", aux_logits=True)
    np.testing.assert_array_equal(train.get_layer(f"{train.name}_aux2_logits").kernel,
                                  source.get_layer("googlenet_aux2_logits").kernel)
    head10 = kc.GoogLeNet(weights="random-init", classes=10, aux_logits=True)
    assert [tuple(o.shape) for o in head10.outputs] == [(None, 10)] * 3
    np.testing.assert_array_equal(head10.get_layer(f"{head10.name}_aux1_fc").kernel,
                                  source.get_layer("googlenet_aux1_fc").kernel)
    backbone = kc.GoogLeNet(weights="random-init", include_top=False, pooling="avg")
    assert backbone.output_shape == (None, 1024)


def test_resnet_v2_weights_refuse_the_keras_layout(keras_home):
    kc.weights.port("resnet50v2", pretrained=False, check_size=32)
    model = kc.ResNet50V2(weights="random-init", input_shape=(32, 32, 3))
    assert model.get_layer(f"{model.name}_stage2_block1_conv2").strides == (2, 2)  # timm's
    with pytest.raises(ValueError, match="`stride_in_last_block`=True conflicts with weights"):
        kc.ResNet50V2(weights="random-init", stride_in_last_block=True)


def test_tampered_weights_are_refused(keras_home):
    kc.weights.port("resnet18", pretrained=False, check_size=32)
    weights_path, _ = store.paths("resnet18", "random-init")
    with open(weights_path, "r+b") as f:
        f.seek(-64, os.SEEK_END)
        f.write(b"\x00" * 8)
    with pytest.raises(ValueError, match="does not match the sha256 recorded"):
        kc.ResNet18(weights="random-init")


def test_random_init_weights_cannot_pass_for_pretrained(keras_home):
    """A randomly initialised port is saved as "random-init" and never as "imagenet"; a set
    whose sidecar says it is not pretrained (written by an older version under "imagenet") is
    refused by ``weights="imagenet"``."""
    with pytest.raises(ValueError, match="`tag`='imagenet' names pretrained weights"):
        kc.weights.port("resnet18", pretrained=False, tag="imagenet")
    kc.weights.port("resnet18", pretrained=False, check_size=32)
    for random_init, imagenet in zip(store.paths("resnet18", "random-init"),
                                     store.paths("resnet18", "imagenet")):
        shutil.copy(random_init, imagenet)
    with pytest.raises(ValueError, match="randomly initialised reference's weights .* not "
                                         "pretrained ones"):
        kc.ResNet18(weights="imagenet")


def test_port_without_network_is_one_clear_error(keras_home, monkeypatch, capsys):
    """Offline, the reference library's own download fails (here: name resolution, as on a
    machine without network): one line saying so and how to port offline."""
    from keras_convnets import cli

    def no_network(*args, **kwargs):
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setenv("TORCH_HOME", str(keras_home / "torch"))  # nothing cached
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    assert cli.main(["port", "resnet18"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("keras-convnets port: error: pretrained weights for "
                          "torchvision:resnet18 come from torchvision's own download, which "
                          "failed (URLError: "), err
    assert "--random-init" in err and "$TORCH_HOME/hub" in err


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
