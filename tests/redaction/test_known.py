"""Known values are found with certainty in every encoding a tool might echo."""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
import secrets
import shlex
import zlib
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from quartermaster.redaction import KnownValues, Redactor
from quartermaster.redaction._known import encodings


def _b64_inside(value: str, alphabet: Callable[[bytes], bytes], pad: bool) -> list[str]:
    """base64 of ``value`` inside a longer blob, at each of the three byte alignments."""
    out = []
    for prefix in (b"", b"u", b"us"):
        blob = alphabet(prefix + b"user:" + value.encode() + b"\x00tail").decode()
        out.append(blob if pad else blob.rstrip("="))
    return out


def _b32_inside(value: str, case: Callable[[str], str]) -> list[str]:
    """base32 of ``value`` inside a longer blob, at each of the five byte alignments."""
    return [
        case(base64.b32encode(b"p" * k + value.encode() + b"\x00tail").decode()) for k in range(5)
    ]


def _wrapped_payload(value: str) -> bytes:
    """A document long enough to be wrapped over several lines, the value in the middle."""
    return ("Subject: report\n" * 6 + f"key={value}\n" + "filler line\n" * 6).encode()


def _mime(value: str, width: int, newline: str) -> str:
    flat = base64.b64encode(_wrapped_payload(value)).decode()
    return newline.join(flat[i : i + width] for i in range(0, len(flat), width))


ENCODERS: dict[str, Callable[[str], list[str]]] = {
    "raw": lambda v: [v],
    "base64": lambda v: [base64.b64encode(v.encode()).decode()],
    "base64_unpadded": lambda v: [base64.b64encode(v.encode()).decode().rstrip("=")],
    "base64url": lambda v: [base64.urlsafe_b64encode(v.encode()).decode()],
    "base64_aligned": lambda v: _b64_inside(v, base64.b64encode, True),
    "base64url_aligned_unpadded": lambda v: _b64_inside(v, base64.urlsafe_b64encode, False),
    "hex": lambda v: [v.encode().hex()],
    "hex_upper": lambda v: [v.encode().hex().upper()],
    "percent": lambda v: [quote(v, safe="")],
    "percent_lower": lambda v: [
        re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(v, safe=""))
    ],
    "percent_plus": lambda v: [quote_plus(v)],
    "percent_every_byte": lambda v: ["".join(f"%{b:02X}" for b in v.encode())],
    "json_once": lambda v: [json.dumps(v)[1:-1]],
    "json_twice": lambda v: [json.dumps(json.dumps(v))[1:-1]],
    "json_unicode": lambda v: ["".join(f"\\u{ord(c):04x}" for c in v)],
    "html": lambda v: [html.escape(v)],
    "html_numeric": lambda v: ["".join(f"&#{ord(c)};" for c in v)],
    "html_hex": lambda v: ["".join(f"&#x{ord(c):x};" for c in v)],
    "shell_quoted": lambda v: [shlex.quote(v)],
    "basic_auth": lambda v: [base64.b64encode(f"svc:{v}".encode()).decode()],
    "base32_aligned": lambda v: _b32_inside(v, str.upper),
    "base32_lower_aligned": lambda v: _b32_inside(v, str.lower),
    "base64_mime": lambda v: [base64.encodebytes(_wrapped_payload(v)).decode()],
    "base64_mime_crlf": lambda v: [_mime(v, 76, "\r\n")],
    "base64_pem_wrapped_json_escaped": lambda v: [_mime(v, 64, "\\n")],
    "gzip_base64": lambda v: [base64.b64encode(gzip.compress(_wrapped_payload(v))).decode()],
    "zlib_base64_mime": lambda v: [base64.encodebytes(zlib.compress(_wrapped_payload(v))).decode()],
}

VALUES = [
    secrets.token_urlsafe(24),
    "p@ss w/'quote\"&<tag>%$`!",
    secrets.token_hex(20),
    "ünïcødé-sëcret-" + secrets.token_hex(4),
    "a+b/c=d?e#f" + secrets.token_hex(6),
]


