"""KPI reports (issue 21): the figures agree with a brute-force recomputation over the raw rows of a
generated month of cases (reopened, cancelled, parallel escalations, returns, transfers, breaches,
cases spanning period boundaries), bucketed in Asia/Shanghai ISO weeks and months; role scoping."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from engine import reports
from engine.errors import DepartmentNotFound, Forbidden, InvalidInput
from engine.reports import bucket_of, parse_period, percentile
from engine.store.models import DURATION_BOUNDS, AuditEntry, Department, HumanTask, ProcessInstance, User
from tests.helpers import DEPARTMENT_RESULT, PASSWORD, database_rows, report_case, task_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Sunday 2026-11-22 22:00 in Shanghai: the first cases are reported in week 47, most in 48-50
START = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
AGENCIES = ("civil_affairs", "health")


def _claim(engine, who, case, element_id):
    return engine.tasks.claim(task_of(engine, case, element_id)["id"], who)


def _complete(engine, who, case, element_id, data):
    return engine.tasks.complete(task_of(engine, case, element_id)["id"], who, data)


def _feedback(engine, owner, case, clock, rng, rating):
    clock.advance(hours=rng.choice([2, 20, 30]))
    _complete(engine, owner, case, "feedback_to_resident", {"satisfaction": rating})


def _departments(engine, world, case, clock, rng, departments, late=False, transfer=False):
    for department in departments:
        clock.advance(hours=rng.choice([1, 5, 30]))
        liaison = world["li"] if department == "civil_affairs" else world["zhao"]
        task = _claim(engine, liaison, case, f"handle_{department}")
        if transfer and department == "civil_affairs":
            clock.advance(hours=2)
            engine.tasks.transfer(task["id"], liaison, "ma", "休假 on leave")
            liaison = world["ma"]
        clock.advance(hours=80 if late else rng.choice([3, 26]))
        engine.tasks.complete(task["id"], liaison, DEPARTMENT_RESULT)


def simulate(engine, world, clock, count: int = 28, seed: int = 21) -> None:
    """`count` cases down every path of the dispute workflow, reported a few hours apart."""
    rng = random.Random(seed)
    if "ma" not in world:
        engine.identity.create_user("ma", "liaison", PASSWORD, ["civil_affairs"])
        world["ma"] = engine.identity.actor("ma")
    clock.set(START)
    officers = [world["wang"], world["chen"], world["liu"]]
    paths = ["on_spot", "escalate_one", "escalate_both", "reopened", "cancelled", "unclaimed", "returned"]
    paths += ["late", "transfer", "review", "unrated"]
    for index in range(count):
        clock.set(START + timedelta(hours=index * 19 + rng.choice([0, 3, 7])))
        officer = officers[index % 3]
        supervisor = world["zhou"] if officer.username != "liu" else world["qian"]
        path = paths[index % len(paths)]
        case = report_case(engine, officer, risk_level=rng.choice(["red", "yellow", "blue"]))
        if path == "unclaimed":
            continue
        clock.advance(minutes=rng.choice([20, 90, 600, 1600]))
        _claim(engine, officer, case, "assess_case")
        if path == "cancelled":
            clock.advance(hours=3)
            engine.runtime.cancel_instance(case["id"], supervisor, "重复报案 duplicate")
            continue
        if path in ("on_spot", "reopened", "review", "unrated"):
            for round_ in range(4 if path == "review" else 2 if path == "reopened" else 1):
                clock.advance(hours=rng.choice([1, 4]))
                _complete(engine, officer, case, "assess_case", {"resolution": "on_spot"})
                clock.advance(hours=2)
                _complete(engine, officer, case, "handle_on_spot", {"result": "resolved"})
                if path == "unrated":
                    break
                last = round_ == (3 if path == "review" else 1 if path == "reopened" else 0)
                rating = rng.choice(["satisfied", "basically_satisfied"]) if last else "unsatisfied"
                if path == "review" and round_ == 2:
                    _feedback(engine, officer, case, clock, rng, "unsatisfied")
                    clock.advance(hours=5)
                    _claim(engine, supervisor, case, "supervisor_review")
                    _complete(engine, supervisor, case, "supervisor_review", {"decision": "close", "comment": "结案"})
                    break
                _feedback(engine, officer, case, clock, rng, rating)
                if not last:
                    clock.advance(hours=1)
                    _claim(engine, officer, case, "assess_case")
            continue
        departments = ["civil_affairs", "health"] if path in ("escalate_both", "late") else [rng.choice(AGENCIES)]
        if path == "transfer":
            departments = ["civil_affairs"]
        clock.advance(hours=rng.choice([1, 6]))
        _complete(engine, officer, case, "assess_case", {"resolution": "escalate", "departments": departments})
        if path == "returned":
            clock.advance(hours=4)
            liaison = world["li"] if departments[0] == "civil_affairs" else world["zhao"]
            engine.tasks.return_task(
                task_of(engine, case, f"handle_{departments[0]}")["id"], liaison, "不属本部门 not ours"
            )
            clock.advance(hours=2)
            _complete(engine, officer, case, "assess_case", {"resolution": "on_spot"})
            _complete(engine, officer, case, "handle_on_spot", {"result": "mediated_agreement"})
            _feedback(engine, officer, case, clock, rng, "satisfied")
            continue
        _departments(engine, world, case, clock, rng, departments, late=path == "late", transfer=path == "transfer")
        _feedback(engine, officer, case, clock, rng, rng.choice(["satisfied", "basically_satisfied", "unsatisfied"]))
        if task_of_open(engine, case, "assess_case"):  # unsatisfied: reopened; resolved on the spot now
            _claim(engine, officer, case, "assess_case")
            _complete(engine, officer, case, "assess_case", {"resolution": "on_spot"})
            _complete(engine, officer, case, "handle_on_spot", {"result": "resolved"})
            _feedback(engine, officer, case, clock, rng, "satisfied")
    clock.set(START + timedelta(days=26))


def task_of_open(engine, case, element_id) -> bool:
    tasks = engine.runtime.get_instance(case["id"], history=False)["open_tasks"]
    return any(t["element_id"] == element_id for t in tasks)


# --- the brute force: every figure straight from every row ----------------------------------------
def brute_force(
    engine,
    start: datetime,
    end: datetime,
    now: datetime,
    station: str | None = None,
    windows: dict[str, tuple[datetime, datetime]] | None = None,
) -> dict[str, Any]:
    """Every figure of [start, end) from every row; `windows`: a station's own [start, end) by its key
    (the period in its time zone), for the cases of that station."""
    with engine.db.read() as scope:
        session = scope.session
        stations = {d.id: d.key for d in session.scalars(select(Department)) if d.kind == "station"}
        users = {u.id: u.username for u in session.scalars(select(User))}
        instances = list(session.scalars(select(ProcessInstance)))
        tasks = list(session.scalars(select(HumanTask)))
        transfers = Counter(a.task_id for a in session.scalars(select(AuditEntry)) if a.action == "task.transferred")

    by_case = defaultdict(list)
    for task in tasks:
        by_case[task.instance_id].append(task)
    rows: dict[tuple[str, str], Counter] = defaultdict(Counter)
    minutes: dict[tuple[str, str], list[float]] = defaultdict(list)
    for instance in instances:
        if station is not None and stations.get(instance.station_id) != station:
            continue
        lo, hi = (windows or {}).get(stations.get(instance.station_id, "-"), (start, end))

        def inside(moment, lo=lo, hi=hi):
            return moment is not None and lo <= moment < hi

        keys = [("total", "*"), ("station", stations.get(instance.station_id, "-"))]
        if instance.case_owner_id is not None:
            keys.append(("officer", users[instance.case_owner_id]))
        own = sorted(by_case[instance.id], key=lambda t: (t.created_at, t.id))
        officer_tasks = [t for t in own if not set(t.candidate_groups) & set(AGENCIES)]
        department_tasks = [t for t in own if set(t.candidate_groups) & set(AGENCIES)]
        counts = Counter()
        if inside(instance.started_at):
            counts["cases_reported"] += 1
            first = officer_tasks[0]
            if first.claimed_at is not None:
                waited = (first.claimed_at - first.created_at).total_seconds() / 60
                counts["answered"] += 1
                counts["within_24h"] += waited <= 24 * 60
                for key in keys:
                    minutes[key].append(waited)
            elif first.due_at <= now and first.state != "cancelled":
                counts["answered"] += 1
        if inside(instance.ended_at):
            counts["closed"] += instance.status == "completed"
            counts["closed_on_spot"] += instance.status == "completed" and not department_tasks
            counts["cancelled"] += instance.status == "cancelled"
        for task in officer_tasks:
            rating = (task.outcome or {}).get("satisfaction") if task.state == "completed" else None
            if rating and inside(task.ended_at):
                counts["rated"] += 1
                counts["satisfied"] += rating in ("satisfied", "basically_satisfied")
                counts["reopened"] += rating == "unsatisfied"
            counts["supervisor_reviews"] += "supervisor" in task.candidate_groups and inside(task.created_at)
        for task in department_tasks:
            if not inside(task.created_at):
                continue
            counts["escalations"] += 1
            department = ("department", next(g for g in task.candidate_groups if g in AGENCIES))
            d = rows[department]
            d["escalations"] += 1
            d["claimed"] += task.claimed_at is not None
            d["handled"] += task.state == "completed"
            d["within_deadline"] += task.state == "completed" and task.ended_at <= task.due_at
            d["returns"] += task.state == "returned"
            d["transfers"] += transfers[task.id]
            late = (task.ended_at or now) > task.due_at if task.state != "cancelled" else task.ended_at > task.due_at
            d["breaches"] += late
        for key in keys:
            rows[key].update(counts)
    result = {}
    for key, counter in rows.items():
        result[key] = dict(counter)
        if key[0] != "department":
            result[key]["claim_median"] = percentile(minutes[key], 0.5)
            result[key]["claim_p90"] = percentile(minutes[key], 0.9)
    return result


CASE_FIGURES = (
    "cases_reported",
    "closed",
    "closed_on_spot",
    "cancelled",
    "escalations",
    "rated",
    "satisfied",
    "reopened",
    "supervisor_reviews",
)
DEPARTMENT_FIGURES = ("escalations", "claimed", "handled", "within_deadline", "returns", "transfers", "breaches")


def reported(bulletin: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The bulletin's rows in the brute force's shape."""

    def case_row(figures):
        row = {name: figures[name] for name in CASE_FIGURES}
        response = figures["response"]
        row.update(
            answered=response["answered"],
            within_24h=response["within_24h"],
            claim_median=response["claim_minutes"]["median"],
            claim_p90=response["claim_minutes"]["p90"],
        )
        return row

    rows = {("total", "*"): case_row(bulletin["summary"])}
    rows.update({("station", s["station"]): case_row(s) for s in bulletin["stations"]})
    rows.update({("officer", o["officer"]): case_row(o) for o in bulletin["officers"]})
    rows.update(
        {("department", d["department"]): {n: d[n] for n in DEPARTMENT_FIGURES} for d in bulletin["departments"]}
    )
    return rows


