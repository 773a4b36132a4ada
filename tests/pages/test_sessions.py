"""Browser sessions, CSRF, security headers and languages on the workbench pages."""

from __future__ import annotations

from tests.helpers import PASSWORD, report_case, task_of

from .conftest import PageUser


def test_root_without_a_session_sends_the_browser_to_the_login_page(browse):
    response = browse().get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    login = browse().get("/login")
    assert login.status_code == 200 and 'name="password"' in login.get_data(as_text=True)


def test_pages_send_a_csp_without_inline_scripts_and_the_other_security_headers(browse):
    for response in (browse().get("/login"), browse("wang").get("/"), browse("wang").get("/no-such-page")):
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "<script>" not in response.get_data(as_text=True)


def test_login_sets_a_signed_httponly_samesite_lax_cookie_marked_secure_only_over_https(app, world):
    plain = PageUser(app).login("wang")
    cookie = plain.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    secure = PageUser(app)
    token = secure.client.get("/login", base_url="https://localhost").get_data(as_text=True)
    token = token.split('name="csrf_token" value="')[1].split('"')[0]
    response = secure.client.post(
        "/login",
        base_url="https://localhost",
        data={"username": "wang", "password": PASSWORD, "csrf_token": token},
        headers={"Referer": "https://localhost/login"},
    )
    assert response.status_code == 302 and "Secure" in response.headers["Set-Cookie"]


def test_a_wrong_password_is_refused_audited_and_limited_like_the_api(app, world, engine):
    user = PageUser(app)
    response = user.login("wang", "wrong")
    assert response.status_code == 401 and "密码错误" in response.get_data(as_text=True)
    assert engine.history.audit_trail(action="auth.login_failed")[-1]["details"] == {"username": "wang"}
    statuses = [user.login("wang", f"guess-{i}").status_code for i in range(10)]
    assert statuses[-1] == 429
    assert user.get("/").status_code == 302  # nobody got in


def test_logging_in_again_starts_a_new_session_and_revokes_the_old_one(app, world, engine):
    user = PageUser(app, "wang")
    first = user.client.get_cookie("fengqiao_session").value
    assert user.login("chen").status_code == 302
    assert user.client.get_cookie("fengqiao_session").value != first
    assert 'class="who"' in user.text("/") and ">chen<" in user.text("/")
    stale = PageUser(app)
    stale.client.set_cookie("fengqiao_session", first)
    assert stale.get("/").status_code == 302  # the planted/old cookie's login token is revoked


def test_logout_ends_the_session(browse, engine):
    wang = browse("wang")
    cookie = wang.client.get_cookie("fengqiao_session").value
    response = wang.post("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert wang.get("/").status_code == 302
    replay = browse()
    replay.client.set_cookie("fengqiao_session", cookie)
    assert replay.get("/").status_code == 302
    assert engine.history.audit_trail(action="auth.logout")[-1]["actor"] == "wang"


def test_deactivating_a_user_or_changing_their_password_ends_their_browser_sessions(browse, engine, world):
    wang, chen = browse("wang"), browse("chen")
    engine.identity.update_user("wang", active=False, actor=world["admin"])
    assert wang.get("/").status_code == 302
    engine.identity.update_user("chen", password="a-new-password-1", actor=world["admin"])
    assert chen.get("/").status_code == 302


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(browse, engine, world):
    case = report_case(engine, world["wang"])
    task = case["open_tasks"][0]
    wang = browse("wang")
    response = wang.client.post(f"/tasks/{task['id']}/claim")
    assert response.status_code == 400 and "表单已过期" in response.get_data(as_text=True)
    assert engine.tasks.get_task(task["id"])["state"] == "open"
    forged = wang.client.post(f"/tasks/{task['id']}/claim", data={"csrf_token": "forged"})
    assert forged.status_code == 400 and engine.tasks.get_task(task["id"])["state"] == "open"


def test_pages_speak_chinese_by_default_english_on_request_and_remember_the_choice(browse):
    wang = browse("wang")
    assert "待办" in wang.text("/") and 'lang="zh-CN"' in wang.text("/")
    english = browse("wang")
    response = english.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "My tasks" in response.get_data(as_text=True) and 'lang="en"' in response.get_data(as_text=True)
    assert wang.post("/locale", {"locale": "en", "next": "/"}).status_code == 302
    assert "My tasks" in wang.text("/")  # remembered without Accept-Language
    assert wang.post("/locale", {"locale": "zh_CN", "next": "/"}).status_code == 302
    assert "我的任务" in wang.text("/")


def test_the_language_switch_never_redirects_off_the_site(browse):
    user = browse()
    response = user.post("/locale", {"locale": "en", "next": "//evil.example/"}, csrf_from="/login")
    assert response.headers["Location"] == "/"
    login = user.post("/login", {"username": "x", "password": "y", "next": "https://evil.example/"}, csrf_from="/login")
    assert login.status_code == 401 and "evil.example" not in (login.headers.get("Location") or "")


def test_a_notifications_deep_link_survives_login_and_lookalike_targets_do_not(browse, engine, world):
    case = report_case(engine, world["wang"])
    task_path = f"/tasks/{task_of(engine, case, 'assess_case')['id']}"
    user = browse()
    response = user.get(task_path)
    assert response.status_code == 302 and "next=" in response.headers["Location"]
    login_page = user.client.get(response.headers["Location"]).get_data(as_text=True)
    assert task_path in login_page  # carried in the login form
    token = user.csrf("/login")
    answer = user.client.post(
        "/login", data={"username": "wang", "password": PASSWORD, "next": task_path, "csrf_token": token}
    )
    assert answer.status_code == 302 and answer.headers["Location"] == task_path
    for target in ("/\t/evil.example/", "/\n/evil.example/", "/\\evil.example", " //evil.example"):
        stranger = browse()
        token = stranger.csrf("/login")
        answer = stranger.client.post(
            "/login", data={"username": "chen", "password": PASSWORD, "next": target, "csrf_token": token}
        )
        assert answer.status_code == 302 and answer.headers["Location"] == "/", target
