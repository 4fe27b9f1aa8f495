"""Datasets for the training job: the embedded digits, a directory of images, or TFDS.

- ``"digits"`` (the default): scikit-learn's 1,797 real 8x8 scans of handwritten digits (UCI ML
  hand-written digits, shipped inside scikit-learn, so nothing is downloaded), upscaled for
  ImageNet-style networks, with a fixed stratified train/test split.
- a directory: ``DIR/train/<class>/*.jpg`` with ``DIR/val`` (or ``validation``/``test``) beside
  it, or ``DIR/<class>/*.jpg`` split 80/20 with a fixed seed; read with
  ``keras.utils.image_dataset_from_directory``.
- ``"tfds:NAME"``: a TensorFlow Datasets dataset already prepared under ``data_dir``.
  ``tensorflow-datasets`` is imported only then, and nothing is ever downloaded: a missing
  package or a dataset that is not in ``data_dir`` is a clear error.

:func:`load_dataset` returns unbatched ``(image, label)`` datasets of float32 images in [0, 1];
:func:`pipeline` batches them with the augmentation a recipe asks for.
"""

import dataclasses
import os

import numpy as np

from .backend import keras, tf
from .utils import check_choice, check_positive_int

DIGITS_CLASSES = 10
AUGMENTATIONS = ("none", "flip_crop", "crop", "inception")
NORMALIZATIONS = (None, "imagenet")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Central crop of the evaluation images for Inception-style preprocessing (224 of 256).
EVAL_CROP = 0.875
_VALIDATION_DIRS = ("val", "validation", "test")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def load_digits(image_size=32, channels=3, test_fraction=0.2, seed=0):
    """Returns ``(x_train, y_train), (x_test, y_test)``: float32 NHWC images in [0, 1].

    The split is stratified and fixed by ``seed`` (360 test images with the defaults).
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    check_positive_int("image_size", image_size, minimum=8)
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3; got {channels!r}.")
    digits = sklearn_digits()
    images = (digits.images / 16.0).astype("float32")[..., None]
    images = tf.image.resize(images, (image_size, image_size), method="bilinear").numpy()
    images = np.clip(images, 0.0, 1.0)
    if channels == 3:
        images = np.repeat(images, 3, axis=-1)
    labels = digits.target.astype("int64")
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels)
    return (x_train, y_train), (x_test, y_test)


@dataclasses.dataclass
class Dataset:
    """Unbatched ``(image, int64 label)`` splits with what the job needs to know about them.

    ``train_size``/``test_size`` are None when unknown. ``image_size`` is the stored size when
    every image has it (the digits, a directory), None for variable-size images (TFDS).
    """

    name: str
    train: object
    test: object
    classes: int
    train_size: int | None
    test_size: int | None
    image_size: int | None = None
    arrays: tuple | None = None  # ((x_train, y_train), (x_test, y_test)) for in-memory data


def _count(dataset):
    n = int(dataset.cardinality())
    return n if n >= 0 else None


def _digits(image_size, seed, limit=None):
    (x_train, y_train), (x_test, y_test) = load_digits(image_size=image_size, seed=seed)
    if limit:
        x_train, y_train, x_test, y_test = x_train[:limit], y_train[:limit], x_test[:limit], \
            y_test[:limit]
    return Dataset(
        "digits", tf.data.Dataset.from_tensor_slices((x_train, y_train)),
        tf.data.Dataset.from_tensor_slices((x_test, y_test)), DIGITS_CLASSES, len(x_train),
        len(x_test), image_size=image_size, arrays=((x_train, y_train), (x_test, y_test)))


def _has_class_dirs(path):
    return any(os.path.isdir(os.path.join(path, d)) for d in os.listdir(path))


def _directory(path, image_size, augment, seed):
    if not os.path.isdir(path):
        raise ValueError(
            f"`dataset` {path!r} is neither 'digits', 'tfds:NAME' nor an existing directory.")
    # Inception-style crops need room around the final size: load at size / 0.875.
    load = round(image_size / EVAL_CROP) if augment in ("crop", "inception") else image_size
    common = dict(labels="inferred", label_mode="int", image_size=(load, load), batch_size=None,
                  verbose=False)
    train_dir = os.path.join(path, "train")
    test_dirs = [os.path.join(path, d) for d in _VALIDATION_DIRS
                 if os.path.isdir(os.path.join(path, d))]
    if os.path.isdir(train_dir) and test_dirs:
        train = keras.utils.image_dataset_from_directory(train_dir, shuffle=False, **common)
        test = keras.utils.image_dataset_from_directory(
            test_dirs[0], shuffle=False, class_names=train.class_names, **common)
    elif _has_class_dirs(path):
        train = keras.utils.image_dataset_from_directory(
            path, shuffle=True, seed=seed, validation_split=0.2, subset="training", **common)
        test = keras.utils.image_dataset_from_directory(
            path, shuffle=True, seed=seed, validation_split=0.2, subset="validation", **common)
    else:
        raise ValueError(
            f"`dataset` directory {path!r} must hold one folder of images per class, or "
            f"'train/' and one of {', '.join(_VALIDATION_DIRS)}/ each holding such folders.")
    classes = len(train.class_names)
    if classes < 2:
        raise ValueError(f"`dataset` directory {path!r} has {classes} class folder(s); a "
                         f"classifier needs at least 2.")

    def scale(image, label):
        return tf.cast(image, tf.float32) / 255.0, tf.cast(label, tf.int64)

    return Dataset(path, train.map(scale), test.map(scale), classes, _count(train),
                   _count(test), image_size=load)


def _tfds(name, data_dir):
    if not data_dir:
        raise ValueError(
            f"`dataset` 'tfds:{name}' needs `data_dir`: the directory where the TFDS dataset "
            f"is already prepared (nothing is downloaded).")
    try:
        import tensorflow_datasets as tfds  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise ValueError(
            f"`dataset` 'tfds:{name}' needs the tensorflow-datasets package, which is not "
            f"installed (pip install tensorflow-datasets), and {name} prepared under "
            f"{data_dir!r}; nothing is downloaded.") from None
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        prepared = tf.io.gfile.exists(builder.data_dir) and builder.info.splits
    except Exception as exc:  # noqa: BLE001 - TFDS raises many kinds for "not there"
        raise ValueError(f"`dataset` 'tfds:{name}': no such dataset in {data_dir!r} "
                         f"({type(exc).__name__}: {exc}).") from None
    if not prepared:
        raise ValueError(
            f"`dataset` 'tfds:{name}' is not prepared under data_dir={data_dir!r}; prepare it "
            f"there first (nothing is downloaded here).")
    splits = list(builder.info.splits)
    test_split = next((s for s in ("validation", "test") if s in splits), None)
    if "train" not in splits or test_split is None:
        raise ValueError(f"`dataset` 'tfds:{name}' needs a 'train' and a 'validation' or "
                         f"'test' split; it has {splits}.")
    classes = builder.info.features["label"].num_classes

    def convert(image, label):
        image = tf.image.convert_image_dtype(image, tf.float32)
        if image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        return image, tf.cast(label, tf.int64)

    train, test = (builder.as_dataset(split=s, as_supervised=True, shuffle_files=False)
                   .map(convert) for s in ("train", test_split))
    return Dataset(f"tfds:{name}", train, test, classes,
                   builder.info.splits["train"].num_examples,
                   builder.info.splits[test_split].num_examples)


def load_dataset(dataset="digits", image_size=32, data_dir=None, augment="none", seed=0,
                 limit=None):
    """Loads ``dataset`` (``"digits"``, a directory, or ``"tfds:NAME"``) as a :class:`Dataset`.

    ``limit`` keeps only the first ``limit`` images of each digits split (smoke runs).
    """
    check_positive_int("image_size", image_size, minimum=8)
    check_choice("augment", augment, AUGMENTATIONS)
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"`dataset` must be 'digits', a directory or 'tfds:NAME'; got "
                         f"{dataset!r}.")
    if dataset == "digits":
        return _digits(image_size, seed, limit)
    if dataset.startswith("tfds:"):
        name = dataset[len("tfds:"):]
        if not name:
            raise ValueError("`dataset` 'tfds:' needs a dataset name, e.g. 'tfds:cifar10'.")
        return _tfds(name, data_dir)
    return _directory(os.path.expanduser(dataset), image_size, augment, seed)


# -- augmentation and batching ------------------------------------------------------------------
def _resize(image, size):
    static = image.shape
    if static.rank == 3 and static[0] == size and static[1] == size:
        return image
    return tf.image.resize(image, (size, size), method="bilinear")


def _central_crop(image, size):
    return _resize(tf.image.central_crop(image, EVAL_CROP), size)


def _flip_crop(image, size, padding=4):
    """CIFAR augmentation (He et al. 2015 Sec. 4.2; WRN): reflect-pad, random crop, flip."""
    image = _resize(image, size)
    image = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]], mode="REFLECT")
    image = tf.image.random_crop(image, (size, size, 3))
    return tf.image.random_flip_left_right(image)


def _random_crop(image, size):
    """AlexNet's augmentation (Krizhevsky et al. 2012, Sec. 4.1): a random ``size`` crop of the
    image resized to ``size / 0.875`` (224 of 256), randomly flipped."""
    image = _resize(image, round(size / EVAL_CROP))
    image = tf.image.random_crop(image, (size, size, 3))
    return tf.image.random_flip_left_right(image)


def _inception_crop(image, size, area=(0.08, 1.0)):
    """Scale/aspect augmentation (Szegedy et al. 2015, arXiv:1409.4842): a random crop of
    ``area`` of the image with aspect ratio in [3/4, 4/3], resized, randomly flipped."""
    begin, crop, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image), bounding_boxes=tf.zeros((1, 0, 4)), min_object_covered=0.0,
        aspect_ratio_range=(3 / 4, 4 / 3), area_range=area, max_attempts=10,
        use_image_if_no_bounding_boxes=True)
    image = tf.slice(image, begin, crop)
    image = tf.image.resize(image, (size, size), method="bilinear")
    return tf.image.random_flip_left_right(image)


def _passes(arrays, seed):
    """Endless passes over in-memory ``(x, y)``, pass ``p`` in a permutation drawn statelessly
    from ``(seed, p)``: the order never depends on how many iterators were made before."""
    x, y = (tf.constant(a) for a in arrays)
    n = int(x.shape[0])

    def one_pass(p):
        keys = tf.random.stateless_uniform([n], seed=tf.stack([tf.constant(seed, tf.int64), p]))
        return tf.data.Dataset.from_tensor_slices(tf.argsort(keys))

    return tf.data.Dataset.counter().flat_map(one_pass).map(
        lambda i: (tf.gather(x, i), tf.gather(y, i)))


def pipeline(split, *, batch_size, image_size, training, augment="none", crop_area=(0.08, 1.0),
             normalize=None, one_hot_classes=None, seed=0, drop_remainder=False):
    """Batches a split -- an unbatched ``(image, label)`` dataset, or in-memory ``(x, y)``
    arrays -- for ``fit``/``evaluate``.

    A training split becomes an endless stream of shuffled, augmented passes over the data
    (give ``fit`` a ``steps_per_epoch``). For in-memory arrays pass ``p`` is a permutation
    drawn from ``(seed, p)`` alone, so every worker of a multi-worker run -- and a
    single-process run -- sees the same global batches whatever iterators Keras creates
    before training (it makes one just to read the shapes); data sharding then hands each
    worker its share of every batch. Other sources are shuffled with a 10,000-image buffer.
    Evaluation splits are resized (``"crop"``/``"inception"``: the central 87.5 %) and batched
    once. Augmentations: ``"none"``; ``"flip_crop"`` (CIFAR: reflect-pad 4, crop, flip);
    ``"crop"`` (AlexNet: random crop of the image resized to size / 0.875, flip);
    ``"inception"`` (random area ``crop_area`` and aspect 3/4-4/3, resized, flip).
    ``one_hot_classes`` turns labels into one-hot vectors (for label smoothing).
    """
    check_choice("augment", augment, AUGMENTATIONS)
    check_choice("normalize", normalize, NORMALIZATIONS)
    check_positive_int("batch_size", batch_size)
    in_memory = isinstance(split, (tuple, list))
    if training and in_memory:
        dataset = _passes(split, seed)
    elif training:
        dataset = split.shuffle(10_000, seed=seed, reshuffle_each_iteration=True).repeat()
    else:
        dataset = tf.data.Dataset.from_tensor_slices(tuple(split)) if in_memory else split

    def transform(image, label):
        if training and augment == "flip_crop":
            image = _flip_crop(image, image_size)
        elif training and augment == "crop":
            image = _random_crop(image, image_size)
        elif training and augment == "inception":
            image = _inception_crop(image, image_size, tuple(crop_area))
        elif augment in ("crop", "inception"):
            image = _central_crop(image, image_size)
        else:
            image = _resize(image, image_size)
        if normalize == "imagenet":
            image = (image - IMAGENET_MEAN) / IMAGENET_STD
        if one_hot_classes:
            label = tf.one_hot(label, one_hot_classes)
        return image, label

    dataset = dataset.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    options = tf.data.Options()
    # Every worker reads the same order and keeps its share of each batch: correct for
    # in-memory, directory and TFDS sources alike.
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


__all__ = ["DIGITS_CLASSES", "AUGMENTATIONS", "Dataset", "load_digits", "load_dataset",
           "pipeline"]
