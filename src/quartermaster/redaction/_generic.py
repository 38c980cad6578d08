"""Structural rules (PEM, JWT, URLs, headers, cookies) and the generic keyword/entropy layer.

The generic layer redacts a random-looking value assigned to a credential-like name
(``password``, ``client_secret``, ``X-Api-Key``...) in JSON, YAML, env files, logs and code,
and leaves alone what only looks random: digests under ``sha``/``hash`` names, ids, versions,
placeholders, variable references and words.
"""

from __future__ import annotations

import re

from ._providers import literal_prefixes, misshapen, names_distinctive_format
from ._rule import (
    GENERIC,
    STRUCTURAL,
    Rule,
    is_placeholder,
    jwt_well_formed,
    looks_random,
    mangled,
    patterned,
    strongly_random,
)

# Names that make the value next to them a credential.
_KW_COMMON = (
    r"(?:pass(?:word|wd|phrase|code)?|pwd|secret|token|api[_.\-]?key|key|auth|cred(?:s|entials?)?"
    r"|sess(?:ion)?(?:[_.\-]?id)?|sessid|sid|cookie|bearer|private|signing|dsn|salt)"
)
# Words for secret material: rare in text, so their own assignment rule, which keeps the
# common words' rule (tried wherever "token" or "key" occurs) as short as it was.
_KW_MATERIAL = r"(?:hmac|otp|seed|mnemonic)"
_KW = r"(?:" + _KW_COMMON + "|" + _KW_MATERIAL + ")"
_COMMON_ANCHORS = (
    "pass", "pwd", "secret", "token", "key", "auth", "cred", "sess", "sid", "cookie",
    "bearer", "private", "signing", "dsn", "salt",
)  # fmt: skip
_MATERIAL_ANCHORS = ("hmac", "otp", "seed", "mnemonic")
GENERIC_ANCHORS = _COMMON_ANCHORS + _MATERIAL_ANCHORS

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_CRED_EXACT = frozenset(
    [
        "pass",
        "passwd",
        "password",
        "passphrase",
        "passcode",
        "pwd",
        "secret",
        "secrets",
        "token",
        "tokens",
        "key",
        "apikey",
        "auth",
        "oauth",
        "authorization",
        "authkey",
        "authtoken",
        "credential",
        "credentials",
        "cred",
        "creds",
        "session",
        "sessionid",
        "sessid",
        "sid",
        "cookie",
        "bearer",
        "private",
        "privatekey",
        "signing",
        "dsn",
        "salt",
        "jwt",
        # Secret material by another name: an HMAC key, a one-time-password seed, a wallet's
        # mnemonic, a passkey, an OAuth authorization or access code.
        "hmac",
        "otp",
        "totp",
        "hotp",
        "seed",
        "mnemonic",
        "passkey",
        "authcode",
        "accesscode",
    ]
)
# A compound that ends or starts with a credential word is a credential name
# (integrationcredential, rootpassphrase, authcode).
_CRED_SUFFIX = ("key", "token", "secret", "password", "passwd", "pass", "pwd", "creds",
                "credential", "credentials", "passphrase", "passcode", "hmac", "otp",
                "mnemonic")  # fmt: skip
