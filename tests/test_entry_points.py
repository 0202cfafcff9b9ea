"""Every console script declared in setup.py resolves to a callable."""

import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# setup.py installs tools/ as tfface_tools and export/ as tfface_export.
PACKAGE_DIRS = {"tfface_tools": "tools", "tfface_export": "export"}


def _console_scripts():
  tree = ast.parse(open(os.path.join(REPO, "setup.py")).read())
  for node in ast.walk(tree):
    if isinstance(node, ast.Dict):
      for key, value in zip(node.keys, node.values):
        if isinstance(key, ast.Constant) and key.value == "console_scripts":
          return [ast.literal_eval(v) for v in value.elts]
  raise AssertionError("setup.py declares no console_scripts")


def test_console_scripts_resolve():
  scripts = _console_scripts()
  names = {s.split("=")[0] for s in scripts}
  assert {"tfface-train", "tfface-export"} <= names
  for script in scripts:
    name, target = script.split("=")
    module_name, function = target.split(":")
    package, _, module = module_name.partition(".")
    # Parsed, not imported: the binaries define absl flags of the same names.
    path = os.path.join(REPO, PACKAGE_DIRS[package], module + ".py")
    tree = ast.parse(open(path).read())
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert function in functions, f"{name}: {path} has no {function}()"


def _imported_modules(path):
  for node in ast.walk(ast.parse(open(path).read())):
    if isinstance(node, ast.Import):
      yield from (a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      yield node.module
      yield from (f"{node.module}.{a.name}" for a in node.names)


def test_absl_flags_live_only_in_binaries():
  """The library (tfface/) reads no flags; tools/ and export/ define them."""
  offenders = []
  for root, _, files in os.walk(os.path.join(REPO, "tfface")):
    for name in sorted(f for f in files if f.endswith(".py")):
      path = os.path.join(root, name)
      if {"absl.flags", "absl.app"} & set(_imported_modules(path)):
        offenders.append(os.path.relpath(path, REPO))
  assert not offenders, f"absl flags or app imported by the library: {offenders}"


def test_make_demo_runs_the_demo_binary():
  makefile = open(os.path.join(REPO, "Makefile")).read()
  assert "$(PY) tools/demo.py --output_dir=demo_out" in makefile
