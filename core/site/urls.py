from django.urls import path

from core.site import views

app_name = "site"

urlpatterns = [
    path("app/", views.sign_in, name="sign-in"),
    path("app/exams/", views.my_exams, name="exams"),
    path("app/exams/<int:exam_id>/", views.exam, name="exam"),
    path("app/exams/<int:exam_id>/result/", views.result, name="result"),
    path("app/handin/", views.handin, name="handin"),
]
