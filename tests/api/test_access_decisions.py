"""web/access.py decision by decision, each with the case it refuses: who may call an endpoint, see a
task or case, name other users, report for a department, and see personal fields in clear. The same
rules over real requests: tests/api/test_refusals_over_http.py and test_access_rules.py."""

from __future__ import annotations

import pytest

from engine.identity import Actor
from web import access
from web.errors import ApiError

XINQIAO, DONGFENG = 1, 2
WANG = Actor(3, "wang", "officer", frozenset({"xinqiao"}), XINQIAO)
CHEN = Actor(4, "chen", "officer", frozenset({"xinqiao"}), XINQIAO)
LIU = Actor(5, "liu", "officer", frozenset({"dongfeng"}), DONGFENG)
ZHOU = Actor(6, "zhou", "supervisor", frozenset({"xinqiao"}), XINQIAO)
LI = Actor(7, "li", "liaison", frozenset({"civil_affairs"}))
ZHAO = Actor(8, "zhao", "liaison", frozenset({"health"}))
DUO = Actor(9, "duo", "liaison", frozenset({"civil_affairs", "health"}))
ADMIN = Actor(10, "admin", "admin")
SUN = Actor(11, "sun", "auditor")
NOWHERE = Actor(12, "nowhere", "officer")  # an officer of no station
SYSTEM = Actor.system("health-system", "health")


def task(**fields):
    return {
        "id": "t1",
        "station_id": XINQIAO,
        "candidate_groups": ["officer"],
        "assignee": None,
        "completed_by": None,
        "state": "open",
        **fields,
    }


def refused(status: int, code: str, call, *args) -> ApiError:
    with pytest.raises(ApiError) as raised:
        call(*args)
    assert (raised.value.status, raised.value.code) == (status, code)
    return raised.value


# --- endpoints ---------------------------------------------------------------------------------
def test_an_endpoint_nobody_listed_is_closed_and_public_ones_need_no_role():
    assert access.roles_of("no.such_endpoint") == () and access.roles_of(None) == ()
    assert access.roles_of("auth.login") is None and access.roles_of("health.healthz") is None
    assert access.roles_of("tasks.reassign") == ("supervisor",)
    error = refused(403, "forbidden", access.check_role, ZHOU, "no.such_endpoint")
    assert error.message == "the supervisor role may not do this"
    access.check_role(SUN, "auth.login")  # public: anyone


@pytest.mark.parametrize(
    ("actor", "endpoint", "allowed"),
    [
        (ZHOU, "tasks.reassign", True),
        (WANG, "tasks.reassign", False),
        (ADMIN, "instances.cancel", True),
        (WANG, "instances.cancel", False),
        (SUN, "history.audit_trail", True),
        (ADMIN, "history.audit_trail", False),
        (SYSTEM, "messages.correlate", True),
        (SYSTEM, "tasks.list", False),
        (LI, "tasks.claim", True),
        (ADMIN, "tasks.claim", False),
    ],
)
def test_each_endpoint_admits_only_its_roles(actor, endpoint, allowed):
    if allowed:
        access.check_role(actor, endpoint)
    else:
        refused(403, "forbidden", access.check_role, actor, endpoint)


def test_only_a_supervisor_names_other_users():
    assert access.may_name_others(ZHOU)
    assert not any(access.may_name_others(a) for a in (WANG, LI, ADMIN, SUN, SYSTEM))


# --- tasks -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("actor", "seen", "visible"),
    [
        (WANG, task(), True),
        (ZHOU, task(), True),
        (LIU, task(), False),  # another station
        (NOWHERE, task(station_id=None), False),  # no station sees nothing, not even station-less tasks
        (LI, task(), False),  # an officer task
        (LI, task(candidate_groups=["civil_affairs"]), True),
        (ZHAO, task(candidate_groups=["civil_affairs"]), False),
        (LI, task(candidate_groups=["civil_affairs"], state="claimed", assignee="he"), False),  # a colleague's
        (LI, task(assignee="li"), True),  # once given to them
        (LI, task(completed_by="li"), True),  # and after they completed it
        (ADMIN, task(), False),
        (SUN, task(), False),
        (SYSTEM, task(candidate_groups=["health"]), False),
    ],
)
def test_who_sees_a_task(actor, seen, visible):
    assert access.task_visible(actor, seen) is visible
    if visible:
        assert access.check_task(actor, seen) is seen
    else:
        assert refused(404, "not_found", access.check_task, actor, seen).message == "no such task"


