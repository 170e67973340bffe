"""The one permission module. Roles are plain strings so that this low layer imports no app."""

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

ADMIN, DOCTOR, STUDENT = "admin", "doctor", "student"


def role_of(request: Request) -> str | None:
    user = request.user
    if not user or not user.is_authenticated:
        return None
    return getattr(user, "role", None)


def is_api_key(request: Request) -> bool:
    """True when the caller authenticated with an API key rather than a person's JWT."""
    return getattr(request.auth, "is_api_key", False)


class IsAdmin(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return role_of(request) == ADMIN


class IsDoctorOrAdmin(BasePermission):
    """Doctors and admins, by JWT or by an API key (which acts for its doctor)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return role_of(request) in (DOCTOR, ADMIN)


class IsStudent(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return role_of(request) == STUDENT and not is_api_key(request)


class IsPerson(BasePermission):
    """Any logged-in person with a JWT; machines with API keys are refused."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return role_of(request) is not None and not is_api_key(request)


class IsPersonDoctorOrAdmin(BasePermission):
    """Doctors and admins, by JWT only: managing people and keys is not for machines."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return role_of(request) in (DOCTOR, ADMIN) and not is_api_key(request)
