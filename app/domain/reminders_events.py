"""Event notifications: which events of the approval workflow and the certificate register are
told to whom, and why (as data; app.services.events records them).

Each kind is also a category a person switches email on or off for (the in-app notification
is always recorded):

- plan submitted: the buyer's security advisors of that engagement, who must decide it
  (Schedule 2.4 para 4.5; Call Off Schedule 7 short form para 4.3.2, long form para 4.3);
- plan approved or rejected: the supplier's security leads, with the ISAS or the rejection
  notice and its reasons (Schedule 2.4 para 4.5(a) and (b));
- comment added on a submission: the other side (an advisor's comment goes to the supplier's
  leads, a supplier's to the buyer's advisors);
- change notice filed (Schedule 2.4 para 5.2, or loss of certification, para 6.6): the buyer's
  advisors, who must be told within 2 Working Days;
- certificate added to a supplier's register: the advisors of every buyer the supplier has an
  engagement with (certificates are submitted to the buyer, CPS Security Policy 1.6).

An event is one row per recipient keyed `event:<kind>:<object id>`, so recording it again (a
retried request) never adds a second one.
"""

from __future__ import annotations

from typing import Literal

EventAudience = Literal["supplier", "buyer"]

PLAN_SUBMITTED = "plan_submitted"
PLAN_DECIDED = "plan_decided"
REVIEW_COMMENT = "review_comment"
CHANGE_NOTICE = "change_notice"
CERTIFICATE_ADDED = "certificate_added"

EVENT_CATEGORIES = {
    PLAN_SUBMITTED: "Plans submitted for review",
    PLAN_DECIDED: "Plans approved or rejected",
    REVIEW_COMMENT: "Comments on a submission",
    CHANGE_NOTICE: "Change notices filed",
    CERTIFICATE_ADDED: "Certificates added",
}

EVENT_WHY = {
    PLAN_SUBMITTED: "The buyer decides a submitted plan within the contract's period (Schedule 2.4 "
    "para 4.5; Call Off Schedule 7 para 4.3): its page shows the decision's due date.",
    PLAN_DECIDED: "An approval is the Information Security Approval Statement (Schedule 2.4 para "
    "4.5(a)); a rejection notice gives the reasons the plan must answer before it is resubmitted "
    "(para 4.5(b)).",
    REVIEW_COMMENT: "Comments on a submission are part of the review: answer them in the next "
    "version of the plan, or with the reviewer.",
    CHANGE_NOTICE: "The supplier notifies the buyer of these changes (Schedule 2.4 para 5.2, or "
    "loss of certification, para 6.6); a para 5.2 change is then updated in the Required "
    "Changes Register (para 5.3).",
    CERTIFICATE_ADDED: "Certificates are submitted to the buyer and held for the whole contract "
    "(CPS Security Policy 1.6; Schedule 2.4 para 6).",
}

KEY_PREFIX = "event:"


def event_key(kind: str, object_id: str) -> str:
    """The ledger key of one event (with the recipient, unique): `event:<kind>:<object id>`."""
    return f"{KEY_PREFIX}{kind}:{object_id}"


def is_event_key(key: str) -> bool:
    """True for the key of an event (a reminder's key starts with its rule id instead)."""
    return key.startswith(KEY_PREFIX)