def test_a_liaison_who_lost_the_race_for_a_task_of_their_queue_hears_it_was_taken():
    taken = task(candidate_groups=["civil_affairs"], state="claimed", assignee="he")
    assert access.check_claim(LI, taken) is taken  # the engine then answers 409
    open_one = task(candidate_groups=["civil_affairs"])
    assert access.check_claim(LI, open_one) is open_one
    refused(404, "not_found", access.check_claim, ZHAO, taken)
    refused(404, "not_found", access.check_claim, LI, {**taken, "state": "completed"})
    refused(404, "not_found", access.check_claim, LIU, task(state="claimed", assignee="wang"))
    assert access.check_claim(WANG, task(state="claimed", assignee="chen"))["assignee"] == "chen"


def test_pages_take_the_roles_of_the_operation_they_show():
    assert access.is_page("pages.tasks.claim") and not access.is_page("tasks.claim") and not access.is_page(None)
    assert access.roles_of("pages.session.login") is None and access.roles_of("pages.locale.choose") is None
    assert access.roles_of("pages.tasks.reassign") == access.roles_of("tasks.reassign")
    assert access.roles_of("pages.board.show") == ("supervisor",)
    assert access.roles_of("pages.no.such") == ()
    refused(403, "forbidden", access.check_role, WANG, "pages.board.show")
    refused(403, "forbidden", access.check_role, ZHOU, "pages.no.such")


def test_task_lists_are_scoped_to_the_station_or_to_what_involves_the_caller():
    assert access.task_scope(WANG) == {"station_id": XINQIAO}
    assert access.task_scope(ZHOU) == {"station_id": XINQIAO}
    assert access.task_scope(NOWHERE) == {"station_id": -1}
    assert access.task_scope(LI) == {"involving": LI}


def test_a_liaison_lists_only_the_queues_of_their_departments():
    access.check_group_filter(LI, "civil_affairs")
    access.check_group_filter(LI, None)
    access.check_group_filter(ZHOU, "health")  # a supervisor's queues are scoped otherwise
    error = refused(403, "forbidden", access.check_group_filter, LI, "health")
    assert error.message == "a liaison sees only the queues of their own departments"


def test_a_liaison_is_shown_only_the_tasks_they_may_see():
    mine, other = task(id="a", candidate_groups=["civil_affairs"]), task(id="b")
    assert access.liaison_tasks(LI, [mine, other]) == [mine]


# --- cases -------------------------------------------------------------------------------------
CASE = {"id": "c1", "station": "xinqiao", "case_owner": "wang", "started_by": "chen", "open_tasks": [], "history": []}


@pytest.mark.parametrize(
    ("actor", "tasks", "visible"),
    [
        (WANG, None, True),
        (ZHOU, None, True),
        (LIU, None, False),
        (LI, [task(candidate_groups=["civil_affairs"])], True),
        (LI, [task()], False),
        (LI, None, False),
        (ADMIN, None, False),
        (SUN, None, False),
    ],
)
def test_who_sees_a_case(actor, tasks, visible):
    assert access.instance_visible(actor, CASE, tasks) is visible
    if visible:
        access.check_instance(actor, CASE, tasks)
    else:
        error = refused(404, "not_found", access.check_instance, actor, CASE, tasks)
        assert error.message == "no such process instance"
    assert access.instance_visible(WANG, {**CASE, "station": None}) is False


@pytest.mark.parametrize(
    ("case", "handled"),
    [
        ({**CASE, "case_owner": "li"}, False),
        ({**CASE, "case_owner": "wang"}, True),
        ({**CASE, "case_owner": None, "started_by": "wang"}, True),
        ({**CASE, "case_owner": None, "open_tasks": [task(assignee="wang")]}, True),
        ({**CASE, "case_owner": None, "open_tasks": [task(assignee="chen")]}, False),
        ({**CASE, "case_owner": None, "history": [{"actor": "wang", "action": "task.completed"}]}, True),
        ({**CASE, "case_owner": None, "history": [{"actor": "wang", "action": "personal_data.read"}]}, False),
        ({**CASE, "case_owner": None, "history": [{"actor": "chen", "action": "task.claimed"}]}, False),
    ],
)
def test_an_officer_handles_a_case_they_own_reported_hold_or_worked(case, handled):
    assert access.handles(WANG, case) is handled
    assert access.personal_visibility(WANG, case) == ("clear" if handled else "masked")


