"""The one way the project summarises numbers (docs/product.md rule 6).

Percentiles are linear interpolation (PostgreSQL's `percentile_cont`, numpy's default), the standard
deviation is the population one (`stddev_pop`), and everything comes from ONE SQL statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Aggregate, Avg, Count, F, FloatField, Max, Min, QuerySet, StdDev
from django.db.models.functions import Cast

QUARTILES = (0.25, 0.5, 0.75)
# The columns of summary()'s statement, in the order it asks for them.
FIGURES = ("count", "mean", "stddev", "min", "max", "quartiles")


class PercentilesCont(Aggregate):
    """`percentile_cont(ARRAY[...]) WITHIN GROUP (ORDER BY expr)`: several percentiles in one pass."""

    function = "percentile_cont"
    template = "%(function)s(%(fractions)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False

    def __init__(self, expression: Any, *, fractions: tuple[float, ...] = QUARTILES, **extra: Any) -> None:
        if not fractions or not all(0.0 <= f <= 1.0 for f in fractions):
            raise ValueError("Percentile fractions must be between 0 and 1.")
        literal = "ARRAY[" + ",".join(repr(float(f)) for f in fractions) + "]::double precision[]"
        super().__init__(expression, fractions=literal, output_field=ArrayField(FloatField()), **extra)


@dataclass(frozen=True)
class Summary:
    """count, then None for every other figure when there is nothing to summarise."""

    count: int
    mean: float | None
    stddev: float | None
    min: float | None
    max: float | None
    p25: float | None
    p50: float | None
    p75: float | None

    def as_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict, which deep-copies every value: these are plain numbers.
        return {field.name: getattr(self, field.name) for field in fields(self)}


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _as_float(queryset: QuerySet[Any], field: str) -> F | Cast:
    """The column as double precision; a float column (Degree.percentage) is used as it is, with no per-row cast."""
    try:
        model_field = queryset.model._meta.get_field(field)
    except FieldDoesNotExist:
        return Cast(field, FloatField())
    if isinstance(getattr(model_field, "output_field", model_field), FloatField):
        return F(field)
    return Cast(field, FloatField())


def summary(queryset: QuerySet[Any], field: str) -> Summary:
    """Count, mean, population stddev, min, max and the quartiles of `field` over `queryset`, in one query.

    Rows where `field` is NULL are left out, as SQL aggregates do."""
    value = _as_float(queryset, field)
    aggregates = (
        Count(field),
        Avg(value),
        StdDev(value, sample=False),
        Min(value),
        Max(value),
        PercentilesCont(value, fractions=QUARTILES),
    )
    return _summary_of(queryset.order_by().aggregate(**dict(zip(FIGURES, aggregates, strict=True))))


def summary_from_row(row: Sequence[Any] | None) -> Summary:
    """The Summary of a row of summary()'s own statement, run again without the ORM (core/common/statements.py);
    no row at all is the summary of nothing."""
    if row is None:
        return Summary(count=0, mean=None, stddev=None, min=None, max=None, p25=None, p50=None, p75=None)
    return _summary_of(dict(zip(FIGURES, row, strict=True)))


def _summary_of(row: dict[str, Any]) -> Summary:
    p25, p50, p75 = row["quartiles"] or (None, None, None)
    return Summary(
        count=int(row["count"]),
        mean=_float(row["mean"]),
        stddev=_float(row["stddev"]),
        min=_float(row["min"]),
        max=_float(row["max"]),
        p25=_float(p25),
        p50=_float(p50),
        p75=_float(p75),
    )


def percentage_summary(degrees: QuerySet[Any]) -> Summary:
    """The summary of `percentage` (100 * obtained / available) over a queryset of grading.Degree."""
    return summary(degrees, "percentage")