_CRED_PREFIX = ("password", "passwd", "secret", "token", "apikey", "credential", "bearer", "auth")
_NOT_CRED = frozenset(
    [
        "monkey",
        "turkey",
        "donkey",
        "hockey",
        "whiskey",
        "jockey",
        "passthrough",
        "passenger",
        "passport",
        "bypass",
        "compass",
        "trespass",
        "overpass",
        "underpass",
        "surpass",
        "author",
        "authors",
        "authored",
        "authoring",
        "authority",
        "authorities",
        "authorize",
        "authorized",
    ]
)
_NOT_CRED_TUPLE = tuple(_NOT_CRED)
# Words that make a name descriptive even though it holds a credential word (token_count,
# private_key_id, public_key, key_name, secretStoreRef...).
_DENY = frozenset(
    [
        "public",
        "pub",
        "hash",
        "hashed",
        "digest",
        "sha",
        "sha1",
        "sha256",
        "sha512",
        "md5",
        "checksum",
        "fingerprint",
        "cursor",
        "etag",
        "uuid",
        "guid",
        "name",
        "names",
        "type",
        "types",
        "url",
        "uri",
        "path",
        "file",
        "filename",
        "dir",
        "expires",
        "expiry",
        "expiration",
        "expire",
        "length",
        "len",
        "size",
        "count",
        "version",
        "format",
        "algorithm",
        "alg",
        "kid",
        "prefix",
        "hint",
        "limit",
        "ttl",
        "timeout",
        "endpoint",
        "label",
        "description",
        "desc",
        "field",
        "fields",
        "policy",
        "scope",
        "scopes",
        "mode",
        "usage",
        "max",
        "min",
        "index",
        "ref",
        "store",
        "arn",
        "provider",
        "method",
        "strategy",
        "at",
        "date",
        "time",
        "timestamp",
        "region",
        "host",
        "user",
        "username",
        "email",
        "schema",
        "header",
        "id",
        "ids",
        "enabled",
        "required",
        "event",
        "cache",
        "partition",
        "sort",
        "primary",
        "foreign",
        "object",
        "bucket",
        "dedup",
        "idempotency",
        "routing",
        "shard",
        "lookup",
        "row",
        "sequence",
        "group",
        "map",
        "dict",
        "last",
        "created",
        "updated",
        "status",
        "state",
        "valid",
        "location",
        "spec",
        "input",
        "placeholder",
        "example",
        "sample",
        "question",
        "prompt",
        "mount",
        "volume",
        "pair",
        "down",
        "up",
        "press",
        "stroke",
        "board",
        "frame",
        "word",
        "words",
        "encoding",
        "encoded",
        "budget",
        "estimate",
        "estimated",
        "rotation",
        "rotated",
        "manager",
    ]
)
_PASSWORDY = re.compile(r"(?i)pass|pwd")

_VALUE = r"[^\s\"'`,;&<>(){}\[\]\\]"


def name_words(name: str) -> list[str]:
    """``SecretAccessKey`` → ``secret access key``; ``api_key-ID`` → ``api key id``."""
    return [w.lower() for w in _WORD.findall(name)]


def name_is_credential(name: str) -> bool:
    """Whether a key or variable name says its value is a credential."""
    words = name_words(name)
    if any(w in _DENY for w in words):
        return False
    for word in [*words, "".join(words)]:
        if word.startswith(_NOT_CRED_TUPLE):
            continue  # "monkey", "authored" and compounds of them ("authoredby")
        if word in _CRED_EXACT or word.endswith(_CRED_SUFFIX) or word.startswith(_CRED_PREFIX):
            return True
    return False


def _assignment(keywords: str) -> tuple[str, str]:
    """The regex (and its hyperscan prefilter) of ``<name with keyword> <sep> <value>``.

    Separators cover the usual languages and formats: ``=``, ``:``, ``:=``, ``=>``, ``::=``,
    ``?=``, ``.=``, ``<-``, a comma after a quoted name (``setProperty("TOKEN", "...")``), and
    a type between name and separator (``var token string = "..."``).
    """
    regex = (
        r"(?i)(?P<k>" + keywords + r"[A-Za-z0-9_.\-]{0,30}?)"
        r"(?:\\{0,3}[\"'`\]])?"
        r"(?:[ \t]+(?:string|str|const|final|bytes|\[\]byte|char\s?\*?))?"
        r"(?:[ \t]{0,8}(?:=>|:{1,3}=|[?.+|]{1,2}=|<-|[:=]|(?<=[\"'`]),)|[ \t]+[-|])[ \t]{0,8}"
        r"(?:\\{0,3}[\"'`]|[brf][\"'])?[ \t]?"
        r"(?P<s>" + _VALUE + r"{5,2000}(?<![.:]))(?!" + _VALUE + r")"
    )
    prefilter = (
        r"(?i)"
        + keywords
        + r"[A-Za-z0-9_.\-]{0,30}[\"'`\]\\]{0,4}(?:[ \t]+[A-Za-z\[\]* ]{1,8})?"
        + r"[ \t]{0,8}(?:[=:,|?.+<]|[ \t]-)[^\n]{0,12}"
        + _VALUE
        + r"{5}"
    )
    return regex, prefilter


def _key_name(m: re.Match[str]) -> str:
    """The whole identifier the match's ``k`` group sits in (it may start mid-identifier)."""
    text, start = m.string, m.start("k")
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
        start -= 1
    return text[start : m.end("k")]


