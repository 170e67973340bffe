from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A CharField that takes only JSON strings: DRF's own turns 12.5 into "12.5", which the schema forbids."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


MARKS_PLACES = Decimal("0.0001")  # grading.Degree.marks_obtained: numeric(14, 4)
MARKS_LIMIT = Decimal(10) ** 10


def marks_number(value: Any) -> int | float | None:
    """A mark (a Decimal with four places in the database) as the API writes it: an integer when it is whole,
    as every mark was before partial credit, else a float."""
    if value is None:
        return None
    number = Decimal(value)
    return int(number) if number == number.to_integral_value() else float(number)


@extend_schema_field({"type": "number", "format": "double"})
class MarksField(serializers.Field):
    """Marks as a JSON number: whole marks as integers, partial credit as a fraction (four decimal places).
    Input takes a JSON number only (not a string or a boolean), rounded half up to four places."""

    def to_representation(self, value: Any) -> int | float | None:
        return marks_number(value)

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise serializers.ValidationError("A number is required.")
        number = Decimal(str(data))
        if not number.is_finite() or abs(number) >= MARKS_LIMIT:
            raise serializers.ValidationError(f"A finite number below {MARKS_LIMIT} is required.")
        return number.quantize(MARKS_PLACES, rounding=ROUND_HALF_UP)
