"""core.common.uploads: the one declared-length check, the bounded body read and the one upload handler."""

from __future__ import annotations

import hashlib
import io

from django.test import SimpleTestCase
from rest_framework.exceptions import ValidationError

from core.common.errors import PayloadTooLarge
from core.common.uploads import FileTooLarge, LimitedUploadHandler, body_read, body_size_check


class BodyLimitTests(SimpleTestCase):
    def test_a_declared_length_above_the_limit_is_refused_before_reading(self) -> None:
        error = PayloadTooLarge("too big")
        with self.assertRaises(PayloadTooLarge):
            body_size_check(meta={"CONTENT_LENGTH": "11"}, limit=10, error=error)
        for fine in ("10", "", "not a number"):
            body_size_check(meta={"CONTENT_LENGTH": fine}, limit=10, error=error)
        body_size_check(meta={}, limit=10, error=error)

    def test_a_body_is_read_up_to_its_limit_and_refused_past_it(self) -> None:
        error = PayloadTooLarge("too big")
        self.assertEqual(body_read(stream=io.BytesIO(b"0123456789"), limit=10, error=error), b"0123456789")
        with self.assertRaises(PayloadTooLarge):
            body_read(stream=io.BytesIO(b"0123456789x"), limit=10, error=error)
        self.assertEqual(body_read(stream=io.BytesIO(b"any"), limit=None, error=error), b"any")


class LimitedUploadHandlerTests(SimpleTestCase):
    def handler(self, *, md5: bool) -> LimitedUploadHandler:
        handler = LimitedUploadHandler(max_bytes=10, spool_bytes=4, md5=md5)
        handler.new_file("file", "a.txt", "text/plain", None)
        return handler

    def test_it_keeps_one_file_and_hashes_it_when_asked(self) -> None:
        handler = self.handler(md5=True)
        handler.receive_data_chunk(b"hello", 0)
        handler.receive_data_chunk(b"world", 5)
        uploaded = handler.file_complete(10)
        self.assertEqual((uploaded.read(), uploaded.size), (b"helloworld", 10))
        self.assertEqual(uploaded.md5, hashlib.md5(b"helloworld").hexdigest())
        self.assertEqual(self.handler(md5=False).file_complete(0).md5, "")

    def test_it_stops_at_the_first_byte_past_the_limit(self) -> None:
        handler = self.handler(md5=False)
        handler.receive_data_chunk(b"0123456789", 0)
        with self.assertRaises(FileTooLarge):
            handler.receive_data_chunk(b"x", 10)

    def test_it_refuses_a_second_file_before_reading_it(self) -> None:
        handler = self.handler(md5=False)
        handler.file_complete(0)
        with self.assertRaises(ValidationError):
            handler.new_file("file", "b.txt", "text/plain", None)
