"""``quartermaster audit``: query, verify and export the hash-chained audit ledger."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

from .._errors import QuartermasterError
from ..audit import (
    Anchor,
    AuditFilter,
    ExportCursor,
    follow_jsonl,
    hash_value,
    list_rows,
    render_json,
    render_row,
    render_table,
    render_verify,
    show_row,
    unsettled_intents,
    verify,
)
from ..runtime import Services, derive_key
from ..telemetry import OtlpAuditSink
from ..vault import read_master_key_file
from ._admin import add_config, add_json, print_json, refuse, with_services
from ._progress import Progress


def register(commands: Any) -> None:
    """Add ``audit list | show | verify | export | hash``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "audit",
        help="query, verify and export the audit ledger",
        description="The append-only, hash-chained audit ledger. See docs/audit.md.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list",
        help="rows matching filters (they combine with AND)",
        description="List ledger rows. Filters match the body's top-level fields exactly. "
        "--since and --until take an ISO date or time, or Unix seconds.",
    )
    for flag, what in (
        ("--run", "run id"),
        ("--agent", "agent"),
        ("--tenant", "tenant"),
        ("--human", "the human on whose behalf"),
        ("--tool", "tool"),
        ("--outcome", "ok, tool_error, denied, timeout, downstream_down, error or unknown"),
    ):
        listing.add_argument(flag, help=what)
    listing.add_argument("--since", type=_time, help="rows at or after this time")
    listing.add_argument("--until", type=_time, help="rows before this time")
    listing.add_argument("--after", type=int, default=0, help="rows after this seq")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    listing.add_argument(
        "--unsettled",
        action="store_true",
        help="only call intents that no outcome row settles (calls in flight, or cut off by "
        "a crash and not yet settled by a restart); combines with --limit only",
    )
    add_config(listing)
    add_json(listing)
    listing.set_defaults(handler=_list)

    show = actions.add_parser("show", help="one row, every field", description="Show a row.")
    show.add_argument("seq", type=int, metavar="SEQ")
    add_config(show)
    add_json(show)
    show.set_defaults(handler=_show)

    check = actions.add_parser(
        "verify",
        help="recompute the chain and check every checkpoint",
        description="Verify the whole ledger. Exit status 0 when it verifies; 1, naming the "
        "first damaged row, when it does not.",
    )
    check.add_argument(
        "--anchor",
        type=_anchor,
        metavar="SEQ:HASH",
        help="the head printed by an earlier verify and kept outside the database: rows it "
        "covers that are gone or different are reported (catches a truncation of the newest "
        "rows that no checkpoint covers)",
    )
    add_config(check)
    add_json(check)
    check.set_defaults(handler=_verify)

    export = actions.add_parser(
        "export",
        help="every row as canonical JSON lines (--follow: and new rows as they come)",
        description="Write every row after --after as one canonical JSON object per line, "
        "with its seq and hashes. To resume, pass the seq of the last line you have, or keep "
        "a --cursor file. With --follow, keep running and write new rows as they are "
        "appended, until SIGINT or SIGTERM.",
    )
    export.add_argument("--format", choices=["jsonl"], default="jsonl", help="jsonl only")
    export.add_argument("--after", type=int, default=0, metavar="SEQ", help="resume after SEQ")
    export.add_argument(
        "--follow", action="store_true", help="keep running: write new rows as they come"
    )
    export.add_argument(
        "--cursor",
        type=Path,
        metavar="FILE",
        help="file holding the seq of the last row written: read at start (it wins over "
        "--after), replaced durably after each batch, so a restart resumes without gaps",
    )
    export.add_argument(
        "--poll",
        type=_positive_seconds,
        default=1.0,
        metavar="SECONDS",
        help="with --follow: how often to look for new rows while none come (default 1)",
    )
    export.add_argument(
        "--otlp",
        action="store_true",
        help="send the rows as OpenTelemetry logs to telemetry.endpoint (or the OTEL_* "
        "variables) instead of standard output; the cursor moves only after the receiver "
        "accepted a batch (needs the otel extra; fields in docs/observability.md)",
    )
    add_config(export)
    export.set_defaults(handler=_export)

    digest = actions.add_parser(
        "hash",
        help="the argument HMAC of a value, to look for in rows",
        description="Print the HMAC the ledger would record for VALUE (parsed as JSON when it "
        "parses, else taken as a string), under the audit HMAC key derived from the master "
        "key. Rows written before a master key rotation used the old key: give it with "
        "--master-key-file.",
    )
    digest.add_argument("value", metavar="VALUE")
    digest.add_argument("--master-key-file", type=Path, help="use this (older) master key")
    add_config(digest)
    digest.set_defaults(handler=_hash)


def _time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date or time, nor Unix seconds"
        ) from None


