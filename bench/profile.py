"""Profile the hot path: whole dispute cases over HTTP (Flask test client, SQLite, in process).

    python -m bench.profile [--cases 20] [--html out.html]

Prints pyinstrument's call tree (the top costs recorded in docs/benchmarks.md come from here) and the
SQL statements one task completion runs. py-spy works on the running servers of the api bench too:
`py-spy record -o profile.svg --pid <gunicorn worker pid>`.
"""

from __future__ import annotations

import argparse
import collections
import time

from sqlalchemy import event

from . import common
from .common import PATHS, REPORT


def drive(client, headers, path: str) -> None:
    response = client.post(
        "/api/v1/process-instances",
        headers=headers["officer"],
        json={"definition_key": "dispute_resolution", "variables": REPORT},
    )
    case = response.json
    tasks = case["open_tasks"]
    for element_id, role, data in PATHS[path]:
        task = next((t for t in tasks if t["element_id"] == element_id), None)
        if task is None:
            tasks = client.get(f"/api/v1/tasks?instance_id={case['id']}", headers=headers[role]).json["items"]
            task = next(t for t in tasks if t["element_id"] == element_id and t["state"] in ("open", "claimed"))
        done = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": data}, headers=headers[role])
        assert done.status_code == 200, done.json
        tasks = []


def main(argv=None) -> None:
    from pyinstrument import Profiler

    from web import create_app

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--html", default=None)
    args = parser.parse_args(argv)
    with common.workdir() as tmp:
        engine = common.make_engine(f"sqlite:///{tmp / 'profile.db'}", tmp / "instance")
        common.build_world(engine, officers_per_station=1, liaisons=1)
        client = create_app(engine).test_client()
        headers = {}
        for role, user in (("officer", "xinqiao_officer0"), ("civil_affairs", "civil0"), ("health", "health0")):
            token = client.post("/api/v1/auth/login", json={"username": user, "password": common.PASSWORD}).json
            headers[role] = {"Authorization": f"Bearer {token['token']}"}
        drive(client, headers, "escalate_both")  # warm-up
        statements: list[str] = []
        event.listen(
            engine.db.engine,
            "before_cursor_execute",
            lambda _c, _cur, sql, *_a: statements.append(sql.split("\n")[0][:100]),
        )
        tasks = sum(len(PATHS[p]) for p in ("escalate_both", "on_spot"))
        started = time.perf_counter()
        for _ in range(args.cases // 2):
            drive(client, headers, "escalate_both")
            drive(client, headers, "on_spot")
        seconds = time.perf_counter() - started
        print(
            f"{args.cases} cases over HTTP in {seconds:.2f} s: "
            f"{seconds * 1000 / (tasks * args.cases // 2):.1f} ms per completed task (incl. start and lists), "
            f"{len(statements) / (tasks * args.cases // 2):.1f} SQL statements per task"
        )
        counts = collections.Counter(statements)
        print("most frequent statements:")
        for sql, n in counts.most_common(12):
            print(f"  {n:5d}  {sql}")
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(args.cases // 2):
            drive(client, headers, "escalate_both")
            drive(client, headers, "on_spot")
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False))
        if args.html:
            with open(args.html, "w") as f:
                f.write(profiler.output_html())
        engine.close()


if __name__ == "__main__":
    main()
