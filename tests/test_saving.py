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