def _list(args: argparse.Namespace) -> int:
    which = AuditFilter(
        run_id=args.run,
        agent=args.agent,
        tenant=args.tenant,
        human=args.human,
        tool=args.tool,
        outcome=args.outcome,
        since=args.since,
        until=args.until,
        after_seq=args.after,
        limit=args.limit,
    )

    if args.unsettled and which != AuditFilter(limit=args.limit):
        return refuse("--unsettled combines with --limit only, not with other filters")

    async def act(services: Services) -> int:
        if args.unsettled:
            rows = (await unsettled_intents(services.store.ledger))[: max(args.limit, 0)]
        else:
            rows = await list_rows(services.store.ledger, which)
        print(render_json(rows) if args.json else render_table(rows))
        return 0

    return with_services(args.config, act)


def _show(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        row = await show_row(services.store.ledger, args.seq)
        if row is None:
            return refuse(f"the ledger has no row {args.seq}")
        if args.json:
            print_json(row.to_json())
        else:
            print(render_row(row))
        return 0

    return with_services(args.config, act)


def _anchor(text: str) -> Anchor:
    try:
        return Anchor.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _verify(args: argparse.Namespace) -> int:
    async def act(services: Services) -> int:
        head = await services.store.ledger.head()
        progress = Progress("verifying the audit ledger", "rows")
        try:
            report = await verify(
                services.store.ledger,
                services.audit_keys.ed25519_public_keys(),
                anchor=args.anchor,
                progress=lambda seq: progress.update(seq, head.seq if head else None),
            )
        finally:
            progress.close()
        # Approvals are evidence too: an approved or spent request must be backed by the
        # ledger's sealed rows, or the approvals table was edited behind Quartermaster.
        unbacked = await services.approvals.unbacked()
        ok = report.ok and not unbacked
        if args.json:
            print_json(
                {
                    "ok": ok,
                    "approvals": [
                        {"approval_id": exc.approval_id, "problem": exc.why} for exc in unbacked
                    ],
                    "rows": report.rows,
                    "head_seq": report.head_seq,
                    "head_hash": report.head_hash.hex(),
                    "anchor": str(report.anchor),
                    "checkpoints": report.checkpoints,
                    "last_checkpoint_seq": report.last_checkpoint_seq,
                    "first_bad_seq": report.first_bad_seq,
                    "problems": [
                        {"kind": p.kind, "seq": p.seq, "message": p.message}
                        for p in report.problems
                    ],
                }
            )
        else:
            print(render_verify(report))
            for exc in unbacked:
                print(f"TAMPERED approval {exc.approval_id}: {exc.why}")
        return 0 if ok else 1

    return with_services(args.config, act)


def _export(args: argparse.Namespace) -> int:
    cursor = ExportCursor(args.cursor) if args.cursor is not None else None

    async def act(services: Services) -> int:
        saved = cursor.load() if cursor is not None else None
        after = args.after if saved is None else saved
        batches = follow_jsonl(
            services.store.ledger, after_seq=after, follow=args.follow, poll=args.poll
        )

        head = await services.store.ledger.head()
        # Following has no end to count towards; a one-shot export counts to today's head.
        total = None if args.follow or head is None else head.seq
        progress = Progress("exporting the audit ledger", "rows", beside_output=not args.otlp)
        telemetry = services.config.telemetry
        sink = (
            OtlpAuditSink(telemetry.endpoint, service_name=telemetry.service_name)
            if args.otlp
            else None
        )

        async def write_out() -> None:
            try:
                async for last_seq, lines in batches:
                    if sink is not None:
                        await anyio.to_thread.run_sync(sink.send, lines)
                    else:
                        sys.stdout.writelines(lines)
                        sys.stdout.flush()
                    # Saved only once the batch is out: a crash repeats it, never skips it.
                    if cursor is not None:
                        cursor.save(last_seq)
                    progress.update(last_seq, total)
            finally:
                progress.close()
                if sink is not None:
                    sink.close()

        if not args.follow:
            await write_out()
            return 0
        # Following ends on a signal (a clean exit, the cursor at the last batch written) or
        # when the ledger cannot be read (refused like any other command).
        failed: list[QuartermasterError] = []
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with anyio.create_task_group() as tasks:

                async def follow() -> None:
                    try:
                        await write_out()
                    except QuartermasterError as exc:
                        failed.append(exc)
                    tasks.cancel_scope.cancel()

                tasks.start_soon(follow)
                async for _ in signals:
                    tasks.cancel_scope.cancel()
                    break
        if failed:
            raise failed[0]
        return 0

    return with_services(args.config, act)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text!r}")
    return value


def _hash(args: argparse.Namespace) -> int:
    try:
        value: Any = json.loads(args.value)
    except ValueError:
        value = args.value
    override = read_master_key_file(args.master_key_file) if args.master_key_file else None

    async def act(services: Services) -> int:
        master = override or services.master_key
        print(hash_value(derive_key(master, "audit hmac"), value))
        return 0

    return with_services(args.config, act)
