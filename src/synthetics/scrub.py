"""Secret scrubbing for everything the project writes: terminal lines, reports, state files.

Deploying needs `CLOUDFLARE_API_TOKEN` (and usually `CLOUDFLARE_ACCOUNT_ID`) in wrangler's
environment, and nowhere else. Any writer that may echo text it did not compose itself — wrangler's
output, an exception message, a report's metadata table — passes it through `scrub()` first, which
replaces the *values* of secret environment variables with a label naming the variable. A variable
is secret when it is one of `SECRET_ENV_NAMES` or its name ends like a credential (`_TOKEN`,
`_SECRET`, `_PASSWORD`, `_API_KEY`, ...). Values shorter than `MIN_SECRET_LENGTH` are left alone:
scrubbing "1" or "true" everywhere would mangle reports without protecting anything.

`redact()` is for text that repeats what a user typed (a usage error quoting an option's value, a
URL in a message): it blanks the userinfo of URLs (`https://user:pw@host` → `https://[redacted]@host`,
and `user:pw@host` without a scheme) and the values of query parameters or `name=value` words whose
name looks like a credential (`token=`, `key=`, `sig=`, `password=`, ...), whatever the
environment holds.

A variable of `SECRET_LIST_ENV_NAMES` (the Apprise alert URLs) holds several secrets: each URL in
it is scrubbed on its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MIN_SECRET_LENGTH", "REDACTED", "SECRET_ENV_NAMES", "SECRET_LIST_ENV_NAMES", "is_secret_name",
    "redact", "scrub", "scrub_data", "secret_values", "split_url_list",
]

#: Variables that are always treated as secret (wrangler's and Cloudflare's credentials).
SECRET_ENV_NAMES: frozenset[str] = frozenset({
    "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL",
    "CF_API_TOKEN", "CF_ACCOUNT_ID", "CF_API_KEY", "CF_EMAIL",
    "WRANGLER_CF_AUTHORIZATION_TOKEN", "CLOUDFLARE_API_BASE_URL_TOKEN",
})

#: Variables that hold several secrets, one URL each (Apprise alert channels): each URL is
#: scrubbed on its own, wherever it appears.
SECRET_LIST_ENV_NAMES: frozenset[str] = frozenset({"SYNTHETICS_ALERT_URLS"})

_URL_LIST_SPLIT = re.compile(r"\s+|,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")


def split_url_list(value: str) -> list[str]:
    """URLs separated by white space, or by a comma before the next `scheme://` (a comma
    inside a URL, as in `mailto://…?to=a@x,b@y`, stays)."""
    return [u for u in _URL_LIST_SPLIT.split(value.strip()) if u]


_SECRET_NAME = re.compile(
    r"(?:^|_)(?:TOKEN|SECRET|SECRETS|PASSWORD|PASSWD|PASSPHRASE|API_?KEY|PRIVATE_KEY|"
    r"ACCESS_KEY|CREDENTIALS?|AUTH|WEBHOOK(?:_URL)?|ACCOUNT_ID)$",
    re.IGNORECASE,
)

MIN_SECRET_LENGTH = 6


def is_secret_name(name: str) -> bool:
    """True when an environment variable (or metadata key) of this name holds a secret."""
    return (name.upper() in SECRET_ENV_NAMES or name.upper() in SECRET_LIST_ENV_NAMES
            or bool(_SECRET_NAME.search(name)))


def secret_values(environ: Mapping[str, str] | None = None,
                  extra: Iterable[str] = ()) -> dict[str, str]:
    """{secret value: label} for the secret variables set in `environ` (default os.environ)."""
    env = os.environ if environ is None else environ
    found: dict[str, str] = {}
    for name, value in env.items():
        if is_secret_name(name) and len(value.strip()) >= MIN_SECRET_LENGTH:
            found.setdefault(value, f"[{name} redacted]")
            stripped = value.strip()
            if stripped != value:
                found.setdefault(stripped, f"[{name} redacted]")
            if name.upper() in SECRET_LIST_ENV_NAMES:
                for url in split_url_list(value):
                    if len(url) >= MIN_SECRET_LENGTH:
                        found.setdefault(url, f"[{name} redacted]")
    for value in extra:
        if len(value) >= MIN_SECRET_LENGTH:
            found.setdefault(value, "[secret redacted]")
    return found


def scrub(text: str, environ: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> str:
    """`text` with every secret value (see `secret_values`) replaced by a label naming it."""
    secrets = secret_values(environ, extra)
    if not secrets or not text:
        return text
    # Longest first, so a secret that contains another is replaced whole.
    for value in sorted(secrets, key=len, reverse=True):
        if value in text:
            text = text.replace(value, secrets[value])
    return text


def scrub_data(data: Any, environ: Mapping[str, str] | None = None,
               extra: Iterable[str] = ()) -> Any:
    """A copy of JSON-like `data` with secrets scrubbed from every string, and the value of every
    key that names a secret (e.g. a metadata entry `CLOUDFLARE_API_TOKEN`) replaced whole."""
    secrets = secret_values(environ, extra)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            for secret in sorted(secrets, key=len, reverse=True):
                if secret in value:
                    value = value.replace(secret, secrets[secret])
            return value
        if isinstance(value, Mapping):
            return {k: ("[redacted]" if isinstance(k, str) and is_secret_name(k)
                        and isinstance(v, str) and v else walk(v))
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(walk(v) for v in value)
        return value

    return walk(data)


REDACTED = "[redacted]"
# scheme://AUTHORITY..., up to white space or a quote: the userinfo is what precedes the last "@"
# before the path, query or fragment starts (a password may itself hold "@" or ":").
_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s'\"<>]*)")
# user:password@host without a scheme (e.g. a Pushgateway given as host:port).
_BARE_USERINFO = re.compile(r"(?<![\w.+%:/@-])[^\s'\"<>/@:]+:[^\s'\"<>/@]*@(?=[\w\[])")
# name=value where the name looks like a credential: after ?, &, ; or the start of a word.
_SECRET_WORD = (r"(?:token|key|sig|signature|secret|passw(?:or)?d|pwd|pass|passphrase|auth|"
                r"authorization|credentials?|session|sessionid|code)")
_SECRET_PARAM = re.compile(
    r"(?i)((?:^|(?<=[?&;\s'\"(,]))(?:[\w.-]*[_.-])?(?:api|access|auth|id|refresh|client|"
    r"private|secret|session)?" + _SECRET_WORD + r"=['\"]?)([^\[&\s'\"#;,)][^&\s'\"#;,)]*)")


def _redact_url(match: re.Match[str]) -> str:
    scheme, rest = match.group(1), match.group(2)
    end = len(rest)
    for stop in "/?#":
        where = rest.find(stop)
        if where != -1:
            end = min(end, where)
    at = rest.rfind("@", 0, end)
    if at == -1:  # no "@" in the authority: maybe a password holding "/" — look further
        at = rest.rfind("@", 0, min((i for i in (rest.find("?"), rest.find("#")) if i != -1),
                                    default=len(rest)))
    return scheme + (REDACTED + rest[at:] if at != -1 else rest)


def redact(text: str) -> str:
    """`text` with URL userinfo and credential-like `name=value` values replaced by
    `[redacted]`: for any message that repeats a URL or value the user supplied."""
    if not text:
        return text
    text = _URL.sub(_redact_url, text)
    text = _BARE_USERINFO.sub(REDACTED + "@", text)
    return _SECRET_PARAM.sub(lambda m: m.group(1) + REDACTED, text)
