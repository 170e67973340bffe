from django.db import models


class ErrorLog(models.Model):
    """One unhandled exception behind a 500 response (docs/product.md rule 8: a 500 is a bug)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    request_id = models.CharField(max_length=64, blank=True)
    exception = models.CharField(max_length=500)
    traceback = models.TextField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.method} {self.path}: {self.exception}"
