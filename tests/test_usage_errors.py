"""Usage errors, as users meet them: one line on stderr, exit 4, no traceback, no secret.

A password in `--target http://user:pw@host` or `--pushgateway`, a token in a query string: every
message that repeats what the user typed goes through `synthetics.scrub.redact`. Targets ending in
`/?` or `/#` are refused. An unusable `--history` path is refused by every command that takes it,
before anything runs; listing and read-only commands create nothing when there is no history yet.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from synthetics.history.plugin import HistoryWindow, _Recorder
from synthetics.rates import FAILURE_KINDS
from synthetics.scrub import redact

PASSWORD = "s3cretpw-CANARY"
TOKEN = "tok-CANARY-91b2"
BIN = Path(sys.executable).parent / "synthetics"


def _env() -> dict[str, str]:
    # As a user runs it: none of this session's settings or xdist variables.
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("SYNTHETICS_", "PYTEST_XDIST", "PYTEST_CURRENT"))}


def synthetics(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=120, check=False)


def jobs(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "synthetics.schedule.jobs", *args], cwd=cwd,
                          env=_env(),
                          capture_output=True, text=True, timeout=120, check=False)


def assert_one_line_usage_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 4, exactly one non-empty line on stderr, no traceback; returns that line."""
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert result.returncode == 4, (result.returncode, result.stdout[-2000:], result.stderr)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*")}


# --- secrets are never echoed ----------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    (f"http://user:{PASSWORD}@127.0.0.1:1", "http://[redacted]@127.0.0.1:1"),
    (f"--target='HTTPS://u:{PASSWORD}@h/x': no", "--target='HTTPS://[redacted]@h/x': no"),
    (f"user:{PASSWORD}@gateway:9091", "[redacted]@gateway:9091"),
    (f"https://{TOKEN}@github.com/o/r.git", "https://[redacted]@github.com/o/r.git"),
    (f"http://u:{PASSWORD}@{PASSWORD}@h/", "http://[redacted]@h/"),  # "@" inside the password
    (f"https://h/p?token={TOKEN}&page=2&sig={TOKEN}#top",
     "https://h/p?token=[redacted]&page=2&sig=[redacted]#top"),
    (f"https://h/?X-Amz-Signature={TOKEN}&api_key={TOKEN}",
     "https://h/?X-Amz-Signature=[redacted]&api_key=[redacted]"),
    (f"password={PASSWORD} access_token={TOKEN}", "password=[redacted] access_token=[redacted]"),
    (f"--api-token='{TOKEN}': must be", "--api-token='[redacted]': must be"),
    # Left alone: no credentials, and labels another scrubber already put in.
    ("http://127.0.0.1:8787/health?page=2 monkey=1",
     "http://127.0.0.1:8787/health?page=2 monkey=1"),
    ("CLOUDFLARE_API_TOKEN=[CLOUDFLARE_API_TOKEN redacted]",
     "CLOUDFLARE_API_TOKEN=[CLOUDFLARE_API_TOKEN redacted]"),
])
def test_redact_blanks_userinfo_and_credential_parameters(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("args", [
    ("run", "--target", f"http://user:{PASSWORD}@127.0.0.1:1"),
    ("run", "--target", f"http://user:{PASSWORD}@127.0.0.1:1/?token={TOKEN}"),
    ("run", "--pushgateway", f"http://user:{PASSWORD}@:9091"),  # no host
    ("run", "--pushgateway", f"user:{PASSWORD}@127.0.0.1:port"),  # a port that is no number
    ("run", "--control-url", f"ftp://user:{PASSWORD}@127.0.0.1/?key={TOKEN}"),
    ("schedule", "--list", "--target", f"http://user:{PASSWORD}@127.0.0.1:1"),
    ("schedule", "--list", "--heartbeat-seconds", f"http://user:{PASSWORD}@x"),
    ("schedule", "--run-now", f"https://h/?password={PASSWORD}", "--history", "off"),
])
def test_secrets_in_bad_values_are_never_echoed(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = synthetics(*args, "--reports", str(tmp_path / "r"), cwd=tmp_path) \
        if args[0] == "run" else synthetics(*args, cwd=tmp_path)
    line = assert_one_line_usage_error(result, "[redacted]")
    assert PASSWORD not in result.stdout + result.stderr
    assert TOKEN not in result.stdout + result.stderr
    assert line.count("[redacted]") >= 1


def test_pytests_own_usage_error_is_redacted_under_synthetics_run(tmp_path: Path) -> None:
    """A mistyped option is pytest's usage error (several lines, quoting the arguments)."""
    result = synthetics("run", "--reports", str(tmp_path / "r"),
                        f"--targt=http://user:{PASSWORD}@127.0.0.1:1", cwd=tmp_path)
    assert result.returncode == 4 and "unrecognized arguments: --targt=http://[redacted]@" in \
        result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_the_analysis_jobs_redact_a_bad_target_too(tmp_path: Path) -> None:
    result = jobs("optimisation", "--target", f"ftp://u:{PASSWORD}@h", "--history", "off",
                  cwd=tmp_path)
    assert_one_line_usage_error(result, "--target='ftp://[redacted]@h'", "must start with http")
    assert PASSWORD not in result.stdout + result.stderr


# --- targets ---------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["http://127.0.0.1:1/?", "http://127.0.0.1:1/#",
                                    "http://127.0.0.1:1?", "https://worker.example/base/#x"])
def test_a_target_with_an_empty_query_or_fragment_is_refused(tmp_path: Path,
                                                             target: str) -> None:
    result = synthetics("run", "--target", target, "--reports", str(tmp_path / "r"),
                        cwd=tmp_path)
    assert_one_line_usage_error(result, f"--target={target!r}", "without a query (?) or fragment")
    scheduled = synthetics("schedule", "--list", "--target", target, "--history", "off",
                           cwd=tmp_path)
    assert_one_line_usage_error(scheduled, "without a query (?) or fragment")