def expected(brute: dict, start_key_figures=CASE_FIGURES) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for key, counts in brute.items():
        names = DEPARTMENT_FIGURES if key[0] == "department" else (*CASE_FIGURES, "answered", "within_24h")
        row = {name: counts.get(name, 0) for name in names}
        if key[0] != "department":
            row.update(claim_median=counts["claim_median"], claim_p90=counts["claim_p90"])
        out[key] = row
    return out


def histogram_precision(rows: dict) -> dict:
    """The rollups' medians and p90s: the upper bound of the histogram bucket holding the exact value."""

    def bound(value):
        return None if value is None else float(DURATION_BOUNDS[bucket_of(value)])

    return {
        key: {**row, **{name: bound(row[name]) for name in ("claim_median", "claim_p90") if name in row}}
        for key, row in rows.items()
    }


@pytest.fixture
def generated(engine, world, clock):
    simulate(engine, world, clock)
    return world


@pytest.mark.parametrize(
    ("kind", "labels"),
    [("week", ["2026-W47", "2026-W48", "2026-W49", "2026-W50", "2026-W51"]), ("month", ["2026-11", "2026-12"])],
)
@pytest.mark.parametrize("listed", [20000, 0, None], ids=["by-case", "joined", "rollups"])
def test_figures_agree_with_a_brute_force_recomputation(engine, generated, clock, kind, labels, listed, monkeypatch):
    """The reference computation reads the task rows two ways; the rollups (None) sum report_days."""
    if listed is not None:
        monkeypatch.setattr(reports, "MAX_LISTED_CASES", listed)  # both ways of reading the period's tasks
    zone = ZoneInfo(engine.settings.time_zone)
    seen = Counter()
    for label in labels:
        period = parse_period(kind, label, zone)
        bulletin = engine.reports.bulletin(generated["sun"], kind, label, reference=listed is not None)
        brute = expected(brute_force(engine, period.start, period.end, clock.now()))
        if listed is None:
            brute = histogram_precision(brute)
        got = reported(bulletin)
        # a row only shows when something happened to it in the period; the brute force lists every case's keys
        assert {k: v for k, v in got.items() if any(v.values())} == {k: v for k, v in brute.items() if any(v.values())}
        seen.update({name: value for name, value in got[("total", "*")].items() if name in CASE_FIGURES})
        for name in DEPARTMENT_FIGURES:
            seen[name] += sum(d[name] for d in bulletin["departments"])
    # the generated month exercised every figure
    for name in (*CASE_FIGURES, *DEPARTMENT_FIGURES):
        assert seen[name] > 0, name


