"""The image-folder input pipeline (keras_convnets.data: ImageFiles, pipeline, load_dataset).

A few tiny JPEG files in class folders: labels, shapes, range, seeded determinism, crops inside
the image, a cache that keeps the augmentation alive, the streamed and cached paths agreeing,
and the errors. Speed is measured by ``keras-convnets benchmark --input-pipeline``, not here.
"""

import numpy as np
import pytest

from keras_convnets import data, training
from keras_convnets.backend import tf

CLASSES = ("b_cat", "a_dog", "c_eel")  # folder names, deliberately not in sorted order


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """3 class folders x 4 JPEG files of 30-40 x 40-52 px (one PNG), each image's mean
    brightness set by its class so labels can be checked against pixels."""
    root = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        (root / name).mkdir()
        for i in range(4):
            shape = (30 + 3 * i, 40 + 4 * i, 3)
            level = {"a_dog": 40, "b_cat": 120, "c_eel": 200}[name]
            pixels = np.clip(level + rng.normal(0, 20, shape), 0, 255).astype(np.uint8)
            encode = tf.io.encode_png if (c, i) == (2, 3) else tf.io.encode_jpeg
            suffix = ".png" if (c, i) == (2, 3) else ".jpg"
            (root / name / f"{i}{suffix}").write_bytes(encode(pixels).numpy())
    return root


def _batches(split, n, **kwargs):
    options = dict(batch_size=4, image_size=16, training=True, augment="inception", seed=1)
    options.update(kwargs)
    return [tuple(t.numpy() for t in b) for b in data.pipeline(split, **options).take(n)]


def test_labels_shapes_dtype_and_range(folder):
    dataset = data.load_dataset(str(folder), image_size=16, augment="inception", cache=False)
    train, test = dataset.files
    assert train.class_names == ("a_dog", "b_cat", "c_eel")  # sorted folder names
    assert (len(train), len(test), dataset.classes) == (10, 2, 3)
    assert dataset.image_size == 18  # the evaluation view: size / 0.875, as before
    for path, label in zip(train.paths + test.paths, np.r_[train.labels, test.labels]):
        assert f"/{train.class_names[label]}/" in path
    for images, labels in _batches(train, 3, normalize=None):
        assert images.shape == (4, 16, 16, 3) and images.dtype == np.float32
        assert labels.dtype == np.int64 and 0.0 <= images.min() and images.max() <= 1.0
        # the label matches the pixels: class k was written at brightness 40 / 120 / 200
        expected = np.array([40, 120, 200])[labels] / 255
        assert np.allclose(images.mean(axis=(1, 2, 3)), expected, atol=0.08)
    (images, labels), = _batches(train, 1, normalize="imagenet", one_hot_classes=3)
    assert labels.shape == (4, 3) and images.min() < 0  # (x - mean) / std
    images, labels = next(iter(data.pipeline(test, batch_size=5, image_size=16, training=False,
                                             augment="inception")))
    assert images.shape == (2, 16, 16, 3) and sorted(labels.numpy()) == sorted(test.labels)
    image, label = next(iter(dataset.train))  # the unbatched view callers iterate
    assert image.shape == (18, 18, 3) and label.dtype == tf.int64


@pytest.mark.parametrize("cache", [False, True])
def test_seeded_determinism_and_every_epoch_augmented_anew(folder, cache):
    train = data.load_dataset(str(folder), image_size=16, cache=cache).files[0]
    assert train.cache is cache
    first = _batches(train, 5, batch_size=10)  # 10 files: one batch per pass
    again = _batches(train, 5, batch_size=10)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
               for a, b in zip(first, again))
    other = _batches(train, 1, batch_size=10, seed=2)[0]
    assert not np.array_equal(other[0], first[0][0])
    # every pass holds every file once, in a new order, and newly cropped: no image of the
    # second pass equals one of the first (the cache holds decoded, not augmented, images)
    (x1, y1), (x2, y2) = first[:2]
    assert sorted(y1) == sorted(y2) == sorted(train.labels) and list(y1) != list(y2)
    assert not any(np.allclose(a, b) for a in x1 for b in x2)


def test_cached_and_streamed_pipelines_agree(folder):
    dataset = data.load_dataset(str(folder), image_size=16, cache=False)
    streamed = dataset.files[0]
    cached = data.ImageFiles(streamed.paths, streamed.labels, streamed.class_names, cache=True)
    for augment in ("none", "crop", "flip_crop"):
        a, b = (_batches(split, 2, augment=augment)[1] for split in (streamed, cached))
        assert np.array_equal(a[1], b[1]) and np.abs(a[0] - b[0]).max() < 0.02, augment


def test_crop_windows_stay_inside_the_image():
    for height, width in ((7, 5), (40, 300), (375, 500)):
        hw = tf.constant([height, width], tf.int32)
        for k in range(40):
            seed = tf.constant([3, k], tf.int64)
            for window in (data._random_window(hw, seed), data._central_window(hw),
                           data._inception_window(hw, seed, (0.08, 1.0))):
                y, x, h, w = (int(v) for v in window)
                assert 0 <= y and 0 <= x and 1 <= h and 1 <= w
                assert y + h <= height and x + w <= width
        y, x, h, w = (int(v) for v in data._central_window(tf.constant([400, 200])))
        assert (h, w) == (350, 175) and (y, x) == (25, 12)


