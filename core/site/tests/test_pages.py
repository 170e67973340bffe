"""The site's pages over HTTP: where they are, what they load, their Content-Security-Policy and language."""

from __future__ import annotations

import json
import re

from django.test import TestCase
from rest_framework.test import APIClient

from core.accounts.services import student_create

PAGES = ("/app/", "/app/exams/", "/app/exams/1/", "/app/exams/1/result/", "/app/handin/")
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


def csp_of(response: object) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]  # type: ignore[attr-defined]
    directives = [part.strip().split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in directives}


class RootTests(TestCase):
    def test_a_browser_asking_for_the_root_is_sent_to_the_site(self) -> None:
        for accept in (BROWSER_ACCEPT, "text/html"):
            with self.subTest(accept=accept):
                response = self.client.get("/", HTTP_ACCEPT=accept)
                self.assertEqual(response.status_code, 302)
                self.assertEqual(response["Location"], "/app/")
                self.assertIn("Accept", response["Vary"])

    def test_api_clients_still_get_the_json_welcome(self) -> None:
        for accept in (None, "*/*", "application/json", "text/html;q=0, application/json"):
            with self.subTest(accept=accept):
                headers = {"HTTP_ACCEPT": accept} if accept else {}
                response = self.client.get("/", **headers)
                self.assertEqual(response.status_code, 200)
                self.assertEqual(response.json()["docs"], "/api/docs/")
                self.assertIn("Accept", response["Vary"])


class PageTests(TestCase):
    def test_every_page_is_served_with_its_own_module_and_stylesheet(self) -> None:
        for path in PAGES:
            with self.subTest(path=path):
                response = self.client.get(path)
                self.assertEqual(response.status_code, 200)
                html = response.content.decode()
                self.assertRegex(html, r'<script type="module" src="/static/site/[a-z_]+\.js"></script>')
                self.assertIn('<link rel="stylesheet" href="/static/site/site.css">', html)

    def test_pages_hold_no_inline_script_or_style_and_load_nothing_from_elsewhere(self) -> None:
        for path in PAGES:
            with self.subTest(path=path):
                html = self.client.get(path).content.decode()
                scripts = re.findall(r"<script([^>]*)>", html)
                for attributes in scripts:
                    self.assertTrue("src=" in attributes or 'type="application/json"' in attributes, attributes)
                self.assertNotIn("<style", html)
                self.assertNotRegex(html, r"\sstyle=")
                self.assertNotRegex(html, r"\son[a-z]+=")  # no inline event handlers
                self.assertNotRegex(html, r'(src|href)="(https?:)?//')

    def test_the_sign_in_page_has_the_labelled_inputs_and_button(self) -> None:
        html = self.client.get("/app/").content.decode()
        self.assertRegex(html, r'<label for="email">Email</label>\s*<input id="email"')
        self.assertRegex(html, r'<label for="password">Password</label>\s*<input id="password"')
        self.assertRegex(html, r'<button type="submit" class="button">Sign in</button>')
        self.assertIn('role="alert"', html)

    def test_only_safe_methods_are_served(self) -> None:
        self.assertEqual(self.client.post("/app/").status_code, 405)


class ContentSecurityPolicyTests(TestCase):
    def assert_strict(self, response: object) -> None:
        policy = csp_of(response)
        for directive in ("default-src", "script-src", "style-src"):
            self.assertEqual(policy[directive], ["'self'"], directive)
        self.assertEqual(policy["object-src"], ["'none'"])
        self.assertEqual(policy["base-uri"], ["'none'"])
        self.assertEqual(policy["frame-ancestors"], ["'none'"])
        header = response.headers["Content-Security-Policy"]  # type: ignore[attr-defined]
        self.assertNotIn("unsafe-inline", header)
        self.assertNotIn("unsafe-eval", header)

    def test_every_site_page_carries_a_strict_policy(self) -> None:
        for path in PAGES:
            with self.subTest(path=path):
                self.assert_strict(self.client.get(path))

    def test_the_admin_and_the_api_docs_carry_it_too(self) -> None:
        admin = student_create(student_number="csp0001", full_name="A", level=None)
        admin.is_staff = admin.is_superuser = True
        admin.save()
        self.client.force_login(admin)
        for path in ("/admin/login/", "/admin/", "/admin/exams/exam/", "/admin/jobs/job/", "/api/docs/"):
            with self.subTest(path=path):
                response = self.client.get(path)
                self.assertIn(response.status_code, (200, 302))
                self.assert_strict(response)

    def test_the_api_docs_load_swagger_ui_from_us_with_no_inline_script(self) -> None:
        html = self.client.get("/api/docs/").content.decode()
        self.assertIn("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js", html)
        self.assertNotRegex(html, r"<script>")
        self.assertNotIn("<style", html)
        self.assertNotRegex(html, r'(src|href)="(https?:)?//')
        script = self.client.get("/api/docs/?script=")
        self.assertEqual(script.status_code, 200)
        self.assertIn("SwaggerUIBundle", script.content.decode())

    def test_api_responses_carry_the_policy_as_well(self) -> None:
        self.assert_strict(APIClient().get("/health"))


class LanguageTests(TestCase):
    def test_an_arabic_browser_gets_the_pages_in_arabic_right_to_left(self) -> None:
        for path in PAGES:
            with self.subTest(path=path):
                response = self.client.get(path, HTTP_ACCEPT_LANGUAGE="ar,en;q=0.5")
                html = response.content.decode()
                self.assertIn('<html lang="ar" dir="rtl">', html)
                self.assertEqual(response["Content-Language"], "ar")
                self.assertIn("Accept-Language", response["Vary"])
        html = self.client.get("/app/", HTTP_ACCEPT_LANGUAGE="ar").content.decode()
        self.assertIn("تسجيل الدخول", html)  # "Sign in"
        # "All answers saved", among the script's words (a JSON block, which escapes non-ASCII letters)
        self.assertIn(json.dumps("حُفظت كل الإجابات"), html)

    def test_any_other_language_gets_english_left_to_right(self) -> None:
        for language in ("en-GB", "fr", ""):
            with self.subTest(language=language):
                html = self.client.get("/app/exams/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
                self.assertIn('<html lang="en" dir="ltr">', html)
                self.assertIn('"status_saved": "All answers saved"', html)

    def test_the_api_stays_in_english_for_an_arabic_client(self) -> None:
        response = APIClient().get("/api/me", HTTP_ACCEPT_LANGUAGE="ar")
        self.assertEqual(response.status_code, 401)
        self.assertNotIn("Content-Language", response.headers)
