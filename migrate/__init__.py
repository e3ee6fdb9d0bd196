"""aml2mlflow: move Azure ML SDK v1 logging code onto MLflow (catalogue, CLI; codemod and audit)."""

__version__ = "0.1.0"
