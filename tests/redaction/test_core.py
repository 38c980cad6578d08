"""The redactor end to end: layers, typed stable replacements, JSON, config, engines."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import secrets
import string
import uuid

import pytest
from pydantic import ValidationError

from quartermaster.config._redaction import RedactionConfig
from quartermaster.redaction import Redactor
from quartermaster.redaction._engine import FallbackEngine

RNG = random.Random(20250501)


def rand(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


def test_replacement_is_typed_and_numbered_per_secret(redactor: Redactor) -> None:
    a, b = "ghp_" + rand(36), "ghp_" + rand(36)
    session = redactor.session()
    out = session.text(f"first {a} second {b} again {a}")
    assert out == (
        "first [REDACTED:github_pat#1] second [REDACTED:github_pat#2] again [REDACTED:github_pat#1]"
    )
    assert session.text(f"later {b}") == "later [REDACTED:github_pat#2]"
    assert dict(session.counts) == {"github_pat": 4}


def test_numbering_restarts_in_a_new_session(redactor: Redactor) -> None:
    token = "ghp_" + rand(36)
    redactor.session().text("ghp_" + rand(36))
    assert redactor.session().text(token) == "[REDACTED:github_pat#1]"


def test_text_without_secrets_is_returned_unchanged(redactor: Redactor) -> None:
    text = json.dumps(
        {
            "commit": hashlib.sha1(b"x").hexdigest(),
            "id": str(uuid.uuid4()),
            "digest": "sha256:" + hashlib.sha256(b"y").hexdigest(),
            "etag": hashlib.md5(b"z").hexdigest(),
            "cursor": base64.b64encode(secrets.token_bytes(30)).decode(),
            "token_count": 1234,
            "token_type": "Bearer",
            "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + rand(43),
            "msg": "api key validated; password reset email sent",
        }
    )
    assert redactor.redact(text) == text


CASES = {
    "pem": (
        "-----BEGIN RSA PRIVATE KEY-----\n"
        + "\n".join(rand(64, string.ascii_letters + "+/") for _ in range(5))
        + "\n-----END RSA PRIVATE KEY-----",
        "private_key",
    ),
    "pem_json_escaped": (
        json.dumps(
            {
                "private_key": "-----BEGIN PRIVATE KEY-----\n"
                + "\n".join(rand(64) for _ in range(4))
                + "\n-----END PRIVATE KEY-----\n"
            }
        ),
        "private_key",
    ),
    "jwt": (
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9."
        + base64.urlsafe_b64encode(json.dumps({"sub": rand(8)}).encode()).decode().rstrip("=")
        + "."
        + rand(43),
        "authorization",
    ),
    "postgres": (f"DATABASE_URL=postgres://app:{rand(20)}@db.internal:5432/app", "url_password"),
    "mongodb_srv": (f"mongodb+srv://svc:{rand(16)}@cluster0.x1.mongodb.net/db", "url_password"),
    "redis": (f"redis://:{rand(24)}@cache:6379/0", "url_password"),
    "amqp": (f"amqp://guest:{rand(18)}@mq:5672/vhost", "url_password"),
    "jdbc": (f"jdbc:mysql://db:3306/app?user=etl&password={rand(14)}", "password"),
    "adonet": (f"Server=tcp:db;Database=app;User Id=sa;Password={rand(16)};", "password"),
    "aws_pair": (
        f"aws_access_key_id = AKIA{rand(16, string.ascii_uppercase + '234567')}\n"
        f"aws_secret_access_key = {rand(40, string.ascii_letters + string.digits + '/+')}",
        "aws_access_key_id",
    ),
    "cookie": (f"Cookie: theme=dark; sessionid={rand(32)}", "cookie"),
    "env": (f"export STRIPE_SECRET_KEY=sk_live_{rand(40)}", "stripe_secret_key"),
    "yaml": (f"db:\n  password: {rand(14)}\n", "password"),
    "stack_trace": (
        f'  File "x.py", line 3\nValueError: bad token: api_token="{rand(32)}"',
        "generic_secret",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_structural_and_generic_formats(redactor: Redactor, case: str) -> None:
    text, kind = CASES[case]
    session = redactor.session()
    out = session.text(text)
    assert kind in session.counts, (session.counts, out)
    assert out != text


def test_aws_pair_both_halves_removed(redactor: Redactor) -> None:
    key_id = "AKIA" + rand(16, string.ascii_uppercase + "234567")
    secret = rand(40, string.ascii_letters + string.digits + "/+")
    out = redactor.redact(json.dumps({"AccessKeyId": key_id, "SecretAccessKey": secret}))
    assert key_id not in out
    assert secret not in out


def test_placeholders_are_left_alone(redactor: Redactor) -> None:
    for text in (
        "OPENAI_API_KEY=<your-api-key>",
        "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "password: ${DB_PASSWORD}",
        "password = os.environ['DB_PASSWORD']",
        "api_key = settings.api_key",
        "postgres://user:password@localhost/db",
        "token: [REDACTED:github_pat#1]",
    ):
        assert redactor.redact(text) == text, text


def test_json_walks_values_and_redacts_only_keys_that_hold_a_secret(redactor: Redactor) -> None:
    token = "xoxb-" + "-".join(rand(12, string.digits) for _ in range(2)) + "-" + rand(24)
    password = rand(18)
    value = {"password": password, "nested": [{"msg": f"use {token}"}], token: 1, "n": 3}
    out = redactor.session().json(value)
    assert out["password"].startswith("[REDACTED:password#")
    assert out["nested"][0]["msg"] == "use [REDACTED:slack_token#1]"
    # A secret used as a key is redacted too (same marker: same secret); other keys stay.
    assert token not in out
    assert out["[REDACTED:slack_token#1]"] == 1
    assert out["n"] == 3
    json.dumps(out)


def test_allow_list_exempts_pattern_rules_not_known_values() -> None:
    token = "ghp_" + rand(36)
    known_value = rand(24)
    redactor = Redactor(RedactionConfig(allow_literals=(token,), allow_patterns=(r"ghp_TEST\w+",)))
    test_token = "ghp_TEST" + rand(32)
    assert redactor.redact(f"{token} {test_token}") == f"{token} {test_token}"
    allowed_known = Redactor(RedactionConfig(allow_literals=(known_value,)))
    out = allowed_known.redact(known_value, allowed_known.known([known_value]))
    assert known_value not in out


def test_admin_rules_extend_the_set() -> None:
    config = RedactionConfig.model_validate(
        {
            "rules": [
                {
                    "name": "acme_key",
                    "regex": r"acme-key=(?P<secret>[0-9]{12})",
                    "keywords": ["acme-key"],
                },
                {"name": "acme_plain", "regex": r"ACME[0-9]{10}"},
            ]
        }
    )
    for engine in ("hyperscan", "fallback"):
        redactor = Redactor(config.model_copy(update={"engine": engine}))
        session = redactor.session()
        assert session.text("acme-key=123456789012 ACME0123456789") == (
            "acme-key=[REDACTED:acme_key#1] [REDACTED:acme_plain#1]"
        )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"rules": [{"name": "bad", "regex": "(unclosed"}]}, "not a valid regular expression"),
        ({"rules": [{"name": "empty", "regex": "a*"}]}, "matches the empty string"),
        ({"rules": [{"name": "Bad Name", "regex": "x"}]}, "lower-case"),
        ({"allow_patterns": ["[z-a]"]}, "allow_patterns[0] is not a valid regular expression"),
        ({"time_budget_ms": 0}, "greater than 0"),
        ({"unknown": 1}, "Extra inputs"),
    ],
)
def test_bad_config_is_a_validation_error(section: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        RedactionConfig.model_validate(section)


def test_disabled_rules_and_generic_switch() -> None:
    token = "ghp_" + rand(36)
    assert (
        Redactor(RedactionConfig(disabled_rules=("github_pat",))).redact(f"x {token}")
        == f"x {token}"
    )
    text = f"password = {rand(16)}"
    assert Redactor(RedactionConfig(generic=False)).redact(text) == text


def _sample_texts() -> list[str]:
    return [
        f"token ghp_{rand(36)} and sk_live_{rand(30)}",
        f"api_key: {rand(32)}\nuser: bob\nurl: https://u:{rand(12)}@h.example/x",
        "nothing to see " * 40,
        f"-----BEGIN PRIVATE KEY-----\n{rand(64)}\n{rand(64)}\n-----END PRIVATE KEY-----",
        f"loyverse token = '{rand(32, string.ascii_lowercase + string.digits)}'",
    ]


@pytest.mark.parametrize("engine", ["fallback"])
def test_fallback_engine_gives_the_same_output(redactor: Redactor, engine: str) -> None:
    fallback = Redactor(RedactionConfig(engine=engine))  # type: ignore[arg-type]
    assert fallback.engine_name == "aho-corasick"
    for text in _sample_texts():
        assert fallback.redact(text) == redactor.redact(text)


def test_pure_re_fallback_gives_the_same_output(redactor: Redactor) -> None:
    pure = Redactor(RedactionConfig(engine="fallback"))
    pure._engine = FallbackEngine(pure.rules, use_aho_corasick=False)
    assert pure.engine_name == "re"
    for text in _sample_texts():
        assert pure.redact(text) == redactor.redact(text)


def test_non_ascii_text_is_scanned_correctly(redactor: Redactor) -> None:
    token = "ghp_" + rand(36)
    out = redactor.redact(f"héllo wörld — 密钥 {token} ✓")
    assert out == "héllo wörld — 密钥 [REDACTED:github_pat#1] ✓"