_NOT_PASSWORDS = frozenset(
    [
        "required",
        "optional",
        "enabled",
        "disabled",
        "changeme",
        "password",
        "passwd",
        "secret",
        "hidden",
        "redacted",
        "string",
        "example",
        "sample",
        "default",
        "empty",
        "missing",
        "invalid",
        "incorrect",
        "expired",
        "protected",
        "encrypted",
        "masked",
        "undefined",
        "forgotten",
        "mismatch",
        "provided",
    ]
)


_PREFIXES = literal_prefixes()
_PREFIX_LENGTHS = sorted({len(p) for p in _PREFIXES})


def names_its_format(value: str) -> bool:
    """Whether ``value`` starts with a self-identifying format's prefix (``ghp_``, ``NRAK-``).

    With no credential-like name next to it, such a value is that format's or nothing: the
    format's own rule redacts it when it is well formed, and a near-miss (wrong length or
    alphabet) is left alone by the layers that guess from the value alone. Next to a
    credential-like name it is redacted all the same (formats change their lengths).
    """
    return any(value[:n] in _PREFIXES for n in _PREFIX_LENGTHS)


# Characters outside every key alphabet (base64, base32, hex, URL-safe, dotted and colon
# separated formats). Generated keys never hold one; a human's password may hold many; a key
# with one or two of them in it is a mangled key or a template, not a credential.
_OFF_ALPHABET = re.compile(r"[^A-Za-z0-9_\-./+=:~]")


def _off_alphabet(value: str) -> bool:
    # Twenty characters and more: the length of generated keys, not of a typed secret.
    odd = len(_OFF_ALPHABET.findall(value))
    return 0 < odd <= 3 and 20 <= len(value) < 64


# What follows a value with no space between: up to whitespace, a quote or markup.
_RUN = re.compile(r"[^\s\"'`<>(){}\[\]\\]{1,400}")
# Characters a mangled key holds (a typo, a bad find-and-replace, a test's invalid key) and
# no key alphabet does; "%" only when it does not start a percent-escape.
_MANGLING = re.compile(r"[#?!*^$|]|%(?![0-9A-Fa-f]{2})")


def _runs_on_mangled(m: re.Match[str]) -> bool:
    """Whether the value runs on, with no space, into more key material that holds a
    character no key alphabet has (``…R8wq,6TNc…%c^so…``, ``…UUr-PK#a8d3…``): the string
    as written is one mangled key, and the part the rule took is not a key by itself. Items
    of a list (``,``, ``;``, ``&``) are judged each on its own."""
    run = _RUN.match(m.string, m.end("s"))
    if run is None:
        return False
    for piece in re.split(r"[,;&]", run.group()):
        if _MANGLING.search(piece) and sum(c.isalnum() for c in piece) >= 4:
            return True
    return False


def _value_ok(name: str, value: str) -> bool:
    if _PASSWORDY.search(name):
        if (
            len(value) >= 8
            and re.fullmatch(r"[A-Za-z]+(?:[_\-][A-Za-z]+)*", value)
            and value.lower() not in _NOT_PASSWORDS
            and not is_placeholder(value)
        ):
            return True  # people choose words as passwords ("rootpasswd")
        return looks_random(value, min_len=6, min_entropy=2.3)
    if value.isdigit():
        return len(value) >= 16  # numeric bot tokens and app secrets; short ones are counters
    if _off_alphabet(value) or misshapen(value):
        return False
    return looks_random(value)


def _templated(m: re.Match[str]) -> bool:
    """Whether the value runs on into a template (``sk_live_<your-key>``, ``abc${X}``)."""
    return m.string[m.end("s") : m.end("s") + 1] in ("<", "{", "$")


def _password_check(m: re.Match[str]) -> bool:
    name = _key_name(m)
    return name_is_credential(name) and not _templated(m) and _value_ok(name, m.group("s"))


def _generic_check(m: re.Match[str]) -> bool:
    name = _key_name(m)
    if _PASSWORDY.search(name) or not name_is_credential(name) or _templated(m):
        return False  # password-like names are the "password" rule's
    return _value_ok(name, m.group("s")) and not _runs_on_mangled(m)


def keyed_value_kind(key: str, value: str) -> str | None:
    """The kind for a JSON string under ``key`` if the pair is a credential, else ``None``.

    A credential-like name needs a value that looks like key material; any other name that
    does not describe data (``id``, ``sha``, ``cursor``...) needs one that is key material
    beyond doubt (``strongly_random``).
    """
    if len(value) > 300 or any(c.isspace() for c in value):
        return None
    if not name_is_credential(key):
        return "generic_secret" if _neutral_ok(key, value) else None
    if not _value_ok(key, value):
        return None
    return "password" if _PASSWORDY.search(key) else "generic_secret"


