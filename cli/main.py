"""The `fengqiao` command: a thin layer over the engine's facades."""

from __future__ import annotations

import dataclasses
import functools
import json
import signal
import sys
import time
from pathlib import Path

import click

from engine import Engine, EngineError, Settings
from engine.identity import KINDS, ROLES, Actor
from engine.vocabulary import IncidentStatus

from .demo import DEMO_PASSWORD, USERS, ensure_demo_world, run_demo

DEMO_USERNAMES = [u[0] for u in USERS]


def _engine(**overrides) -> Engine:
    try:
        settings = Settings.from_env()
    except ValueError as exc:  # a bad FENGQIAO_* value: one line naming it, not a traceback
        raise click.ClickException(f"configuration: {exc}") from None
    return Engine(dataclasses.replace(settings, **overrides))


def engine_errors(fn):
    """Print engine errors as one clear line (plus details) and exit 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EngineError as exc:
            click.echo(f"error: {exc.message}", err=True)
            for detail in exc.details:
                click.echo("  - " + ", ".join(f"{k}: {v}" for k, v in detail.items() if v is not None), err=True)
            sys.exit(1)

    return wrapper


@click.group()
def main() -> None:
    """Fengqiao (枫桥): dispute escalation and cross-department handling on BPMN."""


@main.command()
@click.option("--demo-accounts", is_flag=True, help="Also create the demo departments and users (idempotent).")
@engine_errors
def init(demo_accounts: bool) -> None:
    """Create or migrate the database and deploy the bundled workflows (idempotent)."""
    engine = _engine()
    engine.migrate()
    result = engine.deploy_bundled(Actor.system("fengqiao-init"))
    for d in result["definitions"]:
        state = "deployed" if d["created"] else "unchanged"
        click.echo(f"{d['key']} version {d['version']}: {state}")
    if demo_accounts:
        ensure_demo_world(engine)
        click.echo(f"demo accounts ready (password '{DEMO_PASSWORD}')")
    click.echo(f"database ready: {_safe_url(engine.settings.database_url)}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option(
    "--threads", default=8, show_default=True, type=click.IntRange(1, 64), help="Request threads of the server process."
)
@engine_errors
def serve(host: str, port: int, threads: int) -> None:
    """Serve the HTTP API: the embedded default, one gunicorn process with the timer sweeper in it.

    One process: SQLite has one writer, and the process's writers take turns on a lock (a second
    process would wait in SQLite's busy handler). Production with PostgreSQL runs gunicorn with
    several workers and `fengqiao worker` (README).
    """
    engine = _engine()
    try:
        _print_welcome(engine, host, port)
    finally:
        engine.close()
    from .server import EmbeddedServer

    EmbeddedServer(host, port, threads, _engine).run()


def _print_welcome(engine: Engine, host: str, port: int) -> None:
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    click.echo(f"Fengqiao is serving on {base}  (database: {_safe_url(engine.settings.database_url)})")
    click.echo(f"  workbench (browser): {base}/ · docs/pages.md")
    click.echo(f"  API {base}/api/v1 · OpenAPI {base}/api/v1/openapi.json · readiness {base}/healthz · docs/api.md")
    roles = {u["username"]: u["role"] for u in engine.identity.list_users()}
    demo = {name: roles[name] for name in DEMO_USERNAMES if name in roles}
    login = {
        "username": "officer_wang" if "officer_wang" in demo else "USERNAME",
        "password": DEMO_PASSWORD if demo else "PASSWORD",
    }
    click.echo(
        f"  log in: curl -s -X POST {base}/api/v1/auth/login -H 'Content-Type: application/json' "
        f"-d '{json.dumps(login)}'"
    )
    if demo:
        click.echo(
            f"  demo accounts (password '{DEMO_PASSWORD}'): "
            + ", ".join(f"{name} ({role})" for name, role in demo.items())
        )


@main.group()
def tokens() -> None:
    """API tokens for department systems (shown once)."""


@tokens.command("create")
@click.option("--department", required=True, help="Key of the department the system reports for.")
@click.option("--name", help="Name of the system (default: <department>-system).")
@engine_errors
def create_token(department: str, name: str | None) -> None:
    """Create a long-lived API token; it acts only for its department's results and is shown once."""
    token = _engine().tokens.create_api_token(department, name, actor=Actor.system("fengqiao-cli"))
    click.echo(
        f"API token {token['id']} for {token['department']} ({token['name']}); store it now, it is not shown again:",
        err=True,
    )
    click.echo(token["token"])