def test_a_supervisor_sees_their_station_and_the_trend_agrees_with_the_bulletins(engine, generated, clock):
    zone = ZoneInfo(engine.settings.time_zone)
    trend = engine.reports.trend(generated["zhou"], "week", 4, "2026-W50")
    assert trend["station"] == "xinqiao" and [p["period"] for p in trend["points"]] == [
        "2026-W47",
        "2026-W48",
        "2026-W49",
        "2026-W50",
    ]
    for point in trend["points"]:
        bulletin = engine.reports.bulletin(generated["zhou"], "week", point["period"])
        assert bulletin["station"] == "xinqiao"
        assert [s["station"] for s in bulletin["stations"]] in ([], ["xinqiao"])
        assert {o["officer"] for o in bulletin["officers"]} <= {"wang", "chen"}
        period = parse_period("week", point["period"], zone)
        brute = expected(brute_force(engine, period.start, period.end, clock.now(), station="xinqiao"))
        assert reported(bulletin)[("total", "*")] == histogram_precision(brute)[("total", "*")]
        summary = bulletin["summary"]
        assert (point["cases_reported"], point["on_spot_rate"], point["satisfaction_rate"]) == (
            summary["cases_reported"],
            summary["on_spot_rate"],
            summary["satisfaction_rate"],
        )