def _neutral_ok(name: str, value: str) -> bool:
    """A value under a name that is neither credential-like nor descriptive of data."""
    words = name_words(name)
    if not words or any(w in _DENY or w in _BARE_DENY for w in words):
        return False
    return _value_alone_ok(value)


def _value_alone_ok(value: str, min_len: int = 16, min_classes: int | None = None) -> bool:
    """With no credential-like name to vouch for it, a value must be key material beyond
    doubt, keep to its alphabet, and not name a format it fails."""
    if names_its_format(value) or _off_alphabet(value) or mangled(value) or patterned(value):
        return False
    return strongly_random(value, min_len=min_len, min_classes=min_classes)


def _pair_check(m: re.Match[str]) -> bool:
    name = m.group("k")
    return name_is_credential(name) and _value_ok(name, m.group("s"))


def _pem_check(m: re.Match[str]) -> bool:
    body = re.sub(r"\\[nrt]|\s|[A-Za-z-]+:[^\n\\]*", "", m.group("s"))
    return len(body) >= 40 and not is_placeholder(body)


def _url_check(m: re.Match[str]) -> bool:
    password = m.group("s")
    return (
        not is_placeholder(password)
        and password.lower() not in {"password", "pass", "passwd", "pwd", "secret", "x", "token"}
        and not password.startswith(("$", "%", "{"))
    )


def _random_s(m: re.Match[str]) -> bool:
    return looks_random(m.group("s"))


def _inner_check(m: re.Match[str]) -> bool:
    if any(w in _DENY for w in name_words(m.group("k"))):
        return False
    return any(looks_random(part.strip("{}")) for part in m.group("s").split())


def _jwt_check(m: re.Match[str]) -> bool:
    return jwt_well_formed(m.group("s"))


def _cookie_check(m: re.Match[str]) -> bool:
    return looks_random(m.group("s"), min_len=12)