@tokens.command("list")
@engine_errors
def list_tokens() -> None:
    for token in _engine().tokens.list_api_tokens():
        state = f"revoked {token['revoked_at']}" if token["revoked_at"] else "active"
        click.echo(f"{token['id']:<6} {token['department']:<20} {token['name']:<30} {state}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
@engine_errors
def revoke_token(token_id: int) -> None:
    """Revoke an API token by its id."""
    _engine().tokens.revoke_api_token(token_id, actor=Actor.system("fengqiao-cli"))
    click.echo(f"API token {token_id} revoked")


@main.group("external-token")
def external_token() -> None:
    """API tokens of external-task workers, scoped to topics (docs/external-tasks.md)."""


@external_token.command("create")
@click.option("--department", required=True, help="Key of the department whose system works the tasks.")
@click.option("--topic", "topics", multiple=True, required=True, help="A topic it may fetch (repeat for more).")
@click.option("--name", help="Name of the worker system (default: <department>-system).")
@engine_errors
def create_external_token(department: str, topics: tuple[str, ...], name: str | None) -> None:
    """Create a worker token for the given topics; shown once. Revoke it with `fengqiao tokens revoke`."""
    token = _engine().tokens.create_api_token(department, name, actor=Actor.system("fengqiao-cli"), topics=list(topics))
    click.echo(
        f"external-task token {token['id']} for {token['department']} (topics: {', '.join(token['topics'])}); "
        "store it now, it is not shown again:",
        err=True,
    )
    click.echo(token["token"])


@main.command()
@click.option("--burst", is_flag=True, help="Fire what is due now, then exit.")
@engine_errors
def worker(burst: bool) -> None:
    """Fire timers with the sweeper, plus an RQ worker for webhook deliveries (with FENGQIAO_REDIS_URL),
    or the sweeper alone (without Redis, e.g. next to gunicorn). Run as many as you like."""
    import webhooks
    from engine.jobs import RedisJobs, Sweeper, run_worker

    # no workflow cache: a worker fires a case's timers hours apart, after other processes changed it
    engine = _engine(workflow_cache_size=0)
    webhooks.install(engine)  # the sweeper also relays and delivers notifications
    if isinstance(engine.jobs, RedisJobs):
        click.echo(
            f"worker: sweeper (timers) + RQ queue '{engine.jobs.queue.name}' (deliveries) "
            f"(database: {_safe_url(engine.settings.database_url)})",
            err=True,
        )
        run_worker(engine, burst=burst)
        return
    if burst:
        click.echo(f"fired {engine.timers.fire_all_due()} timer(s)")
        click.echo(f"started {engine.start_timers.fire_all_due()} case(s) on schedule")
        click.echo(f"relayed thrown signals to {engine.signals.relay_once()} case(s)")
        click.echo(f"made {webhooks.install(engine).sweep()} notification attempt(s)")
        return
    click.echo(f"worker: sweeper only, no Redis (database: {_safe_url(engine.settings.database_url)})", err=True)
    sweeper = Sweeper(engine)
    signal.signal(signal.SIGTERM, lambda *_: sweeper.stop(timeout=0))
    try:
        sweeper.run()
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()


@main.group()
def report() -> None:
    """KPI bulletins (周通报、月考核、季评估) of every station or one, as the reports page shows them."""


def _print_report(kind: str, label: str | None, station: str | None, output: str, path: Path | None) -> None:
    from engine.reports import export

    bulletin = _engine().reports.bulletin(None, kind, label, station)
    if output == "xlsx":
        if path is None:
            raise click.UsageError("--format xlsx needs --output FILE")
        path.write_bytes(export.to_xlsx(bulletin))
        click.echo(f"wrote {path}")
        return
    text = {
        "text": export.to_text,
        "csv": export.to_csv,
        "json": lambda b: json.dumps(b, default=str, ensure_ascii=False, indent=2) + "\n",
    }[output](bulletin)
    if path is not None:
        path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {path}")
    else:
        click.echo(text, nl=False)


def _report_command(kind: str, example: str):
    @report.command(
        f"{kind}ly",
        help=f"The {kind}'s bulletin: one row per station, department and officer, with the plan's targets.",
    )
    @click.option("--station", help="Key of one station (default: every station).")
    @click.option(f"--{kind}", "label", help=f"The {kind}, e.g. {example} (default: the current one).")
    @click.option("--format", "output", type=click.Choice(["text", "csv", "json", "xlsx"]), default="text")
    @click.option("--output", "path", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
    @engine_errors
    def command(station: str | None, label: str | None, output: str, path: Path | None) -> None:
        _print_report(kind, label, station, output, path)

    return command


weekly = _report_command("week", "2026-W48")
monthly = _report_command("month", "2026-11")
quarterly = _report_command("quarter", "2026-Q4")
yearly = _report_command("year", "2026")


@report.command("rebuild")
@engine_errors
def rebuild_reports() -> None:
    """Fill the daily rollups anew from every case's rows (after an upgrade, or a changed time zone).
    Reports are computed from the task rows until it is done."""
    engine = _engine()
    started = time.perf_counter()
    cases = engine.reports.rollups.rebuild(progress=lambda n: click.echo(f"{n} cases rolled up", err=True))
    click.echo(f"rolled up {cases} cases in {time.perf_counter() - started:.1f} s")


@main.group()
def incidents() -> None:
    """Timers and external tasks that kept failing, scheduled starts that started no case: list, retry
    after fixing, or give up (cancel the case; dismiss a scheduled start, which has none)."""


@incidents.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include resolved incidents.")
@engine_errors
def list_incidents(show_all: bool) -> None:
    from web.masking import mask_free_text  # personal numbers masked as on the console's incident pages

    for i in _engine().timers.list_incidents(status=None if show_all else IncidentStatus.OPEN):
        # a scheduled start that started no case is named by its process, version and due time
        of = i["business_key"] or f"{i['process_key']} v{i['definition_version']}"
        due = f" due={i['due_at']}" if i["due_at"] else ""
        click.echo(
            f"{i['id']:<6} {i['status']:<9} {i['kind']:<13} {of:<18} {i['element_id'] or '-':<28} "
            f"attempts={i['attempts']}{due} {mask_free_text(i['error'])[:100]}"
        )


@incidents.command("retry")
@click.argument("incident_id", type=int)
@engine_errors
def retry_incident(incident_id: int) -> None:
    """Give the failing timer fresh attempts, due now; a scheduled start's incident starts its case now."""
    retried = _engine().timers.retry_incident(incident_id, Actor.system("fengqiao-cli"))
    if retried["kind"] == "start_timer":
        click.echo(f"incident {incident_id}: case {retried['business_key']} started")
    else:
        click.echo(f"incident {incident_id}: retrying")


@incidents.command("cancel")
@click.argument("incident_id", type=int)
@click.option("--reason", required=True)
@engine_errors
def cancel_incident(incident_id: int, reason: str) -> None:
    """Give up: cancel the case the failing timer belongs to."""
    _engine().timers.cancel_incident(incident_id, Actor.system("fengqiao-cli"), reason)
    click.echo(f"incident {incident_id}: case cancelled")


@incidents.command("dismiss")
@click.argument("incident_id", type=int)
@click.option("--reason", required=True)
@engine_errors
def dismiss_incident(incident_id: int, reason: str) -> None:
    """Give up a scheduled start that started no case (audited with the reason)."""
    _engine().timers.dismiss_incident(incident_id, Actor.system("fengqiao-cli"), reason)
    click.echo(f"incident {incident_id}: dismissed")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate only; store nothing.")
@engine_errors
def deploy(files: tuple[Path, ...], dry_run: bool) -> None:
    """Deploy BPMN FILES together (a call activity and the process it calls)."""
    engine = _engine()
    payload = [(f.name, f.read_bytes()) for f in files]
    if dry_run:
        result = engine.repository.validate(payload)
        click.echo("valid: " + ", ".join(result["processes"]))
    else:
        result = engine.repository.deploy(payload, Actor.system("fengqiao-cli"))
        for d in result["definitions"]:
            click.echo(f"{d['key']} version {d['version']}: {'deployed' if d['created'] else 'unchanged'}")
    for w in result["warnings"]:
        click.echo(f"warning: {w['element_id']}: {w['message']}", err=True)


@main.command()
@click.argument("key")
@click.option("--from", "source", type=int, required=True, help="The version the cases run on.")
@click.option("--to", "target", type=int, required=True, help="The version to move them to.")
@click.option("--case", "instance_id", help="One case (its id) instead of every running case of the version.")
@click.option("--dry-run", is_flag=True, help="Show the diff and what would move; change nothing.")
@click.option("--reason", help="Recorded in each case's audit entry.")
@click.option("--batch-size", type=click.IntRange(1, 1000), default=50, show_default=True)
@engine_errors
def migrate(key, source, target, instance_id, dry_run, reason, batch_size) -> None:
    """Move running cases of process KEY from one version to another (docs/admin.md).

    Refused, with nothing changed, when an active task of a selected case has no element in the
    target version; otherwise each case moves in its own transaction."""
    engine = _engine()
    plan = engine.migration.plan(key, source, target, instance_id)
    elements = plan["elements"]
    click.echo(
        f"{key} {source} -> {target}: added {', '.join(elements['added']) or '-'}; "
        f"removed {', '.join(elements['removed']) or '-'}; "
        f"changed {', '.join(c['element_id'] for c in elements['changed']) or '-'}"
    )
    for case in plan["cases"]:
        mapped = ", ".join(f"{a}->{b}" if a != b else a for a, b in case["mapped"].items()) or "-"
        gone = f"  REMOVED: {', '.join(case['removed'])}" if case["removed"] else ""
        click.echo(f"  {case['business_key']:<18} active: {mapped}{gone}")
    result = engine.migration.migrate(
        key,
        source,
        target,
        Actor.system("fengqiao-cli"),
        instance_id=instance_id,
        reason=reason,
        dry_run=dry_run,
        batch_size=batch_size,
    )
    verb = "would migrate" if dry_run else "migrated"
    click.echo(f"{verb} {len(result['migrated'])} case(s)")
    for skipped in result["skipped"]:
        click.echo(f"skipped {skipped['id']}: {skipped['message']}", err=True)


@main.command()
@click.option("--bind", default="127.0.0.1:9464", show_default=True, help="HOST:PORT to serve /metrics on.")
@engine_errors
def metrics(bind: str) -> None:
    """Serve the Prometheus metrics without a token on an address of its own (docs/admin.md).

    With PROMETHEUS_MULTIPROC_DIR (the directory the gunicorn workers write to) it adds up their
    counters; the database gauges are read at each scrape."""
    from werkzeug.serving import make_server

    from web.metrics import exposition

    host, _, port = bind.rpartition(":")
    engine = _engine()

    def app(environ, start_response):
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        body = exposition(engine)
        start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")])
        return [body]

    server = make_server(host or "127.0.0.1", int(port), app, threaded=True)
    click.echo(f"metrics on http://{host or '127.0.0.1'}:{server.server_port}/metrics")
    server.serve_forever()


@main.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option(
    "--department",
    "departments",
    multiple=True,
    help="Station (officer, supervisor) or agency (liaison); repeat for several agencies.",
)
@click.option("--name", "display_name", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@engine_errors
def create_user(username, role, departments, display_name, password_stdin) -> None:
    """Create a user."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    user = _engine().identity.create_user(
        username, role, password, list(departments), display_name, actor=Actor.system("fengqiao-cli")
    )
    click.echo(json.dumps(user, ensure_ascii=False))


@users.command("list")
@engine_errors
def list_users() -> None:
    for user in _engine().identity.list_users():
        click.echo(f"{user['username']:<20} {user['role']:<10} {','.join(user['departments'])}")


@main.group()
def departments() -> None:
    """Manage departments: police stations and agencies."""


@departments.command("create")
@click.argument("key")
@click.option("--name", required=True)
@click.option("--kind", type=click.Choice(KINDS), required=True)
@engine_errors
def create_department(key, name, kind) -> None:
    """Create a department."""
    dept = _engine().identity.create_department(key, name, kind, actor=Actor.system("fengqiao-cli"))
    click.echo(json.dumps(dept, ensure_ascii=False))


@departments.command("list")
@engine_errors
def list_departments() -> None:
    for dept in _engine().identity.list_departments():
        click.echo(f"{dept['key']:<20} {dept['kind']:<8} {dept['name']}")


@main.group(name="webhooks")
def webhooks_group() -> None:
    """Standard Webhooks subscriptions and departments' inbound secrets (secrets shown once)."""


def _hooks():
    import webhooks

    return webhooks.install(_engine())


@webhooks_group.command("list")
@engine_errors
def list_webhooks() -> None:
    """Subscriptions, then the departments that have an inbound secret."""
    hooks = _hooks()
    for s in hooks.subscriptions.listing():
        state = "active" if s["active"] else f"disabled ({s['disabled_reason'] or 'by an admin'})"
        click.echo(f"{s['id']} {s['name']:<20} {s['hint']:<30} {state} events={','.join(s['events'])}")
    for row in hooks.subscriptions.inbound_list():
        click.echo(f"inbound secret: {row['department']} (set {row['updated_at']})")


@webhooks_group.command("create")
@click.option("--url", required=True, help="The receiver's https URL.")
@click.option("--event", "events", multiple=True, required=True, help="An event type (repeat for more).")
@click.option("--department", help="Key of the department whose events it hears.")
@click.option("--name", help="An integration's name (every event of its types).")
@engine_errors
def create_webhook(url: str, events: tuple[str, ...], department: str | None, name: str | None) -> None:
    """Subscribe a receiver; prints the signing secret once."""
    data = {"url": url, "events": list(events), "department": department, "name": name}
    found = _hooks().subscriptions.create(
        {k: v for k, v in data.items() if v is not None}, Actor.system("fengqiao-cli")
    )
    click.echo(f"subscription {found['id']} ({found['name']}); store the secret now, it is not shown again:", err=True)
    click.echo(found["secret"])


@webhooks_group.command("rotate")
@click.argument("subscription_id", required=False)
@click.option("--inbound", "department", help="Rotate this department's inbound secret instead.")
@click.option("--grace", type=int, default=None, help="Seconds the previous secret stays valid (default a day).")
@engine_errors
def rotate_webhook(subscription_id: str | None, department: str | None, grace: int | None) -> None:
    """A new secret for a subscription, or (--inbound DEPT) a department's inbound secret; shown once."""
    hooks, actor = _hooks(), Actor.system("fengqiao-cli")
    if department:
        found = hooks.subscriptions.inbound_rotate(department, actor, grace)
    elif subscription_id:
        found = hooks.subscriptions.rotate(subscription_id, actor, grace)
    else:
        raise click.UsageError("name a subscription id or --inbound DEPARTMENT")
    click.echo("new secret; store it now, it is not shown again:", err=True)
    click.echo(found["secret"])


@webhooks_group.command("disable")
@click.argument("subscription_id")
@engine_errors
def disable_webhook(subscription_id: str) -> None:
    """Stop sending to a subscription (its pending deliveries fail)."""
    _hooks().subscriptions.update(subscription_id, {"active": False}, Actor.system("fengqiao-cli"))
    click.echo(f"subscription {subscription_id} disabled")


@webhooks_group.command("attempts")
@click.argument("subscription_id", required=False)
@click.option("--event", "event_id", help="One event's deliveries, by its webhook-id.")
@engine_errors
def webhook_attempts(subscription_id: str | None, event_id: str | None) -> None:
    """Deliveries with every attempt, for a subscription or an event."""
    if not subscription_id and not event_id:
        raise click.UsageError("name a subscription id or --event WEBHOOK_ID")
    for d in _hooks().webhook_deliveries(subscription_id=subscription_id, event_id=event_id):
        click.echo(f"{d['id']:<8} {d['webhook_id']} {d['event_type']:<24} {d['state']:<10} attempts={d['attempts']}")
        for a in d["attempt_log"]:
            outcome = "ok" if a["ok"] else "failed"
            click.echo(f"         {a['at']} {outcome:<6} {a['status_code']} {a['duration_ms']} ms {a['error'] or ''}")


@main.command()
@engine_errors
def demo() -> None:
    """Create demo departments and users, then walk sample cases through the loop."""
    engine = _engine()
    engine.migrate()
    engine.deploy_bundled(Actor.system("fengqiao-demo"))
    run_demo(engine, click.echo)


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--write", type=click.Path(dir_okay=False, path_type=Path), help="Also write the table to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of a table.")
@engine_errors
def conformance(directory: Path, write: Path | None, as_json: bool) -> None:
    """Deploy every BPMN model in DIRECTORY and run the runnable ones to their end.

    Runs in a throwaway SQLite database with a manual clock (timers fire at once), never in the
    configured database. Exits 1 when a model crashes or does worse than its MANIFEST.md expects.
    """
    import tempfile

    from engine.clock import ManualClock
    from engine.conformance import run, table

    with tempfile.TemporaryDirectory(prefix="fengqiao-conformance-") as folder:
        settings = Settings.from_env(
            {"FENGQIAO_DATABASE_URL": f"sqlite:///{folder}/conformance.db", "FENGQIAO_INSTANCE_PATH": folder}
        )
        clock = ManualClock()
        engine = Engine(settings, clock)
        try:
            engine.migrate()
            results = run(engine, clock, directory)
        finally:
            engine.close()
    text = table(results)
    click.echo(json.dumps([r.as_dict() for r in results], ensure_ascii=False, indent=1) if as_json else text)
    if write:
        write.write_text(text + "\n", encoding="utf-8")
    if any(not r.meets_expectation for r in results):
        sys.exit(1)


def _safe_url(url: str) -> str:
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


if __name__ == "__main__":
    main()
