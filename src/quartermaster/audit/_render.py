"""Plain-text and JSON renderings of audit rows for the command line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ._query import AuditRow
from ._verify import VerifyReport

_COLUMNS = ("seq", "time (UTC)", "kind", "run", "agent", "human", "tool", "result")
_WIDTH = 32


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _cell(value: Any) -> str:
    text = "-" if value is None else str(value)
    text = text.replace("\n", " ").replace("\t", " ")
    return text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"


def _result(row: AuditRow) -> str:
    body = row.body
    if "outcome" in body:
        return f"{body['outcome']} ({body.get('latency_ms', '?')} ms)"
    if "decision" in body:
        return str(body["decision"])
    detail = body.get("detail")
    if isinstance(detail, dict) and detail:
        first = sorted(detail)[0]
        return f"{first}={detail[first]}"
    return ""


def render_table(rows: Sequence[AuditRow]) -> str:
    """A fixed-width text table, one line per row (long cells are cut with ``…``)."""
    lines = [
        [
            str(r.seq),
            _time(r.ts),
            r.kind,
            _cell(r.body.get("run_id")),
            _cell(r.body.get("agent")),
            _cell(r.body.get("human")),
            _cell(r.body.get("tool")),
            _cell(_result(r)),
        ]
        for r in rows
    ]
    widths = [max([len(h), *(len(line[i]) for line in lines)]) for i, h in enumerate(_COLUMNS)]
    out = ["  ".join(h.ljust(w) for h, w in zip(_COLUMNS, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    out.extend(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )
    return "\n".join(out)


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict) and value:
        for key in sorted(value):
            _flatten(f"{prefix}.{key}" if prefix else key, value[key], out)
    elif isinstance(value, list) and value and any(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            _flatten(f"{prefix}[{i}]", item, out)
    else:
        out.append((prefix, json.dumps(value, ensure_ascii=False)))


def render_row(row: AuditRow) -> str:
    """Every field of one row, one ``name: value`` line each (nested names dotted)."""
    fields: list[tuple[str, str]] = [
        ("seq", str(row.seq)),
        ("time", f"{_time(row.ts)} UTC ({row.ts!r})"),
        ("kind", row.kind),
    ]
    _flatten("", row.body, fields)
    fields.extend([("prev_hash", row.prev_hash), ("entry_hash", row.entry_hash)])
    width = max(len(name) for name, _ in fields)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in fields)


def render_json(rows: Sequence[AuditRow]) -> str:
    """The rows as a JSON array (indented, stable key order)."""
    return json.dumps([r.to_json() for r in rows], indent=2, sort_keys=True, ensure_ascii=False)


def render_verify(report: VerifyReport) -> str:
    """A short human summary of a verification."""
    rate = report.rows / report.seconds if report.seconds > 0 else 0.0
    lines = [
        f"rows: {report.rows} (head {report.head_seq}, {report.head_hash.hex()[:16]}…)",
        f"checkpoints: {report.checkpoints} (last at row {report.last_checkpoint_seq})",
        f"time: {report.seconds:.3f}s ({rate:,.0f} rows/s)",
    ]
    if report.ok:
        lines.append("result: OK, the chain and every checkpoint verify")
        lines.append(
            f"anchor: {report.anchor} (keep it outside the database; "
            "pass it with --anchor next time)"
        )
    else:
        lines.append(f"result: TAMPERED, first bad row {report.first_bad_seq}")
        lines.extend(f"  row {p.seq}: [{p.kind}] {p.message}" for p in report.problems)
    return "\n".join(lines)
