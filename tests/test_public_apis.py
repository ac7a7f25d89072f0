"""clusterhpc, its benchmarks and tests use only public names of submitit, Keras, Horovod and
randomsdss: a private name (`_x`, not `__x__`) may change or vanish in any release.

The check reads the syntax tree of every module: `import a._b`, `from a._b import c`,
`from a import _b`, and attribute chains (`name._b`, `name.x._b`, `getattr(name, "_b")`) on a
name bound to one of those packages (by import, or from `clusterhpc.keras_compat`), or through a
`.keras` attribute (`tf.keras.layers.X._y`); and a private method in a subclass of one of
their classes, which overrides an internal (Keras `BatchNormalization._moments`) or may collide
with one in a later release.
"""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

WATCHED = {"submitit", "keras", "tf_keras", "horovod", "randomsdss"}
# clusterhpc.keras_compat hands out the Keras 2 API and Horovod's Keras module
KERAS_FACTORIES = {"import_keras", "import_horovod_keras"}
TREES = ("clusterhpc", "benchmarks", "tests")


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _watched(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in WATCHED


def _chain(node: ast.expr) -> list[str] | None:
    """`a.b(x).c` -> ["a", "b", "c"] (through calls and subscripts); None when the chain does
    not start at a plain name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        else:
            node = node.func if isinstance(node, ast.Call) else node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _bound_names(tree: ast.AST) -> set[str]:
    """Names that refer to a watched package, to something imported from one, or to a value
    made from one (`executor = submitit.SlurmExecutor(...)`, `keras = import_keras()[1]`)."""
    names = set(WATCHED)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _watched(alias.name):
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and _watched(node.module):
            names.update(alias.asname or alias.name for alias in node.names)
    assigns = [n for n in ast.walk(tree) if isinstance(n, ast.Assign)]
    while True:  # until no assignment adds a name
        before = len(names)
        for node in assigns:
            chain = _chain(node.value)
            if chain is None or not (chain[0] in names or chain[-1] in KERAS_FACTORIES):
                continue
            for target in node.targets:
                elements = target.elts if isinstance(target, ast.Tuple) else [target]
                names.update(e.id for e in elements if isinstance(e, ast.Name))
        names.discard("tf")  # `tf, keras = import_keras()`: TensorFlow itself is not watched
        if len(names) == before:
            return names


def _reaches_watched(chain: list[str], bound: set[str]) -> bool:
    return chain[0] in bound or "keras" in chain[1:-1]


def private_uses(source: str, filename: str = "<string>") -> list[str]:
    """Each private name of a watched package that `source` uses, as `file:line: text`."""
    tree = ast.parse(source, filename)
    bound = _bound_names(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, f"import {a.name}")
                for a in node.names
                if _watched(a.name) and any(map(is_private, a.name.split(".")))
            ]
        elif isinstance(node, ast.ImportFrom) and _watched(node.module):
            assert node.module is not None
            names = [a.name for a in node.names]
            if any(map(is_private, node.module.split("."))) or any(map(is_private, names)):
                found.append((node.lineno, f"from {node.module} import {', '.join(names)}"))
        elif isinstance(node, ast.ClassDef) and any(
            (chain := _chain(base)) is not None and _reaches_watched([*chain, ""], bound)
            for base in node.bases
        ):
            found += [
                (f.lineno, f"{node.name}.{f.name} in a subclass of {ast.unparse(node.bases[0])}")
                for f in node.body
                if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) and is_private(f.name)
            ]
        elif isinstance(node, ast.Attribute) and is_private(node.attr):
            chain = _chain(node)
            if chain is not None and _reaches_watched(chain, bound):
                found.append((node.lineno, ".".join(chain)))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) in {"getattr", "hasattr", "setattr"}
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and is_private(node.args[1].value)
        ):
            chain = _chain(node.args[0])
            if chain is not None and _reaches_watched([*chain, node.args[1].value], bound):
                found.append((node.lineno, f"{node.func.id}({'.'.join(chain)}, ...)"))  # type: ignore[attr-defined]
    return [f"{filename}:{line}: {text}" for line, text in sorted(set(found))]


@pytest.mark.parametrize(
    "source",
    [
        "from submitit.slurm.slurm import _make_sbatch_string",
        "from submitit.core import _submit",
        "import submitit.core._submit",
        "import submitit\nsignal = submitit.JobEnvironment._usr_sig()",
        "import submitit as s\ncommand = s.SlurmExecutor('.')._submitit_command_str",
        "from submitit import JobEnvironment\nJobEnvironment._usr_sig()",
        "import horovod.tensorflow as hvd\nhvd._basics",
        "from clusterhpc.keras_compat import import_keras\n"
        "tf, keras = import_keras()\nkeras.layers.BatchNormalization._moments",
        "import tensorflow as tf\ntf.keras.layers.BatchNormalization._moments",
        "import randomsdss\ngetattr(randomsdss, '_random_from_pdf')",
        "from randomsdss.data import _x",
        "import submitit\nexecutor = submitit.SlurmExecutor('.')\nexecutor._submitit_command_str",
        "_, keras = import_keras()\n"
        "class B(keras.layers.BatchNormalization):\n    def _moments(self, x):\n        pass",
    ],
)
def test_a_private_name_of_a_watched_package_is_found(source):
    assert len(private_uses(source)) == 1, source


@pytest.mark.parametrize(
    "source",
    [
        "import submitit\nsubmitit.JobEnvironment.USR_SIG\nsubmitit.JobEnvironment().__class__",
        "from submitit.helpers import Checkpointable",
        "import randomsdss\nrandomsdss.polygon_path('DR8', 'SDSS')",
        "import numpy as np\nnp._core",  # not a watched package
        "class A:\n    def f(self):\n        return self._keras",
        "import tensorflow as tf\ntf._api",
        "from submitit.helpers import Checkpointable\n"
        "class R(Checkpointable):\n    def run(self):\n        return self.__class__",
    ],
)
def test_public_names_and_other_packages_pass(source):
    assert private_uses(source) == []


def test_no_module_uses_a_private_name_of_submitit_keras_horovod_or_randomsdss():
    files = sorted(p for tree in TREES for p in (ROOT / tree).rglob("*.py"))
    assert len(files) > 100  # the trees were found
    uses = [u for p in files for u in private_uses(p.read_text(), str(p.relative_to(ROOT)))]
    assert uses == [], "\n".join(uses)
