"""Model families: one module each, a generic builder plus named configurations."""

from . import mobilenet
from . import resnet
from . import deep_roots, igc, shiftnet, shufflenet
from . import xception
from . import alexnet

#: Every public builder, by its function name.
BUILDERS = {name: getattr(module, name)
            for module in (resnet, shufflenet, mobilenet, xception, igc, deep_roots, shiftnet,
                           alexnet)
            for name in dir(module)
            if hasattr(getattr(module, name), "spec")}

__all__ = sorted(BUILDERS)
globals().update(BUILDERS)
