"""`synthetics heal`: one decider for an outage seen from many regions.

Region runs never deploy: each writes `summary.json`, which carries the region's vote
(`region_vote`, under "heal"): its `region` (`--region`, else the host name), whether the health
checks passed ("up"), failed ("down") or did not run, and — when they failed — whether the
region's own control URL answered. A region whose control probe failed counts as not reporting:
its network may be what is down, so it is never a vote for "down".

`synthetics heal --summaries DIR [--quorum Q]` reads every summary.json under DIR (the region
jobs' artifacts), counts the votes of the reporting regions, and when at least Q of them (default:
a majority of those that reported) see /health down, runs the remediation ladder once
(`synthetics.selfheal.plugin.build_ladder`, so the same guardrails: the local state file,
Cloudflare's
deployments list and status page, an Alertmanager silence, and who failed in /health's answer:
only a worker failure is redeployed), which re-confirms from this runner before acting. It
takes the self-healing plugin's options under the same names and environment variables
(`synthetics.selfheal.settings.OPTIONS`; without `--redeploy` it is a dry run). Otherwise it
says why it does nothing. Exit 0 when nobody has to act, 1 when the outcome escalates, 4 on a
usage error.

`synthetics heal --listen HOST:PORT --target URL` is the Alertmanager webhook receiver instead
(`serve_receiver`). Only `POST /alertmanager` with `Authorization: Bearer $SYNTHETICS_HEAL_TOKEN`
(the token never on a command line) and a JSON body of at most 1 MiB is accepted; everything
else is refused (401 no token, 403 wrong token, 404 other paths, 405 other methods, 411/413/400
bodies). A firing group with a firing `health_down` alert for the target runs the ladder once,
in the background, one at a time; a resolved group, a repeat of a group already handled and any
other alert are no-ops.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import queue
import re
import signal
import socket
import sys
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from synthetics.history.alertmanager import MAX_BODY, SilenceGate, worker_of
from synthetics.history.alertmanager import OPTIONS as ALERTMANAGER_OPTIONS
from synthetics.plugin import SETTINGS
from synthetics.probe import strict_json
from synthetics.reporting.metrics import METRICS_SETTINGS
from synthetics.scrub import scrub
from synthetics.selfheal.deployment import DeploymentError
from synthetics.selfheal.ladder import Outcome
from synthetics.selfheal.plugin import (
    build_ladder,
    probe_control,
    resolve_deployment,
    summary_lines,
)
from synthetics.selfheal.settings import OPTIONS as REDEPLOY_OPTIONS
from synthetics.selfheal.settings import REDEPLOY_SETTINGS, RedeploySettings
from synthetics.settings import EXIT_USAGE, add_arguments, parse_target, resolve_arguments
from synthetics.settings import OPTIONS as CORE_OPTIONS

__all__ = ["Decision", "Vote", "add_heal_parser", "decide", "read_votes", "region_vote",
           "serve_receiver"]

TOKEN_ENV = "SYNTHETICS_HEAL_TOKEN"
WEBHOOK_PATH = "/alertmanager"
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s'\"]+@")


def _clean(text: str) -> str:
    """`text` scrubbed of secrets, URL credentials (user:password@) included."""
    return scrub(_USERINFO.sub(r"\1<credentials>@", text))


def _canonical(url: str) -> str:
    parts = urllib.parse.urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if port in (None, default) else f"{host}:{port}"
    if ":" in host:
        netloc = f"[{host}]" if port in (None, default) else f"[{host}]:{port}"
    return urllib.parse.urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


# --- the region side: what a run adds to summary.json -----------------------------------------

def region_vote(config: Any, checks: list[Any], builtin: bool,
                probe: Callable[[str, float], tuple[bool, str]] | None = None) -> dict[str, Any]:
    """The region's vote for summary.json: {"region": ..., "heal": {...}}.

    `checks` are the run's `CheckResult`s; the control URL is probed only when a health check
    failed (a healthy answer from the target already proves the region's network works).
    """
    metrics = config.stash.get(METRICS_SETTINGS, None)
    region = (metrics.region if metrics is not None else None) or socket.gethostname()
    health = [c for c in checks if c.area == "health"]
    failed = [f"{c.name}: {c.message}"[:300] for c in health if c.status == "fail"]
    verdict = "not-run" if not health or all(c.status == "skipped" for c in health) else (
        "down" if failed else "up")
    control = None
    if verdict == "down" and not builtin:
        redeploy = config.stash.get(REDEPLOY_SETTINGS, None)
        core = config.stash.get(SETTINGS, None)
        if redeploy is not None:
            timeout = core.request_timeout if core is not None else 5.0
            reachable, detail = (probe or probe_control)(redeploy.control_url, timeout)
            control = {"url": scrub(redeploy.control_url), "reachable": reachable,
                       "detail": scrub(detail)}
    return {"region": region, "heal": {"health": verdict, "failed_health_checks": failed,
                                       "control": control}}


# --- the decider's side ------------------------------------------------------------------------

@dataclass
class Vote:
    """One region's summary, as the decider reads it."""

    source: str  # the summary.json path
    region: str
    target: str
    health: str  # up | down | not-run | unknown
    failed: list[str] = field(default_factory=list)
    control: dict[str, Any] | None = None
    builtin: bool = False

    def not_reporting(self) -> str | None:
        """Why this region's vote does not count, or None when it does."""
        if self.builtin:
            return "it checked the built-in reference worker"
        if self.health == "down" and self.control is not None and not self.control.get(
                "reachable"):
            return (f"its control probe failed ({self.control.get('url')}: "
                    f"{self.control.get('detail')}), so its network may be what is down")
        if self.health == "down" and self.control is None:
            return "its health checks failed but it did not probe its control URL"
        if self.health not in ("up", "down"):
            return f"its health checks did not run ({self.health})"
        return None


def read_votes(directory: Path) -> tuple[list[Vote], list[str]]:
    """The votes in every summary.json under `directory`, and the files that could not be read."""
    votes, problems = [], []
    for path in sorted(Path(directory).rglob("summary.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            heal = data.get("heal") or {}
            votes.append(Vote(
                source=str(path), region=str(data.get("region") or path.parent.name),
                target=str(data.get("target") or ""), health=str(heal.get("health", "unknown")),
                failed=[str(x) for x in heal.get("failed_health_checks") or []],
                control=heal.get("control") if isinstance(heal.get("control"), dict) else None,
                builtin=bool(data.get("builtin_reference_worker"))))
        except (OSError, ValueError, AttributeError, RecursionError) as exc:
            problems.append(f"{path}: unreadable ({type(exc).__name__})")
    return votes, problems


@dataclass
class Decision:
    act: bool
    target: str
    headline: str
    lines: list[str]
    reason: str = ""


def decide(votes: list[Vote], quorum: int | None, target: str | None = None) -> Decision:
    """Whether at least `quorum` reporting regions see /health down (one target only)."""
    lines: list[str] = []
    if target:
        wanted = _canonical(target)
        skipped = [v for v in votes if _canonical(v.target) != wanted]
        votes = [v for v in votes if _canonical(v.target) == wanted]
        lines += [f"{v.region}: ignored (a run of {v.target or 'no target'})" for v in skipped]
    counted, silent = [], []
    for vote in votes:
        why = vote.not_reporting()
        if why is None:
            counted.append(vote)
        else:
            silent.append(vote)
            lines.append(f"{vote.region}: not reporting — {why}")
    targets = sorted({_canonical(v.target) for v in counted})
    if len(targets) > 1:
        raise ValueError(f"the summaries are of {len(targets)} different targets "
                         f"({', '.join(targets)}): pass --target URL")
    chosen = target or (counted[0].target if counted else "")
    if not counted:
        return Decision(False, chosen, (
            f"no deploy: none of the {len(votes)} region(s) reported a usable health verdict"),
            lines)
    need = quorum if quorum is not None else len(counted) // 2 + 1
    down = [v for v in counted if v.health == "down"]
    for vote in counted:
        lines.append(f"{vote.region}: /health {vote.health}"
                     + (f" ({'; '.join(vote.failed)[:300]})" if vote.failed else ""))
    summary = (f"{len(down)} of {len(counted)} reporting region(s) see /health down "
               f"(quorum {need}{'' if quorum is not None else ', a majority'}"
               f"{f'; {len(silent)} not reporting' if silent else ''})")
    if len(down) < need:
        return Decision(False, chosen, f"no deploy: {summary}", lines)
    reason = f"{summary}: " + "; ".join(f"{v.region}: {'; '.join(v.failed)[:200]}" for v in down)
    return Decision(True, chosen, f"quorum reached: {summary}", lines, reason=reason)


# --- the command --------------------------------------------------------------------------------

def _options() -> tuple[Any, ...]:
    timeout = tuple(o for o in CORE_OPTIONS if o.name == "request_timeout")
    return (*REDEPLOY_OPTIONS, *timeout, *ALERTMANAGER_OPTIONS)


def _quorum(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be a whole number of at least 1")
    return number


def add_heal_parser(sub: Any) -> None:
    heal = sub.add_parser("heal", help="decide once for all regions: read their summary.json "
                                       "files and run the self-healing ladder on a quorum")
    heal.add_argument("--summaries", help="folder searched for the regions' summary.json files")
    heal.add_argument("--quorum", type=_quorum, default=None,
                      help="regions that must see /health down (default: a majority of the "
                           "regions that reported)")
    heal.add_argument("--target", default=None,
                      help="only the summaries of this worker URL (default: the one they share)")
    heal.add_argument("--listen", default=None, metavar="HOST:PORT",
                      help="run as Alertmanager's webhook receiver on this loopback or private "
                           "address (bearer token from SYNTHETICS_HEAL_TOKEN)")
    heal.add_argument("--report", default=None,
                      help="also write the decision and outcome as JSON to this file")
    add_arguments(heal, _options())
    heal.set_defaults(func=run_heal)


def _say(line: str) -> None:
    print(f"heal: {_clean(line)}", flush=True)


def settings_from(args: argparse.Namespace) -> tuple[Any, float, str | None]:
    """(RedeploySettings, request timeout, Alertmanager URL) from the command line and env."""
    values = resolve_arguments(args, _options())
    redeploy = RedeploySettings(**{o.name: values[o.name] for o in REDEPLOY_OPTIONS})
    return redeploy, float(values["request_timeout"]), values.get("alertmanager")


def remediate(settings: Any, timeout: float, alertmanager: str | None, target: str,
              reason: str, say: Callable[[str], None] = _say) -> Any:
    """Run the ladder once for `target` (the same guardrails as the plugin, plus a silence
    check when an Alertmanager is configured). Returns the `Outcome`."""
    try:
        deployment, note = resolve_deployment(settings, target, say)
    except DeploymentError as exc:
        return Outcome("error", scrub(f"not deploying: {exc}"), target=target, reason=reason)
    gates: tuple[Any, ...] = ()
    if alertmanager:
        gates = (SilenceGate(alertmanager, worker_of(settings), target, timeout),)
    ladder = build_ladder(settings, deployment, target, reason, timeout, uuid.uuid4().hex[:12],
                          say=say, gates=gates)
    try:
        return ladder.remediate(scrub(reason))
    except OSError as exc:
        return Outcome("error", scrub(f"cannot use the state dir {settings.state_path}: "
                                      f"{exc.strerror or exc}; not deploying"), target=target,
                       reason=reason)


def run_heal(args: argparse.Namespace) -> int:
    try:
        settings, timeout, alertmanager = settings_from(args)
        if args.target:
            args.target = parse_target(args.target)
    except ValueError as exc:
        print(f"synthetics heal: {_clean(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    if args.listen:
        return serve_receiver(args.listen, settings, timeout, alertmanager, args.target)
    if not args.summaries:
        print("synthetics heal: pass --summaries DIR (the regions' summary.json files) or "
              "--listen HOST:PORT", file=sys.stderr)
        return EXIT_USAGE
    folder = Path(args.summaries)
    if not folder.is_dir():
        print(f"synthetics heal: --summaries {scrub(str(folder))!r} is not a folder",
              file=sys.stderr)
        return EXIT_USAGE
    votes, problems = read_votes(folder)
    for problem in problems:
        _say(problem)
    try:
        decision = decide(votes, args.quorum, args.target)
        if decision.act:
            decision.target = parse_target(decision.target)
    except ValueError as exc:
        print(f"synthetics heal: {_clean(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    for line in decision.lines:
        _say(line)
    _say(decision.headline)
    record: dict[str, Any] = {"decision": decision.headline, "regions": decision.lines,
                              "act": decision.act, "target": decision.target}
    code = 0
    if decision.act:
        if not settings.redeploy:
            _say("dry run: pass --redeploy (or SYNTHETICS_REDEPLOY=true) to deploy")
        outcome = remediate(settings, timeout, alertmanager, decision.target, decision.reason)
        for line in summary_lines(outcome):
            print(_clean(line) if line.startswith("== ") else f"heal: {_clean(line)}",
                  flush=True)
        record["outcome"] = outcome.as_dict()
        code = 1 if outcome.escalate else 0
    _write_reports(args.report, record)
    return code


def _write_reports(path: str | None, record: dict[str, Any]) -> None:
    if path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        lines = ["### synthetics heal", "", f"**{record['decision']}**", ""]
        lines += [f"- {x}" for x in record["regions"]]
        if "outcome" in record:
            lines += ["", f"outcome: **{record['outcome']['status']}** — "
                          f"{record['outcome']['headline']}"]
        try:
            with open(step_summary, "a", encoding="utf-8") as fh:
                fh.write(scrub("\n".join(lines)) + "\n")
        except OSError:
            pass


# --- the webhook receiver -----------------------------------------------------------------------

@dataclass
class Receiver:
    """The webhook receiver's decisions; `remediate(reason)` runs the ladder once."""

    target: str
    remediate: Callable[[str], Any]
    say: Callable[[str], None]

    def __post_init__(self) -> None:
        self._handled: set[str] = set()
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="heal-ladder", daemon=True)
        self._worker.start()

    def _run(self) -> None:
        while True:
            reason = self._queue.get()
            if reason is None:
                return
            try:
                outcome = self.remediate(reason)
                self.say(f"outcome: {outcome.status.upper()}: {outcome.headline}")
            except Exception as exc:  # noqa: BLE001 - the receiver keeps serving
                self.say(f"the ladder failed: {type(exc).__name__}: {exc}")
            finally:
                self._queue.task_done()

    def stop(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=5)

    def handle(self, payload: Any) -> str:
        """What the notification led to, in one line (the HTTP answer's body)."""
        if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
            raise ValueError("not an Alertmanager webhook notification (no alerts list)")
        group = str(payload.get("groupKey") or "")
        ours = [a for a in payload["alerts"] if isinstance(a, dict)
                and isinstance(a.get("labels"), dict)
                and a["labels"].get("alertname") == "health_down"
                and _same_target(str(a["labels"].get("target", "")), self.target)]
        firing = [a for a in ours if a.get("status") == "firing"]
        with self._lock:
            if payload.get("status") == "resolved" or not firing:
                if payload.get("status") == "resolved":
                    self._handled.discard(group)
                return "no-op: no firing health_down alert for this target"
            if group in self._handled:
                return "no-op: this group was already acted on"
            self._handled.add(group)
        regions = sorted({str(a["labels"].get("region", "?")) for a in firing})
        reason = (f"Alertmanager group {group[:120]!r}: health_down firing in "
                  f"{len(regions)} region(s) ({', '.join(regions)[:200]})")
        self.say(f"acting on {reason}")
        self._queue.put(reason)
        return "accepted: the self-healing ladder runs once"


def _same_target(a: str, b: str) -> bool:
    return bool(a) and _canonical(a) == _canonical(b)


def _handler(receiver: Receiver, token: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "synthetics-heal"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # no request lines (they would carry nothing useful and could carry noise)

        def _answer(self, code: int, text: str, extra: Mapping[str, str] | None = None) -> None:
            body = (text + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def _refuse_method(self) -> None:
            if self.path.split("?")[0] != WEBHOOK_PATH:
                self._answer(404, "not found")
            else:
                self._answer(405, "only POST", {"Allow": "POST"})

        do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _refuse_method

        def do_POST(self) -> None:  # noqa: N802
            if self.path.split("?")[0] != WEBHOOK_PATH:
                self._answer(404, "not found")
                return
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                self._answer(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
                return
            if not hmac.compare_digest(auth[len("Bearer "):].strip().encode(), token.encode()):
                self._answer(403, "wrong token")
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self._answer(411, "Content-Length required")
                return
            if int(length) > MAX_BODY:
                self._answer(413, f"body over {MAX_BODY} bytes")
                return
            try:
                payload = strict_json(self.rfile.read(int(length)))
                text = receiver.handle(payload)
            except (ValueError, RecursionError) as exc:
                self._answer(400, f"bad notification: {str(exc)[:100]}")
                return
            self._answer(200, text)

    return Handler


def serve_receiver(listen: str, settings: Any, timeout: float, alertmanager: str | None,
                   target: str | None, environ: Mapping[str, str] | None = None,
                   ready: Callable[[str], None] | None = None) -> int:
    """Run the webhook receiver until SIGTERM or Ctrl-C; 4 on a usage problem."""
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "")
    if len(token) < 16:
        print(f"synthetics heal: --listen needs a bearer token of at least 16 characters in "
              f"{TOKEN_ENV} (Alertmanager's http_config.authorization.credentials)",
              file=sys.stderr)
        return 4
    if not target:
        print("synthetics heal: --listen needs --target URL (the worker it may heal)",
              file=sys.stderr)
        return 4
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not host:
        print(f"synthetics heal: --listen {listen!r} must be HOST:PORT", file=sys.stderr)
        return 4

    receiver = Receiver(target, lambda reason: remediate(settings, timeout, alertmanager,
                                                         target, reason), _say)
    ServerClass = ThreadingHTTPServer  # noqa: N806
    if ":" in host:
        class V6(ThreadingHTTPServer):
            address_family = socket.AF_INET6
        ServerClass = V6  # noqa: N806
    try:
        server = ServerClass((host, int(port)), _handler(receiver, token))
    except (OSError, OverflowError) as exc:
        print(f"synthetics heal: cannot listen on {listen}: {exc}", file=sys.stderr)
        return 4
    server.daemon_threads = True
    server.timeout = 1
    bound = server.server_address
    url = f"http://{host if ':' not in host else f'[{host}]'}:{bound[1]}{WEBHOOK_PATH}"
    _say(f"listening on {url} for Alertmanager (bearer token from {TOKEN_ENV})")
    if ready is not None:
        ready(url)
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        receiver._queue.join()
        receiver.stop()
    _say("receiver stopped")
    return 0
