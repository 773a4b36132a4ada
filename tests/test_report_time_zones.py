"""A time zone per station (issue 21): each station's cases are bucketed in its own calendar (its days,
ISO weeks Monday first, months), a report of several stations takes each station's own period and says
so; Europe/Berlin beside Asia/Shanghai (seven hours apart in winter, six in summer: the change to
summer time falls inside a week); a bad zone is refused and changes nothing; changing a station's zone
re-buckets its cases."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bench.reports import without_percentiles
from engine.errors import DepartmentNotFound, InvalidInput
from engine.reports import export, parse_period
from engine.store.models import REPORT_DAYS, Department, ProcessInstance, ReportDirty
from tests.helpers import database_rows, report_case
from tests.test_reports import SHANGHAI, brute_force, expected, histogram_precision, reported, simulate

BERLIN = ZoneInfo("Europe/Berlin")
ZONES = {"xinqiao": SHANGHAI, "dongfeng": BERLIN}
PERIODS = [("week", f"2026-W{w}") for w in range(47, 52)] + [("month", "2026-11"), ("month", "2026-12")]


def own_periods(kind: str, label: str) -> dict[str, tuple[datetime, datetime]]:
    """Each station's [start, end) of the period, in its own zone."""
    return {key: (p.start, p.end) for key, zone in ZONES.items() for p in [parse_period(kind, label, zone)]}


def nonzero(rows: dict) -> dict:
    return {key: row for key, row in rows.items() if any(row.values())}


def queued(engine) -> int:
    with engine.db.read() as scope:
        return scope.session.scalar(select(func.count()).select_from(ReportDirty))


def station_cases(engine, key: str) -> int:
    with engine.db.read() as scope:
        station = select(Department.id).where(Department.key == key).scalar_subquery()
        return scope.session.scalar(select(func.count()).where(ProcessInstance.station_id == station))


@pytest.fixture
def berlin(engine, world, clock):
    """dongfeng keeps Berlin time, xinqiao the deployment's (Asia/Shanghai); the generated month of cases."""
    assert engine.identity.set_time_zone("dongfeng", "Europe/Berlin")["time_zone"] == "Europe/Berlin"
    simulate(engine, world, clock)
    return world


@pytest.mark.parametrize("reference", [True, False], ids=["task-rows", "rollups"])
def test_each_station_counts_its_cases_in_its_own_calendar(engine, berlin, clock, reference):
    differs = 0
    for kind, label in PERIODS:
        own = own_periods(kind, label)
        bulletin = engine.reports.bulletin(None, kind, label, reference=reference)
        brute = expected(brute_force(engine, *own["xinqiao"], clock.now(), windows=own))
        assert nonzero(reported(bulletin)) == nonzero(brute if reference else histogram_precision(brute)), label
        # the same period in Shanghai's calendar for both stations would have been another count
        differs += nonzero(brute) != nonzero(expected(brute_force(engine, *own["xinqiao"], clock.now())))
        # one station's report: its own period, and the same rows as in the report of every station
        alone = engine.reports.bulletin(berlin["qian"], kind, label, reference=reference)
        assert (alone["period"]["start"], alone["period"]["end"]) == own["dongfeng"]
        assert alone["period"]["time_zone"] == "Europe/Berlin"
        brute_alone = expected(brute_force(engine, *own["dongfeng"], clock.now(), station="dongfeng"))
        got = {k: v for k, v in nonzero(reported(alone)).items() if k[0] != "department"}
        want = {k: v for k, v in nonzero(brute_alone).items() if k[0] != "department"}
        assert got == (want if reference else histogram_precision(want)), label
    assert differs >= 2  # the generated cases straddle the stations' different midnights (2 of 7 periods)


