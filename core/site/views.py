"""The student site's pages (docs/site.md): one template and one ES module each.

The pages hold no data and no rules. Each page's script calls the public API with the student's token, as any
other client does (docs/product.md rule 12), so the API's permission matrix and fuzzing cover all that a page can do.
A view only picks the language from the browser (Accept-Language, English or Arabic) and hands the page its
words, in a JSON data block that the strict Content-Security-Policy allows (it is never run).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe


def page_strings() -> dict[str, str]:
    """What the scripts say, in the active language; `{name}` marks a value the script fills in."""
    return {
        "network_error": _("The server cannot be reached. Check your connection and try again."),
        "server_error": _("Something went wrong on the server. Try again in a moment."),
        "session_ended": _("Your session has ended. Sign in again."),
        "not_student": _("This site is for students. Doctors and admins use the admin site."),
        "bad_credentials": _("The email or password is not right."),
        "throttled": _("Too many attempts. Wait a minute and try again."),
        "loading": _("Loading…"),
        "no_exams": _("You have no exams yet."),
        "state_upcoming": _("Upcoming: opens {time}"),
        "state_open": _("Open until {time}"),
        "state_in_progress": _("In progress: your time ends {time}"),
        "state_finished": _("Finished"),
        "state_closed": _("Finished: closed {time}"),
        "state_graded": _("Graded: your result is available"),
        "state_handin": _("Hand-in: closes {time}"),
        "duration": _("Duration: {minutes} minutes"),
        "time_left": _("Time left: {time}"),
        "warn_5": _("Less than 5 minutes left."),
        "warn_1": _("Less than 1 minute left."),
        "time_up": _("Time is up. The exam is over: you can no longer change your answers."),
        "status_saved": _("All answers saved"),
        "status_saving": _("Saving… answers waiting: {n}"),
        "status_waiting": _("Not saved yet. Answers waiting: {n}. Retrying when the connection is back."),
        "status_closed": _("The exam is closed: the server takes no more answers. Answers not saved: {n}."),
        "status_signin": _("Answers waiting: {n}. Sign in again to send them."),
        "status_rejected": _("The server refused an answer: {detail}"),
        "question_n": _("Question {n}"),
        "points": _("Points: {n}"),
        "choose_one": _("Choose one answer."),
        "choose_many": _("Choose every answer that applies."),
        "flag": _("Flag for review"),
        "answered": _("answered"),
        "unanswered": _("not answered"),
        "flagged": _("flagged"),
        "finish_summary": _("You answered {answered} of {total} questions."),
        "finish_unanswered": _("Not answered: {list}"),
        "finish_flagged": _("Flagged for review: {list}"),
        "finish_waiting": _("Answers waiting to be saved: {n}. They are sent before the exam is finished."),
        "finishing": _("Finishing…"),
        "finish_failed": _(
            "The exam was not finished: some answers could not be saved yet. Try again when the connection is back."
        ),
        "finished": _("You have finished this exam."),
        "not_open_yet": _("This exam is not open yet. It opens {time}."),
        "closed": _("This exam is closed."),
        "not_online": _("This exam is not taken on this site."),
        "score": _("Your score: {obtained} of {available} ({percentage}%)"),
        "no_result": _("Your result is not available yet."),
        "your_answer": _("Your answer: {list}"),
        "correct_answer": _("Correct answer: {list}"),
        "marks": _("Marks: {obtained} of {points}"),
        "no_answer": _("No answer"),
        "uploads_left": _("Uploads left: {n}"),
        "last_file": _("Last file received {time}: {size} bytes, verification code {code}, MD5 {md5}."),
        "no_file_yet": _("No file uploaded yet."),
        "unknown_code": _("This upload code is not known. Check it and try again."),
        "too_large": _("The file is too large."),
        "upload_refused": _("The file was not accepted: {detail}"),
        "handin_closed": _("This hand-in is closed."),
        "storage_down": _("The file store is not answering. Your upload was not counted; try again shortly."),
        "uploaded": _("Your file was received."),
        "choose_file": _("Choose a file to upload."),
        "enter_code": _("Enter your upload code."),
    }


def _page(request: HttpRequest, template: str, **context: Any) -> HttpResponse:
    language = translation.get_language_from_request(request)
    with translation.override(language):
        response = render(request, f"site/{template}", {"strings": page_strings(), **context})
    response["Content-Language"] = language
    patch_vary_headers(response, ["Accept-Language"])
    # The pages are the same for everybody; the data comes from the API. Revalidate so a new release shows.
    patch_cache_control(response, no_cache=True)
    return response


@require_safe
def sign_in(request: HttpRequest) -> HttpResponse:
    return _page(request, "sign_in.html", script="sign_in.js")


@require_safe
def my_exams(request: HttpRequest) -> HttpResponse:
    return _page(request, "exams.html", script="exams.js")


@require_safe
def exam(request: HttpRequest, exam_id: int) -> HttpResponse:
    return _page(request, "exam.html", script="exam.js", exam_id=exam_id)


@require_safe
def result(request: HttpRequest, exam_id: int) -> HttpResponse:
    return _page(request, "result.html", script="result.js", exam_id=exam_id)


@require_safe
def handin(request: HttpRequest) -> HttpResponse:
    return _page(request, "handin.html", script="handin.js")
