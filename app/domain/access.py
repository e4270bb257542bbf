"""Who may do what: role x organisation x engagement, decided in one place.

Rules (product brief "Who uses it"; Schedule 2.4 Annex A1 5.2 least privilege and
separation of duties; NCSC Cloud Principle 3 separation between customers):

- A supplier lead or contributor acts only in engagements whose supplier is their
  organisation; only the lead keeps the plan (risks, register, incident process, roles), submits
  it, notifies changes and invites people.
- A buyer advisor acts only in engagements whose buyer is their organisation, and
  only advisors decide submissions, never a member of the supplier.
- An administrator manages organisations, users, engagements and catalogues, and
  may read every engagement, but never answers controls or decides submissions.
- Anyone else is refused; callers turn a refusal on someone else's object into
  "not found", so that the object's existence is not revealed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    SUPPLIER_LEAD = "supplier_lead"
    SUPPLIER_CONTRIBUTOR = "supplier_contributor"
    BUYER_ADVISOR = "buyer_advisor"
    ADMINISTRATOR = "administrator"


class Action(StrEnum):
    VIEW_ENGAGEMENT = "view_engagement"
    CREATE_ENGAGEMENT = "create_engagement"
    ANSWER_CONTROL = "answer_control"
    UPLOAD_EVIDENCE = "upload_evidence"
    SUBMIT_PLAN = "submit_plan"
    MANAGE_PLAN = "manage_plan"
    NOTIFY_CHANGE = "notify_change"
    DECIDE_SUBMISSION = "decide_submission"
    MANAGE_ORGANISATIONS = "manage_organisations"
    MANAGE_USERS = "manage_users"
    INVITE_TEAM = "invite_team"
    VIEW_AUDIT = "view_audit"
    REVIEW_QUEUE = "review_queue"
    MANAGE_CLOSURES = "manage_closures"
    IMPORT_CATALOGUE = "import_catalogue"


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: str
    org_id: str
    role: Role


@dataclass(frozen=True, slots=True)
class Parties:
    """The two organisations of an engagement."""

    buyer_org_id: str
    supplier_org_id: str


SUPPLIER_ROLES = frozenset({Role.SUPPLIER_LEAD, Role.SUPPLIER_CONTRIBUTOR})
ENGAGEMENT_ACTIONS: dict[Action, frozenset[Role]] = {
    Action.VIEW_ENGAGEMENT: frozenset(Role),
    Action.ANSWER_CONTROL: SUPPLIER_ROLES,
    Action.UPLOAD_EVIDENCE: SUPPLIER_ROLES,
    Action.SUBMIT_PLAN: frozenset({Role.SUPPLIER_LEAD}),
    Action.MANAGE_PLAN: frozenset({Role.SUPPLIER_LEAD}),
    Action.NOTIFY_CHANGE: frozenset({Role.SUPPLIER_LEAD}),
    Action.DECIDE_SUBMISSION: frozenset({Role.BUYER_ADVISOR}),
}
GLOBAL_ACTIONS: dict[Action, frozenset[Role]] = {
    Action.CREATE_ENGAGEMENT: frozenset({Role.ADMINISTRATOR, Role.BUYER_ADVISOR}),
    Action.MANAGE_ORGANISATIONS: frozenset({Role.ADMINISTRATOR}),
    Action.MANAGE_USERS: frozenset({Role.ADMINISTRATOR}),
    Action.INVITE_TEAM: frozenset({Role.ADMINISTRATOR, Role.SUPPLIER_LEAD}),
    Action.VIEW_AUDIT: frozenset({Role.ADMINISTRATOR, Role.BUYER_ADVISOR}),
    Action.REVIEW_QUEUE: frozenset({Role.BUYER_ADVISOR}),
    Action.MANAGE_CLOSURES: frozenset({Role.BUYER_ADVISOR}),
    # a buyer adds its own policy as a catalogue (issue 17 item 6); administrators manage catalogues
    Action.IMPORT_CATALOGUE: frozenset({Role.ADMINISTRATOR, Role.BUYER_ADVISOR}),
}


def is_party(actor: Actor, parties: Parties) -> bool:
    """True when the actor's organisation is on the side of the engagement its role serves."""
    if actor.role is Role.ADMINISTRATOR:
        return True
    if actor.role in SUPPLIER_ROLES:
        return actor.org_id == parties.supplier_org_id
    return actor.org_id == parties.buyer_org_id and actor.org_id != parties.supplier_org_id


def can(actor: Actor, action: Action, parties: Parties | None = None) -> bool:
    """May `actor` do `action` (on the engagement between `parties`, if it concerns one)?"""
    if action in GLOBAL_ACTIONS:
        return actor.role in GLOBAL_ACTIONS[action]
    if parties is None:
        return False
    return actor.role in ENGAGEMENT_ACTIONS.get(action, frozenset()) and is_party(actor, parties)


def invitable_roles(actor: Actor) -> frozenset[Role]:
    """Roles the actor may give to people they invite (leads: their own team only)."""
    if actor.role is Role.ADMINISTRATOR:
        return frozenset(Role)
    if actor.role is Role.SUPPLIER_LEAD:
        return SUPPLIER_ROLES
    return frozenset()