def _removed(secret_form: str, out: str) -> bool:
    n = min(len(secret_form), 12)
    return not any(secret_form[i : i + n] in out for i in range(len(secret_form) - n + 1))


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
@pytest.mark.parametrize("value", VALUES, ids=[f"v{i}" for i in range(len(VALUES))])
def test_known_value_removed_in_every_encoding(
    redactor: Redactor, encoding: str, value: str
) -> None:
    known = redactor.known([value])
    for form in ENCODERS[encoding](value):
        text = f'{{"result": "{form}"}} and again: Authorization: Basic {form}\n'
        session = redactor.session(known)
        out = session.text(text)
        assert _removed(form, out), (encoding, out)
        assert session.counts.get("known_secret", 0) >= 1


@pytest.mark.parametrize("use_ac", [True, False], ids=["aho-corasick", "re"])
def test_both_automata_find_the_same(use_ac: bool) -> None:
    value = secrets.token_urlsafe(18)
    known = KnownValues([value], use_aho_corasick=use_ac)
    text = f"x {value} y {base64.b64encode(value.encode()).decode()} z"
    assert len(known.find(text)) >= 2


def test_same_value_same_number_in_any_encoding(redactor: Redactor) -> None:
    a, b = secrets.token_urlsafe(20), secrets.token_urlsafe(20)
    session = redactor.session(redactor.known([a, b]))
    out = session.text(f"{a} {a.encode().hex()} {b} {quote(a, safe='')}")
    assert out.count("[REDACTED:known_secret#1]") == 3
    assert out.count("[REDACTED:known_secret#2]") == 1
    assert session.counts["known_secret"] == 4


def test_with_values_adds_a_grant_without_losing_the_base(redactor: Redactor) -> None:
    vault, grant = secrets.token_urlsafe(20), secrets.token_urlsafe(30)
    base = redactor.known([vault])
    per_call = base.with_values([grant])
    out = redactor.session(per_call).text(f"{vault} / {grant}")
    assert vault not in out
    assert grant not in out
    assert grant in redactor.session(base).text(grant)
    assert len(per_call) == 2


def test_repr_never_shows_values(redactor: Redactor) -> None:
    value = secrets.token_urlsafe(20)
    known = redactor.known([value])
    assert value not in repr(known)
    assert value not in str(known)
    assert "1 values" in repr(known)


def test_short_values_are_not_searched(redactor: Redactor) -> None:
    known = redactor.known(["abc", "12345"])
    assert len(known) == 0
    assert redactor.session(known).text("abc 12345 abcdef") == "abc 12345 abcdef"


def test_encodings_are_precomputed_per_value() -> None:
    forms = encodings("s3cr3t/value+x")
    assert "s3cr3t%2Fvalue%2Bx" in forms
    assert "7333637233742f76616c75652b78" in forms


def _grant_like() -> str:
    """A value shaped like a signed grant: three base64url parts, several hundred characters."""
    parts = (secrets.token_bytes(40), secrets.token_bytes(300), secrets.token_bytes(64))
    return ".".join(base64.urlsafe_b64encode(p).decode().rstrip("=") for p in parts)


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
@pytest.mark.parametrize(
    "value", [*VALUES, _grant_like()], ids=[*(f"v{i}" for i in range(len(VALUES))), "grant"]
)
def test_values_added_per_call_are_removed_in_every_encoding(
    redactor: Redactor, encoding: str, value: str
) -> None:
    per_call = redactor.known([secrets.token_urlsafe(20)]).with_values([value])
    for form in ENCODERS[encoding](value):
        text = f'{{"result": "{form}"}} and again: Authorization: Basic {form}\n'
        session = redactor.session(per_call)
        out = session.text(text)
        assert _removed(form, out), (encoding, out)
        assert session.counts.get("known_secret", 0) >= 1


def test_per_call_values_find_what_a_compiled_set_finds(redactor: Redactor) -> None:
    value = _grant_like()
    compiled = redactor.known([value])
    per_call = redactor.known(()).with_values([value])
    encoded = [form for encode in ENCODERS.values() for form in encode(value)]
    text = " | ".join([*encoded, value + value, f"x{value}y"])
    assert sorted(per_call.find(text), key=repr) == sorted(compiled.find(text), key=repr)
    assert len(per_call.find(text)) >= len(encoded)


