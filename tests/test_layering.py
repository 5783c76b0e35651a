"""mmeff's packages import only from the packages below them (docs/design.md)."""
import ast
from pathlib import Path
from typing import Dict, Set, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'mmeff'
#: package -> its level; a module may import packages of lower levels only.
LEVELS = {
    'ops': 0,
    'layers': 1,
    'utils': 2,
    'converters': 3,
    'engine': 4,
    'det': 5,
    'pose': 5,
    'action': 5,
    'apis': 6
}
SHARED = {'registry', 'version'}  # imported by every level


def mmeff_imports(source: str, package: Tuple[str, ...]) -> Set[str]:
    """The mmeff packages (first component below ``mmeff``) that a module of ``mmeff.<package>``
    with this ``source`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parent = package[:len(package) - node.level + 1]
                base = '.'.join(('mmeff', *parent, *([base] if base else [])))
            names = [base] if base != 'mmeff' else [f'mmeff.{a.name}' for a in node.names]
        else:
            continue
        found |= {
            name.split('.')[1]
            for name in names if name.startswith('mmeff.') and len(name.split('.')) > 1
        }
    return found


def stack_modules() -> Dict[str, Path]:
    return {
        str(p.relative_to(PACKAGE)): p
        for name in LEVELS
        for p in sorted((PACKAGE / name).rglob('*.py'))
    }


@pytest.mark.parametrize('module', sorted(stack_modules()))
def test_imports_go_down_the_stack(module):
    path = stack_modules()[module]
    own = path.relative_to(PACKAGE).parts[0]
    imported = mmeff_imports(path.read_text(), path.relative_to(PACKAGE).parts[:-1])
    upward = {
        name
        for name in imported - SHARED - {own} if LEVELS.get(name, len(LEVELS)) >= LEVELS[own]
    }
    assert not upward, f'mmeff/{module} ({own}) imports {sorted(upward)}'


def test_the_checker_sees_relative_absolute_and_local_imports():
    source = ('from ..engine import x\nimport mmeff.pose.y\n'
              'def f():\n    from mmeff import action\n    from . import skipconv\n')
    assert mmeff_imports(source, ('converters', )) == {'engine', 'pose', 'action', 'converters'}
