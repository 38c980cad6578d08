"""Seeded generated cases, one family per detection mechanism, for tests and the bench.

No case comes from the shared corpus: vendors are invented (a made-up name, prefix, alphabet
and length), key names are composed from words, and values are random. ``cases(seed)``
returns ``Case`` records; each family's vocabulary (vendors, key-name words, URL schemes) is
split by ``HOLDOUT_SEED`` so that a third of it is never looked at while tuning: the figures
on ``held_out=True`` cases say whether a mechanism generalizes to names and formats it has
not seen.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass

HOLDOUT_SEED = 19
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
URLSAFE = ALNUM + "-_"
UPPER32 = string.ascii_uppercase + "234567"
UPPER36 = string.ascii_uppercase + string.digits
LOWER36 = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class Case:
    """A text, the secrets that must be gone from it (none for a negative), and its family."""

    family: str
    text: str
    secrets: tuple[str, ...]
    held_out: bool


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _split(items: list[str]) -> tuple[list[str], list[str]]:
    """(developed, held out): a seeded third of ``items`` held out."""
    shuffled = sorted(items)
    random.Random(HOLDOUT_SEED).shuffle(shuffled)
    cut = len(shuffled) // 3
    return shuffled[cut:], shuffled[:cut]


_SYLLABLES = [
    "zor",
    "bly",
    "qua",
    "ntix",
    "vel",
    "dra",
    "mo",
    "kin",
    "ster",
    "flo",
    "gri",
    "pax",
    "lum",
    "ora",
    "tek",
    "nex",
    "vim",
    "cor",
    "sol",
    "yar",
]


def _vendor(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))


@dataclass(frozen=True)
class _Format:
    """An invented vendor's token format: a prefix, then a body of one alphabet."""

    vendor: str
    prefix: str
    alphabet: str
    length: int

    def token(self, rng: random.Random) -> str:
        body = _rand(rng, self.alphabet, self.length)
        if self.alphabet == ALNUM:  # a random draw may lack a class; real bodies have all
            body = rng.choice(string.ascii_uppercase) + rng.choice(string.digits) + body[2:]
        return self.prefix + body


def _formats() -> list[_Format]:
    rng = random.Random(4242)
    out = []
    for _ in range(30):
        vendor = _vendor(rng)
        short = vendor[: rng.randint(2, 4)]
        prefix = rng.choice(
            [f"{short}_", f"{short}_live_", f"{short}-", f"{short.upper()}-", f"{short}pat_",
             f"{short}_sk_", f"{short}{rng.randint(1, 9)}_", f"sk-{short}-"]
        )  # fmt: skip
        alphabet = rng.choice([ALNUM, ALNUM, URLSAFE, HEX, string.ascii_lowercase + string.digits])
        length = rng.choice([24, 32, 36, 40, 48, 64]) if alphabet != HEX else rng.choice([32, 40])
        out.append(_Format(vendor, prefix, alphabet, length))
    return out


FORMATS = _formats()
_FORMAT_OF = {f.vendor: f for f in FORMATS}
FORMATS_DEV, FORMATS_HELD = _split([f.vendor for f in FORMATS])

# Key names: a qualifier and a credential head, in several spellings. The heads a redactor
# knows by name are one family; the held-out third of qualifiers and heads are unseen.
QUALIFIERS = [
    "access",
    "api",
    "client",
    "signing",
    "master",
    "refresh",
    "deploy",
    "webhook",
    "service",
    "admin",
    "bot",
    "root",
    "db",
    "license",
    "integration",
    "app",
    "upload",
    "billing",
    "relay",
    "sync",
    "partner",
    "mobile",
    "ingest",
    "crm",
]
HEADS = ["key", "token", "secret", "password", "passphrase", "credential", "auth", "pat",
         "apikey", "pwd", "hmac", "seed", "pin", "otp", "cipher", "privkey", "sig_key",
         "access_code", "authcode", "passcode"]  # fmt: skip
QUALIFIERS_DEV, QUALIFIERS_HELD = _split(QUALIFIERS)
HEADS_DEV, HEADS_HELD = _split(HEADS)
SCHEMES = ["postgres", "mysql", "redis", "amqp", "mongodb+srv", "ftp", "smtp", "ldap",
           "zorbly+tls", "nats", "kafka", "sftp"]  # fmt: skip
