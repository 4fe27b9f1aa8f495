"""Model families: one module each, a generic builder plus named configurations."""

from . import resnet

#: Every public builder, by its function name.
BUILDERS = {name: getattr(module, name)
            for module in (resnet,)
            for name in dir(module)
            if hasattr(getattr(module, name), "spec")}

__all__ = sorted(BUILDERS)
globals().update(BUILDERS)
