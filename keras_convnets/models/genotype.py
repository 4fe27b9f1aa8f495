"""Genotypes: a cell-based network's normal and reduction cells, written as data.

The format is the one DARTS publishes its results in (Liu et al., "DARTS: Differentiable
Architecture Search", 2018, arXiv:1806.09055, ``genotypes.py`` of the authors' code), which also
describes NASNet-A, AmoebaNet-A and PNASNet-5: a cell has two inputs -- state 0 is the output of
the cell before the previous one, state 1 the previous cell's -- and a list of nodes; node ``i``
(state ``i + 2``) sums the outputs of its operations, each applied to one earlier state. The
cell's output concatenates the states listed in ``concat``.

In JSON (what ``keras-convnets search darts`` writes and ``kc.get_model("darts", genotype=...)``
reads), a node is a list of ``[operation, input_state]`` pairs::

    {"normal": [[["sep_conv_3x3", 0], ["sep_conv_3x3", 1]], [["skip_connect", 0], ...], ...],
     "normal_concat": [2, 3, 4, 5],
     "reduce": [...], "reduce_concat": [2, 3, 4, 5]}

DARTS' own flat form (``[["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ...]``, two pairs per node)
is accepted too. ``Genotype.check`` validates everything before a layer is built: an unknown
operation, a state a node cannot see, a node or cell with no inputs, a concatenation of states
that do not exist.
"""

import dataclasses
import difflib
import json
import os

# The operations a derived cell may use. "none" (the zero operation) exists only inside the
# search's mixed operations: a derived cell never contains it.
OPERATIONS = (
    "skip_connect",       # identity (a factorised reduction where the cell reduces)
    "max_pool_3x3",
    "avg_pool_3x3",
    "sep_conv_3x3",       # ReLU-separable-BN, twice (NASNet's and DARTS' "separable" operation)
    "sep_conv_5x5",
    "sep_conv_7x7",
    "dil_conv_3x3",       # ReLU-dilated separable-BN, once (DARTS)
    "dil_conv_5x5",
    "conv_7x1_1x7",       # ReLU-1x7-7x1-BN (AmoebaNet)
    "conv_1x1",           # ReLU-1x1-BN
    "conv_3x3",           # ReLU-3x3-BN
)
SEARCH_ONLY_OPERATIONS = ("none",)


def _node_pairs(node, where):
    if isinstance(node, (str, bytes)) or not hasattr(node, "__iter__"):
        raise ValueError(f"{where} must be a list of [operation, input_state] pairs; "
                         f"got {node!r}.")
    pairs = []
    for pair in node:
        if (isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2
                or not isinstance(pair[0], str)
                or isinstance(pair[1], bool) or not isinstance(pair[1], int)):
            raise ValueError(f"{where}: each input must be an [operation, input_state] pair "
                             f"(a name and an integer); got {pair!r}.")
        pairs.append((pair[0], pair[1]))
    return tuple(pairs)


def _nodes(cell, where):
    """A cell's nodes from either form: nested (a list of nodes, each a list of pairs) or
    DARTS' flat list of pairs, two per node."""
    if isinstance(cell, (str, bytes)) or not hasattr(cell, "__iter__"):
        raise ValueError(f"`{where}` must be a list of nodes; got {cell!r}.")
    cell = list(cell)
    flat = bool(cell) and all(
        hasattr(item, "__len__") and len(item) == 2 and isinstance(item[0], str)
        for item in cell)
    if flat:
        if len(cell) % 2:
            raise ValueError(f"`{where}` in DARTS' flat form needs two [operation, input] pairs "
                             f"per node; got {len(cell)} pairs.")
        cell = [cell[i:i + 2] for i in range(0, len(cell), 2)]
    return tuple(_node_pairs(node, f"`{where}` node {i}") for i, node in enumerate(cell))


