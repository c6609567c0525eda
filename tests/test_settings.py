"""Settings resolve once, in one order (command line, environment, ini, default), and bad values
are usage errors that say what to pass."""

from __future__ import annotations

import pytest

from synthetics.settings import OPTIONS, parse_target

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
    result.stdout.fnmatch_lines(["synthetics target: BUILT-IN REFERENCE WORKER*NOT production*"])


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

    from synthetics.redeploy import OPTIONS as REDEPLOY_OPTIONS
    from synthetics.settings import add_arguments, resolve_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser, REDEPLOY_OPTIONS)
    args = parser.parse_args(["--control-url", "ftp://ops:hunter22secret@status.example/"])
    with pytest.raises(ValueError) as raised:
        resolve_arguments(args, REDEPLOY_OPTIONS, environ={})
    message = str(raised.value)
    assert message.startswith("--control-url=") and "must be an http" in message
    assert "hunter22secret" not in message and "\n" not in message
