"""`install()`: make `import azureml.core` and `from azureml.logging import ...` resolve to the shim.

A meta-path finder serves every module under `azureml`: the logging surface (`azureml.core`,
`azureml.core.run`, `azureml.core.experiment`, `azureml.core.workspace`, `azureml.logging`) gets the
shim's classes, and any other name (`ScriptRunConfig`, `azureml.core.compute.AmlCompute`, ...) gets a
stand-in that imports fine and raises `ServiceOnlyError` when used, so a script fails only where it
really needs the Azure service. A real installed azureml-core is never shadowed unless
`install(force=True)`.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
import warnings
from collections.abc import Sequence
from typing import Any

from shims.errors import ServiceOnlyError

# module -> {attribute: "shims.module:attribute"}
EXPORTS: dict[str, dict[str, str]] = {
    "azureml": {},
    "azureml.core": {
        "Run": "shims.run:Run",
        "Experiment": "shims.run:Experiment",
        "Workspace": "shims.run:Workspace",
    },
    "azureml.core.run": {"Run": "shims.run:Run", "_OfflineRun": "shims.run:_OfflineRun"},
    "azureml.core.experiment": {"Experiment": "shims.run:Experiment"},
    "azureml.core.workspace": {"Workspace": "shims.run:Workspace"},
    "azureml.logging": {"get_azureml_logger": "shims.workbench:get_azureml_logger"},
    "azureml.exceptions": {
        "AzureMLException": "shims.errors:AzureMLException",
        "UserErrorException": "shims.errors:UserErrorException",
    },
    "azureml._common.exceptions": {"AzureMLException": "shims.errors:AzureMLException"},
}
SHIM_MARK = "__aml2mlflow_shim__"


def _service_only(qualname: str) -> type:
    """A class that imports fine and raises ServiceOnlyError when called or used."""

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise ServiceOnlyError(qualname, _instead())

    class _Meta(type):
        def __getattr__(cls, attr: str) -> Any:
            if attr.startswith("__"):
                raise AttributeError(attr)
            return fail

        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            return fail()

    return _Meta(qualname.rsplit(".", 1)[-1], (), {"__module__": qualname.rsplit(".", 1)[0]})


def _instead() -> str:
    from migrate.catalogue import entry

    return entry("service-only").reason


class _ShimModule(types.ModuleType):
    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        target = EXPORTS.get(self.__name__, {}).get(attr)
        if target is not None:
            module, _, name = target.partition(":")
            value = getattr(importlib.import_module(module), name)
        else:
            value = _service_only(f"{self.__name__}.{attr}")
        setattr(self, attr, value)
        return value


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _ShimModule(spec.name)
        setattr(module, SHIM_MARK, True)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__path__ = []  # every azureml module is a package, so any submodule imports


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "azureml" and not fullname.startswith("azureml."):
            return None
        return importlib.machinery.ModuleSpec(fullname, _Loader(), is_package=True)


_finder: _Finder | None = None


def real_azureml_installed() -> bool:
    """Whether the real azureml-core is importable (looked up on sys.path, not imported)."""
    for entry in sys.path:
        spec = importlib.machinery.PathFinder.find_spec("azureml", [entry] if entry else None)
        if spec is None or not spec.submodule_search_locations:
            continue
        for loc in spec.submodule_search_locations:
            if importlib.machinery.PathFinder.find_spec("azureml.core", [loc]) is not None:
                return True
    return False


def install(force: bool = False) -> bool:
    """Route `azureml.*` imports to the shim; return whether the hook is active.

    With the real azureml-core installed, nothing is shadowed (a warning says so) unless
    `force=True`. Call it before the legacy imports run; it is idempotent.
    """
    global _finder
    if _finder is not None:
        return True
    if not force and real_azureml_installed():
        warnings.warn(
            "aml2mlflow: the real azureml-core is installed, so the shim does not replace it; "
            "call shims.install(force=True) to log to MLflow anyway.",
            stacklevel=2,
        )
        return False
    for name in [m for m in sys.modules if m == "azureml" or m.startswith("azureml.")]:
        if not getattr(sys.modules[name], SHIM_MARK, False):
            del sys.modules[name]
    _finder = _Finder()
    sys.meta_path.insert(0, _finder)
    return True


def uninstall() -> None:
    """Remove the hook and forget the shim's azureml modules."""
    global _finder
    if _finder is not None:
        sys.meta_path.remove(_finder)
        _finder = None
    for name in [m for m in sys.modules if m == "azureml" or m.startswith("azureml.")]:
        if getattr(sys.modules[name], SHIM_MARK, False):
            del sys.modules[name]
