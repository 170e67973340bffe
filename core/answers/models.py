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
