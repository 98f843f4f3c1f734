from django.core.management.base import BaseCommand, CommandError

from directory.demo import DEMO_PASSWORD, DemoSpec, seed_demo


class Command(BaseCommand):
    help = (
        "Create a realistic demo organisation (idempotent: running it again adds nothing). "
        "Scale it with --users, --groups and --members-per-group."
    )

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=300)
        parser.add_argument("--groups", type=int, default=30)
        parser.add_argument(
            "--members-per-group",
            type=int,
            default=None,
            help="Members of each generated group (default: varies, 5-40).",
        )
        parser.add_argument(
            "--seed", type=int, default=2026, help="Random seed (same seed, same data)."
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the directory already has users.",
        )

    def handle(self, *args, **options):
        spec = DemoSpec(
            users=options["users"],
            groups=options["groups"],
            members_per_group=options["members_per_group"],
            seed=options["seed"],
        )
        try:
            spec.validate()
        except ValueError as error:
            raise CommandError(str(error)) from None
        result = seed_demo(spec, only_if_empty=options["if_empty"])
        if result is None:
            self.stdout.write("The directory already has users; nothing seeded.")
        else:
            self.stdout.write(self.style.SUCCESS(result.summary()))
        self.stdout.write(f"\nDemo sign-ins (password for each: {DEMO_PASSWORD}):")
        for upn, what in DemoSpec.LOGINS:
            self.stdout.write(f"  {upn:<32} {what}")
