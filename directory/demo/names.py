"""Fixed parts of the demo organisation: names, groups and applications."""

from dataclasses import dataclass, field

from directory.models import GroupKind, GroupSource, MembershipType

FIRST_NAMES = [
    "Aisha",
    "Ben",
    "Carla",
    "Dmitri",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Lars",
    "Maya",
    "Nikhil",
    "Olivia",
    "Pablo",
    "Qi",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Anders",
    "Bianca",
    "Chen",
    "Daniela",
    "Emeka",
    "Fatima",
    "Gustavo",
    "Hannah",
    "Ivan",
    "Julia",
    "Kofi",
    "Leila",
    "Mateo",
    "Nora",
]
LAST_NAMES = [
    "Andersen",
    "Brown",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jansen",
    "Kowalski",
    "Lopez",
    "Müller",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Silva",
    "Tanaka",
    "Ueda",
    "Varga",
    "Wang",
    "Xu",
    "Yilmaz",
    "Zhang",
    "Novak",
    "Moreau",
    "Kim",
    "Singh",
    "O'Brien",
    "Hughes",
    "Meyer",
    "Sato",
    "Nguyen",
    "Ahmed",
]

ALICE, OSCAR, ROB, RITA = range(4)


@dataclass(frozen=True)
class DemoGroup:
    name: str
    description: str
    key: str = ""
    kind: str = GroupKind.SECURITY
    membership_type: str = MembershipType.ASSIGNED
    source: str = GroupSource.CLOUD
    role_assignable: bool = False
    size: tuple[int, int] = (5, 40)
    guests: bool = False
    logins_as_members: tuple[int, ...] = ()
    logins_as_owners: tuple[int, ...] = ()
    extra_owners: int = 1
    nested: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.key:
            object.__setattr__(self, "key", self.name.lower().replace(" ", "-"))


M365 = GroupKind.MICROSOFT_365
GROUPS = [
    DemoGroup(
        "Project Falcon",
        "Cross-team project with outside contractors.",
        kind=M365,
        guests=True,
        logins_as_members=(ROB,),
        logins_as_owners=(OSCAR,),
        extra_owners=0,
        nested=("falcon-contractors",),
    ),
    DemoGroup(
        "Falcon Contractors",
        "Contractors working on Project Falcon.",
        kind=M365,
        guests=True,
        size=(4, 10),
        logins_as_owners=(OSCAR,),
        extra_owners=0,
    ),
    DemoGroup(
        "Engineering",
        "Everyone in engineering.",
        size=(30, 60),
        logins_as_owners=(OSCAR,),
        nested=("backend", "frontend", "platform"),
    ),
    DemoGroup("Backend", "Backend engineers.", size=(8, 20), logins_as_owners=(OSCAR,)),
    DemoGroup("Frontend", "Frontend engineers.", size=(8, 20)),
    DemoGroup("Platform", "Platform and SRE.", size=(5, 12), nested=("on-call",)),
    DemoGroup("On-call", "Engineers on the production on-call rota.", size=(4, 10)),
    DemoGroup(
        "Finance Team",
        "Finance department.",
        size=(10, 25),
        logins_as_members=(ROB,),
    ),
    DemoGroup(
        "Payroll Approvers", "Can approve payroll runs.", size=(3, 8), logins_as_members=(ROB,)
    ),
    DemoGroup(
        "Sales EMEA",
        "Sales in Europe, Middle East and Africa.",
        kind=M365,
        size=(10, 30),
        guests=True,
    ),
    DemoGroup("Sales Americas", "Sales in the Americas.", kind=M365, size=(10, 30)),
    DemoGroup("Marketing", "Marketing team.", kind=M365, size=(8, 20), guests=True),
    DemoGroup(
        "Partner Portal Guests",
        "External partners using the partner portal.",
        kind=M365,
        size=(3, 8),
        guests=True,
    ),
    DemoGroup("Legal Hold", "Mailboxes under legal hold.", size=(3, 10), extra_owners=0),
    DemoGroup(
        "All Employees",
        "Every member of staff (dynamic).",
        kind=M365,
        membership_type=MembershipType.DYNAMIC,
        size=(40, 80),
    ),
    DemoGroup(
        "Managers",
        "People managers (dynamic: has direct reports).",
        membership_type=MembershipType.DYNAMIC,
        size=(10, 25),
    ),
    DemoGroup(
        "Guests - Dynamic",
        "All guest accounts (dynamic rule).",
        membership_type=MembershipType.DYNAMIC,
        size=(3, 10),
        guests=True,
    ),
    DemoGroup(
        "HQ Building Access",
        "Badge access to headquarters (synced from AD).",
        source=GroupSource.ON_PREMISES,
        size=(20, 40),
    ),
    DemoGroup(
        "VPN Users",
        "Remote access VPN (synced from AD).",
        source=GroupSource.ON_PREMISES,
        size=(20, 40),
    ),
    DemoGroup(
        "File Share Finance",
        "Finance file share (synced from AD).",
        source=GroupSource.ON_PREMISES,
        size=(5, 15),
        logins_as_members=(ROB,),
    ),
    DemoGroup(
        "Tier 0 Admins",
        "Holds Security Administrator.",
        key="tier0-admins",
        role_assignable=True,
        size=(2, 4),
        logins_as_owners=(ALICE,),
        extra_owners=0,
    ),
    DemoGroup(
        "Helpdesk Operators",
        "Holds Helpdesk Administrator.",
        key="helpdesk-operators",
        role_assignable=True,
        size=(3, 6),
    ),
    DemoGroup(
        "Design Guild",
        "Designers across teams.",
        kind=M365,
        size=(5, 12),
        logins_as_owners=(OSCAR,),
        extra_owners=0,
    ),
    DemoGroup("Data Science", "Analysts and data scientists.", size=(5, 15)),
    DemoGroup("Customer Support", "Support agents.", size=(10, 25), guests=True),
    DemoGroup("Security Champions", "Security advocates in each team.", size=(4, 10)),
    DemoGroup("Board Portal", "Access to board papers.", size=(3, 6), extra_owners=0),
    DemoGroup("Interns 2026", "This year's interns.", kind=M365, size=(3, 8)),
    DemoGroup("Office Managers", "Office and facilities managers.", size=(3, 8)),
    DemoGroup(
        "Alumni Network",
        "Former staff kept in touch (guests).",
        kind=M365,
        size=(2, 6),
        guests=True,
    ),
]