def test_folder_errors(tmp_path, folder):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="must hold one folder of images per class"):
        data.load_dataset(str(tmp_path / "empty"))
    (tmp_path / "no_images" / "a").mkdir(parents=True)
    (tmp_path / "no_images" / "b").mkdir()
    (tmp_path / "no_images" / "a" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="class folders but no image files"):
        data.load_dataset(str(tmp_path / "no_images"))
    with pytest.raises(ValueError, match="`cache` must be one of 'auto', True, False"):
        data.load_dataset(str(folder), cache="yes")
    with pytest.raises(ValueError, match="`on_error` must be one of 'raise', 'skip'"):
        data.load_dataset(str(folder), on_error="ignore")


def test_unreadable_files_raise_with_their_name_or_are_skipped(tmp_path, folder):
    train = data.load_dataset(str(folder), image_size=16, cache=False).files[0]
    bad = tmp_path / "broken.jpg"
    bad.write_text("this is not a JPEG")
    paths, labels = train.paths + [str(bad)], np.r_[train.labels, 0]

    def evaluation(**options):
        split = data.ImageFiles(paths, labels, train.class_names, **options)
        return data.pipeline(split, batch_size=11, image_size=16, training=False)

    with pytest.raises(tf.errors.InvalidArgumentError, match="broken.jpg"):
        next(iter(evaluation()))
    with pytest.raises(ValueError, match="cannot decode image file .*broken.jpg.*'skip'"):
        next(iter(evaluation(cache=True)))
    for cache in (False, True):
        (images, _), = list(evaluation(cache=cache, on_error="skip"))
        assert images.shape[0] == 10


def test_the_training_job_streams_a_folder(folder, tmp_path):
    results = training.train("wideresnet16_8", tiny=True, image_size=16, dataset=str(folder),
                             epochs=1, steps_per_epoch=1, batch_size=4, backup=False,
                             out_dir=str(tmp_path / "run"), verbose=0)
    assert results["dataset"] == str(folder) and results["train_images"] == 10
    assert np.isfinite(results["history"]["loss"]).all()


def _fake_encoded_tfds(prepared_dir, folder):
    """A stand-in for ``tensorflow_datasets`` whose ``tiny`` dataset stores its images as
    encoded ``Image`` features (the fixture's files) and honours ``SkipDecoding``."""
    import os
    import types

    paths = sorted(str(p) for p in folder.rglob("*.jpg"))
    labels = [sorted(CLASSES).index(os.path.basename(os.path.dirname(p))) for p in paths]
    fake = types.ModuleType("tensorflow_datasets")

    class Image:
        shape = (None, None, 3)

    class SkipDecoding:
        pass

    fake.features = types.SimpleNamespace(Image=Image)
    fake.decode = types.SimpleNamespace(SkipDecoding=SkipDecoding)
    splits = {"train": types.SimpleNamespace(num_examples=8),
              "test": types.SimpleNamespace(num_examples=3)}

    class Builder:
        def __init__(self, name, data_dir):
            self.data_dir = os.path.join(data_dir, name, "1.0.0")
            self.info = types.SimpleNamespace(
                splits=splits, supervised_keys=("image", "label"),
                features={"image": Image(), "label": types.SimpleNamespace(num_classes=3)})

        def as_dataset(self, split, as_supervised, shuffle_files, decoders=None):
            part = slice(0, 8) if split == "train" else slice(8, 11)
            contents = [open(p, "rb").read() for p in paths[part]]
            if decoders is None:  # TFDS decodes
                images = [tf.io.decode_jpeg(c) for c in contents]
                return tf.data.Dataset.from_generator(
                    lambda: zip(images, labels[part]), output_signature=(
                        tf.TensorSpec((None, None, 3), tf.uint8), tf.TensorSpec((), tf.int64)))
            assert isinstance(decoders["image"], SkipDecoding)
            return tf.data.Dataset.from_tensor_slices((contents, labels[part]))

    fake.builder = Builder
    os.makedirs(os.path.join(prepared_dir, "tiny", "1.0.0"))
    return fake


def test_tfds_images_are_decoded_by_the_pipeline(tmp_path, folder, monkeypatch):
    import sys

    data_dir = str(tmp_path / "tfds")
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", _fake_encoded_tfds(data_dir, folder))
    dataset = data.load_dataset("tfds:tiny", data_dir=data_dir, image_size=16)
    train, test = dataset.files
    assert isinstance(train, data.EncodedImages) and len(train) == 8 and len(test) == 3
    assert not train.cache  # variable image shapes: no estimate, no cache
    for split in (train, data.EncodedImages(train.dataset, 8, cache=True)):
        first, again = (_batches(split, 3) for _ in range(2))
        for (x, y), (x2, y2) in zip(first, again):
            assert x.shape == (4, 16, 16, 3) and 0 <= x.min() and x.max() <= 1
            assert np.array_equal(x, x2) and np.array_equal(y, y2) and y.dtype == np.int64
    images, labels = next(iter(data.pipeline(test, batch_size=3, image_size=16,
                                             training=False, augment="crop")))
    assert images.shape == (3, 16, 16, 3) and list(labels.numpy()) == [2, 2, 2]
