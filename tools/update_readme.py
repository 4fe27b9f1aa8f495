"""Regenerates what is written from the registry: README.md's model table and the console
command's model index (keras_convnets/model_index.json, read by ``keras-convnets list``).

    python tools/update_readme.py          # rewrite both
    python tools/update_readme.py --check  # exit 1 if either is out of date
"""

import json
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


def model_index():
    from keras_convnets import registry

    return json.dumps(registry.model_index(), indent=0) + "\n"


def main(argv):
    import keras_convnets as kc

    readme = ROOT / "README.md"
    index = ROOT / "keras_convnets" / kc.registry.INDEX_FILE
    outputs = {readme: render(readme.read_text()), index: model_index()}
    stale = [path for path, text in outputs.items()
             if not path.exists() or path.read_text() != text]
    if "--check" in argv:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run python tools/update_readme.py")
        return 1 if stale else 0
    for path in stale:
        path.write_text(outputs[path])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