SCHEMES_DEV, SCHEMES_HELD = _split(SCHEMES)


def _spell(rng: random.Random, words: list[str]) -> str:
    parts = [w for word in words for w in word.split("_")]
    style = rng.choice(["snake", "upper", "camel", "kebab", "dotted"])
    if style == "snake":
        return "_".join(parts)
    if style == "upper":
        return "_".join(parts).upper()
    if style == "camel":
        return parts[0] + "".join(p.capitalize() for p in parts[1:])
    if style == "kebab":
        return "-".join(parts)
    return ".".join(parts)


def _key_value(rng: random.Random) -> str:
    kind = rng.choice(["alnum", "urlsafe", "b64", "hex", "password"])
    if kind == "alnum":
        return (
            rng.choice(string.ascii_uppercase) + rng.choice(string.digits) + _rand(rng, ALNUM, 30)
        )
    if kind == "urlsafe":
        return "Z9" + _rand(rng, URLSAFE, rng.randint(22, 44))
    if kind == "b64":
        return base64.b64encode(rng.randbytes(rng.choice([24, 32, 48]))).decode()
    if kind == "hex":
        return _rand(rng, HEX, rng.choice([24, 48]))
    return _rand(rng, ALNUM, 6) + rng.choice("!@#$%^&*") + _rand(rng, ALNUM, 5) + "7"


def _assign(rng: random.Random, name: str, value: str) -> str:
    return rng.choice(
        [
            f"{name}={value}",
            f"export {name}={value}",
            f'{name} = "{value}"',
            f"{name}: {value}",
            f'"{name}": "{value}"',
            f"  {name}: '{value}'",
            f"--{name.replace('_', '-').lower()} {value}",
            f"<{name}>{value}</{name}>",
            f'setenv("{name}", "{value}")',
        ]
    )


def _around(rng: random.Random, line: str) -> str:
    before = rng.choice(["", "# config\n", "[INFO] starting worker\n", "{\n", "env:\n"])
    after = rng.choice(["", "\nlog_level: info", "\n}", "\nDEBUG=false", "\nregion: eu-west-1"])
    return before + line + after


def _crc32_base62(data: str) -> str:
    """GitHub's checksum tail: CRC32 of the random part, six base62 digits."""
    n = binascii.crc32(data.encode())
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    out = ""
    for _ in range(6):
        n, r = divmod(n, 62)
        out = digits[r] + out
    return out


def github_token(rng: random.Random, prefix: str = "ghp_") -> str:
    """A GitHub token with a valid CRC32 tail."""
    body = _rand(rng, ALNUM, 30)
    return prefix + body + _crc32_base62(body)


def _jwt(rng: random.Random) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    header = part({"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"})
    claims = part(
        {"sub": str(rng.randint(1, 10**6)), "iat": rng.randint(1_600_000_000, 1_800_000_000)}
    )
    sig = base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("=")
    return f"{header}.{claims}.{sig}"


def _pem(rng: random.Random) -> tuple[str, str]:
    label = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "ZORBLY PRIVATE KEY"])
    body = base64.b64encode(rng.randbytes(rng.randint(120, 400))).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----", body


Family = Callable[[random.Random, bool], Case]


def _prefixed(rng: random.Random, held: bool) -> Case:
    names = FORMATS_HELD if held else FORMATS_DEV
    fmt = _FORMAT_OF[rng.choice(names)]
    token = fmt.token(rng)
    text = rng.choice(
        [
            f"using {token} for the {fmt.vendor} client",
            f'{{"{fmt.vendor}": "{token}"}}',
            f"{fmt.vendor.upper()}_CONFIG={token}",
            f"curl -H 'X-Client: {token}' https://api.{fmt.vendor}.io/v1",
            f"  - {token}",
        ]
    )
    return Case("prefixed_token", text, (token,), held)


def _keyed(rng: random.Random, held: bool) -> Case:
    qualifiers, heads = (QUALIFIERS_HELD, HEADS_HELD) if held else (QUALIFIERS_DEV, HEADS_DEV)
    name = _spell(rng, [rng.choice(qualifiers), rng.choice(heads)])
    value = _key_value(rng)
    return Case("generic_key_value", _around(rng, _assign(rng, name, value)), (value,), held)


