"""Training recipes: a paper's hyper-parameters as data, and how to find the recipe files.

A recipe is a :class:`Recipe`; the repository's ``recipes/`` directory holds one file per paper
recipe, each defining ``RECIPE`` and runnable as a script (``python recipes/NAME.py --smoke``).
``keras-convnets train MODEL --recipe NAME`` finds ``recipes/NAME.py`` (or takes a path).
"""

import dataclasses
import importlib.util
import os
import pathlib

from ..data import AUGMENTATIONS, NORMALIZATIONS
from ..utils import check_choice
from .schedules import DECAYS

OPTIMIZERS = ("sgd", "lars", "rmsprop")
PRECISIONS = (None, "float32", "mixed_float16", "mixed_bfloat16")
#: Where ``--recipe NAME`` looks, after the directories in ``$KERAS_CONVNETS_RECIPES``.
RECIPES_DIR = pathlib.Path(__file__).resolve().parents[2] / "recipes"


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything a training run takes from a paper besides the model.

    ``learning_rate`` is the rate at ``base_batch_size``; with a ``base_batch_size`` the linear
    scaling rule (Goyal et al., arXiv:1706.02677) scales it to the run's ``batch_size``, which
    is the global batch over all replicas. Epoch-valued fields (``warmup_epochs``,
    ``step_epochs``, ``decay_every_epochs``, ``freeze_bn_epochs``) become steps from the
    dataset's size. The defaults are the quick digits recipe.
    """

    name: str = "digits"
    description: str = "quick digits run: SGD + Nesterov, cosine decay"
    reference: str = ""
    model: str | None = None
    dataset: str = "digits"
    image_size: int = 32
    epochs: int = 15
    batch_size: int = 32
    learning_rate: float = 0.05
    base_batch_size: int | None = None
    optimizer: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 0.0
    decay_vectors: bool = False
    decay_exclude_layers: tuple = ()
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    warmup_from: float | None = None
    step_epochs: tuple = ()
    step_factor: float = 0.1
    decay_power: float = 2.0
    decay_every_epochs: float = 1.0
    lars_eta: float = 0.001
    rmsprop_rho: float = 0.9
    rmsprop_epsilon: float = 1.0
    label_smoothing: float = 0.0
    drop_rate: float | None = None
    freeze_bn_epochs: int = 0
    augment: str = "none"
    crop_area: tuple = (0.08, 1.0)
    normalize: str | None = None
    norm: str | None = None
    precision: str | None = None
    model_kwargs: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("schedule", self.schedule, DECAYS)
        check_choice("augment", self.augment, AUGMENTATIONS)
        check_choice("normalize", self.normalize, NORMALIZATIONS)
        check_choice("precision", self.precision, PRECISIONS)
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"`label_smoothing` must be in [0, 1); got "
                             f"{self.label_smoothing!r}.")
        for field in ("epochs", "batch_size", "image_size"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{field}` must be an integer >= 1; got {value!r}.")
        if not self.learning_rate > 0:
            raise ValueError(f"`learning_rate` must be > 0; got {self.learning_rate!r}.")

    def replace(self, **changes):
        """A copy with ``changes`` (None values are ignored: "keep the recipe's")."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def peak_learning_rate(self, batch_size=None):
        """The rate after the linear scaling rule for ``batch_size`` (default: the recipe's)."""
        from .schedules import linear_scaling  # noqa: PLC0415

        if self.base_batch_size is None:
            return self.learning_rate
        return linear_scaling(self.learning_rate, batch_size or self.batch_size,
                              self.base_batch_size)


#: The job's default: the quick digits recipe (``recipes/digits.py`` spells it out).
DEFAULT = Recipe()


def recipe_dirs():
    extra = [p for p in os.environ.get("KERAS_CONVNETS_RECIPES", "").split(os.pathsep) if p]
    return [pathlib.Path(p) for p in extra] + [RECIPES_DIR]


def list_recipes():
    """Names of the recipe files that ``--recipe NAME`` finds."""
    names = set()
    for directory in recipe_dirs():
        if directory.is_dir():
            names.update(p.stem for p in directory.glob("*.py") if not p.stem.startswith("_"))
    return sorted(names)


def load_recipe(recipe):
    """A :class:`Recipe` from a Recipe, a recipe name (``recipes/NAME.py``) or a file path."""
    if isinstance(recipe, Recipe):
        return recipe
    if recipe is None:
        return DEFAULT
    if not isinstance(recipe, (str, os.PathLike)):
        raise ValueError(f"`recipe` must be a Recipe, a name or a path; got {recipe!r}.")
    path = pathlib.Path(recipe)
    if not path.suffix == ".py" or not path.is_file():
        candidates = [d / f"{recipe}.py" for d in recipe_dirs()]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise ValueError(
                f"Unknown recipe {str(recipe)!r}; available: {', '.join(list_recipes()) or 'none'}"
                f" (looked in {', '.join(str(d) for d in recipe_dirs())}).")
    spec = importlib.util.spec_from_file_location(f"keras_convnets_recipe_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = getattr(module, "RECIPE", None)
    if not isinstance(found, Recipe):
        raise ValueError(f"Recipe file {str(path)!r} must define RECIPE = Recipe(...).")
    return found


__all__ = ["Recipe", "DEFAULT", "OPTIMIZERS", "PRECISIONS", "load_recipe", "list_recipes",
           "recipe_dirs"]