@dataclasses.dataclass(frozen=True)
class Genotype:
    """A normal and a reduction cell: ``normal``/``reduce`` are tuples of nodes, each node a
    tuple of ``(operation, input_state)`` pairs; ``*_concat`` the states the cell's output
    concatenates (``None``: every state no node consumes, NASNet's rule)."""

    normal: tuple
    normal_concat: tuple = None
    reduce: tuple = None
    reduce_concat: tuple = None

    def __post_init__(self):
        for cell in ("normal", "reduce"):
            object.__setattr__(self, cell, _nodes(getattr(self, cell), cell))
            concat = getattr(self, cell + "_concat")
            if concat is not None:
                if isinstance(concat, (str, bytes)) or not hasattr(concat, "__iter__"):
                    raise ValueError(f"`{cell}_concat` must be a list of state indices or None; "
                                     f"got {concat!r}.")
                object.__setattr__(self, cell + "_concat", tuple(concat))

    def cells(self):
        return {"normal": (self.normal, self.normal_concat),
                "reduce": (self.reduce, self.reduce_concat)}

    def concat(self, cell):
        """The states ``cell`` ("normal" or "reduce") concatenates, ``None`` resolved."""
        nodes, concat = self.cells()[cell]
        if concat is not None:
            return concat
        used = {state for node in nodes for _, state in node}
        return tuple(s for s in range(2, len(nodes) + 2) if s not in used)

    def check(self, operations=OPERATIONS):
        """Raises a ValueError naming the cell, node and value unless every node has inputs,
        names an operation of ``operations`` and reads a state that exists before it, and the
        concatenation names existing states. Returns the genotype."""
        for cell, (nodes, concat) in self.cells().items():
            if not nodes:
                raise ValueError(f"The {cell} cell has no nodes; a cell needs at least one.")
            for i, node in enumerate(nodes):
                if not node:
                    raise ValueError(f"{cell} cell, node {i} (state {i + 2}) has no inputs; "
                                     "every node needs at least one [operation, input] pair.")
                for op, state in node:
                    if op not in operations:
                        close = difflib.get_close_matches(op, operations, n=1)
                        hint = f" Did you mean {close[0]!r}?" if close else ""
                        raise ValueError(
                            f"{cell} cell, node {i}: unknown operation {op!r}; allowed: "
                            f"{', '.join(operations)}.{hint}")
                    if not 0 <= state <= i + 1:
                        raise ValueError(
                            f"{cell} cell, node {i} reads state {state}; node {i} can read the "
                            f"cell's inputs (states 0 and 1) and the earlier nodes (states "
                            f"2..{i + 1}), i.e. 0..{i + 1}.")
            resolved = self.concat(cell)
            if not resolved:
                raise ValueError(f"The {cell} cell concatenates nothing: `{cell}_concat` is "
                                 "empty (or every node is consumed by another).")
            for state in resolved:
                if isinstance(state, bool) or not isinstance(state, int) or not (
                        0 <= state < len(nodes) + 2):
                    raise ValueError(
                        f"`{cell}_concat` names state {state!r}; the {cell} cell has states "
                        f"0..{len(nodes) + 1} (two inputs and {len(nodes)} nodes).")
        return self

    def to_dict(self):
        return {"normal": [[list(pair) for pair in node] for node in self.normal],
                "normal_concat": None if self.normal_concat is None else list(self.normal_concat),
                "reduce": [[list(pair) for pair in node] for node in self.reduce],
                "reduce_concat": None if self.reduce_concat is None else list(self.reduce_concat)}

    def to_json(self, path=None):
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            with open(path, "w") as f:
                f.write(text + "\n")
        return text

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict):
            raise ValueError(f"A genotype must be a mapping with keys 'normal', 'normal_concat', "
                             f"'reduce', 'reduce_concat'; got {type(data).__name__}.")
        unknown = set(data) - {"normal", "normal_concat", "reduce", "reduce_concat"}
        missing = {"normal", "reduce"} - set(data)
        if unknown or missing:
            raise ValueError(f"A genotype has the keys 'normal', 'normal_concat', 'reduce', "
                             f"'reduce_concat'; missing {sorted(missing)}, unknown "
                             f"{sorted(unknown)}.")
        return cls(data["normal"], data.get("normal_concat"), data["reduce"],
                   data.get("reduce_concat"))


def as_genotype(value, argument="genotype", operations=OPERATIONS):
    """A checked ``Genotype`` from a Genotype, a dict, a JSON string or the path of a JSON
    file (what ``keras-convnets search darts`` writes)."""
    if isinstance(value, Genotype):
        return value.check(operations)
    if isinstance(value, (str, os.PathLike)):
        text = str(value)
        if not text.lstrip().startswith("{"):
            if not os.path.isfile(text):
                raise ValueError(f"`{argument}`={text!r} is neither a JSON genotype nor the path "
                                 "of a JSON file.")
            with open(text) as f:
                text = f.read()
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"`{argument}` is not valid JSON: {error}.") from None
    if isinstance(value, dict):
        return Genotype.from_dict(value).check(operations)
    raise ValueError(f"`{argument}` must be a Genotype, a dict, a JSON string or a JSON file's "
                     f"path; got {type(value).__name__}.")
