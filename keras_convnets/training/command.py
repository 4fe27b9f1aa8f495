"""The ``train`` command line, shared by ``keras-convnets train`` and the recipe scripts."""

import argparse
import json
import sys

from .distribute import STRATEGIES
from .recipe import OPTIMIZERS, PRECISIONS, load_recipe


def add_arguments(parser, model_required=True):
    """Adds the ``train`` options to ``parser``."""
    parser.add_argument("model", nargs=None if model_required else "?",
                        help="registry name, e.g. resnet18" + (
                            "" if model_required else " (default: the recipe's model)"))
    parser.add_argument("--recipe", help="recipe name (recipes/NAME.py) or path; default: the "
                        "quick digits recipe")
    parser.add_argument("--dataset", help="'digits' (default), a directory of class folders, "
                        "or 'tfds:NAME' (with --data-dir)")
    parser.add_argument("--data-dir", help="where a TFDS dataset is prepared (never downloads)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int, help="global batch size over all replicas")
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--lr", type=float, help="learning rate at the recipe's base batch size "
                        "(the peak rate when the recipe does not scale it)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS)
    parser.add_argument("--norm", choices=("batch", "sync_batch", "group", "layer"))
    parser.add_argument("--precision", choices=[p for p in PRECISIONS if p])
    parser.add_argument("--strategy", default="auto", choices=STRATEGIES)
    parser.add_argument("--devices", type=int, help="local devices for --strategy mirrored "
                        "(GPUs, or logical CPUs when there is no GPU)")
    parser.add_argument("--steps-per-epoch", type=int)
    parser.add_argument("--validation-steps", type=int,
                        help="test batches per validation (default: the whole test split)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true", help="the model's small .tiny variant")
    parser.add_argument("--smoke", action="store_true",
                        help="two steps on tiny data: checks the recipe runs")
    parser.add_argument("--no-aux-logits", action="store_true",
                        help="train without the model's auxiliary classifiers (GoogLeNet, "
                        "Inception-v3 train with them at the paper's loss weights by default)")
    parser.add_argument("--no-backup", action="store_true",
                        help="no BackupAndRestore backup (no resuming)")
    parser.add_argument("--out", help="output directory (default: runs/<model>)")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    return parser


def run(args, recipe=None):
    """Runs the job for parsed ``args``; prints the summary line; returns the results."""
    from .job import summary_line, train  # noqa: PLC0415 - imports Keras models lazily

    results = train(
        args.model, recipe=recipe if recipe is not None else args.recipe, dataset=args.dataset,
        data_dir=args.data_dir, epochs=args.epochs, batch_size=args.batch_size,
        image_size=args.image_size, learning_rate=args.lr, optimizer=args.optimizer,
        norm=args.norm, precision=args.precision, strategy=args.strategy, devices=args.devices,
        steps_per_epoch=args.steps_per_epoch,
        validation_steps=args.validation_steps, seed=args.seed, tiny=args.tiny, smoke=args.smoke,
        backup=not args.no_backup, out_dir=args.out, verbose=args.verbose,
        aux_logits=False if args.no_aux_logits else None)
    if args.json:
        print(json.dumps(results, indent=2))
    print(summary_line(results))
    return results


def recipe_main(recipe, argv=None):
    """``python recipes/NAME.py [MODEL] [--smoke] ...``: the train command with ``recipe``."""
    recipe = load_recipe(recipe)
    parser = argparse.ArgumentParser(
        prog=f"recipes/{recipe.name}.py",
        description=f"{recipe.description} -- {recipe.reference}".strip(" -"))
    add_arguments(parser, model_required=False)
    args = parser.parse_args(argv)
    if args.recipe:
        parser.error("--recipe: this script is the recipe")
    try:
        run(args, recipe=recipe)
    except (ValueError, TypeError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


__all__ = ["add_arguments", "run", "recipe_main"]
