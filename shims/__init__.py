"""Run Azure ML SDK v1 and Workbench logging code unchanged on MLflow.

    python -m shims train.py args...      # or: aml2mlflow run train.py args...

or, inside a program, before the legacy imports:

    import shims; shims.install()         # `import azureml.core` now resolves to the shim

or import the stand-ins directly: `from shims import Run, Experiment, Workspace, get_azureml_logger`.
Importing this package does not import mlflow (that happens on the first run); see the catalogue in
`migrate/catalogue.py` for what each legacy call becomes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shims.errors import AzureMLException, ServiceOnlyError, UserErrorException
from shims.hook import install, uninstall

if TYPE_CHECKING:
    from shims.run import Experiment, Run, Workspace
    from shims.workbench import get_azureml_logger

__all__ = [
    "AzureMLException",
    "Experiment",
    "Run",
    "ServiceOnlyError",
    "UserErrorException",
    "Workspace",
    "get_azureml_logger",
    "install",
    "uninstall",
]

_LAZY = {
    "Run": "shims.run",
    "Experiment": "shims.run",
    "Workspace": "shims.run",
    "get_azureml_logger": "shims.workbench",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'shims' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