STRUCTURAL_RULES: tuple[Rule, ...] = (
    Rule(
        "private_key",
        r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:\s|\\{1,3}[nr])*"
        r"(?P<s>(?:[A-Za-z0-9+/=:,\s]|-(?!----)|\\{1,3}[nrt]){16,})",
        ("-----begin",),
        STRUCTURAL,
        _pem_check,
        max_len=20000,
        hs=r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY",
    ),
    Rule(
        "putty_private_key",
        r"Private-Lines: \d+(?:\r?\n|\\n)(?P<s>(?:[A-Za-z0-9+/=]|\r?\n|\\n){40,})",
        ("private-lines",),
        STRUCTURAL,
        max_len=8000,
        hs=r"Private-Lines: \d+",
    ),
    Rule(
        "jwt",
        # Three parts (a signed JWT) or five (an encrypted one: header, wrapped key, iv,
        # ciphertext, tag).
        r"(?<![A-Za-z0-9_\-])(?P<s>eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{0,1000}"
        r"(?:\.[A-Za-z0-9_\-]{0,4000}\.[A-Za-z0-9_\-]{0,1000})?)",
        ("eyj",),
        STRUCTURAL,
        _jwt_check,
        max_len=4000,
        hs=r"eyJ[A-Za-z0-9_\-]{10}",
    ),
    Rule(
        "url_password",
        r"(?i)\b[a-z][a-z0-9+.\-]{1,30}://(?P<u>[^\s:/?#@\"'<>\[\]]{0,128}):"
        r"(?P<s>[^\s/?#@\"'<>]{1,256})@(?=[A-Za-z0-9\[])",
        ("://",),
        STRUCTURAL,
        _url_check,
        max_len=420,
        hs=r"://[^\s:/?#@]{0,128}:[^\s/?#@]{1,256}@",
        # The scheme, where a match starts: found in the window, not tried at each position.
        lead=r"(?i)\b[a-z][a-z0-9+.\-]{1,30}://",
        lead_back=420,
        back=34,  # a scheme of up to 31 characters, then "://"
    ),
    Rule(
        "jdbc_password",
        r"(?i)jdbc:oracle:[a-z]+:[^/\s@\"']{1,64}/(?P<s>[^@\s\"']{1,128})@",
        ("jdbc:oracle",),
        STRUCTURAL,
        _url_check,
        max_len=220,
    ),
    Rule(
        "authorization",
        r"(?i)(?:authorization|proxy-authorization|x-auth-token|x-access-token)[\"']?\s*[:=,]\s*"
        r"[\"']?(?:bearer|token|basic|digest|apikey|api-key|bot|sso-key|key|jwt|otoken)?\s*"
        r"(?P<s>[A-Za-z0-9._~+/\-:=%]{8,2000})",
        ("authorization", "x-auth-token", "x-access-token"),
        STRUCTURAL,
        _random_s,
        max_len=2100,
    ),
    Rule(
        "bearer_token",
        r"(?i)\bbearer\s+(?P<s>[A-Za-z0-9._~+/\-]{16,2000}=*)",
        ("bearer",),
        STRUCTURAL,
        _random_s,
        max_len=2100,
    ),
    Rule(
        "basic_auth",
        r"(?i)\bbasic\s+(?P<s>[A-Za-z0-9+/]{12,1000}={0,2})(?![A-Za-z0-9+/=])",
        ("basic",),
        STRUCTURAL,
        _random_s,
        max_len=1100,
    ),
    Rule(
        "curl_user_password",
        r"(?:\s-u\s*|--user[= ]\s*)[\"']?[^:\s\"']{1,128}:(?P<s>[^\s\"']{3,256})",
        ("-u", "--user"),
        STRUCTURAL,
        _url_check,
        max_len=420,
    ),
    Rule(
        "cookie",
        r"(?i)(?P<k>(?:sess|sid|auth|jwt|login|remember|token|connect)[\w.\-]{0,40})="
        r"(?P<s>[^;\s\"',]{12,4000})",
        ("sess", "sid", "auth", "jwt", "login", "remember", "token", "connect"),
        STRUCTURAL,
        _cookie_check,
        max_len=4100,
        hs=r"(?i)(?:sess|sid|auth|jwt|login|remember|token|connect)[\w.\-]{0,40}=[^;\s\"',]{12}",
        lead=r"(?i)sess|sid|auth|jwt|login|remember|token|connect",
        lead_back=64,
        back=8,
    ),
    Rule(
        "xml_secret",
        r"(?i)<(?P<k>[\w:.\-]*" + _KW + r"[\w:.\-]*)(?:\s[^<>]{0,200})?>\s*"
        r"(?P<s>[^<>\s](?:[^<>]{0,400}[^<>\s])?)\s*</",
        GENERIC_ANCHORS,
        STRUCTURAL,
        _inner_check,
        max_len=700,
        hs=r"(?i)<[\w:.\-]*" + _KW + r"[\w:.\-]*[^<>]{0,200}>[^<>]{6}",
    ),
    Rule(
        "password",
        r"(?i);[ \t]*(?:password|pwd|accountkey|sharedaccesskey)[ \t]*=[ \t]*"
        r"(?P<s>[^;\s\"']{4,256})",
        ("password", "pwd", "accountkey", "sharedaccesskey"),
        STRUCTURAL,
        _url_check,
        max_len=300,
    ),
)

# A random-looking value right after a bare name ("mixpanel 'M0UX…'", "acme: …"): the shape
# of provider keys whose name is not a credential word. Stricter on the value than the
# keyword rules, and never for hex digests, UUIDs or names that describe data.
_BARE_DENY = frozenset(
    [
        "commit", "tree", "parent", "data", "blob", "content", "body", "payload", "nonce",
        "integrity", "signature", "sig", "cursor", "next", "page", "image", "ref", "revision",
        "build", "tag", "object", "file", "node", "trace", "span", "request", "sha", "md5",
        "etag", "digest",
    ]
)  # fmt: skip
_BARE_VALUE = r"[A-Za-z0-9+/=_\-.~]"


def _bare_check(m: re.Match[str]) -> bool:
    quote = m.group("q") or m.group("q2")
    if quote and m.string[m.end("s") : m.end("s") + 1] != quote:
        return False
    words = name_words(m.group("k"))
    if not words or any(w in _DENY or w in _BARE_DENY for w in words) or _runs_on_mangled(m):
        return False
    value = m.group("s")
    if _HEXISH.match(value) or is_placeholder(value) or value.startswith("H4sI"):
        return False  # digests, placeholders and gzip streams in base64 are data
    if not (re.search(r"\d", value) and re.search(r"[A-Za-z]", value)):
        return False
    return looks_random(value, min_len=16, min_entropy=3.6)


