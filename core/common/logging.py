"""structlog as the one logger: every line - ours, Django's, Celery's, gunicorn's, the drivers' - is one JSON
object with `time`, `level`, `logger`, `event`, and whatever is bound to the context (`request_id`, `route`,
`status`, `duration_ms`, `user_id`, `exam_id`, `task`...).

Our code logs with `structlog.get_logger()`; the standard library's loggers go through the same processors,
because the handlers' formatter is structlog's ProcessorFormatter (see `logging_config`).
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

# What every line gets, whether it came from structlog or from the standard library.
SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
]


def structlog_configure() -> None:
    """Make structlog hand its events to the standard library, which formats them with `formatter()`."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def formatter() -> structlog.stdlib.ProcessorFormatter:
    """One JSON object per line, for structlog's events and the standard library's records alike."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("event"),
            structlog.processors.JSONRenderer(default=str),
        ],
    )


def logging_config(*, level: str) -> dict[str, Any]:
    """The LOGGING dict of the settings: one console handler whose formatter is `formatter()`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "core.common.logging.formatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django logs every 4xx/5xx as a warning/error; our request line says it once, with more.
            "django.request": {"level": "ERROR"},
            "django.server": {"level": "WARNING"},
            "cassandra": {"level": "WARNING"},
            "celery": {"level": level},
        },
    }


def stdlib_json_handler(stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter())
    return handler
