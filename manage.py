#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    # `manage.py test` runs on the test settings (random keys each run); every other command on the base
    # settings, which refuse a development key unless DEBUG is on.
    default = "core.settings.test" if sys.argv[1:2] == ["test"] else "core.settings.base"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", default)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
