"""Architecture search: DARTS (Liu, Simonyan, Yang, "DARTS: Differentiable Architecture
Search", 2018, arXiv:1806.09055), first order, on the embedded digits or any arrays.

>>> from keras_convnets.search import darts
>>> result = darts.search(epochs=6, seed=0)           # ~5 CPU minutes on the digits
>>> result.genotype.to_json("genotype.json")          # kc.get_model("darts_cifar", genotype=...)
"""

from ..models.genotype import OPERATIONS, Genotype, as_genotype
from .darts import (DARTS_OPERATIONS, DartsSearchNetwork, FactorizedReduce, MixedOp,
                    SearchCell, SearchOperation, SearchResult, derive_genotype, random_genotype,
                    search)

__all__ = ["Genotype", "OPERATIONS", "as_genotype", "DARTS_OPERATIONS", "DartsSearchNetwork", "FactorizedReduce", "MixedOp",
           "SearchCell", "SearchOperation", "SearchResult", "derive_genotype",
           "random_genotype", "search"]
