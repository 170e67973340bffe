from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "core.accounts.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-API-Key"}


class SessionCheckedJWTScheme(SimpleJWTScheme):
    """Our JWT classes (simplejwt's, with ended sessions refused) are the same bearer scheme."""

    target_class = "core.accounts.authentication.JWTAuthentication"


class SessionCheckedStatelessJWTScheme(SimpleJWTScheme):
    target_class = "core.accounts.authentication.JWTStatelessAuthentication"