@dataclass(frozen=True)
class DemoApplication:
    key: str
    name: str
    description: str
    roles: list[tuple[str, str]] = field(default_factory=list)
    assignment_required: bool = True
    direct_users: int = 15
    groups: tuple[str, ...] = ()
    logins_assigned: tuple[int, ...] = ()
    logins_as_owners: tuple[int, ...] = ()


APPLICATIONS = [
    DemoApplication(
        "salesforce",
        "Salesforce",
        "CRM for the sales teams.",
        [("sales-rep", "Sales Representative"), ("admin", "Administrator")],
        groups=("sales-emea", "sales-americas"),
    ),
    DemoApplication(
        "github",
        "GitHub Enterprise",
        "Source code hosting.",
        [("maintainer", "Maintainer"), ("owner", "Organization Owner")],
        direct_users=10,
        groups=("engineering",),
        logins_as_owners=(OSCAR,),
    ),
    DemoApplication(
        "workday",
        "Workday",
        "HR and payroll.",
        [("hr-partner", "HR Partner")],
        direct_users=20,
        logins_assigned=(ROB,),
    ),
    DemoApplication(
        "netsuite",
        "NetSuite",
        "Finance and accounting.",
        [("approver", "Approver")],
        direct_users=8,
        groups=("finance-team",),
        logins_as_owners=(ROB,),
    ),
    DemoApplication(
        "jira",
        "Jira",
        "Issue tracking.",
        [("admin", "Administrator")],
        direct_users=25,
        groups=("engineering", "project-falcon"),
    ),
    DemoApplication(
        "tableau",
        "Tableau",
        "Dashboards and analytics.",
        [("creator", "Creator")],
        direct_users=12,
        groups=("data-science",),
    ),
    DemoApplication(
        "aws",
        "AWS Console",
        "Cloud infrastructure.",
        [("read-only", "Read Only"), ("power-user", "Power User")],
        direct_users=6,
        groups=("platform",),
    ),
    DemoApplication(
        "intranet",
        "Intranet",
        "Company intranet (open to everyone).",
        assignment_required=False,
        direct_users=5,
    ),
]
