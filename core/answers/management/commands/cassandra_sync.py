"""Create the Cassandra keyspace and the answer tables if missing (idempotent; safe on every deploy)."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.answers.store import AnswerStoreUnavailable


class Command(BaseCommand):
    help = "Create the Cassandra keyspace and tables of the answer store if missing, and add missing columns."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--keyspace", help="Sync this keyspace instead of CASSANDRA_KEYSPACE.")
        parser.add_argument(
            "--force", action="store_true", help="Sync even when ANSWER_STORE is not cassandra (e.g. before a switch)."
        )

    def handle(self, *args: Any, keyspace: str | None = None, force: bool = False, **options: Any) -> None:
        if settings.ANSWER_STORE != "cassandra" and not force:
            self.stdout.write(f"ANSWER_STORE is {settings.ANSWER_STORE!r}, not 'cassandra': nothing to sync.")
            return
        from core.answers.cassandra import CassandraAnswerStore, schema_options

        overrides = {"keyspace": keyspace} if keyspace else {}
        store = CassandraAnswerStore.from_settings(**overrides)
        try:
            ran = store.sync_schema(**schema_options())
        except AnswerStoreUnavailable as exc:
            raise CommandError(f"Cassandra is unreachable: {exc.__cause__}") from exc
        finally:
            store.close()
        ks = store.connection.keyspace
        if ran:
            for cql in ran:
                self.stdout.write(cql.splitlines()[0] + (" ..." if "\n" in cql else ""))
            self.stdout.write(self.style.SUCCESS(f"Keyspace {ks}: {len(ran)} statement(s) run."))
        else:
            self.stdout.write(f"Keyspace {ks} is up to date.")
