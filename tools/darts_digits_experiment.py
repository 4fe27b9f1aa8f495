"""DARTS on the embedded digits: does the searched cell beat random cells of the same size?

A seeded first-order DARTS search (``keras_convnets.search.darts.search``) runs on the digits'
1,437 training images, halved into the weights' and the alphas' splits; the 360 held-out test
images are never seen by it. The derived genotype's network and the networks of three random
genotypes (``darts.random_genotype``: two distinct inputs per node, operations drawn uniformly
from DARTS' seven non-zero ones, seeds 1, 2, 3) -- same stem, filters and cells, all built by
``build_cell_network`` from ``darts_cifar``'s configuration -- are then trained identically
(same initialisation seed, same batches, same schedule) on all 1,437 training images and
evaluated on the 360 test images.

    python tools/darts_digits_experiment.py            # ~10 CPU minutes on 2 shared cores

writes docs/benchmarks/darts_digits.json and docs/benchmarks/darts_digits.md.
"""

import argparse
import dataclasses
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402

import keras_convnets as kc  # noqa: E402
from keras_convnets.backend import keras, tf  # noqa: E402
from keras_convnets.data import load_digits  # noqa: E402
from keras_convnets.search import darts  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")


def train_and_evaluate(genotype, args, data):
    from keras_convnets.models.nasnet import build_cell_network  # noqa: PLC0415

    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(args.train_seed)
    config = dataclasses.replace(kc.get_spec("darts_cifar").config, filters=args.train_filters,
                                 cells_per_stage=args.cells_per_stage)
    model = build_cell_network("darts_digits", config, genotype=genotype, classes=10,
                               input_shape=(args.train_size, args.train_size, 3), weights=None)
    steps = len(x_train) // args.train_batch
    schedule = keras.optimizers.schedules.CosineDecay(args.train_lr, args.train_epochs * steps)
    model.compile(keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=False),
                  metrics=["accuracy"])
    order = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(
        len(x_train), seed=args.train_seed).batch(args.train_batch, drop_remainder=True)
    start, cpu = time.time(), time.process_time()
    model.fit(order, epochs=args.train_epochs, verbose=0, shuffle=False)
    _, accuracy = model.evaluate(x_test, y_test, batch_size=120, verbose=0)
    trainable, _ = kc.count_params(model)
    return dict(genotype=genotype.to_dict(), params=int(trainable),
                test_accuracy=round(float(accuracy), 4),
                train_seconds=round(time.time() - start, 1),
                train_cpu_seconds=round(time.process_time() - cpu, 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search-epochs", type=int, default=6)
    parser.add_argument("--search-seed", type=int, default=0)
    parser.add_argument("--search-filters", type=int, default=8)
    parser.add_argument("--search-cells", type=int, default=5)
    parser.add_argument("--search-size", type=int, default=16)
    parser.add_argument("--random-seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--train-filters", type=int, default=8)
    parser.add_argument("--cells-per-stage", type=int, default=1)
    parser.add_argument("--train-size", type=int, default=32)
    parser.add_argument("--train-epochs", type=int, default=15)
    parser.add_argument("--train-batch", type=int, default=64)
    parser.add_argument("--train-lr", type=float, default=0.05)
    parser.add_argument("--train-seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks",
                                                      "darts_digits"))
    args = parser.parse_args()
    load = os.getloadavg()
    start, cpu = time.time(), time.process_time()

    result = darts.search(epochs=args.search_epochs, seed=args.search_seed,
                          filters=args.search_filters, cells=args.search_cells,
                          image_size=args.search_size)
    print(f"search: {result.seconds:.0f} s, genotype {result.genotype.to_dict()}", flush=True)
    data = load_digits(image_size=args.train_size)
    runs = {"searched": train_and_evaluate(result.genotype, args, data)}
    print("searched", runs["searched"]["test_accuracy"], flush=True)
    for seed in args.random_seeds:
        runs[f"random_{seed}"] = train_and_evaluate(darts.random_genotype(seed), args, data)
        print(f"random {seed}", runs[f"random_{seed}"]["test_accuracy"], flush=True)
    random_mean = float(np.mean([runs[f"random_{s}"]["test_accuracy"]
                                 for s in args.random_seeds]))
    searched = runs["searched"]["test_accuracy"]
    record = dict(
        question="does the DARTS-searched genotype beat the mean of three random genotypes "
                 "(same filters and cells) on the 360 held-out digits?",
        answer=bool(searched > random_mean), searched_accuracy=searched,
        random_mean_accuracy=round(random_mean, 4), runs=runs,
        search=dict(result.to_dict(), genotypes_per_epoch=result.genotypes_per_epoch),
        settings=vars(args) | {"out": None},
        keras=kc.keras_description() if callable(kc.keras_description) else str(
            kc.keras_description),
        wall_seconds=round(time.time() - start, 1),
        cpu_seconds=round(time.process_time() - cpu, 1),
        load_average_at_start=[round(v, 2) for v in load],
        load_average_at_end=[round(v, 2) for v in os.getloadavg()], cpus=os.cpu_count())
    with open(args.out + ".json", "w") as f:
        json.dump(record, f, indent=1)
    with open(args.out + ".md", "w") as f:
        f.write(markdown(record))
    print(f"searched {searched:.4f} vs random mean {random_mean:.4f}: "
          f"{'beats' if record['answer'] else 'does NOT beat'} it; wrote {args.out}.json/.md")


def _cell(nodes):
    return "; ".join(f"node {i + 2}: " + " + ".join(f"{op}({j})" for op, j in node)
                     for i, node in enumerate(nodes))


def markdown(r):
    s = r["settings"]
    search = r["search"]["settings"]
    lines = [
        "# DARTS on the embedded digits: searched vs random cells",
        "",
        "`python tools/darts_digits_experiment.py` (Liu et al., \"DARTS: Differentiable "
        "Architecture Search\", 2018, arXiv:1806.09055; first order).",
        "",
        f"**Searched {r['searched_accuracy']:.4f} vs random mean {r['random_mean_accuracy']:.4f} "
        f"on the 360 held-out test digits: the searched genotype "
        f"{'beats' if r['answer'] else 'does not beat'} the mean of the three random ones.** "
        "One seeded run each (a single search, a single training per network): the margin is "
        "a few test images (1 image = 0.28 points), and the seed-to-seed spread was not "
        "measured, so this is one honest draw, not a significance test.",
        "",
        "| network | genotype | trainable params | test accuracy (360) | train wall s |",
        "|---|---|---:|---:|---:|",
    ]
    for name, run in r["runs"].items():
        lines.append(f"| {name} | see below | {run['params']:,} | {run['test_accuracy']:.4f} | "
                     f"{run['train_seconds']} |")
    lines += [
        "",
        "## Search",
        "",
        f"- super-network: {search['cells']} cells (reductions at 1/3 and 2/3), "
        f"{search['nodes']} nodes, filters {search['filters']}, operations "
        f"{', '.join(search['operations'])}; digits at {search['image_size']}x"
        f"{search['image_size']}",
        f"- data: the 1,437 training digits halved by seed {search['seed']}: "
        f"{search['train_images']} for the weights, {search['validation_images']} for alpha; "
        "the 360 test digits unseen",
        f"- {search['epochs']} epochs, batch {search['batch_size']}; weights SGD momentum "
        f"{search['momentum']}, lr {search['learning_rate']} cosine to "
        f"{search['min_learning_rate']}, L2 {search['weight_decay']}, clip "
        f"{search['grad_clip']}; alpha Adam lr {search['alpha_learning_rate']}, betas (0.5, "
        f"0.999), L2 {search['alpha_weight_decay']} (DARTS' settings)",
        f"- search time {r['search']['seconds']} s wall, {r['search']['cpu_seconds']} s CPU "
        "(the first step includes building and optimising the super-network's graph)",
        f"- last epoch: weights-split accuracy {r['search']['history']['accuracy'][-1]}, "
        f"alpha-split accuracy {r['search']['history']['alpha_accuracy'][-1]}",
        "",
        "Derived genotype:",
        "",
        f"- normal: {_cell(r['runs']['searched']['genotype']['normal'])}",
        f"- reduce: {_cell(r['runs']['searched']['genotype']['reduce'])}",
        "",
        "## Training the derived networks (identical for all four)",
        "",
        f"- `build_cell_network(\"darts_digits\", replace(darts_cifar config, filters="
        f"{s['train_filters']}, cells_per_stage={s['cells_per_stage']}), genotype=...)`, "
        f"{s['train_size']}x{s['train_size']} input, 10 classes",
        f"- all 1,437 training digits, {s['train_epochs']} epochs, batch {s['train_batch']}, SGD "
        f"Nesterov momentum 0.9, lr {s['train_lr']} cosine to 0, initialisation and batch order "
        f"seed {s['train_seed']}, no augmentation, no drop-path, no auxiliary head",
        "",
        "Random genotypes (seeds " + ", ".join(str(x) for x in s["random_seeds"]) + "):",
        "",
    ]
    for name, run in r["runs"].items():
        if name.startswith("random"):
            lines.append(f"- {name} normal: {_cell(run['genotype']['normal'])}; reduce: "
                         f"{_cell(run['genotype']['reduce'])}")
    lines += [
        "",
        "## Cost and machine",
        "",
        f"- whole experiment: {r['wall_seconds']} s wall, {r['cpu_seconds']} s CPU (this "
        f"process), {r['cpus']} CPUs shared with other jobs: load average "
        f"{r['load_average_at_start']} at the start, {r['load_average_at_end']} at the end",
        f"- {r['keras']}",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