def test_periods_are_calendar_periods_in_asia_shanghai_weeks_monday_first():
    week = parse_period("week", "2026-W48", SHANGHAI)
    assert (week.start, week.end) == (
        datetime(2026, 11, 22, 16, 0, tzinfo=UTC),  # Monday 23 November 00:00 in Shanghai
        datetime(2026, 11, 29, 16, 0, tzinfo=UTC),
    )
    month = parse_period("month", "2026-12", SHANGHAI)
    assert (month.start, month.end) == (
        datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 16, 0, tzinfo=UTC),
    )
    quarter = parse_period("quarter", "2026-Q4", SHANGHAI)
    assert (quarter.start, quarter.end) == (datetime(2026, 9, 30, 16, 0, tzinfo=UTC), month.end)
    # 2025 has 52 ISO weeks; 2026 (it begins on a Thursday) has 53
    assert parse_period("week", "2026-W53", SHANGHAI).start == datetime(2026, 12, 27, 16, 0, tzinfo=UTC)
    for kind, label in [("week", "2025-W53"), ("week", "2026-11"), ("month", "2026-13"), ("quarter", "2026-Q5")]:
        with pytest.raises(InvalidInput):
            parse_period(kind, label, SHANGHAI)


def test_a_case_reported_monday_morning_in_shanghai_counts_in_the_new_week(engine, world, clock):
    clock.set(datetime(2026, 11, 29, 23, 30, tzinfo=UTC))  # Sunday 23:30 UTC, Monday 07:30 in Shanghai
    report_case(engine, world["wang"])
    assert engine.reports.bulletin(world["zhou"], "week", "2026-W49")["summary"]["cases_reported"] == 1
    assert engine.reports.bulletin(world["zhou"], "week", "2026-W48")["summary"]["cases_reported"] == 0
    # the current period when none is named: Monday in Shanghai is week 49
    assert engine.reports.bulletin(world["zhou"], "week")["period"]["label"] == "2026-W49"


