"""`fengqiao demo`: demo departments and users, and sample cases walked through the closed loop."""

from __future__ import annotations

import contextlib

from engine import Engine
from engine.errors import AlreadyExists
from engine.identity import Actor

DEMO_PASSWORD = "fengqiao-demo"
DEPARTMENTS = [
    ("xinqiao_station", "新桥派出所 Xinqiao police station", "station"),
    ("civil_affairs", "民政局 Civil affairs bureau", "agency"),
    ("health", "卫健委 Health commission", "agency"),
]
USERS = [
    ("officer_wang", "officer", ["xinqiao_station"], "王警官 Officer Wang"),
    ("officer_chen", "officer", ["xinqiao_station"], "陈警官 Officer Chen"),
    ("supervisor_zhou", "supervisor", ["xinqiao_station"], "周所长 Supervisor Zhou"),
    ("liaison_li", "liaison", ["civil_affairs"], "李联络员 Liaison Li (civil affairs)"),
    ("liaison_zhao", "liaison", ["health"], "赵联络员 Liaison Zhao (health)"),
    ("admin", "admin", [], "管理员 Admin"),
    ("auditor_sun", "auditor", [], "孙监督员 Auditor Sun"),
]


def ensure_demo_world(engine: Engine) -> None:
    system = Actor.system("fengqiao-demo")
    for key, name, kind in DEPARTMENTS:
        with contextlib.suppress(AlreadyExists):
            engine.identity.create_department(key, name, kind, actor=system)
    for username, role, departments, display in USERS:
        with contextlib.suppress(AlreadyExists):
            engine.identity.create_user(username, role, DEMO_PASSWORD, departments, display, actor=system)


def run_demo(engine: Engine, say) -> None:
    ensure_demo_world(engine)
    actor = engine.identity.actor
    wang, li, zhou = actor("officer_wang"), actor("liaison_li"), actor("supervisor_zhou")
    health_system = Actor.system("health-dept-system", department="health")

    def task(case, element_id):
        case = engine.runtime.get_instance(case["id"], history=False)
        return next(t for t in case["open_tasks"] if t["element_id"] == element_id)

    def step(text):
        say(f"  · {text}")

    say("== 案例一 Case 1: a neighbour dispute resolved on the spot (就地化解) ==")
    case = engine.runtime.start_instance(
        "dispute_resolution",
        wang,
        {
            "risk_level": "yellow",
            "category": "neighbour_dispute",
            "source": "household_visit",
            "description": "楼上漏水引发邻里纠纷 Water leaking from upstairs",
            "community": "新桥社区",
            "household": "新桥社区3栋2单元501",
            "parties": [{"name": "张某", "phone": "13800000001", "role": "applicant"}],
        },
    )
    step(f"上报 reported {case['business_key']} by officer_wang (yellow: respond within 12 h)")
    assess = task(case, "assess_case")
    engine.tasks.claim(assess["id"], wang)
    step(f"首接 officer_wang claims '{assess['name']}' and becomes the case owner (due {assess['due_at']})")
    engine.tasks.complete(assess["id"], wang, {"resolution": "on_spot", "assessment": "双方同意调解"})
    step("研判 assessed: resolve on the spot")
    engine.tasks.complete(
        task(case, "handle_on_spot")["id"], wang, {"result": "mediated_agreement", "measures": "现场调解，签订协议"}
    )
    step("处置 handled on the spot: mediated agreement")
    feedback = task(case, "feedback_to_resident")
    step(f"反馈 feedback task goes to the owner automatically: assignee={feedback['assignee']}")
    engine.tasks.complete(feedback["id"], wang, {"satisfaction": "satisfied", "channel": "visit"})
    case = engine.runtime.get_instance(case["id"], history=False)
    step(f"评单 resident satisfied → case {case['status']}")

    say("== 案例二 Case 2: an elderly resident living alone, escalated to civil affairs and health ==")
    case = engine.runtime.start_instance(
        "dispute_resolution",
        wang,
        {
            "risk_level": "red",
            "category": "elderly_care",
            "source": "resident_request",
            "description": "独居老人生活困难且需要健康随访 Elderly resident alone, hardship and health follow-up",
            "household": "新桥社区7栋101",
            "parties": [{"name": "刘某", "id_number": "110101194501011234", "role": "applicant"}],
        },
    )
    step(f"上报 reported {case['business_key']} (red: respond within 2 h)")
    assess = task(case, "assess_case")
    engine.tasks.claim(assess["id"], wang)
    step("首接 officer_wang claims the assessment and owns the case")
    engine.tasks.complete(assess["id"], wang, {"resolution": "escalate", "departments": ["civil_affairs", "health"]})
    case = engine.runtime.get_instance(case["id"], history=False)
    queues = ", ".join(f"{t['element_id']}→{t['candidate_groups'][0]} (due {t['due_at']})" for t in case["open_tasks"])
    step(f"升级 escalated in parallel: {queues}")
    civil = task(case, "handle_civil_affairs")
    engine.tasks.claim(civil["id"], li)
    engine.tasks.complete(
        civil["id"],
        li,
        {"outcome": "resolved", "summary": "纳入低保，安排助餐", "services": ["subsistence_allowance", "elderly_care"]},
    )
    step("民政 liaison_li claims the civil-affairs task and records the result")
    engine.runtime.correlate_message(
        "department_result",
        health_system,
        business_key=case["business_key"],
        payload={"outcome": "resolved", "summary": "家庭医生签约，每月上门随访", "services": ["health_visit"]},
    )
    step("卫健 the health department's system reports its result by message (department_result)")
    feedback = task(case, "feedback_to_resident")
    step(
        f"反馈 feedback comes back to the case owner: assignee={feedback['assignee']} "
        f"(ownership never moved during escalation)"
    )
    engine.tasks.complete(feedback["id"], wang, {"satisfaction": "satisfied", "channel": "phone"})
    case = engine.runtime.get_instance(case["id"], history=False)
    step(f"评单 resident satisfied → case {case['status']}")

    say("== 案例三 Case 3: an unsatisfied resident reopens the case; the supervisor reviews ==")
    case = engine.runtime.start_instance(
        "dispute_resolution",
        wang,
        {"risk_level": "blue", "category": "property_dispute", "description": "物业费争议 Property fee dispute"},
    )
    step(f"上报 reported {case['business_key']} (blue: respond within 24 h)")
    for round_ in range(3):
        assess = task(case, "assess_case")
        engine.tasks.complete(assess["id"], wang, {"resolution": "on_spot"})
        engine.tasks.complete(task(case, "handle_on_spot")["id"], wang, {"result": "resolved"})
        engine.tasks.complete(task(case, "feedback_to_resident")["id"], wang, {"satisfaction": "unsatisfied"})
        step(
            f"反馈 round {round_ + 1}: resident unsatisfied"
            + (" → reopened for the owner" if round_ < 2 else " → supervisor review")
        )
    review = task(case, "supervisor_review")
    engine.tasks.complete(review["id"], zhou, {"decision": "close", "comment": "已依法依规处置，结案"})
    case = engine.runtime.get_instance(case["id"], history=False)
    step(f"审查 supervisor_zhou closes the case → {case['status']}")

    say("")
    say(f"Demo accounts (password '{DEMO_PASSWORD}'): " + ", ".join(u[0] for u in USERS))
