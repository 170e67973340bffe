from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html

from core.common.admin import RoleScopedAdmin
from core.common.errors import DomainError
from core.handins.models import HandIn, StorageFailure, Upload
from core.handins.services import upload_download_url

VIEW = frozenset({"view"})


def _download_link(upload: Upload) -> str:
    if upload.state != Upload.State.STORED:
        return upload.get_state_display()
    try:
        url = upload_download_url(verification_code=upload.verification_code, now=timezone.now())
    except DomainError:
        return "expired"
    return format_html('<a href="{}" rel="noopener noreferrer">download</a>', url)


class UploadInline(admin.TabularInline):
    model = Upload
    extra = 0
    can_delete = False
    fields = ("created_at", "verification_code", "md5", "size_bytes", "content_type", "state", "download")
    readonly_fields = fields

    @admin.display(description="file")
    def download(self, upload: Upload) -> str:
        return _download_link(upload)

    # The hand-in's admin already decided who sees it (a doctor: their own exams); the inline follows it.
    def has_view_permission(self, request, obj=None) -> bool:
        return True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(HandIn)
class HandInAdmin(RoleScopedAdmin):
    """Hand-ins with their uploads and download links; a doctor sees only the hand-ins of their own exams."""

    doctor_can = VIEW
    list_display = ("upload_code", "exam", "student", "uploads_used", "created_at")
    list_filter = (("exam", admin.RelatedOnlyFieldListFilter),)  # only the exams of the hand-ins listed
    search_fields = ("upload_code", "student__student_number", "student__full_name", "exam__code")
    list_select_related = ("exam", "student")
    readonly_fields = ("exam", "student", "upload_code", "uploads_used", "created_at")
    fields = readonly_fields
    inlines = [UploadInline]

    def doctor_queryset(self, request, queryset):
        return queryset.filter(exam__owner=request.user)

    def has_add_permission(self, request) -> bool:
        return False  # hand-ins are registered through the API, which makes the upload code

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Upload)
class UploadAdmin(RoleScopedAdmin):
    doctor_can = VIEW
    list_display = ("verification_code", "hand_in", "size_bytes", "md5", "state", "created_at", "download")
    list_filter = ("state",)
    search_fields = ("verification_code", "md5", "hand_in__upload_code", "hand_in__student__student_number")
    list_select_related = ("hand_in__exam", "hand_in__student")
    readonly_fields = (
        "hand_in", "storage_key", "md5", "size_bytes", "content_type", "verification_code", "state",
        "created_at", "file_deleted_at", "download",
    )  # fmt: skip
    fields = readonly_fields

    @admin.display(description="file")
    def download(self, upload: Upload) -> str:
        return _download_link(upload)

    def doctor_queryset(self, request, queryset):
        return queryset.filter(hand_in__exam__owner=request.user)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StorageFailure)
class StorageFailureAdmin(RoleScopedAdmin):
    list_display = ("created_at", "operation", "hand_in", "error")
    readonly_fields = ("created_at", "operation", "hand_in", "error")

    def has_add_permission(self, request) -> bool:
        return False
