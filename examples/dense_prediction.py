"""Dense prediction with a dilated residual network and the Dilated-8 context module.

The first thing to try with dilated networks: label every pixel. Handwritten digits (the 8x8
scans of scikit-learn's digits, shipped with it, upscaled to 24x24) are pasted at random
non-overlapping positions on a 64x64 canvas; each pixel's class is the digit whose ink covers it
(pixels brighter than 0.2; class d + 1 for the digit d) or background (0). The network is

- a tiny DRN-C-26 (Yu, Koltun, Funkhouser, "Dilated Residual Networks", CVPR 2017,
  arXiv:1705.09914) with ``include_top=False``: an 8x8 map, output stride 8, its last stages
  dilated instead of strided;
- a 1x1 convolution to the 11 class scores (the front end's classifier);
- the basic context module of Yu & Koltun, "Multi-Scale Context Aggregation by Dilated
  Convolutions", ICLR 2016, arXiv:1511.07122 (Table 1: eight layers, dilations
  1, 1, 2, 4, 8, 16, 1, 1, identity-initialised), on the class scores as the paper stacks it
  on its front end;
- bilinear upsampling by 8 back to 64x64.

It is trained with ``model.fit`` (SGD with momentum, cosine-decayed learning rate, per-pixel
softmax cross-entropy) in the paper's two stages: the front end alone, then with the context
module stacked on it (see :func:`run`). The held-out canvases' digits are scans the training
canvases never use (scikit-learn's digits split 80/20, stratified); the mean
intersection-over-union over the 11 classes is reported after each stage::

    python examples/dense_prediction.py              # the full setting: a few CPU minutes
    python examples/dense_prediction.py --smoke      # seconds: a handful of canvases
    python examples/dense_prediction.py --context none --epochs 24   # the front end alone

Ink thinner than the output stride cannot be resolved by an 8x8 map upsampled bilinearly, so
the digits are large (24 px: 3x3 cells of the map) and their faint edges count as ink.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

# TensorFlow 2.21's oneDNN CPU kernels crash (segfault or "free(): invalid size") training a
# 1x1 stride-2 convolution on 64x64 maps of 8 channels or fewer -- the tiny DRN-C's first
# projection shortcut. TensorFlow's own kernels are used instead unless the variable is set.
# It must be set before TensorFlow is first used.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

CANVAS = 64
DIGIT = 24
#: Background + the digits 0-9: a digit d is class d + 1.
CLASSES = 11
#: A digit's pixels brighter than this (of 1) are labelled with its class.
INK = 0.2
DIGITS_PER_CANVAS = (1, 4)
CONTEXTS = ("basic", "large", "none")
OPTIMIZERS = ("sgd", "adam")
LEARNING_RATES = {"sgd": 0.3, "adam": 0.003}
#: The second stage's peak learning rate, relative to the first's.
CONTEXT_LR = 0.01


# -- the data -------------------------------------------------------------------------------
def paste_digits(images, labels, count, rng, canvas=CANVAS, digits_per_canvas=DIGITS_PER_CANVAS,
                 ink=None):
    """``count`` canvases with digits pasted at random non-overlapping positions.

    Args:
        images: ``(n, s, s)`` digit images in [0, 1]; labels: their ``(n,)`` digits 0-9.
        rng: a ``numpy.random.Generator``.
        digits_per_canvas: the inclusive range of digits wanted on a canvas, drawn uniformly;
            a canvas gets fewer where 100 random spots per digit hold no free one (of four
            24-pixel digits on 64x64, the fourth fits about half the time).
        ink: the brightness above which a digit's pixel takes its class (default ``INK``).

    Returns:
        ``(x, y, placements)``: ``x`` float32 ``(count, canvas, canvas, 1)``, ``y`` int32
        ``(count, canvas, canvas)`` per-pixel classes (0 background, ``digit + 1`` where the
        digit's ink exceeds ``ink``), and for each canvas the list of ``(top, left, index)`` of
        its digits (``index`` into ``images``). The digits' ``s x s`` boxes do not overlap.
    """
    ink = INK if ink is None else ink
    size = images.shape[1]
    x = np.zeros((count, canvas, canvas, 1), "float32")
    y = np.zeros((count, canvas, canvas), "int32")
    placements = []
    for n in range(count):
        wanted = int(rng.integers(digits_per_canvas[0], digits_per_canvas[1] + 1))
        boxes = []
        for _ in range(100 * wanted):  # rejection sampling of free spots
            if len(boxes) == wanted:
                break
            top, left = (int(v) for v in rng.integers(0, canvas - size + 1, 2))
            if all(top >= t + size or t >= top + size or left >= l + size or l >= left + size
                   for t, l, _ in boxes):
                boxes.append((top, left, int(rng.integers(len(images)))))
        for top, left, index in boxes:
            digit = images[index]
            x[n, top:top + size, left:left + size, 0] = digit
            y[n, top:top + size, left:left + size] = np.where(digit > ink, labels[index] + 1, 0)
        placements.append(boxes)
    return x, y, placements


def digit_canvases(train_count, test_count, seed=0):
    """Training and held-out canvases, their digits drawn from disjoint scans."""
    from keras_convnets.data import load_digits

    (x_train, y_train), (x_test, y_test) = load_digits(image_size=DIGIT, channels=1, seed=seed)
    rng = np.random.default_rng(seed)
    train = paste_digits(x_train[..., 0], y_train, train_count, rng)[:2]
    test = paste_digits(x_test[..., 0], y_test, test_count, rng)[:2]
    return train, test


# -- the metric ------------------------------------------------------------------------------
def confusion_matrix(labels, predictions, classes=CLASSES):
    """``(classes, classes)`` pixel counts: row the true class, column the predicted one."""
    labels, predictions = np.ravel(labels).astype("int64"), np.ravel(predictions).astype("int64")
    return np.bincount(labels * classes + predictions,
                       minlength=classes * classes).reshape(classes, classes)


def mean_iou(labels, predictions, classes=CLASSES):
    """``(mIoU, per-class IoU)``: IoU_c = TP / (TP + FP + FN) per class; the mean is over the
    classes present in the labels or the predictions (the others' IoU is NaN)."""
    matrix = confusion_matrix(labels, predictions, classes)
    true_positive = np.diag(matrix).astype("float64")
    union = matrix.sum(0) + matrix.sum(1) - true_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, true_positive / union, np.nan)
    return float(np.nanmean(iou)), iou


# -- the network -----------------------------------------------------------------------------
def backbone(input_shape):
    """A tiny DRN-C-26 without its classifier: the stride-8 feature map."""
    import keras_convnets as kc

    return kc.DRN_C_26.tiny(input_shape=input_shape, include_top=False)


def build_models(input_shape=(CANVAS, CANVAS, 1), classes=CLASSES, context="basic"):
    """``(front_end, full)``, sharing their layers: the DRN-C front end with its 1x1
    classifier, bilinearly upsampled; and the same with the context module between the
    classifier and the upsampling (None for ``context="none"``)."""
    from keras_convnets.backend import keras
    from keras_convnets.layers import ContextModule

    front = backbone(input_shape)
    features = front.output
    stride = input_shape[0] // int(features.shape[1])
    scores = keras.layers.Conv2D(classes, 1, name="classifier")(features)

    def upsample(x, name):
        return keras.layers.UpSampling2D(stride, interpolation="bilinear", name=name)(x)

    front_end = keras.Model(front.input, upsample(scores, "upsample_front_end"),
                            name="drn_c_26_front_end")
    if context == "none":
        return front_end, None
    refined = ContextModule(context, name="context")(scores)
    return front_end, keras.Model(front.input, upsample(refined, "upsample"),
                                  name=f"drn_c_26_context_{context}")


# -- the run ---------------------------------------------------------------------------------
SETTINGS = {  # canvases (train, held-out), epochs (front end, then with the context module)
    "full": dict(train=2000, test=400, epochs=16, context_epochs=8, batch_size=32),
    "smoke": dict(train=16, test=8, epochs=1, context_epochs=1, batch_size=8),
}


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return value


def build_parser():
    full, smoke = SETTINGS["full"], SETTINGS["smoke"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="a few canvases and one epoch per stage: checks that it all runs")
    parser.add_argument("--epochs", type=_positive_int,
                        help=f"epochs of the front end alone (full: {full['epochs']}, "
                             f"smoke: {smoke['epochs']})")
    parser.add_argument("--context-epochs", type=_positive_int,
                        help=f"epochs with the context module (full: {full['context_epochs']}, "
                             f"smoke: {smoke['context_epochs']})")
    parser.add_argument("--train-canvases", type=_positive_int,
                        help=f"training canvases (full: {full['train']})")
    parser.add_argument("--test-canvases", type=_positive_int,
                        help=f"held-out canvases (full: {full['test']})")
    parser.add_argument("--batch-size", type=_positive_int,
                        help=f"canvases per step (full: {full['batch_size']})")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd",
                        help="SGD with momentum 0.9 (default), or Adam")
    parser.add_argument("--lr", type=float,
                        help="the front end's peak learning rate, decayed to 0 on a cosine "
                             f"(SGD: {LEARNING_RATES['sgd']}, Adam: {LEARNING_RATES['adam']}); "
                             f"the second stage's is {CONTEXT_LR} times it")
    parser.add_argument("--context", choices=CONTEXTS, default="basic",
                        help="the context module (default: basic), or none: the front end alone")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def _fit(model, data, lr, epochs, setting, args):
    from keras_convnets.backend import keras

    steps = -(-setting["train"] // setting["batch_size"]) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(lr, steps)
    optimizer = (keras.optimizers.SGD(schedule, momentum=0.9) if args.optimizer == "sgd"
                 else keras.optimizers.Adam(schedule))
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(*data, batch_size=setting["batch_size"], epochs=epochs, shuffle=True,
                        verbose=0 if args.smoke else 2)
    return float(history.history["loss"][-1])


def _evaluate(model, x_test, y_test):
    predictions = model.predict(x_test, batch_size=64, verbose=0).argmax(-1)
    miou, iou = mean_iou(y_test, predictions)
    return {"miou": miou, "per_class_iou": [None if np.isnan(v) else float(v) for v in iou],
            "pixel_accuracy": float(np.mean(predictions == y_test))}


def run(args):
    """Builds, trains and evaluates; returns the result as a dict.

    As in the paper, the front end is trained first; the identity-initialised context module is
    then stacked on its class scores (the paper trains the module on the fixed front end's
    output, then both jointly; here the second stage trains both, at ``CONTEXT_LR`` of the
    first stage's learning rate). At that moment the network computes ``relu`` of the front
    end's scores, so the second stage starts from the front end's answer. (Trained together
    from scratch, the truncation after the module's first layer zeroes the gradient of every
    negative score and the digit classes never recover: every pixel ends up background.)
    """
    from keras_convnets.backend import keras

    setting = dict(SETTINGS["smoke" if args.smoke else "full"])
    for key in ("epochs", "context_epochs", "batch_size"):
        if getattr(args, key) is not None:
            setting[key] = getattr(args, key)
    if args.train_canvases is not None:
        setting["train"] = args.train_canvases
    if args.test_canvases is not None:
        setting["test"] = args.test_canvases
    lr = LEARNING_RATES[args.optimizer] if args.lr is None else args.lr

    keras.utils.set_random_seed(args.seed)
    train, (x_test, y_test) = digit_canvases(setting["train"], setting["test"], seed=args.seed)
    front_end, full = build_models(context=args.context)
    wall, cpu = time.perf_counter(), time.process_time()
    result = {"context": args.context, "train_canvases": setting["train"],
              "test_canvases": setting["test"], "batch_size": setting["batch_size"],
              "optimizer": args.optimizer, "lr": lr, "epochs": setting["epochs"]}
    result["front_end"] = dict(
        model=front_end.name, params=int(front_end.count_params()),
        final_loss=_fit(front_end, train, lr, setting["epochs"], setting, args),
        **_evaluate(front_end, x_test, y_test))
    final = result["front_end"]
    if full is not None:
        result["context_epochs"] = setting["context_epochs"]
        result["with_context"] = final = dict(
            model=full.name, params=int(full.count_params()),
            final_loss=_fit(full, train, lr * CONTEXT_LR, setting["context_epochs"], setting,
                            args),
            **_evaluate(full, x_test, y_test))
    result.update(model=final["model"], params=final["params"], miou=final["miou"],
                  pixel_accuracy=final["pixel_accuracy"], per_class_iou=final["per_class_iou"],
                  final_loss=final["final_loss"], wall_s=time.perf_counter() - wall,
                  cpu_s=time.process_time() - cpu)
    return result


def _report(stage):
    return (f"mIoU {stage['miou']:.3f}, pixel accuracy {stage['pixel_accuracy']:.3f}; IoU per "
            f"class (background, 0-9): " + " ".join(
                "-" if v is None else f"{v:.2f}" for v in stage["per_class_iou"]))


def main(argv=None):
    args = build_parser().parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    front = result["front_end"]
    print(f"{result['train_canvases']} training canvases, {result['test_canvases']} held out; "
          f"{result['wall_s']:.0f} s wall, {result['cpu_s']:.0f} s CPU")
    print(f"{front['model']} ({front['params']:,} parameters), {result['epochs']} epochs: "
          f"{_report(front)}")
    if "with_context" in result:
        stage = result["with_context"]
        print(f"{stage['model']} ({stage['params']:,} parameters), "
              f"+{result['context_epochs']} epochs: {_report(stage)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