def test_reports_are_for_supervisors_of_their_station_and_auditors_and_refusals_change_nothing(engine, world, clock):
    report_case(engine, world["wang"])
    report_case(engine, world["liu"])
    before = database_rows(engine)
    with pytest.raises(Forbidden):
        engine.reports.bulletin(world["zhou"], "week", None, "dongfeng")  # another station
    with pytest.raises(Forbidden):
        engine.reports.trend(world["qian"], "month", 3, None, "xinqiao")
    for username in ("wang", "li", "admin"):
        with pytest.raises(Forbidden):
            engine.reports.bulletin(world[username], "week")
    with pytest.raises(DepartmentNotFound):
        engine.reports.bulletin(world["sun"], "week", None, "civil_affairs")  # an agency is not a station
    with pytest.raises(InvalidInput):
        engine.reports.trend(world["sun"], "week", 0)
    assert database_rows(engine) == before
    mine = engine.reports.bulletin(world["qian"], "week")
    assert (mine["station"], mine["summary"]["cases_reported"]) == ("dongfeng", 1)
    everyone = engine.reports.bulletin(world["sun"], "week")
    assert everyone["summary"]["cases_reported"] == 2
    assert [s["station"] for s in everyone["stations"]] == ["dongfeng", "xinqiao"]


def test_no_personal_data_in_a_report(engine, world):
    case = report_case(engine, world["wang"])
    _claim(engine, world["wang"], case, "assess_case")
    text = repr(engine.reports.bulletin(world["sun"], "week")) + repr(engine.reports.trend(world["sun"], "week"))
    for personal in ("刘桂兰", "11010119450101123X", "13912345678", "新桥社区7栋101室", case["business_key"]):
        assert personal not in text


def test_the_backlog_counts_open_tasks_now_by_live_sla_state_and_age(engine, generated, clock):
    now = clock.now()
    with engine.db.read() as scope:
        open_tasks = [t for t in scope.session.scalars(select(HumanTask)) if t.state in ("open", "claimed")]
    by_sla, by_age = Counter(), Counter()
    for task in open_tasks:
        by_sla["breached" if task.due_at <= now else "warning" if task.warn_at <= now else "on_time"] += 1
        days = (now - task.created_at) / timedelta(days=1)
        by_age["under_1d" if days < 1 else "1d_3d" if days < 3 else "3d_7d" if days < 7 else "over_7d"] += 1
    backlog = engine.reports.bulletin(generated["sun"], "week")["backlog"]
    assert backlog["total"] == len(open_tasks) > 0
    assert {k: v for k, v in backlog["by_sla_state"].items() if v} == dict(by_sla)
    assert {k: v for k, v in backlog["by_age"].items() if v} == dict(by_age)
    clock.set(min(t.created_at for t in open_tasks) + timedelta(hours=1))  # earlier: younger, none late yet
    assert engine.reports.bulletin(generated["sun"], "week")["backlog"]["by_age"]["over_7d"] == 0
