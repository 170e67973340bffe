"""Cross-app suites: the permission matrix, API fuzzing against our own schema, and the security baseline."""