def _url(rng: random.Random, held: bool) -> Case:
    scheme = rng.choice(SCHEMES_HELD if held else SCHEMES_DEV)
    password = _rand(rng, ALNUM, rng.randint(12, 28))
    user = rng.choice(["app", "svc", "admin", "reader"])
    text = f"DSN={scheme}://{user}:{password}@db-{rng.randint(1, 9)}.internal:5432/main"
    return Case("url_credential", text, (password,), held)


def _conn(rng: random.Random, held: bool) -> Case:
    password = _rand(rng, ALNUM, 10) + rng.choice("!#%") + _rand(rng, ALNUM, 6)
    key = rng.choice(["Password", "Pwd", "PWD"]) if not held else rng.choice(["pass", "Passwd"])
    text = f"Server=tcp:db.internal,1433;Database=main;User Id=app;{key}={password};Encrypt=true"
    return Case("connection_string", text, (password,), held)


def _jwt_case(rng: random.Random, held: bool) -> Case:
    token = _jwt(rng)
    text = rng.choice([f"Cookie: id_token={token}; Path=/", f'{{"jwt": "{token}"}}', token])
    return Case("jwt", text, (token,), held)


def _pem_case(rng: random.Random, held: bool) -> Case:
    pem, body = _pem(rng)
    text = rng.choice([pem, json.dumps({"key": pem}), "key file:\n" + pem])
    return Case("pem", text, (body,), held)


def _github(rng: random.Random, held: bool) -> Case:
    token = github_token(rng, rng.choice(["ghp_", "gho_", "ghu_", "ghs_"]))
    return Case("checksummed", f"token is {token} ok", (token[4:],), held)


# Negatives: what must come back unchanged.
def _benign(rng: random.Random, held: bool) -> Case:
    sha = _rand(rng, HEX, 40)
    cursor = base64.b64encode(json.dumps({"page": rng.randint(1, 99)}).encode()).decode()
    text = rng.choice(
        [
            f"commit {sha}\nAuthor: Dev <dev@example.com>",
            f'{{"id": "{_rand(rng, HEX, 24)}", "next_cursor": "{cursor}", "sha": "{sha}"}}',
            f"request_id={_rand(rng, HEX, 8)}-{_rand(rng, HEX, 4)}-4{_rand(rng, HEX, 3)}-a"
            f"{_rand(rng, HEX, 3)}-{_rand(rng, HEX, 12)} status=200",
            f"--hash=sha256:{_rand(rng, HEX, 64)}",
            f'"integrity": "sha512-{base64.b64encode(rng.randbytes(64)).decode()}"',
            f"token_count: {rng.randint(1, 9999)}  max_tokens: 4096  api_version: 2024-06-01",
            f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{_rand(rng, ALNUM, 43)} dev@laptop",
            f"image: registry.example.com/web@sha256:{_rand(rng, HEX, 64)}",
            "password: ${DB_PASSWORD}  api_key: <your-api-key>  token: changeme",
        ]
    )
    return Case("benign", text, (), held)


def _near_miss(rng: random.Random, held: bool) -> Case:
    names = FORMATS_HELD if held else FORMATS_DEV
    fmt = _FORMAT_OF[rng.choice(names)]
    token = fmt.token(rng)
    cut = rng.randint(len(fmt.prefix) + 4, len(token) - 4)
    mangled = rng.choice(
        [
            token[:cut] + "?" + token[cut + 1 :],  # one character outside the alphabet
            fmt.prefix + "x" * fmt.length,  # filler
            fmt.prefix + "<your-key-here>",
        ]
    )
    name = _spell(rng, [rng.choice(QUALIFIERS_DEV), rng.choice(["key", "token"])])
    return Case("near_miss", f"{name} = '{mangled}'", (), held)


# Near-misses of a format's own tests, one mechanism each; what varies (provider, domain,
# mangling character, format prefix) is split into developed and held-out parts.
_PROSE_PROVIDERS = [("loyverse", LOWER36, 32), ("weatherbit", LOWER36, 32), ("mapquest", ALNUM, 32),
                    ("airbrake", HEX, 32), ("amplitude", HEX, 32), ("flickr", HEX, 32),
                    ("gitter", HEX, 40), ("datadog", HEX, 32), ("bugsnag", HEX, 32)]  # fmt: skip
