"""The built-in directory roles, present in every tenant as in Entra; capabilities key on them.

Created after every migrate (and after the test flush) by a post_migrate receiver, so they
exist whatever state the database was emptied to.
"""

BUILTIN_ROLES = [
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
        True,
        "Can manage all aspects of the directory and every access review.",
    ),
    (
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
        "Privileged Role Administrator",
        True,
        "Can manage role assignments, and create and manage reviews of directory roles.",
    ),
    (
        "fe930be7-5e62-47db-91af-98c3a49a38b1",
        "User Administrator",
        True,
        "Can manage users and groups, and create and manage reviews of groups and applications.",
    ),
    (
        "45d8d3c5-c802-45c6-b32a-1d70b5e1e86e",
        "Identity Governance Administrator",
        False,
        "Can create and manage access reviews of groups and applications.",
    ),
    (
        "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
        "Global Reader",
        False,
        "Can read everything a Global Administrator can, but change nothing.",
    ),
    (
        "5d6b6bb7-de71-4623-b4af-96380a352509",
        "Security Reader",
        False,
        "Can read security information, reviews and audit logs.",
    ),
    (
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
        True,
        "Can manage security features and read security information.",
    ),
    (
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "Application Administrator",
        True,
        "Can create and manage all aspects of applications.",
    ),
    (
        "fdd7a751-b60b-444a-984c-02652fe8fa1c",
        "Groups Administrator",
        False,
        "Can manage all aspects of groups.",
    ),
    (
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
        True,
        "Can reset passwords for non-administrators.",
    ),
]


def ensure_builtin_roles(using="default", **kwargs) -> None:
    from directory.models import DirectoryRole

    existing = set(DirectoryRole.objects.using(using).values_list("template_id", flat=True))
    DirectoryRole.objects.using(using).bulk_create(
        [
            DirectoryRole(
                template_id=template_id,
                name=name,
                is_privileged=privileged,
                description=description,
            )
            for template_id, name, privileged, description in BUILTIN_ROLES
            if template_id not in existing
        ]
    )
