"""Weight mappings, one module per model-family module (``models/<family>.py`` ->
``weights/mappings/<family>.py``); data only, no torch import.

Each module has ``SOURCES``: our model name -> (reference ``"library:model"``, key-rule set,
builder options the weights need[, fixed input size]); ``KEY_RULES``: named rule lists that
translate our layer names (without the ``<model>_`` prefix) into the reference's module paths,
or ``"execution_order"`` for chains that pair layer by layer in execution order. In a rule's
template, ``{stage}``/``{block}``/``{index}`` are the numbers captured from our name and
``{stage0}``/``{block0}``/``{index0}`` the same minus one. A module may add ``NOT_PORTABLE``:
models whose reference cannot be created by name, and why.

The porter finds a model's mapping through its registry entry (``ModelSpec.module``); a new
family adds its file here and nothing else.
"""

import importlib


def mapping_modules():
    """The mapping modules of every registered family that has one."""
    from ...registry import all_specs

    names = sorted({spec.module for spec in all_specs()})
    return [module for module in map(mapping_module, names) if module is not None]


def collected(attribute):
    """One dict of every mapping module's ``attribute`` (``SOURCES``, ``NOT_PORTABLE``, ...)."""
    found = {}
    for module in mapping_modules():
        found.update(getattr(module, attribute, {}))
    return found


def mapping_module(family_module):
    """The mapping module of a model-family module, or None where the family has none."""
    try:
        return importlib.import_module(f"{__name__}.{family_module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{family_module}":
            raise
        return None