def test_a_case_read_without_its_tasks_or_history_is_handled_only_by_its_owner_or_reporter():
    bare = {"id": "c1", "station": "xinqiao", "case_owner": None, "started_by": "chen"}
    assert access.handles(WANG, bare) is False
    assert access.handles(CHEN, bare) is True


def test_personal_fields_are_clear_to_supervisors_and_to_a_liaison_holding_one_of_the_tasks():
    department_task = task(candidate_groups=["civil_affairs"], state="claimed", assignee="li")
    assert access.personal_visibility(ZHOU, CASE) == "clear"
    assert access.personal_visibility(LI, CASE, [department_task]) == "clear"
    assert access.personal_visibility(LI, CASE, [{**department_task, "state": "open"}]) == "masked"
    assert access.personal_visibility(LI, CASE, [{**department_task, "assignee": "he"}]) == "masked"
    assert access.personal_visibility(LI, CASE, None) == "masked"
    for actor in (ADMIN, SUN, SYSTEM, LIU):
        assert access.personal_visibility(actor, CASE) == "masked"


def test_a_liaison_sees_only_the_case_variables_a_department_task_needs():
    variables = {"category": "c", "risk_level": "red", "reopen_count": 2, "household": "h", "secret_note": "x"}
    assert access.case_variables(LI, variables) == {"category": "c", "risk_level": "red", "household": "h"}
    assert access.case_variables(WANG, variables) is variables


RECORDS = [
    {"source": "start", "task_id": None, "data": {"household": "新桥社区7栋101室", "parties": [], "extra": "x"}},
    {"source": "department_result", "task_id": "mine", "data": {"handler_name": "李四"}},
    {"source": "department_result", "task_id": "theirs", "data": {"handler_name": "赵医生"}},
]


def test_a_liaison_gets_the_start_record_cut_to_the_department_fields_and_only_their_tasks_records():
    tasks = [task(id="mine", candidate_groups=["civil_affairs"]), task(id="theirs", candidate_groups=["health"])]
    view = access.personal_view(LI, RECORDS, "clear", tasks)
    assert view == {
        "visibility": "clear",
        "records": [
            {"source": "start", "task_id": None, "data": {"household": "新桥社区7栋101室", "parties": []}},
            RECORDS[1],
        ],
    }


def test_masked_records_keep_their_shape_but_not_their_values():
    view = access.personal_view(WANG, RECORDS[:2], "masked")
    assert view["visibility"] == "masked"
    assert [r["source"] for r in view["records"]] == ["start", "department_result"]
    assert view["records"][1]["data"]["handler_name"] != "李四"
    assert access.personal_view(ZHOU, RECORDS, "clear") == {"visibility": "clear", "records": RECORDS}


# --- department results ------------------------------------------------------------------------
def test_a_department_reports_only_for_itself():
    assert access.message_department(LI, None) == "civil_affairs"
    assert access.message_department(SYSTEM, "health") == "health"
    assert access.message_department(ZHOU, "health") == "health"  # a supervisor records for any
    assert access.message_department(ZHOU, None) is None
    error = refused(403, "forbidden", access.message_department, LI, "health")
    assert error.message == "you may report results only for your own department"
    refused(403, "forbidden", access.message_department, SYSTEM, "civil_affairs")
    error = refused(422, "validation_failed", access.message_department, DUO, None)
    assert error.message == "name the department you report for"
    assert error.details == [{"field": "department", "message": "one of civil_affairs, health"}]
    assert access.message_department(DUO, "health") == "health"


def test_a_result_goes_only_to_a_case_the_reporter_may_know():
    tasks = [task(candidate_groups=["civil_affairs"])]
    access.check_message_target(ZHOU, None, tasks)
    qian = Actor(13, "qian", "supervisor", frozenset({"dongfeng"}), DONGFENG)
    refused(404, "not_found", access.check_message_target, qian, None, tasks)
    access.check_message_target(LI, "civil_affairs", tasks)
    access.check_message_target(LI, None, tasks)
    refused(404, "not_found", access.check_message_target, ZHAO, "health", tasks)
    refused(404, "not_found", access.check_message_target, ZHAO, None, tasks)
    refused(404, "not_found", access.check_message_target, LI, "civil_affairs", [])
    # a liaison of two departments reports for the one they name, which must be the case's
    error = refused(404, "not_found", access.check_message_target, DUO, "health", tasks)
    assert error.message == "no such process instance"
    access.check_message_target(DUO, "civil_affairs", tasks)
