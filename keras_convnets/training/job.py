"""The package's main job: build a registry model, train it, evaluate it, save it."""

import json
import os
import time

from ..backend import describe, keras
from ..data import DIGITS_CLASSES, load_digits
from ..flops import count_params
from ..registry import get_spec
from ..utils import check_positive_int


def _cosine_sgd(learning_rate, steps):
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, steps))
    return keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True)


def train(model_name, *, dataset="digits", epochs=15, batch_size=32, image_size=32,
          learning_rate=0.05, out_dir=None, seed=0, verbose=1, model_kwargs=None):
    """Trains ``model_name`` on ``dataset`` and returns a dict of results.

    Writes TensorBoard logs (``<out>/logs``), the best checkpoint
    (``<out>/checkpoints/best.weights.h5``), the final model (``<out>/<model>.keras``) and a
    ``results.json``. Only the embedded ``"digits"`` dataset exists in this version.
    """
    spec = get_spec(model_name)
    if dataset != "digits":
        raise ValueError(f"`dataset` must be 'digits' (the embedded dataset); got {dataset!r}.")
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    if image_size < spec.min_size:
        raise ValueError(
            f"`image_size` {image_size} is below {spec.name}'s minimum input of {spec.min_size}.")
    out_dir = out_dir or os.path.join("runs", spec.name)
    os.makedirs(os.path.join(out_dir, "checkpoints"), exist_ok=True)
    keras.utils.set_random_seed(seed)

    (x_train, y_train), (x_test, y_test) = load_digits(image_size=image_size, seed=seed)
    model = spec.builder(input_shape=(image_size, image_size, 3), classes=DIGITS_CLASSES,
                         **(model_kwargs or {}))
    steps = epochs * -(-len(x_train) // batch_size)
    model.compile(optimizer=_cosine_sgd(learning_rate, steps),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [
        keras.callbacks.TensorBoard(os.path.join(out_dir, "logs")),
        keras.callbacks.ModelCheckpoint(
            os.path.join(out_dir, "checkpoints", "best.weights.h5"), monitor="val_accuracy",
            save_best_only=True, save_weights_only=True),
    ]
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True,
              validation_data=(x_test, y_test), callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    model_path = os.path.join(out_dir, f"{spec.name}.keras")
    model.save(model_path)
    results = {
        "model": spec.name, "dataset": dataset, "epochs": epochs, "image_size": image_size,
        "train_images": int(len(x_train)), "test_images": int(len(x_test)),
        "test_accuracy": float(accuracy), "test_loss": float(loss),
        "params": count_params(model)[0], "train_seconds": round(seconds, 1),
        "model_path": model_path, "keras": describe(),
    }
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    return results
