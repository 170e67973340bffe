from django.contrib.postgres.fields import ArrayField
from django.db import models


class Answer(models.Model):
    """The PostgreSQL answer store's table (used only by core.answers.postgres; Cassandra in production).

    Plain integer ids, no foreign keys: answers sit below exams in the layers, and a save must not wait on
    other tables' locks.
    """

    pk = models.CompositePrimaryKey("exam_id", "student_id", "question_id")
    exam_id = models.BigIntegerField()
    student_id = models.BigIntegerField()
    question_id = models.BigIntegerField()
    choice_ids = ArrayField(models.BigIntegerField(), default=list)
    saved_at = models.DateTimeField()

    class Meta:
        db_table = "answers_answer"

    def __str__(self) -> str:
        return f"exam {self.exam_id} student {self.student_id} question {self.question_id}"


class AnswerSave(models.Model):
    """The PostgreSQL answer store's save history: one row per save, written in the same statement as its
    answers (core.answers.postgres). Ordered by the server's time of the save, then by id."""

    id = models.BigAutoField(primary_key=True)
    exam_id = models.BigIntegerField()
    student_id = models.BigIntegerField()
    saved_at = models.DateTimeField()
    # [[question id, [choice ids]], ...] in the order of the save.
    items = models.JSONField()
    client_ip = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)

    class Meta:
        db_table = "answers_save"
        indexes = [models.Index(fields=["exam_id", "student_id", "saved_at", "id"], name="answers_save_student")]

    def __str__(self) -> str:
        return f"save of exam {self.exam_id} student {self.student_id} at {self.saved_at}"
