"""The student number's rule, owned here: the model field, the API serializers, the admin's imports, Markr and
the background imports all check a number with these, so that no path accepts what another refuses."""

from __future__ import annotations

import re

from django.core.validators import RegexValidator

# Anchored with ^ and $ so that the serializers' RegexField publishes it as the OpenAPI pattern as it is;
# code that checks a number itself uses STUDENT_NUMBER_RE.fullmatch, which also refuses a trailing newline.
STUDENT_NUMBER_REGEX = r"^[A-Za-z0-9_-]{1,64}$"
STUDENT_NUMBER_RE = re.compile(STUDENT_NUMBER_REGEX)
STUDENT_NUMBER_MESSAGE = "student_number must be 1 to 64 letters, digits, '-' or '_'."

validate_student_number = RegexValidator(STUDENT_NUMBER_RE, message=STUDENT_NUMBER_MESSAGE, code="invalid")
