"""The API docs work without the internet, and the schema documents every exam-taking error."""

from __future__ import annotations

import json

from django.test import TestCase


class ApiDocsTests(TestCase):
    def test_swagger_ui_comes_from_our_own_static_files_without_inline_script_or_style(self) -> None:
        page = self.client.get("/api/docs/")
        self.assertEqual(page.status_code, 200)
        html = page.content.decode()
        self.assertIn("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js", html)
        self.assertNotIn("cdn", html.lower())
        self.assertNotIn("<style", html)
        self.assertNotIn("<script>", html)
        script = self.client.get("/api/docs/?script=")
        self.assertEqual(script.status_code, 200)
        self.assertIn("SwaggerUIBundle", script.content.decode())

    def test_redoc_comes_from_our_own_static_files_and_loads_no_web_fonts(self) -> None:
        html = self.client.get("/api/redoc/").content.decode()
        self.assertIn("/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js", html)
        self.assertNotIn("googleapis", html)
        self.assertNotIn("<style", html)

    def test_the_schema_documents_every_exam_taking_error_in_the_one_error_shape(self) -> None:
        schema = json.loads(self.client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
        answers = schema["paths"]["/api/exams/{exam_id}/answers"]["put"]
        for status in ("401", "404", "409", "422", "503"):
            self.assertEqual(
                answers["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Error",
                status,
            )
        self.assertIn("attempt_closed", answers["responses"]["409"]["description"])
        self.assertIn("409", schema["paths"]["/api/exams/{exam_id}/attempt"]["post"]["responses"])
        self.assertEqual(answers["tags"], ["exam taking"])
        self.assertIn("exam taking", [tag["name"] for tag in schema["tags"]])
