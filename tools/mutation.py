"""Mutation testing of the rules (issue 23): `make mutation`, or `python tools/mutation.py expressions`.

Each target mutates a few files with mutmut and runs only the tests that cover them, on SQLite, in a
scratch copy of the tree under build/mutation/<target> (mutmut reads its settings from the copy's
pyproject.toml, so every target gets its own file and test subset). Prints and writes each target's
score; docs/testing.md explains the survivors that are equivalent.
"""

from __future__ import annotations

import ast
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "mutation"
MUTMUT = Path(sys.executable).parent / "mutmut"

# Functions not mutated, per target: code that runs once at import, before mutmut switches a mutant
# on, so no test can see its mutants (docs/testing.md says what covers them instead).
SKIP: dict[str, set[str]] = {"expressions": {"_safe_functions"}}

# The mutants run, per target (mutmut's names, fnmatch patterns; all of the files' when absent). The
# task commands are split in two targets, each short enough to run whole: `tasks` has the task
# commands and ownership rules (claim, unclaim, complete, reassign, the case owner; the task view),
# the candidate rules (engine/queues.py, not its inbox query builder) and the closing of a task
# (engine/uow/projections.py); `operations` has the handling operations of engine/tasks/commands.py
# (urge, transfer, delegate and resolve, withdraw, return, and the reset they share); `suspension`
# the operations that move a case's clock (suspend and resume, extensions) and copies. (`operations`
# was one target of 1,459 mutants, over 30 minutes on the shared machine: split in two.)
_QUEUE_RULES = ("candidate_rows", "add_candidates", "drop_candidates", "is_candidate")
_OPERATIONS = (
    *("urge", "transfer", "transfer_to_department", "_department_task", "_decline_instance"),
    *("delegate", "resolve", "withdraw", "return_task"),
    *("_escalation_of", "_back_to", "_completed_before", "_reopen"),
)
# the sealing of attachment files and names (engine/attachments/__init__.py's other functions are
# the attachment rules, tested over HTTP)
_ATTACHMENT_SEALING = ("add", "read", "_name", "_file_context", "_thumb_context", "_name_context")


def _method_mutants(module: str, cls: str, names: tuple[str, ...]) -> list[str]:
    return [f"{module}.x\u01c1{cls}\u01c1{name}__mutmut_*" for name in names]


def _mutants() -> dict[str, list[str]]:
    commands = "engine/tasks/commands.py"
    operations = set(_OPERATIONS)
    return {
        "tasks": [
            *_functions([commands], operations),
            "engine.tasks.views.*",
            *(f"engine.queues.x_{name}__mutmut_*" for name in _QUEUE_RULES),
            "engine.uow.projections.x_close_task__mutmut_*",
        ],
        "operations": _method_mutants("engine.tasks.commands", "TaskCommands", _OPERATIONS),
        "suspension": [
            *_method_mutants("engine.tasks.extensions", "ExtensionCommands", ("request_extension", "decide_extension")),
            *_method_mutants("engine.runtime", "RuntimeService", ("suspend_instance", "resume_instance")),
            "engine.suspension.*",
            "engine.copies.*",
        ],
        "sealing": [
            "engine.vault.*",
            "engine.personal.*",
            # a package's mutants are named after its __init__ module or without it, as mutmut goes
            *_method_mutants("engine.attachments*", "AttachmentService", _ATTACHMENT_SEALING[:3]),
            *(f"engine.attachments*.x_{name}__mutmut_*" for name in _ATTACHMENT_SEALING[3:]),
        ],
    }


# Seconds a mutant's tests may run beyond mutmut's estimate (their calls' durations): the task tests'
# fixtures (a database, deployed workflows, users) cost more than their calls, so a surviving mutant
# must not pass for a timeout there; elsewhere a mutant that loops is stopped soon.
TIMEOUT = {"tasks": 60, "operations": 60, "suspension": 60, "sealing": 30, "webhooks": 30}
# Each mutant is its own pytest session (a fork of mutmut's process, every module already imported):
# its fixed cost is pytest's start and finish. No cache to write, and no unraisable-exception
# plugin, whose two forced garbage collections at the end of every session are a third of a
# one-test session's time (it only ever turns such exceptions into warnings, never into failures).
PYTEST_ARGS = ["-q", "-x", "-p", "no:cacheprovider", "-p", "no:unraisableexception"]
# A mutant that loops while growing a list must not take the shared machine's memory with it.
MEMORY_LIMIT = 1024**3  # a test process needs under 0.5 GB of address space

