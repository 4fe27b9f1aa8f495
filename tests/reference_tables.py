"""../shared/reference/params.tsv, the independent reference counts the tests compare with."""

import csv
import functools
import os

PARAMS_TSV = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "shared",
                          "reference", "params.tsv")


@functools.lru_cache(maxsize=None)
def params_tsv():
    """``{(framework, model_name): row}`` of params.tsv."""
    with open(PARAMS_TSV, newline="") as f:
        return {(r["framework"], r["model_name"]): r for r in csv.DictReader(f, delimiter="\t")}
