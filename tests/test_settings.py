"""Settings resolve once, in one order (command line, environment, ini, default), and bad values
are usage errors that say what to pass."""

from __future__ import annotations

import re

import pytest

from synthetics.settings import (
    OPTIONS,
    Settings,
    _fraction,
    _memory_field,
    _percent,
    _word,
    flag,
    non_negative_float,
    parse_target,
    positive_float,
    positive_int,
    resolve,
)
from synthetics.worker import Worker

PROBE = """
def test_show(synthetics_settings):
    print("SETTINGS", synthetics_settings)
"""


def _settings_line(result: pytest.RunResult) -> str:
    return next(line for line in result.stdout.lines if "SETTINGS" in line)


def test_precedence_command_line_env_ini_default(pytester: pytest.Pytester,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(PROBE)
    pytester.makeini("[pytest]\nsynthetics_latency_samples = 11\nsynthetics_concurrency = 3\n"
                     "synthetics_error_samples = 77\n")
    monkeypatch.setenv("SYNTHETICS_LATENCY_SAMPLES", "22")
    monkeypatch.setenv("SYNTHETICS_CONCURRENCY", "4")
    result = pytester.runpytest_subprocess("-s", "--latency-samples=33")
    line = _settings_line(result)
    assert "latency_samples=33" in line  # command line beats environment and ini
    assert "concurrency=4" in line  # environment beats ini
    assert "error_samples=77" in line  # ini beats the default
    assert "request_timeout=5.0" in line  # the default


@pytest.mark.parametrize(("args", "message"), [
    (["--target=ftp://x"], "must start with http:// or https://"),
    (["--target=http://"], "has no host name"),
    (["--target=http://host:99999"], "invalid port"),
    (["--target=https://user:pw@host"], "must not carry credentials"),
    (["--target=http://exa mple.invalid"], "must not contain white space"),
    (["--target=http://bad_host!.example"], "is not a valid host name"),
    (["--latency-samples=0"], "--latency-samples='0': must be a whole number of at least 1"),
    (["--latency-percentile=100"], "between 0 and 100"),
    (["--request-timeout=soon"], "--request-timeout='soon'"),
    (["--memory-field=memory"], "health:fieldName"),
])
def test_bad_values_are_usage_errors(pytester: pytest.Pytester, args: list[str],
                                     message: str) -> None:
    pytester.makepyfile(PROBE)
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_bad_environment_value_names_the_variable(pytester: pytest.Pytester,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(PROBE)
    monkeypatch.setenv("SYNTHETICS_CONCURRENCY", "-1")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "SYNTHETICS_CONCURRENCY='-1'" in result.stderr.str()


def test_help_lists_every_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    text = result.stdout.str()
    for option in OPTIONS:
        assert option.flag in text, option.flag
        assert option.ini in text, option.ini


def test_header_names_the_builtin_target(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PROBE)
    result = pytester.runpytest_subprocess()
    result.stdout.fnmatch_lines(
        ["synthetics target: BUILT-IN REFERENCE WORKER*NOT the production worker*"])


def test_header_names_an_explicit_target(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PROBE)
    result = pytester.runpytest_subprocess("--target=http://127.0.0.1:9/")
    result.stdout.fnmatch_lines(["synthetics target: http://127.0.0.1:9"])


def test_parse_target_keeps_a_path_prefix() -> None:
    assert parse_target(" https://host.example/base/ ") == "https://host.example/base"
    assert parse_target("http://[::1]:8787") == "http://[::1]:8787"


def test_argparse_side_redacts_credentials_in_a_bad_value() -> None:
    """`synthetics heal` and the scheduler parse options with argparse: a bad value's error
    says where it came from without repeating a password (as the pytest side does)."""
    import argparse

    from synthetics.selfheal.settings import OPTIONS as REDEPLOY_OPTIONS
    from synthetics.settings import add_arguments, resolve_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser, REDEPLOY_OPTIONS)
    args = parser.parse_args(["--control-url", "ftp://ops:hunter22secret@status.example/"])
    with pytest.raises(ValueError) as raised:
        resolve_arguments(args, REDEPLOY_OPTIONS, environ={})
    message = str(raised.value)
    assert message.startswith("--control-url=") and "must be an http" in message
    assert "hunter22secret" not in message and "\n" not in message


# --- in-process: the precedence and the parsers, without a pytest subprocess ----------------

class FakeConfig:
    """What `resolve_values` reads of a pytest config: options and ini values by name."""

    def __init__(self, options: dict[str, str] | None = None,
                 ini: dict[str, object] | None = None) -> None:
        self.options, self.ini = options or {}, ini or {}

    def getoption(self, name: str) -> str | None:
        return self.options.get(name)

    def getini(self, name: str) -> object:
        return self.ini.get(name)


def _resolve(options: dict[str, str] | None = None, environ: dict[str, str] | None = None,
             ini: dict[str, object] | None = None) -> Settings:
    return resolve(FakeConfig(options, ini), environ or {})  # type: ignore[arg-type]


def test_resolve_command_line_then_environment_then_ini_then_default() -> None:
    ini = {"synthetics_latency_samples": "11", "synthetics_concurrency": "3",
           "synthetics_error_samples": "77"}
    environ = {"SYNTHETICS_LATENCY_SAMPLES": "22", "SYNTHETICS_CONCURRENCY": "4"}
    s = _resolve({"synthetics_latency_samples": "33"}, environ, ini)
    assert s.latency_samples == 33  # command line beats environment and ini
    assert s.concurrency == 4  # environment beats ini
    assert s.error_samples == 77  # ini beats the default
    assert s.request_timeout == 5.0 and s.latency_percentile == 95.0  # defaults
    assert s.target is None and Worker.from_target(s.target).builtin


def test_resolve_empty_values_fall_through_to_the_next_source() -> None:
    s = _resolve(environ={"SYNTHETICS_CONCURRENCY": ""},
                 ini={"synthetics_concurrency": "", "synthetics_sectors": []})
    assert s.concurrency == 16 and s.sectors == 200
    s = _resolve(environ={"SYNTHETICS_CONCURRENCY": ""}, ini={"synthetics_concurrency": "6"})
    assert s.concurrency == 6


def test_resolve_parses_every_source_and_names_where_a_bad_value_came_from() -> None:
    s = _resolve({"synthetics_target": "http://127.0.0.1:8787/",
                  "synthetics_register_agents": "true"},
                 {"SYNTHETICS_LATENCY_PERCENTILE": "99.5"}, {"synthetics_pass_confidence": "0.9"})
    assert s.target == "http://127.0.0.1:8787" and not Worker.from_target(s.target).builtin
    assert s.register_agents is True and s.latency_percentile == 99.5
    assert s.pass_confidence == 0.9
    for options, environ, ini, where in [
        ({"synthetics_concurrency": "0"}, {}, {}, "--concurrency='0'"),
        ({}, {"SYNTHETICS_CONCURRENCY": "x"}, {}, "SYNTHETICS_CONCURRENCY='x'"),
        ({}, {}, {"synthetics_concurrency": "-2"}, "synthetics_concurrency='-2'"),
    ]:
        with pytest.raises(pytest.UsageError) as error:
            _resolve(options, environ, ini)
        assert str(error.value).startswith(where)


def test_option_names_in_every_source() -> None:
    option = next(o for o in OPTIONS if o.name == "latency_percentile")
    assert (option.flag, option.env, option.ini) == (
        "--latency-percentile", "SYNTHETICS_LATENCY_PERCENTILE", "synthetics_latency_percentile")


@pytest.mark.parametrize(("parse", "good", "bad"), [
    (positive_int, {"1": 1, "500": 500}, ["0", "-1", "1.5", "x"]),
    (positive_float, {"0.001": 0.001, "5": 5.0}, ["0", "-0.1", "nan", "x"]),
    (non_negative_float, {"0": 0.0, "2.5": 2.5}, ["-0.1", "nan", "x"]),
    (_percent, {"0.1": 0.1, "95": 95.0, "99.9": 99.9}, ["0", "100", "-5", "nan", "x"]),
    (_fraction, {"0.001": 0.001, "0.95": 0.95}, ["0", "1", "1.5", "nan"]),
    (flag, {"1": True, "TRUE": True, " yes ": True, "on": True, "0": False, "false": False,
            "No": False, "off": False, "": False}, ["maybe", "2"]),
    (_word, {"production": "production", " staging ": "staging"},
     ["", "  ", "pro duction", "prod\tuction"]),
    (_memory_field, {"health:memoryUsagePercent": "health:memoryUsagePercent",
                     "orchestrate:mem": "orchestrate:mem"},
     ["memory", "dns:mem", "health:", ":mem"]),
])
def test_parsers_accept_good_values_and_refuse_bad_ones(parse, good: dict[str, object],
                                                       bad: list[str]) -> None:
    for text, value in good.items():
        assert parse(text) == value and type(parse(text)) is type(value), text
    for text in bad:
        with pytest.raises(ValueError):
            parse(text)


@pytest.mark.parametrize(("value", "parsed"), [
    ("https://host.example", "https://host.example"),
    ("http://127.0.0.1:8787/", "http://127.0.0.1:8787"),
    ("https://xn--bcher-kva.example/", "https://xn--bcher-kva.example"),
    ("https://bücher.example", "https://bücher.example"),
    ("https://a-b.example.", "https://a-b.example."),
    ("https://_dmarc.example", "https://_dmarc.example"),
])
def test_parse_target_accepts(value: str, parsed: str) -> None:
    assert parse_target(value) == parsed


@pytest.mark.parametrize(("value", "message"), [
    ("ftp://x", "must start with http:// or https://"),
    ("http://", "has no host name"),
    ("http://host:99999", "invalid port"),
    ("https://user:pw@host", "must not carry credentials"),
    ("https://user@host", "must not carry credentials"),
    ("http://exa mple.invalid", "must not contain white space"),
    ("http://host.example/?", "without a query (?) or fragment (#)"),  # urlsplit: no query
    ("http://host.example/#", "without a query (?) or fragment (#)"),  # urlsplit: no fragment
    ("http://bad_host!.example", "is not a valid host name"),
    ("http://-lead.example", "is not a valid host name"),
    ("http://trail-.example", "is not a valid host name"),
    ("http://" + "a" * 64 + ".example", "is not a valid host name"),
    ("http://host.example/?x=1", "without a query (?) or fragment (#)"),
    ("http://host.example/#top", "without a query (?) or fragment (#)"),
])
def test_parse_target_refuses(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_target(value)


@pytest.mark.parametrize(("value", "message"), [
    ("http://exa mple.invalid", "the target must not contain white space"),
    ("ftp://x", "the target must start with http:// or https:// (e.g. "
                "https://wfa-orchestration-worker-production-production.pr-aef.workers.dev)"),
    ("https://user:pw@host", "the target must not carry credentials (user:password@)"),
    ("http://host:99999", "the target has an invalid port"),
    ("http://", "the target has no host name"),
    ("http://host.example/?", "the target must be a base URL without a query (?) or "
                              "fragment (#)"),
])
def test_parse_target_says_what_is_wrong_in_full(value: str, message: str) -> None:
    """The end of the usage error "--target='value': ..."."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_target(value)


def test_resolve_keeps_every_value_of_a_repeated_option() -> None:
    from synthetics.history.plugin import OPTIONS as HISTORY_OPTIONS
    from synthetics.settings import resolve_values

    urls = ["json://a.example/hook", "json://b.example/hook"]
    values = resolve_values(FakeConfig({"synthetics_alert_urls": urls}),  # type: ignore[arg-type]
                            HISTORY_OPTIONS, {})
    assert values["alert_urls"] == tuple(urls)


def test_the_dns_window_is_its_own_option_in_days() -> None:
    """14 days by default (the retention when that is shorter), from the environment or the ini
    file as every option; the 5xx and timeout rates' window stays 24 h whatever it says. The old
    name (--balance-window-days) is not an alias."""
    import dataclasses

    from synthetics.history.plugin import OPTIONS as HISTORY_OPTIONS
    from synthetics.history.plugin import HistorySettings
    from synthetics.settings import resolve_values

    def values(options: dict[str, str] | None = None, environ: dict[str, str] | None = None,
               ini: dict[str, object] | None = None) -> tuple[float, float]:
        got = resolve_values(FakeConfig(options, ini),  # type: ignore[arg-type]
                             HISTORY_OPTIONS, environ or {})
        return got["dns_window_days"], got["history_window_hours"]

    assert values() == (None, 24.0)
    defaults = HistorySettings(**resolve_values(FakeConfig(),  # type: ignore[arg-type]
                                                HISTORY_OPTIONS, {}))
    assert defaults.dns_days == 14.0
    assert dataclasses.replace(defaults, history_retention_days=7.0).dns_days == 7.0
    assert dataclasses.replace(defaults, dns_window_days=20.0).dns_days == 20.0
    assert values(environ={"SYNTHETICS_DNS_WINDOW_DAYS": "20"}) == (20.0, 24.0)
    assert values(ini={"synthetics_dns_window_days": "7.5"}) == (7.5, 24.0)
    assert values({"synthetics_dns_window_days": "3"},
                  {"SYNTHETICS_DNS_WINDOW_DAYS": "20"}) == (3.0, 24.0)
    with pytest.raises(pytest.UsageError,
                       match="^SYNTHETICS_DNS_WINDOW_DAYS='0': must be a number above 0$"):
        values(environ={"SYNTHETICS_DNS_WINDOW_DAYS": "0"})
    assert values(environ={"SYNTHETICS_BALANCE_WINDOW_DAYS": "20"}) == (None, 24.0)
    assert "balance_window_days" not in {o.name for o in HISTORY_OPTIONS}


@pytest.mark.parametrize(("parse", "bad", "message"), [
    (positive_int, "0", "must be a whole number of at least 1"),
    (positive_float, "0", "must be a number above 0"),
    (non_negative_float, "-1", "must be a number, 0 or more"),
    (_percent, "100", "must be a number between 0 and 100"),
    (_fraction, "1", "must be a number between 0 and 1"),
    (flag, "maybe", "must be true or false"),
    (_memory_field, "memory", "must look like health:fieldName or orchestrate:fieldName"),
    (_word, "pro duction", "must be one word, e.g. production"),
])
def test_parsers_say_what_to_pass(parse, bad: str, message: str) -> None:
    """The end of the usage error "--option='value': ..." (see test_bad_values_are_usage_errors)."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse(bad)


def test_parse_target_edges() -> None:
    assert parse_target("http://HOST-X") == "http://HOST-X"  # kept as typed
    assert parse_target("http://hostX/pathX/") == "http://hostX/pathX"  # only slashes go
    assert _memory_field("health:usage:percent") == "health:usage:percent"
    with pytest.raises(ValueError, match=re.escape(
            "(e.g. https://wfa-orchestration-worker-production-production.pr-aef.workers.dev)")
            + "$"):
        parse_target("ftp://x")


def test_resolve_arguments_command_line_then_environment_then_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The argparse side (`synthetics heal`, the Alertmanager receiver) resolves like the pytest
    side: the command line, then the environment (an empty variable is unset), then the default;
    a namespace without the option (the receiver passes an empty one) reads the environment."""
    import argparse

    from synthetics.selfheal.settings import OPTIONS as REDEPLOY_OPTIONS
    from synthetics.settings import add_arguments, resolve_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser, REDEPLOY_OPTIONS)
    environ = {"SYNTHETICS_COOLDOWN_SECONDS": "120", "SYNTHETICS_MAX_REDEPLOYS_PER_HOUR": "",
               "SYNTHETICS_CONFIRM_SECONDS": "30"}
    args = parser.parse_args(["--confirm-seconds", "45"])
    values = resolve_arguments(args, REDEPLOY_OPTIONS, environ)
    assert values["confirm_seconds"] == 45.0  # the command line beats the environment
    assert values["cooldown_seconds"] == 120.0  # the environment beats the default
    default = next(o.default for o in REDEPLOY_OPTIONS if o.name == "max_redeploys_per_hour")
    assert values["max_redeploys_per_hour"] == default  # empty: the default
    assert resolve_arguments(argparse.Namespace(), REDEPLOY_OPTIONS,
                             environ)["cooldown_seconds"] == 120.0
    with pytest.raises(ValueError, match="^SYNTHETICS_COOLDOWN_SECONDS='-1': "):
        resolve_arguments(argparse.Namespace(), REDEPLOY_OPTIONS,
                          {"SYNTHETICS_COOLDOWN_SECONDS": "-1"})
    # Without an explicit mapping, the process environment.
    monkeypatch.setenv("SYNTHETICS_COOLDOWN_SECONDS", "77")
    assert resolve_arguments(argparse.Namespace(), REDEPLOY_OPTIONS)["cooldown_seconds"] == 77.0