_HEXISH = re.compile(r"^[0-9a-fA-F\-]+$")


def _assigned_check(m: re.Match[str]) -> bool:
    quote = m.group("q")
    if quote and m.string[m.end("s") : m.end("s") + 1] != quote:
        return False
    groups = m.re.groupindex
    name = m.group("f" if "f" in groups else "k").strip("\"'-")
    if name_is_credential(name):
        return not _templated(m) and _value_ok(name, m.group("s"))
    return _neutral_ok(name, m.group("s"))


# A vendor's token that no rule knows: a short prefix with a key-like word in it ("sk",
# "live", "pat": zorbly_live_..., sk-zorb-..., zorpat_...), "_" or "-", then a generated body.
_KEYISH = ("sk", "key", "tok", "token", "pat", "secret", "api", "auth", "live", "prod", "bot",
           "svc", "access", "test")  # fmt: skip
_KEYISH_PREFIX = re.compile(r"(?i)(?:^|[_\-]|(?<=[a-z]))(?:" + "|".join(_KEYISH) + r")(?:[_\-]|$)")


def _prefixed_check(m: re.Match[str]) -> bool:
    """A key-like word in the prefix vouches for a body of 20 characters and two classes (a
    lower-case alphanumeric key); a prefix without one (``tek_``, ``DR-``), only for a body
    of 32 or more, longer than the object ids vendors prefix the same way (``cus_``, ``msg_``,
    ``pi_``: 14 to 29 characters), never hex (request and trace ids)."""
    prefix, body, token = m.group("p"), m.group("b"), m.group("s")
    words = name_words(prefix)
    if any(w in _DENY or w in _BARE_DENY for w in words):
        return False
    if names_its_format(token) or any(
        names_distinctive_format(token[i:]) for i in range(1, len(prefix))
    ):
        return False  # a known format's prefix ends it ("step1ghp_…"): that format's rule judges

    if _KEYISH_PREFIX.search(prefix) is None:
        return len(body) >= 32 and not _HEXISH.match(body) and _value_alone_ok(body, 32)
    if _HEXISH.match(body):
        return len(body) >= 32  # hex after a key-like prefix, long enough not to be an id
    return _value_alone_ok(body, min_len=20, min_classes=2)


