from django.db import models


class AuditRecord(models.Model):
    """Who changed what in an exam, and when (docs/product.md, "audit record").

    Append-only: a database trigger (migration 0001) refuses UPDATE and DELETE, so not even a bug in the
    application can rewrite the record that settles an appeal. The actor and the exam are kept as plain
    ids with a readable label taken at the time, not as foreign keys: deleting a user or an exam must
    neither be blocked by its history nor rewrite it.
    """

    at = models.DateTimeField(db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    exam_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    exam = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["exam_id", "-at"], name="audit_exam_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor or '-'} {self.action} {self.exam}"
