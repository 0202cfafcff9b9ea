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