def test_per_call_values_numbered_after_the_base(redactor: Redactor) -> None:
    vault, grant_token = secrets.token_urlsafe(20), _grant_like()
    per_call = redactor.known([vault]).with_values([grant_token])
    session = redactor.session(per_call)
    out = session.text(f"{grant_token} {vault} {grant_token.encode().hex()}")
    assert out == ("[REDACTED:known_secret#1] [REDACTED:known_secret#2] [REDACTED:known_secret#1]")


def test_texts_shorter_than_every_value_are_left_alone(redactor: Redactor) -> None:
    per_call = redactor.known(()).with_values([_grant_like()])
    text = "the quick brown fox jumps over the lazy dog"
    assert per_call.find(text) == []
    assert redactor.session(per_call).text(text) == text


def test_many_values_added_at_once_are_still_found(redactor: Redactor) -> None:
    values = [secrets.token_urlsafe(20) for _ in range(12)]
    per_call = redactor.known(()).with_values(values)
    out = redactor.session(per_call).text(" ".join(v.encode().hex() for v in values))
    assert not any(v.encode().hex() in out for v in values)


@given(st.text(min_size=2, max_size=40))
def test_encodings_match_their_definitions_and_are_never_shorter(value: str) -> None:
    forms = encodings(value)
    data = value.encode("utf-8", "surrogatepass")
    for fmt in ("\\u{:04x}", "\\u{:04X}", "&#{};", "&#x{:x};"):
        assert "".join(fmt.format(ord(c)) for c in value) in forms
    assert "".join(f"%{b:02X}" for b in data) in forms
    assert "".join(f"%{b:02x}" for b in data) in forms
    assert all(len(form) >= len(value) for form in forms)


def test_wrapped_base64_without_a_known_value_is_left_alone(redactor: Redactor) -> None:
    known = redactor.known([secrets.token_urlsafe(20)])
    mime = base64.encodebytes(b"nothing secret here, just a long attachment\n" * 8).decode()
    packed = base64.b64encode(gzip.compress(b"plain log lines\n" * 40)).decode()
    text = f"attachment:\n{mime}\npacked: {packed}\n"
    assert redactor.session(known).text(text) == text


def test_decoding_a_compression_bomb_is_bounded(redactor: Redactor) -> None:
    value = secrets.token_urlsafe(20)
    bomb = base64.b64encode(gzip.compress(b"\0" * (64 << 20) + value.encode())).decode()
    # 64 MiB of zeros decompress no further than the bound: the value after them is not
    # reached, the text is returned, and nothing raises.
    out = redactor.session(redactor.known([value])).text(f"blob {bomb}")
    assert out.startswith("blob ")


@given(
    st.binary(max_size=200),
    st.binary(max_size=200),
    st.sampled_from(["mime", "gzip", "zlib", "base32", "base32_lower"]),
)
# Data that only starts like a gzip or zlib stream is still searched (found by hypothesis).
@example(before=b"\x1f\x8b", after=b"", how="mime")
@example(before=b"\x78\x9c", after=b"", how="mime")
def test_a_known_value_is_found_in_decoded_blocks_wherever_it_sits(
    before: bytes, after: bytes, how: str
) -> None:
    value = secrets.token_urlsafe(18)
    data = before + value.encode() + after
    form = {
        "mime": lambda: base64.encodebytes(data + b"\n" * 40).decode(),
        "gzip": lambda: base64.b64encode(gzip.compress(data)).decode(),
        "zlib": lambda: base64.b64encode(zlib.compress(data)).decode(),
        "base32": lambda: base64.b32encode(data).decode(),
        "base32_lower": lambda: base64.b32encode(data).decode().lower(),
    }[how]()
    redactor = _SHARED
    out = redactor.session(redactor.known([value])).text(f"data: {form}\nend")
    assert "[REDACTED:known_secret#1]" in out
    assert out.endswith("\nend")
    assert _removed(form.strip(), out)


_SHARED = Redactor()
