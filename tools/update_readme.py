"""Regenerates the model table in README.md from the registry.

    python tools/update_readme.py          # rewrite README.md
    python tools/update_readme.py --check  # exit 1 if README.md is out of date
"""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
START, END = "<!-- models:start -->", "<!-- models:end -->"


def model_table():
    import keras_convnets as kc

    lines = ["| builder | family | paper | trainable params | reference |",
             "|---|---|---|---:|---|"]
    for name in kc.list_models():
        spec = kc.get_spec(name)
        if spec.params is not None:
            params = f"{spec.params:,}"
        elif spec.paper_params is not None:
            params = f"{spec.paper_params}M (paper)"
        else:
            params = "-"
        paper = f"[{spec.paper.arxiv or 'paper'}]({spec.paper.link})"
        lines.append(f"| `kc.{spec.builder.__name__}` | {spec.family} | {paper} | {params} | "
                     f"{spec.reference or '-'} |")
    return "\n".join(lines)


def render(readme):
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{model_table()}\n{END}{tail}"


def main(argv):
    path = ROOT / "README.md"
    current = path.read_text()
    updated = render(current)
    if "--check" in argv:
        if updated != current:
            print("README.md's model table is out of date: run python tools/update_readme.py")
            return 1
        return 0
    path.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
