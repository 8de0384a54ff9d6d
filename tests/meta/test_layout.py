"""The package's layout holds: imports point down the layers, small files and
functions, and the original's names where its users look for them."""

import ast
import importlib
import pathlib


import agents

PACKAGE = pathlib.Path(agents.__file__).parent

# Bottom to top (docs/design.md). A module may import its own layer and below.
LAYERS = {
    'agents._lazy': 0, 'agents.errors': 0, 'agents.settings': 0, 'agents.user_code': 0,
    'agents.parts': 1,
    'agents.core': 2,
    'agents.envs': 3, 'agents.algorithms': 3, 'agents.testing': 3,
    'agents.run': 4,
    'agents.scripts': 5,
    'agents.api': 6, 'agents': 6, 'agents.tools': 6,
}


def _layer(module: str) -> int:
  parts = module.split('.')
  for length in range(len(parts), 0, -1):
    name = '.'.join(parts[:length])
    if name in LAYERS:
      return LAYERS[name]
  raise KeyError(module)


def _modules():
  for path in sorted(PACKAGE.rglob('*.py')):
    relative = path.relative_to(PACKAGE.parent).with_suffix('')
    name = '.'.join(relative.parts)
    yield name.removesuffix('.__init__'), path


def _imports(path: pathlib.Path, module: str):
  """Every module of the package that `path` imports, top-level or inside functions."""
  package = module if path.name == '__init__.py' else module.rsplit('.', 1)[0]
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:
        base = '.'.join(package.split('.')[:len(package.split('.')) - node.level + 1]
                        + ([base] if base else []))
      names = [f'{base}.{alias.name}' for alias in node.names]
    else:
      continue
    for name in names:
      if name == 'agents' or name.startswith('agents.'):
        yield name
  # The lazy export tables name modules too.
  if path.name == '__init__.py' and '_EXPORTS' in path.read_text():
    for target in importlib.import_module(module)._EXPORTS.values():
      yield target.split(':')[0]


def test_imports_point_down_the_layers_only():
  upward = []
  for module, path in _modules():
    own = _layer(module)
    for imported in _imports(path, module):
      try:
        layer = _layer(imported)
      except KeyError:
        continue
      if layer > own:
        upward.append(f'{module} (layer {own}) imports {imported} (layer {layer})')
  assert not upward, '\n'.join(sorted(set(upward)))


def test_no_file_over_400_lines_and_no_function_over_60():
  long = []
  for module, path in _modules():
    text = path.read_text()
    if len(text.splitlines()) > 400:
      long.append(f'{module}: {len(text.splitlines())} lines')
    for node in ast.walk(ast.parse(text)):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        length = node.end_lineno - node.lineno + 1
        if length > 60:
          long.append(f'{module}.{node.name}: {length} lines')
  assert not long, '\n'.join(long)


def test_library_code_does_not_print():
  """Only the programs (agents/scripts) print; the library logs or returns."""
  printing = []
  for module, path in _modules():
    if module.startswith('agents.scripts'):
      continue
    for node in ast.walk(ast.parse(path.read_text())):
      if (isinstance(node, ast.Call) and getattr(node.func, 'id', '') == 'print'):
        printing.append(f'{module}:{node.lineno}')
  assert not printing, printing


def test_every_exception_class_is_an_agents_error():
  from agents import errors
  found = []
  for module, path in _modules():
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.ClassDef) and any(
          getattr(base, 'id', getattr(base, 'attr', '')).endswith(('Error', 'Exception'))
          for base in node.bases):
        found.append((module, node.name))
  assert found
  for module, name in found:
    cls = getattr(__import__(module, fromlist=[name]), name)
    assert issubclass(cls, errors.AgentsError), f'{module}.{name}'
