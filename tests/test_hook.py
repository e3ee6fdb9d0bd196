"""`shims.install()`: legacy imports resolve to the shim, service-only names fail only when used."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import shims
from shims import ServiceOnlyError
from shims.hook import SHIM_MARK, real_azureml_installed


@pytest.fixture
def hooked() -> Iterator[None]:
    assert shims.install() is True
    yield
    shims.uninstall()


def test_legacy_imports_resolve_to_the_shim(hooked: None) -> None:
    from azureml.core import Experiment, Run, Workspace
    from azureml.core.run import Run as Run2
    from azureml.logging import get_azureml_logger

    import shims.run
    import shims.workbench

    assert Run is Run2 is shims.run.Run
    assert Experiment is shims.run.Experiment and Workspace is shims.run.Workspace
    assert get_azureml_logger is shims.workbench.get_azureml_logger
    core = importlib.import_module("azureml.core")
    assert core.Run is shims.run.Run
    from azureml.exceptions import UserErrorException

    assert UserErrorException is shims.UserErrorException


def test_service_only_names_import_and_fail_on_use(hooked: None) -> None:
    from azureml.core import Environment, ScriptRunConfig
    from azureml.core.compute import AmlCompute

    with pytest.raises(ServiceOnlyError, match="ScriptRunConfig"):
        ScriptRunConfig(source_directory=".", script="train.py")
    with pytest.raises(ServiceOnlyError, match="AmlCompute"):
        AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2")
    with pytest.raises(ServiceOnlyError, match="run scripts directly"):
        Environment.from_conda_specification("env", "env.yml")


def test_uninstall_forgets_the_shim(hooked: None) -> None:
    import azureml.core  # noqa: F401

    shims.uninstall()
    assert "azureml.core" not in sys.modules
    with pytest.raises(ImportError):
        importlib.import_module("azureml.core")
    shims.install()  # the fixture uninstalls again


def test_real_azureml_is_not_shadowed_unless_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "site" / "azureml" / "core"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("REAL = True\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert real_azureml_installed()
    with pytest.warns(UserWarning, match="real azureml-core is installed"):
        assert shims.install() is False
    import azureml.core

    assert azureml.core.REAL is True
    try:
        assert shims.install(force=True) is True
        core = importlib.import_module("azureml.core")
        assert getattr(core, SHIM_MARK) is True and core.Run.__module__ == "shims.run"
    finally:
        shims.uninstall()
        for name in [m for m in sys.modules if m.startswith("azureml")]:
            del sys.modules[name]


def test_not_installed_without_real_sdk() -> None:
    assert not real_azureml_installed()
