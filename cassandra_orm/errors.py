"""The one exception the mapper raises for a store that cannot take or serve a request."""

from __future__ import annotations


class Unavailable(Exception):
    """The cluster did not answer in time, or not at the required consistency, after the bounded retries.

    Raised for NoHostAvailable, Unavailable, read and write timeouts, client-side timeouts and connection
    errors. The original driver exception is the ``__cause__``.
    """