# --- the DNS window ----------------------------------------------------------------------------

def test_a_dns_window_longer_than_the_history_kept_is_refused(tmp_path: Path) -> None:
    """Samples older than --history-retention-days are pruned: a longer DNS window would
    promise answers it can never hold."""
    flag = synthetics("run", "--reports", str(tmp_path / "r"), "--dns-window-days", "40",
                      cwd=tmp_path)
    assert_one_line_usage_error(flag, "DNS window of 40 days (--dns-window-days)",
                                "the 35 days of history kept", "pass at most 35")
    env = subprocess.run([str(BIN), "run", "--reports", str(tmp_path / "r")], cwd=tmp_path,
                         env={**_env(), "SYNTHETICS_DNS_WINDOW_DAYS": "35.5"},
                         capture_output=True, text=True, timeout=120, check=False)
    assert_one_line_usage_error(env, "DNS window of 35.5 days")
    kept = synthetics("run", "--reports", str(tmp_path / "r"), "--dns-window-days", "40",
                      "--history-retention-days", "40", "--collect-only", "-q", cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr
    # not given, the window shrinks to a retention shorter than its 14 days
    short = synthetics("run", "--reports", str(tmp_path / "r"), "--history-retention-days", "7",
                       "--collect-only", "-q", cwd=tmp_path)
    assert short.returncode == 0, short.stderr


# --- unusable history paths --------------------------------------------------------------------

def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder nobody may create files in: a read-only one, or /proc/self for root (who may
    write anywhere permissions alone decide)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.access(folder, os.W_OK):
        return Path("/proc/self")
    return folder


def _bad_history(tmp_path: Path, kind: str) -> tuple[str, str]:
    """(path, words of the reason) for one kind of unusable history path."""
    if kind == "folder":
        (tmp_path / "db-folder").mkdir()
        return str(tmp_path / "db-folder"), "is a folder, not a database file"
    if kind == "under-a-file":
        (tmp_path / "plain").write_text("")
        return str(tmp_path / "plain" / "sub" / "h.sqlite3"), "plain is a file, so"
    if kind == "not-sqlite":
        (tmp_path / "notes.txt").write_text("hello\n")
        return str(tmp_path / "notes.txt"), "is not a SQLite database"
    folder = _unwritable_folder(tmp_path)
    return str(folder / "new" / "h.sqlite3"), f"the folder {folder} is not writable"


KINDS = ["folder", "under-a-file", "not-sqlite", "unwritable"]


@pytest.mark.parametrize("kind", KINDS)
def test_unusable_history_is_a_usage_error_of_run(tmp_path: Path, kind: str) -> None:
    """Before: the 5xx checks crashed with KeyError: 'responses' (the window of a history that
    could not be opened had no 'responses')."""
    path, reason = _bad_history(tmp_path, kind)
    result = synthetics("run", "--reports", str(tmp_path / "r"), "-m", "error_rate",
                        "--error-samples", "10", "--history", path, cwd=tmp_path)
    assert_one_line_usage_error(result, f"--history={path!r}", reason)
    assert "KeyError" not in result.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_unusable_history_is_a_usage_error_of_schedule(tmp_path: Path, kind: str) -> None:
    path, reason = _bad_history(tmp_path, kind)
    before = files_under(tmp_path)
    for args in (("--list",), ("--run-now", "optimisation-review"), ()):
        result = synthetics("schedule", *args, "--history", path, cwd=tmp_path)
        assert_one_line_usage_error(result, "synthetics schedule: --history=", reason)
    assert files_under(tmp_path) == before  # no lock file, no folder, no database


@pytest.mark.parametrize("kind", KINDS)
def test_unusable_history_is_a_usage_error_of_the_analysis_jobs(tmp_path: Path,
                                                                kind: str) -> None:
    path, reason = _bad_history(tmp_path, kind)
    for job in ("optimisation", "performance"):
        result = jobs(job, "--history", path, cwd=tmp_path)
        assert_one_line_usage_error(result, f"--history={path!r}", reason)


def test_listing_without_history_creates_nothing(tmp_path: Path) -> None:
    before = files_under(tmp_path)
    listed = synthetics("schedule", "--list", "--history", "nested/dir/h.sqlite3", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "no history at nested/dir/h.sqlite3 yet" in listed.stdout
    assert "dr-drill" in listed.stdout  # the table itself is there
    default = synthetics("schedule", "--list", cwd=tmp_path)  # .synthetics/history.sqlite3
    assert default.returncode == 0 and "no history at .synthetics/history.sqlite3" in \
        default.stdout
    for job in ("optimisation", "performance"):
        report = jobs(job, "--history", "nested/h.sqlite3", cwd=tmp_path)
        assert report.returncode == 0 and "no history at nested/h.sqlite3 yet" in report.stdout
    assert files_under(tmp_path) == before


def test_a_history_window_that_cannot_open_still_has_every_count(tmp_path: Path) -> None:
    """The history broke after the options were checked (it happens: a disk fills, a file is
    replaced): the error-rate checks get zeros for every count, 'responses' included."""
    (tmp_path / "db").mkdir()
    recorder = _Recorder(str(tmp_path / "db"), "adhoc", None, None, "http://127.0.0.1:1")
    for kind in FAILURE_KINDS:
        counts = HistoryWindow(recorder, 24).counts(kind, "health")
        assert (counts.failures, counts.total, counts.samples, counts.runs) == (0, 0, 0, 0)
    assert recorder.errors and recorder.errors[0].startswith("history off for this run")
