"""The embedded default dataset: scikit-learn's handwritten digits.

1,797 real 8x8 scans of handwritten digits (UCI ML hand-written digits, shipped inside
scikit-learn, so nothing is downloaded), upscaled for ImageNet-style networks, with a fixed
stratified train/test split.
"""

import numpy as np

from .backend import tf
from .utils import check_positive_int

DIGITS_CLASSES = 10


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
