"""Datasets for the training job: the embedded digits, a directory of images, or TFDS.

- ``"digits"`` (the default): scikit-learn's 1,797 real 8x8 scans of handwritten digits (UCI ML
  hand-written digits, shipped inside scikit-learn, so nothing is downloaded), upscaled for
  ImageNet-style networks, with a fixed stratified train/test split.
- a directory: ``DIR/train/<class>/*.jpg`` with ``DIR/val`` (or ``validation``/``test``) beside
  it, or ``DIR/<class>/*.jpg`` split 80/20 with a fixed seed (labels number the sorted class
  folder names). Its splits are :class:`ImageFiles`: :func:`pipeline` reads and decodes the
  files in parallel, decodes a JPEG only inside the window a crop augmentation keeps
  (``tf.io.decode_and_crop_jpeg``), keeps small datasets decoded in memory (``cache``; never
  the augmented images) and draws every crop and flip from a stateless seed per element, so a
  seed fixes the whole stream.
- ``"tfds:NAME"``: a TensorFlow Datasets dataset already prepared under ``data_dir``.
  ``tensorflow-datasets`` is imported only then, and nothing is ever downloaded: a missing
  package or a dataset that is not in ``data_dir`` is a clear error. Where its image is an
  encoded ``tfds.features.Image``, its splits are also read undecoded (``SkipDecoding``) as
  :class:`EncodedImages`, which :func:`pipeline` decodes like image files (a JPEG inside its
  crop window; decoded into memory when the images' fixed shape fits ``cache``).

:func:`load_dataset` returns unbatched ``(image, label)`` datasets of float32 images in [0, 1];
:func:`pipeline` batches them with the augmentation a recipe asks for.
"""

import dataclasses
import os

import numpy as np

from .backend import tf
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
    #: (train, test) encoded splits :func:`pipeline` decodes itself: ImageFiles of a
    #: directory, EncodedImages of a TFDS dataset with encoded images
    files: tuple | None = None


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


# -- image folders: listing, reading, decoding, caching ------------------------------------------
#: ``cache="auto"`` keeps a folder's decoded images in memory (uint8, at their stored size) when
#: they are estimated to take at most this many bytes (and a quarter of the available memory):
#: decoding, not reading, is what a small dataset costs every epoch.
CACHE_BYTES = 1 << 30
CACHE_CHOICES = ("auto", True, False)
#: what a file that is not a readable image does: stop with an error, or be left out
ON_ERROR = ("raise", "skip")
#: the JPEG decoder's inverse DCT: libjpeg's fast integer transform decoded the benchmark's
#: ~400x350 files in 0.50 ms against 0.57 ms for the accurate one (one thread, median of 4
#: rounds on a shared machine), its pixels 1 grey level of 255 off on average and 3 at most --
#: far below what the augmentations change.
DCT_METHOD = "INTEGER_FAST"
_VALIDATION_SPLIT = 0.2