_PROSE_DEV, _PROSE_HELD = _split([p[0] for p in _PROSE_PROVIDERS])
_PROSE_OF = {p[0]: p for p in _PROSE_PROVIDERS}
_WORDS = ["the", "value", "below", "is", "not", "for", "this", "service", "anymore", "see",
          "docs", "old", "was", "rotated", "last", "year", "kept", "here"]  # fmt: skip
_DOMAINS = ["myshopify.com", "cache.windows.net:6380", "example.io", "corp.net",
            "azurewebsites.net", "herokuapp.com", "internal.dev",
            "blob.core.windows.net"]  # fmt: skip
_DOMAINS_DEV, _DOMAINS_HELD = _split(_DOMAINS)
_MARKS_DEV, _MARKS_HELD = _split(list("#?!*^$|"))
# (prefix, body length, body alphabet) of self-identifying formats with a literal prefix
# and one fixed length.
_FIXED = [("NRAK-", 27, UPPER36), ("HRKU-AA", 58, URLSAFE), ("ghp_", 36, ALNUM),
          ("npm_", 36, ALNUM), ("dckr_pat_", 27, URLSAFE), ("sntryu_", 64, HEX),
          ("gsk_", 52, ALNUM), ("pplx-", 48, ALNUM), ("xai-", 80, ALNUM)]  # fmt: skip
_FIXED_DEV, _FIXED_HELD = _split([f[0] for f in _FIXED])
_FIXED_OF = {f[0]: f for f in _FIXED}


def _format_near_miss(rng: random.Random, held: bool) -> Case:
    kind = rng.choice(["prose", "jwt", "host", "run_on", "length"])
    name = _spell(rng, [rng.choice(QUALIFIERS_DEV), rng.choice(["key", "token"])])
    if kind == "prose":
        provider, alphabet, length = _PROSE_OF[rng.choice(_PROSE_HELD if held else _PROSE_DEV)]
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 9)))
        text = f"{provider} {words}\n = '{_rand(rng, alphabet, length)}'"
    elif kind == "jwt":

        def part(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).decode().rstrip("=")

        header = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = part(bytes([rng.randrange(128, 256)]) + rng.randbytes(rng.randint(20, 60)))
        token = f"{header}.{claims}.{part(rng.randbytes(32))}"
        # Not after a credential header or name: those vouch for whatever follows them.
        text = rng.choice([f"got {token} back", f"id: {token}", token])
    elif kind == "host":
        domain = rng.choice(_DOMAINS_HELD if held else _DOMAINS_DEV)
        text = f"{name}: Z9{_rand(rng, ALNUM, 26)}.{domain}"
    elif kind == "run_on":
        mark = rng.choice(_MARKS_HELD if held else _MARKS_DEV)
        text = f'{name} = "Z9{_rand(rng, ALNUM, 20)}{mark}{_rand(rng, ALNUM, 30)}"'
    else:
        prefix, length, alphabet = _FIXED_OF[rng.choice(_FIXED_HELD if held else _FIXED_DEV)]
        off = rng.choice([-5, -3, -2, -1, 1, 2, 4])
        text = f"{name} = '{prefix}{_rand(rng, alphabet, length + off)}'"
    return Case("format_near_miss", text, (), held)


FAMILIES: dict[str, Family] = {
    "prefixed_token": _prefixed,
    "generic_key_value": _keyed,
    "url_credential": _url,
    "connection_string": _conn,
    "jwt": _jwt_case,
    "pem": _pem_case,
    "checksummed": _github,
    "benign": _benign,
    "near_miss": _near_miss,
    "format_near_miss": _format_near_miss,
}


def cases(seed: int = 1, per_family: int = 60) -> Iterator[Case]:
    """``per_family`` developed and ``per_family // 2`` held-out cases of every family."""
    rng = random.Random(seed)
    for family in FAMILIES.values():
        for index in range(per_family + per_family // 2):
            yield family(rng, index >= per_family)
