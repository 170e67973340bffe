"""The test runner: Django's, ending with the line `N passed, N failed, N skipped`."""

import unittest

from django.test.runner import DiscoverRunner


class CountingTestRunner(DiscoverRunner):
    def run_suite(self, suite: unittest.TestSuite, **kwargs: object) -> unittest.TestResult:
        result = super().run_suite(suite, **kwargs)
        self._result = result
        return result

    def suite_result(self, suite: unittest.TestSuite, result: unittest.TestResult, **kwargs: object) -> int:
        failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
        skipped = len(result.skipped) + len(result.expectedFailures)
        passed = result.testsRun - failed - skipped
        print(f"{passed} passed, {failed} failed, {skipped} skipped", flush=True)
        return super().suite_result(suite, result, **kwargs)