class ImageFiles:
    """One split of an image folder: the file paths and their int64 labels (the index of the
    class folder among the sorted class names).

    :func:`pipeline` reads and decodes the files in parallel (``num_parallel_calls=AUTOTUNE``);
    a JPEG is decoded only inside the window that the crop augmentations keep
    (``tf.io.decode_and_crop_jpeg``). With ``cache`` the whole split is decoded once, on first
    use, into memory and every epoch is cropped and augmented anew from there: the cache holds
    decoded images, never augmented ones. ``on_error``: ``"raise"`` stops at a file that is not
    a JPEG/PNG/GIF/BMP image (naming it) or that fails to decode; ``"skip"`` leaves such files
    out.
    """

    def __init__(self, paths, labels, class_names, cache=False, on_error="raise"):
        check_choice("on_error", on_error, ON_ERROR)
        self.paths = [str(p) for p in paths]
        self.labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(self.paths) != len(self.labels):
            raise ValueError(f"ImageFiles: {len(self.paths)} paths but {len(self.labels)} "
                             f"labels.")
        self.class_names = tuple(class_names)
        self.cache = bool(cache)
        self.on_error = on_error
        self._decoded = None

    def __len__(self):
        return len(self.paths)

    def __repr__(self):
        return (f"ImageFiles({len(self)} files, {len(self.class_names)} classes, "
                f"cache={self.cache}, on_error={self.on_error!r})")

    def decoded(self):
        """``(flat uint8 pixels, offsets, (height, width) per image, labels)`` of the whole
        split, decoded once (in parallel) and kept."""
        if self._decoded is None:
            self._decoded = _decode_all(self)
        return self._decoded

    def as_dataset(self, image_size):
        """Unbatched ``(float32 image in [0, 1] resized to image_size x image_size, int64
        label)``, in file order: the split as :func:`load_dataset` describes it."""
        paths = tf.constant(self.paths)
        labels = tf.constant(self.labels)
        on_error = self.on_error

        def load(i):
            image = _decode(_read(paths[i], on_error))
            return _to_float(image, image_size), labels[i]

        dataset = tf.data.Dataset.range(len(self)).map(load, num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.ignore_errors() if on_error == "skip" else dataset


def _read(path, on_error="raise"):
    """The file's bytes; with ``on_error="raise"`` an error naming the file unless it starts
    like a JPEG, PNG, GIF or BMP image."""
    contents = tf.io.read_file(path)
    if on_error != "raise":
        return contents
    head = tf.strings.substr(contents, 0, 4)
    known = (tf.io.is_jpeg(contents) | tf.equal(head, b"\x89PNG") | tf.equal(head, b"GIF8")
             | tf.equal(tf.strings.substr(contents, 0, 2), b"BM"))
    check = tf.debugging.Assert(known, ["not a JPEG, PNG, GIF or BMP image:", path])
    with tf.control_dependencies([check]):
        return tf.identity(contents)


def _slice(image, window):
    return tf.slice(image, tf.stack([window[0], window[1], 0]),
                    tf.stack([window[2], window[3], 3]))


def _decode(contents, window=None):
    """uint8 ``(h, w, 3)`` pixels of an encoded image. ``window(height_width) -> [y, x, h, w]``
    (int32) picks the part to keep; a JPEG is then decoded inside that window only."""
    def jpeg():
        if window is None:
            return tf.io.decode_jpeg(contents, channels=3, dct_method=DCT_METHOD)
        crop = window(tf.io.extract_jpeg_shape(contents)[:2])
        return tf.io.decode_and_crop_jpeg(contents, crop, channels=3, dct_method=DCT_METHOD)

    def other():
        image = tf.io.decode_image(contents, channels=3, expand_animations=False)
        return image if window is None else _slice(image, window(tf.shape(image)[:2]))

    image = tf.cond(tf.io.is_jpeg(contents), jpeg, other)
    image.set_shape([None, None, 3])
    return image


def _to_float(image, size):
    """uint8 pixels -> float32 in [0, 1], resized (bilinear) to ``size`` x ``size``."""
    return tf.image.resize(image, (size, size), method="bilinear") / 255.0


def _fraction_size(height_width, fraction):
    size = tf.cast(tf.round(tf.cast(height_width, tf.float32) * fraction), tf.int32)
    return tf.clip_by_value(size, 1, height_width)


def _central_window(height_width, fraction=EVAL_CROP):
    """The central ``fraction`` of each side (evaluation of the crop recipes)."""
    size = _fraction_size(height_width, fraction)
    return tf.concat([(height_width - size) // 2, size], 0)


def _random_window(height_width, seed, fraction=EVAL_CROP):
    """``fraction`` of each side at a uniformly random position: the AlexNet crop, i.e. a
    ``size`` crop of the image resized to ``size / 0.875`` taken before the resize."""
    size = _fraction_size(height_width, fraction)
    span = height_width - size + 1
    start = tf.cast(tf.random.stateless_uniform([2], seed) * tf.cast(span, tf.float32), tf.int32)
    return tf.concat([tf.minimum(start, span - 1), size], 0)


def _inception_window(height_width, seed, area):
    """Szegedy et al.'s crop: ``area`` of the image, aspect ratio 3/4-4/3 in the image's own
    pixels (the whole image when 10 draws fail)."""
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.concat([height_width, [3]], 0), bounding_boxes=tf.zeros((1, 0, 4)), seed=seed,
        min_object_covered=0.0, aspect_ratio_range=(3 / 4, 4 / 3), area_range=area,
        max_attempts=10, use_image_if_no_bounding_boxes=True)
    return tf.concat([begin[:2], size[:2]], 0)


def _decode_all(files):
    """Decodes every file of ``files`` (in parallel, file order kept) into one flat buffer."""
    paths = tf.constant(files.paths)
    on_error = files.on_error
    dataset = tf.data.Dataset.range(len(files)).map(
        lambda i: (i, _decode(_read(paths[i], on_error))), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True)
    if on_error == "skip":
        dataset = dataset.ignore_errors()
    kept, images = [], []
    iterator = iter(dataset)
    while True:
        try:
            index, image = next(iterator)
        except StopIteration:
            break
        except tf.errors.OpError as exc:  # the order is kept: the next file is the one
            bad = files.paths[kept[-1] + 1 if kept else 0]
            message = str(exc).strip().splitlines()[0][:200]
            raise ValueError(f"cannot decode image file {bad!r} ({type(exc).__name__}: "
                             f"{message}); on_error='skip' leaves such files out.") from None
        kept.append(int(index))
        images.append(image.numpy())
    if not images:
        raise ValueError(f"none of the {len(files)} image files could be decoded.")
    shapes = np.array([image.shape[:2] for image in images], np.int32)
    sizes = np.array([image.size for image in images], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    flat = np.concatenate([image.reshape(-1) for image in images])
    return (tf.constant(flat), tf.constant(offsets), tf.constant(shapes),
            tf.constant(files.labels[kept]))


def _augmenter(load, *, image_size, training, augment, crop_area, normalize, one_hot_classes,
               seed):
    """The map function ``(position, source, label) -> (image, label)`` of an encoded-image
    stream: ``load(source, window)`` gives the uint8 pixels (inside ``window``), then the
    resize, augmentation and normalisation of :func:`pipeline`."""
    # one stateless seed per element of the stream, from (seed, position): the crops and flips
    # are the same on every run and every worker, and differ from epoch to epoch
    augment_seed = (int(seed) * 0x9E3779B1 + 0x5EED) % (1 << 62)

    def element(position, source, label):
        seeds = tf.random.experimental.stateless_split(
            tf.stack([tf.constant(augment_seed, tf.int64), tf.cast(position, tf.int64)]), 3)
        if training and augment == "crop":
            window = lambda hw: _random_window(hw, seeds[0])  # noqa: E731
        elif training and augment == "inception":
            window = lambda hw: _inception_window(hw, seeds[0], tuple(crop_area))  # noqa: E731
        elif augment in ("crop", "inception"):
            window = _central_window
        else:
            window = None
        image = _to_float(load(source, window), image_size)
        if training and augment == "flip_crop":  # CIFAR: reflect-pad 4, crop, flip
            image = tf.pad(image, [[4, 4], [4, 4], [0, 0]], mode="REFLECT")
            image = tf.image.stateless_random_crop(image, (image_size, image_size, 3), seeds[1])
        if training and augment != "none":
            image = tf.image.stateless_random_flip_left_right(image, seeds[2])
        if normalize == "imagenet":
            image = (image - IMAGENET_MEAN) / IMAGENET_STD
        if one_hot_classes:
            label = tf.one_hot(label, one_hot_classes)
        return image, label

    return element


def _cropped(image, window):
    return image if window is None else _slice(image, window(tf.shape(image)[:2]))


def _files_pipeline(files, *, batch_size, training, seed, drop_remainder, **options):
    """:func:`pipeline` of an :class:`ImageFiles` split (see there)."""
    if files.cache:
        flat, offsets, shapes, labels = files.decoded()

        def load(i, window):
            height_width = shapes[i]
            image = tf.reshape(tf.slice(flat, [offsets[i]],
                                        [tf.cast(tf.reduce_prod(height_width) * 3, tf.int64)]),
                               tf.concat([height_width, [3]], 0))
            return image if window is None else _slice(image, window(height_width))
    else:
        paths, labels = tf.constant(files.paths), tf.constant(files.labels)

        def load(i, window):
            return _decode(_read(paths[i], files.on_error), window)

    count = int(labels.shape[0])
    indices = _pass_indices(count, seed) if training else tf.data.Dataset.range(count)
    element = _augmenter(load, training=training, seed=seed, **options)
    dataset = tf.data.Dataset.zip((tf.data.Dataset.counter(), indices)).map(
        lambda position, i: element(position, i, labels[tf.cast(i, tf.int64)]),
        num_parallel_calls=tf.data.AUTOTUNE)
    if files.on_error == "skip" and not files.cache:
        dataset = dataset.ignore_errors()
    return dataset.batch(batch_size, drop_remainder=drop_remainder)


class EncodedImages:
    """One split of encoded images with labels -- a ``tf.data`` dataset of ``(JPEG/PNG bytes,
    int64 label)``, e.g. a TFDS split read with ``SkipDecoding`` -- that :func:`pipeline`
    decodes itself: in parallel, a JPEG inside its crop window only. ``cache`` keeps the
    decoded images in memory (``Dataset.cache()`` before shuffling and augmenting)."""

    def __init__(self, dataset, size=None, cache=False):
        self.dataset = dataset
        self.size = size
        self.cache = bool(cache)

    def __len__(self):
        if self.size is None:
            raise TypeError("EncodedImages: the split's size is unknown.")
        return int(self.size)

    def __repr__(self):
        return f"EncodedImages({self.size} images, cache={self.cache})"


def _encoded_pipeline(split, *, batch_size, training, seed, drop_remainder, **options):
    """:func:`pipeline` of an :class:`EncodedImages` split: shuffled like other sources
    (a 10,000-image buffer), decoded and augmented like :class:`ImageFiles`."""
    dataset = split.dataset
    if split.cache:
        dataset = dataset.map(lambda contents, label: (_decode(contents), label),
                              num_parallel_calls=tf.data.AUTOTUNE).cache()
        load = _cropped
    else:
        load = _decode
    if training:
        dataset = dataset.shuffle(10_000, seed=seed, reshuffle_each_iteration=True).repeat()
    element = _augmenter(load, training=training, seed=seed, **options)
    dataset = tf.data.Dataset.zip((tf.data.Dataset.counter(), dataset)).map(
        lambda position, pair: element(position, pair[0], pair[1]),
        num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size, drop_remainder=drop_remainder)


def _list_images(folder):
    """The image files under ``folder``, recursively, in sorted order."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        found += [os.path.join(root, name) for name in sorted(names)
                  if name.lower().endswith(_IMAGE_EXTENSIONS)]
    return found


def _class_folders(path):
    return sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))


def _index(path, class_names=None):
    """``(paths, labels, class names)`` of a folder of class folders; labels number the
    sorted folder names (``class_names``: those of the training split)."""
    folders = _class_folders(path)
    if class_names is None:
        class_names = folders
    else:
        unknown = [f for f in folders if f not in class_names]
        if unknown:
            raise ValueError(f"`dataset` directory {path!r} has class folders the training "
                             f"split lacks: {', '.join(unknown)}.")
    paths, labels = [], []
    for label, name in enumerate(class_names):
        if os.path.isdir(os.path.join(path, name)):
            files = _list_images(os.path.join(path, name))
            paths += files
            labels += [label] * len(files)
    if not paths:
        raise ValueError(f"`dataset` directory {path!r} has class folders but no image files "
                         f"({', '.join(_IMAGE_EXTENSIONS)}) in them.")
    return paths, np.array(labels, np.int64), list(class_names)


def _decoded_bytes_estimate(paths, samples=16):
    """Bytes the decoded uint8 images of ``paths`` would take, from the image sizes of up to
    ``samples`` files spread over the list (read from JPEG headers where possible)."""
    sizes = []
    for path in paths[::max(1, len(paths) // samples)][:samples]:
        try:
            contents = tf.io.read_file(path)
            if bool(tf.io.is_jpeg(contents)):
                height, width = tf.io.extract_jpeg_shape(contents).numpy()[:2]
            else:
                height, width = tf.io.decode_image(contents, channels=3,
                                                   expand_animations=False).shape[:2]
            sizes.append(int(height) * int(width) * 3)
        except tf.errors.OpError:
            continue
    return (sum(sizes) / len(sizes) if sizes else 0) * len(paths)


def _cache_budget():
    budget = CACHE_BYTES
    try:
        import psutil  # noqa: PLC0415 - optional here

        budget = min(budget, psutil.virtual_memory().available // 4)
    except ImportError:
        pass
    return budget


def _directory(path, image_size, augment, seed, cache="auto", on_error="raise"):
    if not os.path.isdir(path):
        raise ValueError(
            f"`dataset` {path!r} is neither 'digits', 'tfds:NAME' nor an existing directory.")
    # the evaluation view (Dataset.train/test) of the crop recipes keeps room around the final
    # size, as they crop it: the images are given at size / 0.875
    load = round(image_size / EVAL_CROP) if augment in ("crop", "inception") else image_size
    train_dir = os.path.join(path, "train")
    test_dirs = [os.path.join(path, d) for d in _VALIDATION_DIRS
                 if os.path.isdir(os.path.join(path, d))]
    if os.path.isdir(train_dir) and test_dirs:
        train_paths, train_labels, class_names = _index(train_dir)
        test_paths, test_labels, _ = _index(test_dirs[0], class_names)
    elif _has_class_dirs(path):
        paths, labels, class_names = _index(path)
        # shuffled with ``seed``, the last 20 % held out (keras' image_dataset_from_directory
        # split, which this loader replaced)
        np.random.RandomState(seed).shuffle(paths)
        np.random.RandomState(seed).shuffle(labels)
        held_out = int(_VALIDATION_SPLIT * len(paths))
        if held_out < 1:
            raise ValueError(f"`dataset` directory {path!r} has {len(paths)} image(s); the "
                             f"80/20 split needs at least 5.")
        train_paths, train_labels = paths[:-held_out], labels[:-held_out]
        test_paths, test_labels = paths[-held_out:], labels[-held_out:]
    else:
        raise ValueError(
            f"`dataset` directory {path!r} must hold one folder of images per class, or "
            f"'train/' and one of {', '.join(_VALIDATION_DIRS)}/ each holding such folders.")
    classes = len(class_names)
    if classes < 2:
        raise ValueError(f"`dataset` directory {path!r} has {classes} class folder(s); a "
                         f"classifier needs at least 2.")
    if cache == "auto":
        cache = _decoded_bytes_estimate(train_paths + test_paths) <= _cache_budget()
    train = ImageFiles(train_paths, train_labels, class_names, cache=cache, on_error=on_error)
    test = ImageFiles(test_paths, test_labels, class_names, cache=cache, on_error=on_error)
    return Dataset(path, train.as_dataset(load), test.as_dataset(load), classes, len(train),
                   len(test), image_size=load, files=(train, test))


def _has_class_dirs(path):
    return any(os.path.isdir(os.path.join(path, d)) for d in os.listdir(path))


def _encoded_tfds(tfds, builder, splits, cache):
    """``(train, test)`` :class:`EncodedImages` of a TFDS dataset whose supervised image is
    an encoded ``tfds.features.Image`` (read with ``SkipDecoding``), else None."""
    info = builder.info
    keys = getattr(info, "supervised_keys", None)
    image_features = getattr(getattr(tfds, "features", None), "Image", None)
    if not keys or image_features is None or not hasattr(tfds, "decode"):
        return None
    try:
        feature = info.features[keys[0]]
    except (KeyError, TypeError):
        return None
    if not isinstance(feature, image_features):
        return None
    sizes = [info.splits[s].num_examples for s in splits]
    if cache == "auto":  # decoded uint8 images, where the feature's shape is known
        shape = tuple(getattr(feature, "shape", None) or ())
        known = len(shape) == 3 and all(isinstance(d, int) for d in shape)
        cache = known and sum(sizes) * shape[0] * shape[1] * 3 <= _cache_budget()
    return tuple(
        EncodedImages(builder.as_dataset(
            split=s, as_supervised=True, shuffle_files=False,
            decoders={keys[0]: tfds.decode.SkipDecoding()}).map(
                lambda contents, label: (contents, tf.cast(label, tf.int64))),
            size=n, cache=cache)
        for s, n in zip(splits, sizes))


def _tfds(name, data_dir, cache="auto"):
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
                   .map(convert, num_parallel_calls=tf.data.AUTOTUNE)
                   for s in ("train", test_split))
    return Dataset(f"tfds:{name}", train, test, classes,
                   builder.info.splits["train"].num_examples,
                   builder.info.splits[test_split].num_examples,
                   files=_encoded_tfds(tfds, builder, ("train", test_split), cache))


def load_dataset(dataset="digits", image_size=32, data_dir=None, augment="none", seed=0,
                 limit=None, cache="auto", on_error="raise"):
    """Loads ``dataset`` (``"digits"``, a directory, or ``"tfds:NAME"``) as a :class:`Dataset`.

    ``limit`` keeps only the first ``limit`` images of each digits split (smoke runs).
    A directory's splits are also given as :class:`ImageFiles` (``Dataset.files``), which
    :func:`pipeline` streams from the files: ``cache`` (``"auto"``: when the decoded images
    are estimated to fit in ``CACHE_BYTES``) keeps them decoded in memory; ``on_error``
    (``"raise"`` or ``"skip"``) is what a file that is not a readable image does. A TFDS
    dataset with encoded images gives :class:`EncodedImages` there (``cache="auto"``: when its
    images have a fixed shape and fit).
    """
    check_positive_int("image_size", image_size, minimum=8)
    check_choice("augment", augment, AUGMENTATIONS)
    check_choice("cache", cache, CACHE_CHOICES)
    check_choice("on_error", on_error, ON_ERROR)
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"`dataset` must be 'digits', a directory or 'tfds:NAME'; got "
                         f"{dataset!r}.")
    if dataset == "digits":
        return _digits(image_size, seed, limit)
    if dataset.startswith("tfds:"):
        name = dataset[len("tfds:"):]
        if not name:
            raise ValueError("`dataset` 'tfds:' needs a dataset name, e.g. 'tfds:cifar10'.")
        return _tfds(name, data_dir, cache=cache)
    return _directory(os.path.expanduser(dataset), image_size, augment, seed, cache=cache,
                      on_error=on_error)


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


def _pass_indices(n, seed):
    """Endless passes over ``range(n)``, pass ``p`` in a permutation drawn statelessly from
    ``(seed, p)``: the order never depends on how many iterators were made before."""
    def one_pass(p):
        keys = tf.random.stateless_uniform([n], seed=tf.stack([tf.constant(seed, tf.int64), p]))
        return tf.data.Dataset.from_tensor_slices(tf.argsort(keys))

    return tf.data.Dataset.counter().flat_map(one_pass)


def _passes(arrays, seed):
    """Endless passes over in-memory ``(x, y)`` in the order of :func:`_pass_indices`."""
    x, y = (tf.constant(a) for a in arrays)
    return _pass_indices(int(x.shape[0]), seed).map(
        lambda i: (tf.gather(x, i), tf.gather(y, i)))


def pipeline(split, *, batch_size, image_size, training, augment="none", crop_area=(0.08, 1.0),
             normalize=None, one_hot_classes=None, seed=0, drop_remainder=False):
    """Batches a split -- an unbatched ``(image, label)`` dataset, in-memory ``(x, y)``
    arrays, or :class:`ImageFiles` -- for ``fit``/``evaluate``.

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

    :class:`ImageFiles` are read, decoded and augmented in parallel from the files (or their
    decoded cache), the passes ordered like in-memory arrays. Their crops are taken from the
    image as stored, before any resize: ``"crop"`` keeps 87.5 % of each side at a random place
    (the same as a crop of the image resized to size / 0.875), ``"inception"`` samples its
    area and aspect ratio in the image's own pixels (the paper's crop; the loader this one
    replaced squashed every image to a square first), the evaluation splits keep the central
    87.5 %; a JPEG is decoded inside that window only.
    """
    check_choice("augment", augment, AUGMENTATIONS)
    check_choice("normalize", normalize, NORMALIZATIONS)
    check_positive_int("batch_size", batch_size)
    if isinstance(split, (ImageFiles, EncodedImages)):
        build = _files_pipeline if isinstance(split, ImageFiles) else _encoded_pipeline
        return _finish(build(
            split, batch_size=batch_size, image_size=image_size, training=training,
            augment=augment, crop_area=crop_area, normalize=normalize,
            one_hot_classes=one_hot_classes, seed=seed, drop_remainder=drop_remainder))
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
    return _finish(dataset.batch(batch_size, drop_remainder=drop_remainder))


def _finish(dataset):
    options = tf.data.Options()
    # Every worker reads the same order and keeps its share of each batch: correct for
    # in-memory, directory and TFDS sources alike.
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


__all__ = ["DIGITS_CLASSES", "AUGMENTATIONS", "Dataset", "EncodedImages", "ImageFiles",
           "load_digits", "load_dataset", "pipeline"]