# A vendor's prefix (a word, up to two short parts, a separator), then a generated body.
# Not inside a longer token: after no key character, nor after "alnum:" (``123:AA…``).
_PREFIXED = (
    r"(?<![A-Za-z0-9_\-+/.])(?<![A-Za-z0-9]:)(?P<s>(?P<p>(?:[a-z][a-z0-9]{1,11}|[A-Z][A-Z0-9]{1,11})"
    r"(?:[_\-][A-Za-z0-9]{2,8}){0,2}"
    r"[_\-])(?P<b>[A-Za-z0-9_\-]{20,128}))(?![^\s\"'`,;)\]}>|])"
)
_PREFIXED_LEAD = (
    r"(?<![A-Za-z0-9_\-+/.])(?<![A-Za-z0-9]:)(?:[a-z][a-z0-9]{1,11}|[A-Z][A-Z0-9]{1,11})[_\-]"
)
# A keyword starts at most this far before the end of the anchor found in it ("api-key").
_KW_BACK = 12
_PASS_KW = r"(?:pass(?:word|wd|phrase|code)?|pwd)"  # noqa: S105 - a regex, not a password
GENERIC_RULES: tuple[Rule, ...] = (
    Rule(
        "generic_secret",
        # Unquoted names only (JSON keys are quoted): "name 'value'", "name: value",
        # "name := value", as in configs, logs and code.
        r"(?:(?<=[\s,;({\[])|^)(?P<k>[A-Za-z][A-Za-z0-9_]{2,40})"
        r"(?:[ \t]{1,16}(?P<q>[\"'`])|[ \t]{0,16}:=?[ \t]{0,16}(?P<q2>[\"'`]?))"
        r"(?P<s>" + _BARE_VALUE + r"{16,200})(?!" + _BARE_VALUE + r")",
        (),
        GENERIC,
        _bare_check,
        max_len=300,
        # The separator and the start of the value, which every match holds: a colon after a
        # name's last character or a blank, or a quote after a blank after one (so neither a
        # quoted JSON key's ": " nor the quote of its value is a hit); the name is at most 57
        # characters before it.
        near=r"[:\"'`](?:(?<=[A-Za-z0-9_ \t]:)|(?<=[A-Za-z0-9_ \t][ \t][\"'`]))"
        r"=?[ \t]{0,16}[\"'`]?" + _BARE_VALUE + r"{16}",
        near_start=r"(?:(?<=[\s,;({\[])|^)[A-Za-z][A-Za-z0-9_]{2,40}[ \t]{0,16}\Z",
        back=64,
        lead=r"(?:(?<=[\s,;({\[])|^)[A-Za-z][A-Za-z0-9_]{2,40}(?:[ \t]{1,16}[\"'`]|[ \t]{0,16}:)",
        lead_back=100,
        hs=r"(?:^|[\s,;({\[])[A-Za-z][A-Za-z0-9_]{2,40}(?:[ \t]+[\"'`]|[ \t]*:=?[ \t]*[\"'`]?)"
        + _BARE_VALUE
        + r"{16}",
    ),
    Rule(
        "generic_secret",
        # Command-line flags: --client-secret VALUE, --api-key=VALUE.
        # The value runs to a blank or a quote: a password may hold any symbol, and the
        # check judges the rest (a near-miss key, a path, a word).
        r"(?<![\w\-])(?P<f>--[A-Za-z][A-Za-z0-9_.\-]{1,60})[ =](?P<q>[\"']?)"
        r"(?P<s>[^\s\"'`]{8,300})(?![^\s\"'`])",
        ("--",),
        GENERIC,
        _assigned_check,
        max_len=400,
        back=2,
    ),
    Rule(
        "prefixed_token",
        _PREFIXED,
        tuple(f"{word}{sep}" for word in _KEYISH for sep in "_-"),
        GENERIC,
        _prefixed_check,
        max_len=180,
        lead=_PREFIXED_LEAD,
        lead_back=64,
        back=36,  # the prefix starts at most this far before the end of its key-like word
        hs=r"(?i)(?:" + "|".join(_KEYISH) + r")[_\-][A-Za-z0-9_\-]{20}",
    ),
    Rule(
        "prefixed_token",
        # The same shape with any prefix: only a long body qualifies (``_prefixed_check``).
        _PREFIXED,
        (),
        GENERIC,
        _prefixed_check,
        max_len=180,
        lead=_PREFIXED_LEAD,
        lead_back=80,
        # A separator and 32 characters of body, where the prefix ends (found by near_start).
        # The same for hyperscan: a pure character-class prefix costs its whole scan.
        near=r"[_\-][A-Za-z0-9_\-]{32}",
        near_start=r"(?<![A-Za-z0-9_\-+/.])(?<![A-Za-z0-9]:)(?:[a-z][a-z0-9]{1,11}|[A-Z][A-Z0-9]{1,11})\Z",
        back=48,
        hs=r"[_\-][A-Za-z0-9_\-]{32}",
    ),
    Rule(
        "generic_secret",
        r"(?i)(?:key|name)[\"']?\s*[=:]\s*[\"'](?P<k>[^\"'\n<>]{1,80})[\"']\s*,?\s*"
        r"[\"']?value[\"']?\s*[=:]\s*[\"'](?P<s>[^\"'\n]{4,300})[\"']",
        ("value",),
        GENERIC,
        _pair_check,
        max_len=520,
        hs=r"(?i)(?:key|name)[\"']?\s*[=:]\s*[\"'][^\"'\n<>]{1,80}[\"']\s*,?\s*[\"']?value",
        lead=r"(?i)key|name",
        lead_back=130,
    ),
    Rule(
        "password",
        _assignment(_PASS_KW)[0],
        ("pass", "pwd"),
        GENERIC,
        _password_check,
        max_len=2100,
        hs=_assignment(_PASS_KW)[1],
        lead="(?i)" + _PASS_KW,
        back=_KW_BACK,
    ),
    *(
        Rule(
            "generic_secret",
            _assignment(words)[0],
            anchors,
            GENERIC,
            _generic_check,
            max_len=2100,
            hs=_assignment(words)[1],
            lead="(?i)" + words,
            back=_KW_BACK,
        )
        for words, anchors in ((_KW_COMMON, _COMMON_ANCHORS), (_KW_MATERIAL, _MATERIAL_ANCHORS))
    ),
)
