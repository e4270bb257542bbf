"""`attest audit verify | checkpoint | heads | prune`: the tamper-evident audit chains."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from typing import Annotated, Any

import typer

from app.adapters.crypto import Keys
from app.adapters.storage import EvidenceStore, make_store
from app.cli.common import JsonFlag, emit, fail, settings_or_fail, unit_of_work
from app.config import ConfigError, Settings
from app.domain.audit import EARLIER_KEY, Checkpoint, Verdict, key_id
from app.models import utcnow
from app.services import audit as audit_service

audit_cli = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


WRONG_KEY_EXIT = 3  # distinct from 1 (the log is broken) and 2 (could not run)


def existing_keys(settings: Settings) -> Keys | None:
    """The keys of the configured or kept secret (and audit key, and their previous values);
    never a new one (a made-up key is only wrong, and generating it would keep it), None when
    there is none."""
    secret = settings.existing_secret_key() or settings.audit_key
    return Keys.from_settings(settings, secret) if secret else None


def throwaway_keys() -> Keys:
    return Keys(secrets.token_urlsafe(48))


def bucket(settings: Settings) -> EvidenceStore | None:
    """The S3 evidence store, where checkpoints are also kept; None with a local store."""
    if settings.evidence_backend != "s3":
        return None
    try:
        return make_store(settings)
    except ConfigError as error:
        fail(str(error))


def _bucket_failed(action: str, error: Exception) -> str:
    return f"could not {action} the audit checkpoints in the S3 bucket: {error}"


def _broken_line(verdict: Verdict) -> str:
    if verdict.bad_record is not None:
        where = f"at record {verdict.bad_record} (chain {verdict.chain}, position {verdict.first_bad_seq})"
    else:
        where = f"in chain {verdict.chain} at position {verdict.first_bad_seq}"
    return f"audit log BROKEN {where}: {verdict.reason}"


def missing_key_ids(points: Iterable[Checkpoint], keys: Keys) -> list[str]:
    """The key ids checkpoints were written under that no configured audit key has: evidence
    that an earlier audit key is missing (README "Rotating the secret key and the audit key")."""
    known = {key_id(key) for key in (keys.audit, *keys.previous_audit)}
    return sorted({point.key_id for point in points if point.key_id} - known)


def only_an_earlier_key_missing(report: audit_service.Report, missing: list[str]) -> bool:
    """Every broken chain fails at its first record, as records of an unconfigured earlier key
    do, and a checkpoint names such a key: they cannot be checked yet, which is not tampering
    (with the key configured, an altered record is still reported as broken)."""
    return bool(missing) and all(
        verdict.checked == 0 and EARLIER_KEY in verdict.reason for verdict in report.broken
    )


def _verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "chain": verdict.chain,
        "ok": verdict.ok,
        "checked": verdict.checked,
        "head_seq": verdict.head.seq,
        "first_bad_seq": verdict.first_bad_seq,
        "bad_record": verdict.bad_record,
        "reason": verdict.reason,
        "wrong_key": verdict.wrong_key,
    }


@audit_cli.command("verify")
def audit_verify(as_json: JsonFlag = False) -> None:
    """Check every chain against the checkpoints (the file's and, with an S3 store, the bucket's);
    exit 1 naming the first bad record of each broken chain, 3 on a wrong key."""
    settings = settings_or_fail()
    found = existing_keys(settings)
    store = bucket(settings)
    stored: list[Checkpoint] = []
    if store is not None:
        try:
            stored = audit_service.stored_checkpoints(store)
        except Exception as error:  # botocore's errors, or an object that is not a checkpoint
            fail(_bucket_failed("read", error))
    with unit_of_work(write=False, keys=found or throwaway_keys()) as (session, settings, keys):
        report = audit_service.verify(
            session,
            keys.audit,
            settings.audit_checkpoint_file,
            checkpoints=stored,
            previous=keys.previous_audit,
        )
    first = report.broken[0] if report.broken else None
    payload: dict[str, Any] = {
        "ok": report.ok,
        "checked": report.checked,
        "chains": len(report.verdicts),
        "wrong_key": report.wrong_key,
        "chain": first.chain if first else None,
        "first_bad_seq": first.bad_record if first else None,
        "first_bad_position": first.first_bad_seq if first else None,
        "reason": first.reason if first else "",
        "checkpoints_in_bucket": len(stored) if store is not None else None,
        "broken": [_verdict_json(verdict) for verdict in report.broken],
    }
    if report.ok:
        chains = len(report.verdicts)
        text = f"audit log intact: {report.checked} records in {chains} chain{'' if chains == 1 else 's'}"
        emit(as_json, payload, text)
        return
    missing = missing_key_ids(
        [*audit_service.read_checkpoints(settings.audit_checkpoint_file), *stored], keys
    )
    if not report.wrong_key and only_an_earlier_key_missing(report, missing):
        payload["wrong_key"] = True
        payload["reason"] = (
            "an earlier audit key is missing: the records before the rotation were written under "
            f"a key that is not configured (the checkpoints name key id {', '.join(missing)}); put "
            "it in ATTEST_PREVIOUS_AUDIT_KEYS (or, if it was a secret key, "
            "ATTEST_PREVIOUS_SECRET_KEYS) and run this again"
        )
    if payload["wrong_key"]:
        if found is None:
            payload["reason"] = (
                "the audit key is wrong or missing (ATTEST_AUDIT_KEY / ATTEST_SECRET_KEY): neither is set "
                "and there is no data_dir/secret_key file; set the key the log was written with"
            )
        emit(as_json, payload, f"audit log NOT VERIFIED: {payload['reason']}")
        raise typer.Exit(code=WRONG_KEY_EXIT)
    emit(as_json, payload, "\n".join(_broken_line(verdict) for verdict in report.broken))
    raise typer.Exit(code=1)


def _head_json(point: Checkpoint) -> dict[str, Any]:
    return {"chain": point.chain, "seq": point.seq, "hash": point.hash, "key_id": point.key_id}


@audit_cli.command("checkpoint")
def audit_checkpoint(as_json: JsonFlag = False) -> None:
    """Append every chain's head (and the audit key's id) to the checkpoint file; with an S3
    evidence store, also write them to the bucket under audit-checkpoints/ (run from cron, e.g.
    hourly, on any node)."""
    settings = settings_or_fail()
    found = existing_keys(settings)
    store = bucket(settings)
    with unit_of_work(write=False, keys=found or throwaway_keys()) as (session, settings, _):
        key = found.audit if found else None  # the key id is written only for a key that matches
        points = audit_service.write_checkpoint(session, settings.audit_checkpoint_file, key)
    name = None
    if store is not None:
        try:
            name = audit_service.store_checkpoint(store, points, written_at=utcnow())
        except Exception as error:  # botocore's errors
            kept = settings.audit_checkpoint_file
            fail(f"{_bucket_failed('write', error)} (they are in {kept}; run it again)")
    payload = {
        "chains": [_head_json(point) for point in points],
        "file": str(settings.audit_checkpoint_file),
        "object": name,
    }
    where = f" and s3://{settings.s3_bucket}/{name}" if name else ""
    emit(as_json, payload, f"checkpoint of {len(points)} chains in {settings.audit_checkpoint_file}{where}")


@audit_cli.command("heads")
def audit_heads(as_json: JsonFlag = False) -> None:
    """Print every chain's head (chain, position, hash, key id), e.g. to anchor it off the machine;
    --json prints the same document that `checkpoint` writes to an S3 bucket."""
    found = existing_keys(settings_or_fail())
    with unit_of_work(write=False, keys=found or throwaway_keys()) as (session, _, _keys):
        points = audit_service.heads(session, found.audit if found else None)
    if as_json:
        typer.echo(json.dumps(audit_service.checkpoint_document(points, written_at=utcnow())))
        return
    for point in points:
        typer.echo(f"{point.chain} {point.seq} {point.hash}{f' key={point.key_id}' if point.key_id else ''}")


@audit_cli.command("prune")
def audit_prune(
    retention_days: Annotated[int, typer.Option(help="Keep at least this many days (>= 183).")] = 183,
    as_json: JsonFlag = False,
) -> None:
    """Remove whole months of events older than the retention period, one chain (and one short
    transaction) at a time."""
    try:
        boundary = audit_service.prune_boundary(utcnow(), retention_days)
    except ValueError as error:
        fail(str(error))
    removed = 0
    with unit_of_work(keys=Keys.from_settings(settings_or_fail())) as (session, _, keys):
        chains = audit_service.prunable_chains(session, boundary)
        session.rollback()  # the read above took SQLite's write lock: give it back between chains
        for chain in chains:
            try:
                removed += audit_service.prune_chain(
                    session, keys.audit, chain, boundary=boundary, previous=keys.previous_audit
                )
            except ValueError as error:
                done = f" ({removed} records of the chains before it were pruned)" if removed else ""
                fail(f"{error}{done}")
            session.commit()
    emit(as_json, {"removed": removed, "chains": len(chains)}, f"pruned {removed} audit records")
