"""Model families: one module each, a generic builder plus named configurations.

Importing a family module registers its models; :data:`BUILDERS` is read from the registry.
"""

from . import (alexnet, condensenet, deep_roots, densenet, dla, dmrnet, dpn,  # noqa: F401
               dsod, fractalnet, gunn, igc, inception, inception_v4, mobilenet, polynet,
               resnet, shiftnet, shufflenet, vgg, xception)
from . import drn  # noqa: F401
from . import nasnet  # noqa: F401
from ..registry import all_specs

#: Every public builder, by its function name.
BUILDERS = {spec.builder.__name__: spec.builder for spec in all_specs()}

__all__ = sorted(BUILDERS)
globals().update(BUILDERS)
