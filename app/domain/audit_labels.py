"""How the audit log names its actions and actors to people (issue 16 item 6).

Action rule: every `app.domain.audit.AuditAction` (what was done and allowed) and every
`app.domain.access.Action` (what was refused) has one sentence-case label here, and only here:
the audit page, its filter and its CSV export all read `action_label`. The stored value
(`evidence_downloaded`) stays what is hashed and exported for investigators; the label is only
how it is shown. A value with no label (written by an older release, or by a test) is shown
with its underscores turned to spaces rather than hidden.

Actor rule: a record names the person who acted by the user account it carries. Without one it
was the operator at the command line (address "cli", app.cli.common), or someone not signed in
(a sign-in attempt or a public page: a network address but no account), or Attest itself (a
background job: neither). A user id whose account no longer exists is a "deleted account",
never silently blank, since the log outlives accounts (Call Off Schedule 7 Annex 1 para 8.3).
"""

from __future__ import annotations

COMMAND_LINE_ADDRESS = "cli"
COMMAND_LINE = "Attest (command line)"
NOT_SIGNED_IN = "Not signed in"
SYSTEM = "System"
DELETED_ACCOUNT = "Deleted account"

# Keyed by the stored value, not the enum member: the log outlives its actions, and a record
# written under a member since removed keeps its label.
AUDIT_ACTION_LABELS: dict[str, str] = {
    "account_reset_completed": "Account reset completed",
    "account_reset_requested": "Account reset requested",
    "annual_review_started": "Annual review started from last year's answers",
    "calendar_feed_created": "Calendar feed created",
    "calendar_feed_revoked": "Calendar feed revoked",
    "certificate_added": "Certificate added",
    "certificate_managed": "Certificate managed",
    "certificate_updated": "Certificate updated",
    "certificate_viewed": "Certificate viewed",
    "certificate_withdrawn": "Certificate withdrawn",
    "change_notice_filed": "Change notice filed",
    "closure_day_added": "Closure day added",
    "closure_day_removed": "Closure day removed",
    "dispute_resolved": "Dispute resolved",
    "download_fetched": "Prepared download fetched",
    "download_requested": "Download prepared in the background",
    "engagement_created": "Engagement created",
    "answers_imported": "Answers imported",
    "catalogue_imported": "Catalogue imported from OSCAL",
    "engagement_exported": "Engagement exported",
    "evidence_downloaded": "Evidence downloaded",
    "evidence_library": "Evidence library opened",
    "evidence_linked": "Evidence linked to a control",
    "evidence_managed": "Evidence managed",
    "evidence_quarantined": "Evidence quarantined: malware found",
    "evidence_unlinked": "Evidence unlinked from a control",
    "evidence_uploaded": "Evidence uploaded",
    "evidence_versioned": "New evidence version uploaded",
    "evidence_viewed": "Evidence viewed",
    "incident_process_saved": "Incident management process saved",
    "isms_submitted": "ISMS submitted",
    "mfa_enrolled": "Multi-factor authentication set up",
    "notification_preferences": "Notification preferences changed",
    "notification_read": "Notification marked as read",
    "organisation_created": "Organisation created",
    "password_changed": "Password changed",
    "plan_approved": "Plan approved (ISAS issued)",
    "plan_rejected": "Plan rejected",
    "plan_submitted": "Plan submitted",
    "portfolio": "Portfolio opened",
    "recovery_codes_replaced": "Recovery codes replaced",
    "register_entries_from_gaps": "Register entries created from gaps",
    "register_entry_saved": "Required Changes Register entry saved",
    "register_entries_imported": "Required Changes Register imported from a spreadsheet",
    "register_exported": "Required Changes Register exported",
    "response_applied_to_mapped": "Answer applied to mapped controls",
    "response_saved": "Control answer saved",
    "review_comment_added": "Review comment added",
    "risk_deleted": "Risk deleted",
    "risk_saved": "Risk saved",
    "risks_imported": "Risk register imported from a spreadsheet",
    "scoping_answered": "Scoping question answered",
    "security_roles_saved": "Security roles saved",
    "session_ended": "Session ended",
    "sessions_ended": "Other sessions ended",
    "sign_in": "Signed in",
    "sign_out": "Signed out",
    "signed_out_everywhere": "Signed out everywhere",
    "statement_downloaded": "Statement downloaded",
    "subcontractor_added": "Sub-contractor added",
    "subcontractor_removed": "Sub-contractor removed",
    "termination_recorded": "Termination recorded",
    "token_created": "Access token created",
    "token_revoked": "Access token revoked",
    "tokens_revoked": "All access tokens revoked",
    "user_created": "User created",
    "user_disabled": "User disabled",
    "user_enabled": "User enabled",
    "user_invited": "User invited",
    "variation_recorded": "Variation recorded",
    "variation_removed": "Variation removed",
}

# What a refusal was refusing (recorded with the outcome `denied`).
ACCESS_ACTION_LABELS: dict[str, str] = {
    "view_engagement": "View an engagement",
    "create_engagement": "Create an engagement",
    "answer_control": "Answer a control",
    "upload_evidence": "Upload evidence",
    "submit_plan": "Submit the plan",
    "manage_plan": "Manage the plan",
    "notify_change": "Notify a change",
    "decide_submission": "Decide a submission",
    "manage_organisations": "Manage organisations",
    "manage_users": "Manage users",
    "invite_team": "Invite a team member",
    "view_audit": "View the audit log",
    "review_queue": "Open the review queue",
    "manage_closures": "Manage closure days",
    "import_catalogue": "Import a catalogue",
}

LABELS: dict[str, str] = {**ACCESS_ACTION_LABELS, **AUDIT_ACTION_LABELS}


def action_label(code: str) -> str:
    """The sentence-case label of a stored action value; an unknown one with its underscores as
    spaces ("closure_days" -> "Closure days")."""
    known = LABELS.get(code)
    if known:
        return known
    words = code.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else "(no action)"


def action_choices() -> list[tuple[str, str]]:
    """Every known action as (stored value, label), in label order: the audit filter's options."""
    return sorted(LABELS.items(), key=lambda item: (item[1].casefold(), item[0]))


def actor_label(*, user_id: str | None, user_name: str | None, address: str) -> str:
    """Who acted, for a person reading the log (see the actor rule above)."""
    if user_id:
        return user_name or DELETED_ACCOUNT
    if address == COMMAND_LINE_ADDRESS:
        return COMMAND_LINE
    return NOT_SIGNED_IN if address else SYSTEM
