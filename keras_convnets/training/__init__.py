"""Training at any scale: the main job, tf.distribute strategies, large-batch and paper recipes.

>>> from keras_convnets import training
>>> training.train("resnet18", epochs=12)                    # the main job, on digits
>>> s = training.strategy()                                  # TPU / multi-worker / mirrored
>>> opt = training.LARS(training.WarmupSchedule(2.0, 1000, decay="polynomial"))
"""

from . import multiworker_fix
from .callbacks import AverageMovingStatistics, EpochRecorder, FreezeBatchNorm
from .distribute import STRATEGIES, strategy, worker_info
from .grad_norm import GradNorm
from .job import summary_line, train
from .optimizers import LARS, RMSprop, SGD
from .recipe import DEFAULT as DEFAULT_RECIPE, Recipe, list_recipes, load_recipe
from .schedules import WarmupSchedule, linear_scaling
from .scheduled_drop_path import ScheduledDropPath

__all__ = ["train", "summary_line", "strategy", "worker_info", "STRATEGIES", "multiworker_fix",
           "SGD", "LARS", "RMSprop", "WarmupSchedule", "linear_scaling", "FreezeBatchNorm",
           "EpochRecorder", "AverageMovingStatistics", "GradNorm", "ScheduledDropPath", "Recipe", "DEFAULT_RECIPE", "load_recipe", "list_recipes"]
