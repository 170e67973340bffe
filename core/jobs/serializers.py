from rest_framework import serializers


class JobErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()


class JobSerializer(serializers.Serializer):
    """A job as every API shows it, also inside `{"job": {...}}` answers of work that starts one."""

    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.ChoiceField(choices=["queued", "running", "done", "failed"])
    total = serializers.IntegerField()
    processed = serializers.IntegerField()
    # A field named like Serializer.errors: DRF's metaclass moves declared fields off the class, so it shadows nothing.
    errors = JobErrorSerializer(many=True)  # type: ignore[assignment]
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


def job_payload(job: object) -> dict:
    return JobSerializer(job).data
