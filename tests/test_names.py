"""Metric-name mapping: deterministic, always valid for MLflow, identity on valid names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shims.names import MAX_LEN, is_valid, mlflow_name


@pytest.mark.parametrize(
    ("legacy", "stored"),
    [
        ("Accuracy (%)", "Accuracy pct"),
        ("prec@1", "prec_at_1"),
        ("f1,macro", "f1_macro"),
        ("", "unnamed"),
        ("/leading", "leading"),
        ("a//b", "a/b"),
        ("../up", "__/up"),
        ("lr=0.1", "lr_eq_0.1"),
        ("line\nbreak", "line_break"),
        ("top-1 acc.", "top-1 acc."),
        ("Ünïcödé ß", "Ünïcödé ß"),
        (123, "123"),
    ],
)
def test_known_mappings(legacy: object, stored: str) -> None:
    assert mlflow_name(legacy) == stored


def test_long_names_are_cut_with_a_stable_digest() -> None:
    a, b = "x" * 300, "x" * 299 + "y"
    assert len(mlflow_name(a)) == MAX_LEN and is_valid(mlflow_name(a))
    assert mlflow_name(a) != mlflow_name(b)
    assert mlflow_name(a) == mlflow_name("x" * 300)


@given(st.text(max_size=400))
def test_any_text_maps_to_a_valid_name_and_valid_names_are_kept(text: str) -> None:
    stored = mlflow_name(text)
    assert is_valid(stored)
    assert mlflow_name(stored) == stored
    if is_valid(text):
        assert stored == text


def test_validity_agrees_with_mlflow() -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import _validate_metric_name

    # (MLflow's own check lets a trailing newline through its `$`; the shim maps it away anyway.)
    for name in ["Accuracy pct", "a/b", "a b:c", "prec@1", "f1,macro", "/x", "a//b", "", "a(b)"]:
        try:
            _validate_metric_name(name)
            accepted = True
        except MlflowException:
            accepted = False
        assert accepted == is_valid(name), name
