"""Settings: every option is declared once and resolved once into an immutable `Settings`.

Each setting can come from the command line, then an environment variable, then the pytest ini
file, then its default (the order pytest-timeout uses). The help text is written once and used
for both the option and the ini key. A bad value fails while parsing with `pytest.UsageError`
and a sentence saying what to pass.

Commands outside pytest (`synthetics schedule`, `synthetics heal`) declare and resolve the same
`Option`s through `add_arguments` and `resolve_arguments`: one declaration (`_argument`) and one
resolution (`_resolve`) serve both front ends, so a flag, its environment variable and its error
messages are the same wherever it is taken. The commands also share where the checks are
(`checks_dir`) and a parser whose usage errors are one line (`_Parser`).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NoReturn

import pytest

from synthetics.expectations import AGENT_CAPACITY, SECTORS
from synthetics.scrub import redact

__all__ = [
    "EXIT_USAGE", "OPTIONS", "Option", "Settings", "add_arguments", "add_options",
    "canonical_url", "checks_dir", "flag", "non_negative_float", "parse_target",
    "positive_float", "positive_int", "resolve", "resolve_arguments", "resolve_values",
]

EXIT_USAGE = 4  # pytest's own code for a usage error, which every synthetics command uses


def checks_dir() -> Path:
    """Where the checks live: ./checks, else the copy shipped in the wheel, else the source tree."""
    here = Path(__file__).resolve().parent
    for candidate in (Path.cwd() / "checks", here / "_checks", here.parent.parent / "checks"):
        if (candidate / "test_health.py").is_file():
            return candidate
    raise FileNotFoundError("cannot find the checks: run from the project folder, or reinstall")


_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


def _valid_host(host: str) -> bool:
    """An IP address, or dot-separated DNS labels (international names in IDNA form)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return all(_LABEL.match(label) for label in ascii_host.rstrip(".").split("."))


def parse_target(value: str) -> str:
    """Validate a target URL and return it without a trailing slash.

    The messages never repeat the value (it may carry a password): callers prefix them with the
    option and its value passed through `synthetics.scrub.redact`.
    """
    text = value.strip()
    if any(c.isspace() for c in text):
        raise ValueError("the target must not contain white space")
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme.lower() not in ("http", "https"):
        raise ValueError(
            "the target must start with http:// or https:// "
            "(e.g. https://wfa-orchestration-worker-production-production.pr-aef.workers.dev)"
        )
    if "@" in parsed.netloc:  # before anything that might quote the host: it holds userinfo
        raise ValueError("the target must not carry credentials (user:password@)")
    try:
        port = parsed.port
    except ValueError:
        raise ValueError("the target has an invalid port") from None
    del port
    if not parsed.hostname:
        raise ValueError("the target has no host name")
    if not _valid_host(parsed.hostname):
        raise ValueError(f"{parsed.hostname!r} is not a valid host name")
    # "/?" and "/#" leave urlsplit's query and fragment empty: every request would go to "/?/…".
    if parsed.query or parsed.fragment or "?" in text or "#" in text:
        raise ValueError("the target must be a base URL without a query (?) or fragment (#)")
    return text.rstrip("/")


def canonical_url(value: str) -> str:
    """One spelling of a target URL: scheme and host in lower case, the scheme's default port
    dropped, no trailing slash (`HTTP://Example.test:80/` → `http://example.test`). Different
    host names of one machine (`localhost`, `127.0.0.1`) stay different URLs."""
    parsed = urllib.parse.urlsplit(value.strip())
    scheme = parsed.scheme.lower()
    host = (parsed.hostname or "").lower().rstrip(".")
    try:
        port = parsed.port
    except ValueError:
        port = None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}.get(scheme):
        netloc += f":{port}"
    return urllib.parse.urlunsplit((scheme, netloc, parsed.path.rstrip("/"), parsed.query,
                                    parsed.fragment))


# Parsers shared by every plugin's options: each turns text into a value or raises ValueError
# with the end of the sentence "--option='value': ...".
def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be a whole number of at least 1")
    return number


def positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError("must be a number above 0")
    return number


