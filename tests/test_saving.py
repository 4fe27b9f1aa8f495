"""What a saved .keras file needs: Keras alone for models made of Keras' layers (batch
normalisation included), ``import keras_convnets`` for models with our layers -- and Keras' error
then names our module. (Files saved before batch normalisation was recorded as Keras' layer
name ``FusedBatchNormalization`` and still load: tests/test_batch_norm.py.)"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras_convnets as kc
from keras_convnets.backend import USE_LEGACY_KERAS

pytestmark = pytest.mark.skipif(USE_LEGACY_KERAS, reason="Keras 3 .keras files")


def test_keras_only_files_load_without_the_package_and_others_name_it(tmp_path):
    resnet = kc.ResNet18.tiny(input_shape=(32, 32, 3))
    shufflenet = kc.ShuffleNetV2_1x.tiny(input_shape=(32, 32, 3))
    assert kc.saving.package_layers(resnet) == []
    assert kc.saving.package_layers(shufflenet) == ["ChannelShuffle", "ChannelSplit"]
    images = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "expected.npy", resnet.predict(images, verbose=0))
    resnet.save(tmp_path / "resnet.keras")
    shufflenet.save(tmp_path / "shufflenet.keras")

    probe = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        import keras
        folder = {str(tmp_path)!r}
        model = keras.saving.load_model(folder + "/resnet.keras", safe_mode=True)
        outputs = model.predict(np.load(folder + "/images.npy"), verbose=0)
        difference = float(np.abs(outputs - np.load(folder + "/expected.npy")).max())
        try:
            keras.saving.load_model(folder + "/shufflenet.keras", safe_mode=True)
            error = None
        except TypeError as exc:
            error = str(exc)
        print(json.dumps(dict(difference=difference, error=error,
                              imported="keras_convnets" in sys.modules)))
    """)
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", probe], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["imported"] is False
    assert found["difference"] < 1e-6
    assert found["error"] and "Could not locate class 'Channel" in found["error"]
    assert "keras_convnets.layers." in found["error"] and "imported" in found["error"]



def test_weights_files_of_other_classes_load_all_but_the_classifier(tmp_path):
    """A weights file saved with 7 classes builds a 10-class model and a backbone with every
    other weight (as named weight sets do), and the same model exactly."""
    import keras_convnets as kc  # noqa: F811

    source = kc.ResNet18.tiny(input_shape=(32, 32, 3), classes=7)
    path = str(tmp_path / "seven.weights.h5")
    source.save_weights(path)
    images = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    same = kc.ResNet18.tiny(input_shape=(32, 32, 3), classes=7, weights=path)
    np.testing.assert_array_equal(same(images), source(images))
    ten = kc.ResNet18.tiny(input_shape=(32, 32, 3), classes=10, weights=path)
    backbone = kc.ResNet18.tiny(include_top=False, pooling="avg", weights=path)
    stem = source.get_layer(f"{source.name}_stem_conv").kernel
    for model in (ten, backbone):
        np.testing.assert_array_equal(model.get_layer(f"{model.name}_stem_conv").kernel, stem)
    assert ten.output_shape == (None, 10)


def test_weights_files_that_do_not_fit_are_one_clear_error(tmp_path):
    import keras_convnets as kc  # noqa: F811

    path = str(tmp_path / "resnet.weights.h5")
    kc.ResNet18.tiny(input_shape=(32, 32, 3)).save_weights(path)
    with pytest.raises(ValueError, match=r"`weights`: .*resnet.weights.h5 does not fit vgg11 as "
                                         r"built: the file holds \d+ tensors"):
        kc.VGG11.tiny(input_shape=(32, 32, 3), weights=path)
    data = open(path, "rb").read()
    truncated = tmp_path / "truncated.weights.h5"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"truncated.weights.h5 is not a readable Keras weights "
                                         r"file \(OSError: .*truncated"):
        kc.ResNet18.tiny(input_shape=(32, 32, 3), weights=str(truncated))