def test_a_report_of_several_stations_says_each_stations_period(engine, berlin):
    bulletin = engine.reports.bulletin(None, "week", "2026-W48")
    assert bulletin["period"]["time_zone"] == "Asia/Shanghai"  # the deployment's, the total's headline
    assert bulletin["period"]["station_time_zones"] == [
        {
            "station": "dongfeng",
            "time_zone": "Europe/Berlin",
            "start": datetime(2026, 11, 22, 23, 0, tzinfo=UTC),  # Monday 00:00 in Berlin (CET)
            "end": datetime(2026, 11, 29, 23, 0, tzinfo=UTC),
        },
        {
            "station": "xinqiao",
            "time_zone": "Asia/Shanghai",
            "start": datetime(2026, 11, 22, 16, 0, tzinfo=UTC),
            "end": datetime(2026, 11, 29, 16, 0, tzinfo=UTC),
        },
    ]
    assert {s["station"]: s["time_zone"] for s in bulletin["stations"]} == {
        "dongfeng": "Europe/Berlin",
        "xinqiao": "Asia/Shanghai",
    }
    rows = {(r["level"], r["name"]): r["time_zone"] for r in export.rows(bulletin) if r["level"] != "department"}
    assert rows[("total", "*")] is None  # two calendars: no one zone for the total
    assert rows[("station", "dongfeng")] == "Europe/Berlin" and rows[("station", "xinqiao")] == "Asia/Shanghai"
    assert "time_zone" in export.to_csv(bulletin).splitlines()[0].split(",")
    trend = engine.reports.trend(None, "week", 5, "2026-W51")
    assert trend["station_time_zones"] == [
        {"station": "dongfeng", "time_zone": "Europe/Berlin"},
        {"station": "xinqiao", "time_zone": "Asia/Shanghai"},
    ]
    assert trend == engine.reports.trend(None, "week", 5, "2026-W51", reference=True)
    for point in trend["points"]:
        week = engine.reports.bulletin(None, "week", point["period"])
        assert point["cases_reported"] == week["summary"]["cases_reported"]
    one = engine.reports.trend(berlin["qian"], "week", 5, "2026-W51")
    assert one["time_zone"] == "Europe/Berlin" and one == engine.reports.trend(
        berlin["qian"], "week", 5, "2026-W51", reference=True
    )
    assert one["points"][0]["start"] == datetime(2026, 11, 15, 23, 0, tzinfo=UTC)  # 2026-W47, Monday in Berlin


# Around Berlin's change to summer time (Sunday 2026-03-29, 02:00 CET -> 03:00 CEST): the instants a case
# is reported at, and the ISO week and month it counts in for each station.
DST_CASES = [
    # reported at (UTC)    dongfeng: week, month      xinqiao: week, month
    ("2026-03-22T22:30", ("2026-W12", "2026-03"), ("2026-W13", "2026-03")),
    ("2026-03-22T23:30", ("2026-W13", "2026-03"), ("2026-W13", "2026-03")),
    ("2026-03-29T21:30", ("2026-W13", "2026-03"), ("2026-W14", "2026-03")),  # Sunday 23:30 CEST (22:30 CET)
    ("2026-03-29T22:30", ("2026-W14", "2026-03"), ("2026-W14", "2026-03")),  # Monday 00:30 CEST (Sunday in CET)
    ("2026-03-31T21:30", ("2026-W14", "2026-03"), ("2026-W14", "2026-04")),
    ("2026-03-31T22:30", ("2026-W14", "2026-04"), ("2026-W14", "2026-04")),
]


@pytest.mark.parametrize("reference", [True, False], ids=["task-rows", "rollups"])
def test_weeks_and_months_across_the_change_to_summer_time_are_the_stations_own(engine, world, clock, reference):
    engine.identity.set_time_zone("dongfeng", "Europe/Berlin")
    for moment, _, _ in DST_CASES:
        clock.set(datetime.fromisoformat(moment).replace(tzinfo=UTC))
        for officer in ("liu", "wang"):  # liu: dongfeng, wang: xinqiao
            report_case(engine, world[officer])
    clock.set(datetime(2026, 4, 2, tzinfo=UTC))
    for kind, labels, index in (
        ("week", ("2026-W12", "2026-W13", "2026-W14"), 0),
        ("month", ("2026-03", "2026-04"), 1),
    ):
        for label in labels:
            bulletin = engine.reports.bulletin(None, kind, label, reference=reference)
            got = {s["station"]: s["cases_reported"] for s in bulletin["stations"]}
            want = {station: 0 for station in ZONES}
            for _, dongfeng, xinqiao in DST_CASES:
                want["dongfeng"] += dongfeng[index] == label
                want["xinqiao"] += xinqiao[index] == label
            assert got == {k: v for k, v in want.items() if v}, (kind, label)
    week = engine.reports.bulletin(world["qian"], "week", "2026-W13", reference=reference)["period"]
    # Monday 00:00 CET to Monday 00:00 CEST: a week of 167 hours
    assert (week["start"], week["end"]) == (
        datetime(2026, 3, 22, 23, tzinfo=UTC),
        datetime(2026, 3, 29, 22, tzinfo=UTC),
    )


