from django.urls import path

from core.accounts import apis

urlpatterns = [
    path("api/auth/login", apis.LoginApi.as_view(), name="auth-login"),
    path("api/auth/refresh", apis.RefreshApi.as_view(), name="auth-refresh"),
    path("api/auth/verify", apis.VerifyApi.as_view(), name="auth-verify"),
    path("api/auth/logout", apis.LogoutApi.as_view(), name="auth-logout"),
    path("api/auth/logout-all", apis.LogoutAllApi.as_view(), name="auth-logout-all"),
    path("api/me", apis.MeApi.as_view(), name="me"),
    path("api/students", apis.StudentsApi.as_view(), name="students"),
    path("api/doctors", apis.DoctorsApi.as_view(), name="doctors"),
    path("api/api-keys", apis.ApiKeysApi.as_view(), name="api-keys"),
    path("api/api-keys/<int:key_id>", apis.ApiKeyDetailApi.as_view(), name="api-key-detail"),
]