def non_negative_float(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise ValueError("must be a number, 0 or more")
    return number


def _percent(value: str) -> float:
    number = float(value)
    if not 0 < number < 100:
        raise ValueError("must be a number between 0 and 100")
    return number


def _fraction(value: str) -> float:
    number = float(value)
    if not 0 < number < 1:
        raise ValueError("must be a number between 0 and 1")
    return number


def flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false")


def _word(value: str) -> str:
    text = value.strip()
    if not text or any(c.isspace() for c in text):
        raise ValueError("must be one word, e.g. production")
    return text


def _pem_file(value: str) -> str:
    path = os.path.abspath(os.path.expanduser(value.strip()))
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError as exc:
        raise ValueError(f"cannot read it ({exc.strerror or exc})") from None
    if b"-----BEGIN CERTIFICATE-----" not in head:
        raise ValueError("is not a PEM file of certificates (no BEGIN CERTIFICATE line)")
    return path


def _memory_field(value: str) -> str:
    endpoint, sep, field = value.partition(":")
    if not sep or endpoint not in ("health", "orchestrate") or not field:
        raise ValueError("must look like health:fieldName or orchestrate:fieldName")
    return value


@dataclass(frozen=True)
class Option:
    """One setting: its names in every source, its default, its parser and its help."""

    name: str  # the Settings attribute
    flag: str  # command-line option
    help: str
    default: Any
    parse: Callable[[str], Any] = str
    is_flag: bool = False
    #: May be given several times on the command line: the values reach `parse` one a line.
    repeat: bool = False

    @property
    def env(self) -> str:
        return "SYNTHETICS_" + self.name.upper()

    @property
    def dest(self) -> str:
        """Where both command-line parsers (pytest's and argparse) keep the raw value."""
        return "synthetics_" + self.name

    @property
    def ini(self) -> str:
        return "synthetics_" + self.name


OPTIONS: tuple[Option, ...] = (
    Option("target", "--target",
           "Base URL of the worker to check. Without one, the built-in reference worker is "
           "started on a free loopback port.", None, parse_target),
    Option("latency_percentile", "--latency-percentile",
           "Percentile of the latency samples compared with each budget (default 95).",
           95.0, _percent),
    Option("latency_samples", "--latency-samples",
           "Timed samples per latency check, after the warm-up (default 100).", 100,
           positive_int),
    Option("latency_warmup", "--latency-warmup",
           "Untimed warm-up requests before each latency check (default 5).", 5, int),
    Option("error_samples", "--error-samples",
           "Samples per endpoint for the error-rate checks (default 500: see stats notes).",
           500, positive_int),
    Option("concurrency", "--concurrency",
           "Requests in flight at once while sampling error rates (default 16).", 16,
           positive_int),
    Option("request_timeout", "--request-timeout",
           "Seconds a whole request may take on the wall clock: connect, TLS, sending, headers "
           "and body (default 5, as the operators' monitor).", 5.0, positive_float),
    Option("max_consecutive_failures", "--max-consecutive-failures",
           "Consecutive failed exchanges (no response, or a response cut short: a timeout, "
           "reset, truncated or oversized body) on one endpoint after which its remaining "
           "samples are abandoned and counted as the same failure (default 3).", 3,
           positive_int),
    Option("max_body_bytes", "--max-body-bytes",
           "Largest response body read, in bytes; a larger one fails the check (default 1 MiB).",
           1 << 20, positive_int),
    Option("pass_confidence", "--pass-confidence",
           "Confidence needed to declare an error-rate target met (default 0.95).", 0.95,
           _fraction),
    Option("false_alarm_budget", "--false-alarm-budget",
           "Chance per run that a healthy worker fails any error-rate check (default 0.001).",
           0.001, _fraction),
    Option("register_agents", "--register-agents",
           "Opt in to the agent-registration check, which POSTs synthetic agents to "
           "/mcp/agent/register (a write endpoint).", False, flag, is_flag=True),
    Option("registration_samples", "--registration-samples",
           "Synthetic registrations made by the opt-in registration check (default 300: with "
           "none failing, enough to show > 99% success at 95% confidence).", 300,
           positive_int),
    Option("memory_field", "--memory-field",
           "Where the worker reports memory use in percent, as ENDPOINT:FIELD "
           "(e.g. health:memoryUsagePercent). The worker exposes none today.", None,
           _memory_field),
    Option("agent_capacity", "--agent-capacity",
           f"AGENT_CAPACITY the worker is configured with (default {AGENT_CAPACITY}, "
           "production).", AGENT_CAPACITY, positive_int),
    Option("sectors", "--sectors",
           f"SECTORS the worker is configured with (default {SECTORS}, production).", SECTORS,
           positive_int),
    Option("environment", "--environment",
           "ENVIRONMENT the worker must report in /health and /mcp/orchestrate (default "
           "production; a deploy without --env production drops the field).", "production",
           _word),
    Option("max_clock_skew", "--max-clock-skew",
           "Seconds a JSON answer's timestamp may differ from the probe's clock (default 300): "
           "a cached or frozen answer is older.", 300.0, positive_float),
    Option("tls_min_days", "--tls-min-days",
           "Days an https target's certificate must stay valid (default 14).", 14.0,
           non_negative_float),
    Option("ca_bundle", "--ca-bundle",
           "PEM file of the certificate authorities an https target is verified against, "
           "for a private CA (default: the system's).", None, _pem_file),
    Option("run_budget", "--run-budget",
           "Seconds the checks of one run may take in all; once spent, remaining samples are "
           "abandoned, requests in flight end, and every check not yet finished fails with that "
           "reason (default 90: a run ends within 2 minutes whatever the target does; raise it "
           "for a distant, slow worker).", 90.0, positive_float),
)


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one session."""

    target: str | None
    latency_percentile: float
    latency_samples: int
    latency_warmup: int
    error_samples: int
    concurrency: int
    request_timeout: float
    max_consecutive_failures: int
    max_body_bytes: int
    pass_confidence: float
    false_alarm_budget: float
    register_agents: bool
    registration_samples: int
    memory_field: str | None
    agent_capacity: int
    sectors: int
    environment: str
    max_clock_skew: float
    tls_min_days: float
    ca_bundle: str | None
    run_budget: float


assert [f.name for f in fields(Settings)] == [o.name for o in OPTIONS]


def _argument(option: Option, sources: str) -> dict[str, Any]:
    """The argparse keywords of `option`: one declaration for pytest's parser and argparse.

    Every action stores the raw text (or None when absent) so that the resolution can tell "not
    given" from a default and name where a bad value came from."""
    # argparse %-formats help texts: "99%" must reach it as "99%%".
    kwargs: dict[str, Any] = {
        "default": None, "dest": option.dest,
        "help": (option.help + f" [{sources}]").replace("%", "%%")}
    if option.is_flag:
        kwargs.update(action="store_const", const="true")
    elif option.repeat:
        kwargs["action"] = "append"
    else:
        kwargs["action"] = "store"
    return kwargs


def add_options(
    parser: pytest.Parser,
    options: tuple[Option, ...] = OPTIONS,
    group: str = "synthetics",
    description: str = "synthetic checks of the Victory36 worker",
) -> None:
    """Register `options` on the command line and in the ini file, each help written once."""
    group_obj = parser.getgroup(group, description)
    for option in options:
        group_obj.addoption(option.flag,
                            **_argument(option, f"env {option.env}, ini {option.ini}"))
        parser.addini(option.ini, option.help, default=None)


def add_arguments(parser: argparse.ArgumentParser, options: tuple[Option, ...]) -> None:
    """The argparse side of `options` (for commands outside pytest): the same flags and help."""
    for option in options:
        kwargs = _argument(option, f"env {option.env}")
        if not option.is_flag:
            kwargs["metavar"] = option.name.upper()
        parser.add_argument(option.flag, **kwargs)


def _resolve(options: tuple[Option, ...], given: Callable[[Option], Any],
             ini: Callable[[Option], Any], environ: Mapping[str, str] | None,
             error: Callable[[str], Exception]) -> dict[str, Any]:
    """Resolve `options`: command line (`given`), then environment, then ini, then default.
    A value that does not parse raises `error` with `parse_value`'s one-line message."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for option in options:
        raw: str | None = given(option)
        if isinstance(raw, list):  # a repeatable option given several times
            raw = "\n".join(raw)
        origin = option.flag
        if raw is None and env.get(option.env) not in (None, ""):
            raw, origin = env[option.env], option.env
        if raw is None:
            ini_value = ini(option)
            if ini_value not in (None, "", []):
                raw, origin = str(ini_value), option.ini
        if raw is None:
            values[option.name] = option.default
            continue
        try:
            values[option.name] = parse_value(option, raw, origin)
        except ValueError as exc:
            raise error(str(exc)) from None
    return values


def resolve_values(
    config: pytest.Config, options: tuple[Option, ...], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Resolve `options` registered by `add_options`: command line, then environment, then ini,
    then default.

    A value that does not parse raises `pytest.UsageError` naming where it came from, one line,
    with any password or token in the value (or the parser's message) redacted.
    """
    return _resolve(options, lambda o: config.getoption(o.dest), lambda o: config.getini(o.ini),
                    environ, pytest.UsageError)


def resolve_arguments(
    args: argparse.Namespace, options: tuple[Option, ...],
    environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Resolve `options` parsed by `add_arguments` (or absent from `args`): command line, then
    environment, then default (commands outside pytest read no ini file). A value that does not
    parse raises ValueError naming where it came from."""
    return _resolve(options, lambda o: getattr(args, o.dest, None), lambda o: None, environ,
                    ValueError)


def parse_value(option: Option, raw: str, origin: str) -> Any:
    """`raw` parsed by `option`; a ValueError says where it came from in one line, with any
    credential in the value redacted (`synthetics.scrub.redact`)."""
    try:
        return option.parse(raw)
    except ValueError as exc:
        raise ValueError(redact(" ".join(f"{origin}={raw!r}: {exc}".split()))) from None


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (secrets redacted) and exits with pytest's code
    for one (4), not 2 (interrupted)."""

    def error(self, message: str) -> NoReturn:
        text = redact(" ".join(message.split()))
        self.exit(EXIT_USAGE, f"{self.prog}: error: {text} (see {self.prog} --help)\n")


def resolve(config: pytest.Config, environ: Mapping[str, str] | None = None) -> Settings:
    """The session's `Settings`, resolved once."""
    return Settings(**resolve_values(config, OPTIONS, environ))


def _default_text(default: Any) -> str:
    """A default as a reader writes it: off/on, a list joined, nothing as a dash."""
    if default is None or default == ():
        return "—"
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, tuple):
        return ", ".join(str(item) for item in default)
    return str(default)


def markdown_table(options: tuple[Option, ...] = OPTIONS) -> str:
    """A table of options for docs/options.md, rendered from `options`."""
    lines = ["| option | environment | ini | default |", "|---|---|---|---|"]
    for o in options:
        lines.append(f"| `{o.flag}` | `{o.env}` | `{o.ini}` | {_default_text(o.default)} |")
    return "\n".join(lines) + "\n"
