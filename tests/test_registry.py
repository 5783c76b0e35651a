"""Toolbox parts register after their toolbox loads, never before."""
import sys

import pytest

from mmeff.registry import call_after_import


@pytest.fixture
def fake_toolbox(tmp_path, monkeypatch):
    package = tmp_path / 'fakebox'
    (package / 'models').mkdir(parents=True)
    (package / '__init__.py').write_text('')
    (package / 'models' / '__init__.py').write_text('LOADED = True\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    yield 'fakebox.models'
    for name in ('fakebox.models', 'fakebox'):
        sys.modules.pop(name, None)


def test_callback_runs_once_after_the_trigger_module_executes(fake_toolbox):
    seen = []
    call_after_import(fake_toolbox, lambda: seen.append(sys.modules[fake_toolbox].LOADED))
    call_after_import(fake_toolbox, lambda: seen.append('second'))
    import fakebox  # noqa: F401  (the parent package alone does not trigger)
    assert seen == []
    import fakebox.models  # noqa: F401
    assert seen == [True, 'second']
    assert not any(getattr(f, 'trigger', None) == fake_toolbox for f in sys.meta_path)


def test_callback_runs_at_once_when_the_trigger_is_loaded(fake_toolbox):
    import fakebox.models  # noqa: F401
    seen = []
    call_after_import(fake_toolbox, lambda: seen.append('now'))
    assert seen == ['now']
