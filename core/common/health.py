"""Health checks. Each store's app registers its own check in AppConfig.ready(), so this low layer
needs no import of the apps above it."""

from collections.abc import Callable

_checks: dict[str, Callable[[], bool]] = {}


def register(name: str, check: Callable[[], bool]) -> None:
    _checks[name] = check


def run_checks() -> dict[str, str]:
    results = {}
    for name, check in _checks.items():
        try:
            results[name] = "UP" if check() else "DOWN"
        except Exception:
            results[name] = "DOWN"
    return results


def check_database() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


def check_cache() -> bool:
    from django.core.cache import cache

    cache.set("health:ping", "pong", 10)
    return cache.get("health:ping") == "pong"


register("database", check_database)
register("cache", check_cache)