# target: (files to mutate, the tests that cover them)
TARGETS: dict[str, tuple[list[str], list[str]]] = {
    "expressions": (
        ["engine/expressions.py"],
        ["tests/test_expressions.py", "tests/test_expression_filter.py", "tests/test_expression_limits.py"],
    ),
    "tasks": (
        ["engine/tasks/commands.py", "engine/tasks/views.py", "engine/queues.py", "engine/uow/projections.py"],
        [
            "tests/test_permission_refusals.py",
            "tests/test_command_audit.py",
        ],
    ),
    "operations": (
        ["engine/tasks/commands.py"],
        [
            *("tests/test_urge.py", "tests/test_transfer.py", "tests/test_delegate.py", "tests/test_withdraw.py"),
            *("tests/test_return.py", "tests/test_operation_rules.py", "tests/test_countersign_gaps.py"),
            "tests/test_multi_instance.py",
        ],
    ),
    "suspension": (
        ["engine/tasks/extensions.py", "engine/runtime.py", "engine/suspension.py", "engine/copies.py"],
        [
            *("tests/test_extension.py", "tests/test_suspension.py", "tests/test_copy.py"),
            *("tests/test_operation_rules.py", "tests/test_countersign_gaps.py"),
        ],
    ),
    "sealing": (
        ["engine/vault.py", "engine/personal.py", "engine/attachments/__init__.py"],
        ["tests/test_personal_data.py", "tests/test_sealing_rules.py", "tests/test_attachment_rules.py"],
    ),
    "forms": (["forms/__init__.py", "forms/validator.py"], ["tests/test_forms.py", "tests/test_form_formats.py"]),
    # webhook verification: the signature rules, then an inbound result's checks (over HTTP)
    "webhooks": (
        ["webhooks/signing.py", "webhooks/inbound.py"],
        ["tests/test_webhook_signing.py", "tests/api/test_webhooks_api.py"],
    ),
    "access": (
        ["web/access.py"],
        # each rule decided and refused (over HTTP: test_refusals_over_http.py, too slow to run per mutant)
        ["tests/api/test_access_decisions.py"],
    ),
}


def _copy_tree(into: Path) -> None:
    """The working tree's files (tracked and new, not ignored) copied into `into`, fresh."""
    if into.exists():
        shutil.rmtree(into)
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)


def _functions(files: list[str], skipped: set[str]) -> list[str]:
    """mutmut's name patterns for the mutants of every function and method of `files` but `skipped`."""
    patterns = []
    for name in files:
        module = name.removesuffix(".py").replace("/", ".")
        for node in ast.parse((ROOT / name).read_text()).body:
            if isinstance(node, ast.ClassDef):
                methods = [m.name for m in node.body if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)]
                patterns += [f"{module}.x\u01c1{node.name}\u01c1{m}__mutmut_*" for m in methods if m not in skipped]
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name not in skipped:
                patterns.append(f"{module}.x_{node.name}__mutmut_*")
    return patterns


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def run(target: str) -> dict:
    files, tests = TARGETS[target]
    work = BUILD / target
    _copy_tree(work)
    with (work / "pyproject.toml").open("a") as config:
        config.write(
            "\n[tool.mutmut]\n"
            'source_paths = ["engine", "forms", "web", "webhooks"]\n'
            f"only_mutate = {_toml_list(files)}\n"
            'also_copy = ["workflows", "cli"]\n'
            f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
            f"pytest_add_cli_args = {_toml_list(PYTEST_ARGS)}\n"
            f"timeout_constant = {TIMEOUT.get(target, 5)}\n"
        )
    # every mutant's test session would migrate a database first: one migrated file serves them all
    template = work / "template.db"
    subprocess.run(
        [sys.executable, "-c", f"from engine.store.db import Database; Database('sqlite:///{template}').migrate()"],
        cwd=work,
        check=True,
    )
    env = {
        **os.environ,
        "FENGQIAO_TEST_BACKENDS": "sqlite",
        "FENGQIAO_TEST_SQLITE_TEMPLATE": str(template),
        # no third-party pytest plugin is used by the targets' tests; finding and starting them (xdist,
        # hypothesis, schemathesis, anyio) cost every mutant's session a tenth of a second or more
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        # engine tests start from a database with the workflows deployed and the world's users made
        # once per process, copied per test (tests/conftest.py), instead of parsing and hashing per test
        "FENGQIAO_TEST_REUSE_WORLD": "1",
    }
    started = time.monotonic()
    # mutmut exits non-zero when mutants survive; the score below is what matters
    chosen = _mutants().get(target) or (_functions(files, SKIP[target]) if target in SKIP else [])
    command = ["nice", "-n", "10", str(MUTMUT), "run", "--max-children", "2", *chosen]
    subprocess.run(command, cwd=work, env=env, check=False, preexec_fn=_limit_memory)
    subprocess.run([str(MUTMUT), "export-cicd-stats"], cwd=work, env=env, check=True, capture_output=True)
    stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
    survivors = subprocess.run([str(MUTMUT), "results"], cwd=work, env=env, capture_output=True, text=True).stdout
    (work / "survivors.txt").write_text(survivors)
    # a mutant no test runs is a surviving one
    tried = sum(stats.get(k, 0) for k in ("killed", "survived", "timeout", "suspicious", "no_tests"))
    killed = stats["killed"] + stats.get("timeout", 0)
    stats.update(target=target, score=round(100 * killed / tried, 1) if tried else None)
    stats["minutes"] = round((time.monotonic() - started) / 60, 1)
    return stats


def main(argv: list[str]) -> int:
    targets = argv or list(TARGETS)
    unknown = set(targets) - set(TARGETS)
    if unknown:
        print(f"unknown target(s) {sorted(unknown)}; targets: {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    results = [run(target) for target in targets]
    BUILD.mkdir(parents=True, exist_ok=True)
    (BUILD / "scores.json").write_text(json.dumps(results, indent=2))
    for r in results:
        print(
            f"{r['target']:12} {r['score']}% killed  ({r['killed']} killed, {r['survived']} survived, "
            f"{r.get('timeout', 0)} timeouts, {r.get('no_tests', 0)} not covered) in {r['minutes']} min"
        )
    print(f"survivors: {BUILD}/<target>/survivors.txt; `mutmut show <name>` in that directory shows one")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
