"""Creates one demo user per role plus an administrator (sandbox mode only)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

# Fixed demo credentials: documented in the README, refused outside sandbox mode.
DEMO_USERS = [
    ("support", "support-demo-2026", "Support"),
    ("compliance", "compliance-demo-2026", "Compliance"),
    ("manager", "manager-demo-2026", "Manager"),
    ("admin", "admin-demo-2026", None),
]


class Command(BaseCommand):
    help = "Create the demo users (support, compliance, manager, admin). Sandbox mode only."

    def handle(self, *args, **options) -> None:
        if not settings.SANDBOX_MODE:
            raise CommandError("Demo users exist only in sandbox mode (unset TATUM_API_KEY).")
        User = get_user_model()
        rows = []
        for username, password, role in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = role is None
            user.is_superuser = role is None
            user.save()
            if role:
                user.groups.set([Group.objects.get(name=role)])
            rows.append((username, password, role or "administrator", "created" if created else "reset"))
        self.stdout.write("Demo users (sandbox only):")
        for username, password, role, state in rows:
            self.stdout.write(f"  {username:<11} password {password:<22} {role:<14} ({state})")