def test_changing_a_stations_time_zone_rebuckets_its_cases(engine, world, clock):
    simulate(engine, world, clock)
    before = {(kind, label): engine.reports.bulletin(None, kind, label) for kind, label in PERIODS}
    assert queued(engine) == 0  # the reports took the queue in
    changed = engine.identity.set_time_zone("dongfeng", "Europe/Berlin", actor=world["admin"])
    assert changed == {**changed, "key": "dongfeng", "kind": "station", "time_zone": "Europe/Berlin"}
    assert queued(engine) == station_cases(engine, "dongfeng") > 0  # queued with the change, for the sweeper
    moved = 0
    for kind, label in PERIODS:
        own = own_periods(kind, label)
        fast = engine.reports.bulletin(None, kind, label)
        assert without_percentiles(fast) == without_percentiles(
            engine.reports.bulletin(None, kind, label, reference=True)
        )
        brute = histogram_precision(expected(brute_force(engine, *own["xinqiao"], clock.now(), windows=own)))
        assert nonzero(reported(fast)) == nonzero(brute), label
        moved += reported(fast) != reported(before[(kind, label)])
    assert moved and queued(engine) == 0
    engine.identity.set_time_zone("dongfeng", "Europe/Berlin")  # the same zone again: nothing to re-bucket
    assert queued(engine) == 0
    engine.identity.set_time_zone("dongfeng", None)  # back to the deployment's: the figures of before
    while queued(engine):
        engine.reports.rollups.sweep()
    assert {(kind, label): engine.reports.bulletin(None, kind, label) for kind, label in PERIODS} == before


@pytest.mark.parametrize("zone", ["Mars/Olympus", "asia/shanghai", "../../etc/passwd", "Asia/Shanghai/", "+08:00"])
def test_an_unknown_time_zone_is_refused_and_changes_nothing(engine, world, zone):
    before = database_rows(engine)
    with pytest.raises(InvalidInput, match="not a known time zone"):
        engine.identity.set_time_zone("dongfeng", zone)
    with pytest.raises(InvalidInput, match="not a known time zone"):
        engine.identity.create_department("haidian", "海淀派出所", "station", time_zone=zone)
    assert database_rows(engine) == before


def test_only_a_station_has_a_time_zone_and_refusals_change_nothing(engine, world, clock):
    simulate(engine, world, clock, count=4)
    engine.reports.bulletin(None, "month", "2026-11")
    before = database_rows(engine)
    with pytest.raises(InvalidInput, match="only a station"):
        engine.identity.set_time_zone("civil_affairs", "Asia/Shanghai")
    with pytest.raises(InvalidInput, match="only a station"):
        engine.identity.create_department("urban_management", "城管局", "agency", time_zone="Asia/Shanghai")
    with pytest.raises(DepartmentNotFound):
        engine.identity.set_time_zone("nowhere", "Asia/Shanghai")
    assert database_rows(engine) == before
    created = engine.identity.create_department("haidian", "海淀派出所", "station", time_zone="Asia/Urumqi")
    assert created["time_zone"] == "Asia/Urumqi"
    assert {d["key"]: d["time_zone"] for d in engine.identity.list_departments()}["haidian"] == "Asia/Urumqi"


def test_a_report_day_is_the_local_day_of_the_cases_station(engine, world, clock):
    engine.identity.set_time_zone("dongfeng", "Asia/Urumqi")  # UTC+6, two hours behind Shanghai
    clock.set(datetime(2026, 11, 30, 17, 0, tzinfo=UTC))  # Tuesday 01:00 in Shanghai, 23:00 Monday in Urumqi
    report_case(engine, world["liu"])
    report_case(engine, world["wang"])
    engine.reports.bulletin(None, "week", "2026-W49")  # takes the queue in
    with engine.db.read() as scope:
        rows = scope.session.execute(
            select(Department.key, REPORT_DAYS.c.day)
            .join(Department, Department.id == REPORT_DAYS.c.station_id)
            .where(REPORT_DAYS.c.reported > 0)
        ).all()
    assert sorted((key, day.isoformat()) for key, day in rows) == [
        ("dongfeng", "2026-11-30"),
        ("xinqiao", "2026-12-01"),
    ]
