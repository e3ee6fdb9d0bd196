"""Exceptions with the names legacy code catches (`except UserErrorException:` keeps working)."""

from __future__ import annotations


class AzureMLException(Exception):
    """Base of the errors the legacy SDK raised; the shim raises them for the same mistakes."""


class UserErrorException(AzureMLException):
    """A call the legacy SDK rejected as a user error (same cases, same message)."""


class SerializationError(UserErrorException):
    """A value that cannot be sent as the declared type (e.g. a non-integer `step`)."""


class ServiceOnlyError(UserErrorException):
    """An Azure-service API (job submission, compute, datastores) that has no MLflow equivalent."""

    def __init__(self, api: str, instead: str) -> None:
        super().__init__(
            f"{api} needs the Azure ML service, which aml2mlflow does not emulate. {instead}"
        )
        self.api = api
