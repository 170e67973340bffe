import os

from django.core.management.base import BaseCommand, CommandError

from core.accounts.models import User


class Command(BaseCommand):
    help = "Create (or reset the password of) the admin named by ADMIN_EMAIL and ADMIN_PASSWORD."

    def handle(self, *args: object, **options: object) -> None:
        email = os.environ.get("ADMIN_EMAIL", "").strip().lower()
        password = os.environ.get("ADMIN_PASSWORD", "")
        if not email:
            raise CommandError("Set ADMIN_EMAIL.")
        admin = User.objects.filter(email__iexact=email).first()
        if not password:
            # make up passes ADMIN_PASSWORD from the environment or .state/secrets.env; without either, an
            # existing admin keeps the password it has.
            if admin is None:
                raise CommandError("Set ADMIN_PASSWORD (or let scripts/secrets.sh generate one).")
            self.stdout.write(f"Admin {email} is ready (password unchanged)")
            return
        if admin is None:
            User.objects.create_superuser(email, password, full_name="Administrator")
            self.stdout.write(f"Created admin {email}")
            return
        admin.role, admin.is_staff, admin.is_superuser = "admin", True, True
        admin.set_password(password)
        admin.save()
        self.stdout.write(f"Admin {email} is ready")
