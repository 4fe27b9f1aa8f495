"""Every ``norm=`` choice trained at a small batch on the digits -> the table in
docs/normalization.md.

    python tools/norm_comparison.py                      # the committed table (a few CPU minutes)
    python tools/norm_comparison.py --epochs 1 --norms batch,group --lrs 0.004  # a smoke test

ResNet-18 (its two basic blocks per stage) at half its widths on the digits
(``keras_convnets.data.load_digits``: 1,437 training and 360 test images, 32x32), trained
from scratch with SGD + momentum 0.9 and a cosine decay, for each
choice at ``--batch`` (4 by default: the small-batch regime of the best-practice table) and, as
the large-batch reference, batch and group norm at ``--large-batch``. Accuracy is on the test
images in inference mode (batch norm and its variants then use their moving statistics: the
small-batch weakness shows there). Step time is the mean wall time of a training step after
the first epoch.

- ``batch_renorm``: its clipping schedule is scaled to the run (``set_renorm_schedule``): plain
  batch norm for the first 5% of the steps, ``dmax`` reaching 5 at 20% and ``rmax`` 3 at 30%
  (the paper: 5k, 25k and 40k steps of a longer run).
- ``weight``: the paper's data-dependent initialisation (``data_dependent_init``) on one
  training batch of 64 images before training.
- ``sync_batch`` on one device is batch norm (one replica: the same statistics), so it is not
  run by default.

Each choice is trained at two learning rates (``--lrs``, linearly scaled at the large batch):
without normalisation statistics the usable step size differs by choice, and one rate for all
would compare the rate more than the normalisation.

The CPU is shared with other work when this runs, so the step times are indicative (relative
to each other within one run).
"""

import argparse
import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402

import keras_convnets as kc  # noqa: E402
from keras_convnets.backend import describe, keras  # noqa: E402
from keras_convnets.data import load_digits  # noqa: E402
from keras_convnets.layers.batch_renorm import set_renorm_schedule  # noqa: E402
from keras_convnets.layers.normalization import NORMS  # noqa: E402
from keras_convnets.layers.weight_norm import data_dependent_init  # noqa: E402


#: ResNet-18 (two basic blocks per stage) at half its widths: group norm's 32 groups then have
#: 1 to 8 channels each (at 1/8 of the widths, the tiny configuration, they would be single
#: channels everywhere, and the last stage's 1x1 map would normalise to zero)
WIDTHS = (32, 64, 128, 256)


class StepTimer(keras.callbacks.Callback):
    """Mean wall time of the training steps after the first epoch."""

    def __init__(self):
        super().__init__()
        self.times, self.epoch, self.start = [], 0, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch > 0 or self.params.get("epochs", 1) == 1:
            self.times.append(time.perf_counter() - self.start)


def run(norm, batch, epochs, data, lr, seed, ddi=False):
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)
    spec = kc.get_spec("resnet18")
    config = dataclasses.replace(spec.config, widths=WIDTHS)
    model = spec.function(config, input_shape=x_train.shape[1:], classes=10, norm=norm)
    steps = epochs * (len(x_train) // batch)
    if norm == "batch_renorm":
        set_renorm_schedule(model, warmup_steps=steps // 20, rmax_steps=steps * 3 // 10,
                            dmax_steps=steps // 5)
    if norm == "weight" and ddi:
        data_dependent_init(model, x_train[:64])
    schedule = keras.optimizers.schedules.CosineDecay(lr, steps)
    model.compile(keras.optimizers.SGD(schedule, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = StepTimer()
    history = model.fit(x_train, y_train, batch_size=batch, epochs=epochs, shuffle=True,
                        verbose=0, callbacks=[timer])
    _, accuracy = model.evaluate(x_test, y_test, batch_size=100, verbose=0)
    return dict(norm=norm, batch=batch, accuracy=accuracy,
                train_accuracy=history.history["accuracy"][-1],
                loss=history.history["loss"][-1], step_ms=1000 * float(np.mean(timer.times)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--norms", default=",".join(n for n in NORMS if n != "sync_batch"),
                        help="sync_batch is batch norm on one device, so not run by default")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--large-batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lrs", default="0.001,0.004",
                        help="learning rates at --batch (linearly scaled at --large-batch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args(argv)
    data = load_digits(image_size=args.size)
    norms = args.norms.split(",")
    lrs = [float(lr) for lr in args.lrs.split(",")]
    runs = [(norm, args.batch) for norm in norms]
    if args.large_batch:
        runs += [(norm, args.large_batch) for norm in ("batch", "group") if norm in norms]
    started = time.time()
    print(f"ResNet-18 at half width on the digits ({len(data[0][0])} train / "
          f"{len(data[1][0])} test, {args.size}x{args.size}), {args.epochs} epochs, SGD momentum "
          f"0.9, cosine decay, seed {args.seed}; {describe()}\n")
    print("| norm | batch | " + " | ".join(f"test acc., lr {lr:g}" for lr in lrs)
          + " | best | step time (ms) |")
    print("| --- | ---: | " + " | ".join("---:" for _ in lrs) + " | ---: | ---: |")
    for norm, batch in runs:
        scale = batch / args.batch
        results = [run(norm, batch, args.epochs, data, lr * scale, args.seed,
                       ddi=norm == "weight") for lr in lrs]
        accuracies = [r["accuracy"] for r in results]
        cells = [f"{100 * a:.1f}%" + (" (diverged)" if not np.isfinite(r["loss"]) else "")
                 for a, r in zip(accuracies, results)]
        print(f"| {norm} | {batch} | {' | '.join(cells)} | {100 * max(accuracies):.1f}% | "
              f"{np.mean([r['step_ms'] for r in results]):.1f} |", flush=True)
    print(f"\n({time.time() - started:.0f} s in all; at batch {args.large_batch} the learning "
          f"rates are {', '.join(f'{lr * args.large_batch / args.batch:g}' for lr in lrs)})")


if __name__ == "__main__":
    main()
