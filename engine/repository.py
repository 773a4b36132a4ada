"""RepositoryService: deploy, version and load process definitions.

Redeploying changed XML makes version n+1; identical XML is a no-op; instances stay on their version.
Parsed specs are cached by content hash, so a running engine parses each version once.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from forms import Form, make_form, schema_problems

from . import bpmn, decisions
from .audit import record
from .errors import Conflict, DecisionNotFound, DefinitionNotFound, DeploymentInvalid, EngineError, InvalidInput
from .outbox import emit
from .parser import Parser
from .store.models import Department, Deployment, ProcessDefinition, ProcessInstance
from .vocabulary import Event, InstanceStatus, Role

if TYPE_CHECKING:
    from . import Engine


_VALIDATOR = BpmnValidator()  # loading the XSD is slow: once per process


@dataclass(frozen=True)
class LoadedSpec:
    definition_id: int
    key: str
    spec: Any
    subprocess_specs: dict[str, Any]
    meta: dict[str, Any]  # process key -> {tasks, start_form, boundaries}

    def task_meta(self, process_key: str, element_id: str) -> dict[str, Any] | None:
        return self.meta.get(process_key, {}).get("tasks", {}).get(element_id)


class RepositoryService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx
        self._cache: OrderedDict[str, LoadedSpec] = OrderedDict()
        # definition id -> content hash: a deployed version never changes, so a unit of work finds its
        # cached spec without reading the definition row (and its XML) again
        self._hash_of: dict[int, str] = {}
        self._lock = threading.Lock()
        self._forms: dict[int, dict[str, Form]] = {}  # definition id -> its deployed forms (immutable)

    # --- deploy ----------------------------------------------------------------------------------
    def validate(
        self,
        files: Sequence[tuple[str, bytes | str]],
        allow_scripts: bool | None = None,
        forms: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Dry run: everything deploy checks, nothing stored."""
        with self.ctx.db.transaction() as scope:
            docs, _ = self._check(scope, files, allow_scripts, forms or {})
        return {
            "processes": sorted(k for d in docs for k in d.processes),
            "warnings": [w.as_dict() for d in docs for w in d.warnings],
        }

    def deploy(
        self,
        files: Sequence[tuple[str, bytes | str]],
        actor=None,
        allow_scripts: bool | None = None,
        *,
        forms: dict[str, Any] | None = None,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Deploy one or several documents together (with the forms their tasks name, if any, and the
        deployer's comment); returns each process key with its version."""
        comment = _checked_comment(comment)
        for attempt in range(3):
            try:
                with self.ctx.db.transaction() as scope:
                    return self._deploy(scope, files, actor, allow_scripts, forms or {}, comment)
            except IntegrityError:  # a concurrent deploy took the same version number
                if attempt == 2:
                    raise Conflict("another deployment of the same process is in progress") from None
        raise AssertionError("unreachable")

    def _deploy(self, scope, files, actor, allow_scripts, forms, comment) -> dict[str, Any]:
        now = self.ctx.clock.now()
        docs, external = self._check(scope, files, allow_scripts, forms)
        forms = {**_model_forms(docs), **forms}  # the forms its fields make go with the model
        # the .dmn documents are kept as deployed: read back by the API and redeployed by the modeler
        dmn_resources = [
            {"name": n, "sha256": hashlib.sha256(_bytes(d)).hexdigest(), "xml": _bytes(d).decode("utf-8")}
            for n, d in files
            if decisions.is_dmn(d)
        ]
        # the forms are part of the content: the same model with a changed form is a new version
        forms_digest = hashlib.sha256(json.dumps(forms, sort_keys=True).encode()).hexdigest() if forms else ""
        # content hash of a process = its document + the processes it calls, recursively
        by_key = {key: (doc, info) for doc in docs for key, info in doc.processes.items()}
        hashes: dict[str, str] = {}

        def content_hash(key: str, seen: frozenset[str] = frozenset()) -> str:
            if key in hashes:
                return hashes[key]
            if key in external:
                return external[key].content_hash
            doc, info = by_key[key]
            parts = (
                [doc.sha256]
                + ([forms_digest] if forms_digest else [])
                + ([decisions.digest(info.meta["decisions"])] if info.meta.get("decisions") else [])
                + [content_hash(c, seen | {key}) for c in info.called if c not in seen | {key}]
            )
            hashes[key] = hashlib.sha256("|".join(parts).encode()).hexdigest()
            return hashes[key]

        results, rows, deployment = [], {}, None
        scheduling: list[dict[str, Any]] = []  # warnings about the cases timer start events will start
        for key, (doc, info) in sorted(by_key.items()):
            digest = content_hash(key)
            latest = self._latest(scope, key)
            if latest is not None and latest.content_hash == digest:
                rows[key] = latest
                results.append({"key": key, "version": latest.version, "id": latest.id, "created": False})
                continue
            if deployment is None:
                deployment = Deployment(
                    deployed_at=now,
                    deployed_by=actor.username if actor else None,
                    resources=[{"name": d.name, "sha256": d.sha256} for d in docs] + dmn_resources,
                    comment=comment,
                    forms=forms or None,
                )
                scope.add(deployment)
                scope.flush()
            row = ProcessDefinition(
                key=key,
                version=(latest.version + 1) if latest else 1,
                name=info.name,
                deployment_id=deployment.id,
                content_hash=digest,
                resource_name=doc.name,
                xml=doc.xml,
                called=[],
                meta={},
                deployed_at=now,
            )
            scope.add(row)
            rows[key] = row
            results.append({"key": key, "version": row.version, "id": None, "created": True})
        scope.flush()
        for result in results:
            row = rows[result["key"]]
            result["id"] = row.id
            if not result["created"]:
                continue
            _doc, info = by_key[result["key"]]
            called = [(rows.get(c) or external[c]) for c in info.called]
            row.called = [c.id for c in called]
            meta = {result["key"]: info.meta}
            for c in called:
                meta.update({k: v for k, v in c.meta.items() if k not in meta})
            row.meta = meta
            # the new version's schedule replaces the old
            scheduling += self.ctx.start_timers.schedule(scope, row, now)
            record(
                scope,
                now,
                actor,
                Event.DEFINITION_DEPLOYED,
                details={"definition_id": row.id, "key": row.key, "version": row.version, "forms": sorted(forms)},
            )
            emit(
                scope,
                now,
                Event.DEFINITION_DEPLOYED,
                payload={"definition_id": row.id, "key": row.key, "version": row.version},
            )
        return {
            "deployment_id": deployment.id if deployment else None,
            "definitions": results,
            "warnings": [w.as_dict() for d in docs for w in d.warnings] + scheduling,
        }

    def _check(self, scope, files, allow_scripts, forms):
        _check_forms(forms)
        if not files:
            raise DeploymentInvalid("nothing to deploy", [{"element_id": None, "message": "no documents"}])
        allow = self.ctx.settings.allow_script_tasks if allow_scripts is None else allow_scripts
        docs, failures = [], []
        tables: dict[str, dict[str, Any]] = {}  # the deployment's DMN decisions, by id
        documents: dict[str, str] = {}  # decision id -> the name of its .dmn document
        for name, data in files:
            try:
                if decisions.is_dmn(data):
                    loaded = decisions.load(name, data, max_bytes=self.ctx.settings.max_bpmn_bytes)
                    twice = sorted(set(loaded) & set(tables))
                    if twice:
                        raise DeploymentInvalid(
                            f"{name}: decision '{twice[0]}' is defined in two DMN documents",
                            [{"element_id": t, "message": "decision defined twice"} for t in twice],
                        )
                    tables.update(loaded)
                    documents.update(dict.fromkeys(loaded, name))
                    continue
                docs.append(
                    bpmn.load_document(
                        name,
                        data,
                        max_bytes=self.ctx.settings.max_bpmn_bytes,
                        allow_scripts=allow,
                        time_zone=self.ctx.settings.time_zone,  # a cron's clock times are the station's
                    )
                )
            except DeploymentInvalid as exc:
                failures.append(exc)
        if len(failures) == 1:
            raise failures[0]
        if failures:
            raise DeploymentInvalid("; ".join(f.message for f in failures), [d for f in failures for d in f.details])
        problems: list[dict[str, Any]] = []
        for doc in docs:  # business rule tasks: their decisions travel in the definition's meta
            rules, rule_problems = decisions.rule_tasks(doc.tree(), tables)
            problems.extend(rule_problems)
            for key, found in rules.items():
                if key in doc.processes:
                    doc.processes[key].meta["decisions"] = found["decisions"]
                    doc.processes[key].meta["rule_tasks"] = found["tasks"]
                    # outside "decisions" (the content hash): a renamed file is not a new version
                    doc.processes[key].meta["decision_documents"] = {d: documents[d] for d in found["decisions"]}
        if problems:
            raise DeploymentInvalid("the model cannot be deployed", problems)
        if not docs:
            raise DeploymentInvalid(
                "nothing to run: the deployment has DMN documents but no BPMN model",
                [{"element_id": None, "message": "deploy the .dmn files with the BPMN model that uses them"}],
            )
        keys = [k for d in docs for k in d.processes]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise DeploymentInvalid(
                "a process is defined twice",
                [{"element_id": k, "message": "process defined in several documents"} for k in duplicates],
            )
        # called processes outside this deployment: the latest deployed version, pinned now
        external: dict[str, ProcessDefinition] = {}
        wanted = [c for d in docs for p in d.processes.values() for c in p.called if c not in keys]
        for key in wanted:
            row = self._latest(scope, key)
            if row is None:
                problems.append(
                    {
                        "element_id": key,
                        "message": f"called process '{key}' is not deployed and not part of this deployment",
                    }
                )
            else:
                external[key] = row
        if problems:
            raise DeploymentInvalid("the model cannot be deployed", problems)
        groups = set(scope.scalars(select(Department.key))) | set(Role)
        forms = {**_model_forms(docs), **forms}
        for doc in docs:  # a form the engine does not have: the task completes without data
            for info in doc.processes.values():
                for element_id, task in info.meta["tasks"].items():
                    if task["form_key"] and task["form_key"] not in self.ctx.forms and task["form_key"] not in forms:
                        doc.warnings.append(
                            bpmn.Problem(
                                element_id, f"form '{task['form_key']}' is not installed: the task takes no data"
                            )
                        )
                    # a group nobody is in: the task waits for a supervisor to assign it
                    for group in task["groups"]:
                        if group not in groups and "{" not in group:  # an expression is evaluated per case
                            doc.warnings.append(
                                bpmn.Problem(
                                    element_id, f"candidate group '{group}' is neither a department nor a role"
                                )
                            )
                start_form = info.meta.get("start_form")
                if start_form and start_form not in self.ctx.forms and start_form not in forms:
                    doc.warnings.append(bpmn.Problem(info.key, f"start form '{start_form}' is not installed"))
        extra_xml = self._documents(scope, list(external.values()))
        parser = self._parser([(d.name, d.xml) for d in docs] + extra_xml, tables_of(external.values(), tables))
        lost: list[dict[str, Any]] = []
        for doc in docs:
            tree = doc.tree()
            for key in doc.processes:
                spec, subprocess_specs = self._parse_specs(parser, key)
                process_xml = next((p for p in tree.iterfind("bpmn:process", bpmn.NS) if p.get("id") == key), None)
                if process_xml is not None:
                    specs = [spec, *subprocess_specs.values()]
                    dropped, unreached = bpmn.graph_problems(process_xml, specs)
                    lost.extend(p.as_dict() for p in dropped)
                    doc.warnings.extend(unreached)
        if lost:
            raise DeploymentInvalid("the model cannot be deployed: the parser would lose elements", lost)
        return docs, external

    # --- specs -----------------------------------------------------------------------------------
    def load(self, scope, definition_id: int) -> LoadedSpec:
        """The parsed spec of a definition version, from the cache or parsed once."""
        with self._lock:
            cached = self._cache.get(self._hash_of.get(definition_id, ""))
            if cached is not None and cached.definition_id == definition_id:
                self._cache.move_to_end(self._hash_of[definition_id])
                return cached
        row = scope.get(ProcessDefinition, definition_id)
        if row is None:
            raise DefinitionNotFound(f"definition {definition_id} does not exist")
        with self._lock:
            cached = self._cache.get(row.content_hash)
            if cached is not None and cached.key == row.key:
                self._cache.move_to_end(row.content_hash)
                return cached
        parser = self._parser(
            [(row.resource_name, row.xml)] + self._documents(scope, [row], include_self=False), tables_of([row])
        )
        spec, subprocess_specs = self._parse_specs(parser, row.key)
        loaded = LoadedSpec(row.id, row.key, spec, subprocess_specs, row.meta)
        with self._lock:
            self._cache[row.content_hash] = loaded
            self._hash_of[row.id] = row.content_hash
            while len(self._cache) > self.ctx.settings.spec_cache_size:
                self._cache.popitem(last=False)
        return loaded

    def forget(self, definition_id: int) -> None:
        """Drop a version's parsed spec from the cache: its meta changed (engine/start_timers.py backfill)."""
        with self._lock:
            digest = self._hash_of.pop(definition_id, None)
            if digest is not None:
                self._cache.pop(digest, None)

    def _documents(self, scope, rows, include_self=True) -> list[tuple[str, str]]:
        """The documents of `rows` and everything they call, deduplicated."""
        seen_ids, docs, seen_docs = set(), [], set()
        stack = list(rows) if include_self else [scope.get(ProcessDefinition, i) for r in rows for i in r.called]
        while stack:
            row = stack.pop()
            if row is None or row.id in seen_ids:
                continue
            seen_ids.add(row.id)
            if row.content_hash not in seen_docs:
                seen_docs.add(row.content_hash)
                docs.append((row.resource_name, row.xml))
            stack.extend(scope.get(ProcessDefinition, i) for i in row.called)
        return docs

    @staticmethod
    def _parser(documents: list[tuple[str, str]], decision_tables: dict[str, Any] | None = None) -> BpmnParser:
        parser = Parser(validator=_VALIDATOR, decision_tables=decision_tables)
        seen = set()
        for name, xml in documents:
            digest = hashlib.sha256(xml.encode()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            tree = bpmn.parse_xml(xml, name, max_bytes=len(xml.encode()) + 1)
            for process in tree.iterfind("bpmn:process", bpmn.NS):  # startable or not is the meta's to say
                process.set("isExecutable", "true")
            try:
                parser.add_bpmn_xml(tree, filename=name)
            except ValidationException as exc:
                raise DeploymentInvalid(
                    f"{name}: the model is not valid BPMN 2.0", [{"element_id": exc.id or None, "message": _clean(exc)}]
                ) from None
        return parser

    @staticmethod
    def _parse_specs(parser: BpmnParser, key: str):
        try:
            return parser.get_spec(key), parser.get_subprocess_specs(key)
        except RecursionError:  # bpmn.py refuses long paths first; this is the parser's own limit
            raise DeploymentInvalid(f"process '{key}' is too deep", [_TOO_DEEP | {"element_id": key}]) from None
        except ValidationException as exc:
            if isinstance(exc.__context__, RecursionError) or str(exc).startswith("RecursionError"):
                raise DeploymentInvalid(
                    f"process '{key}' is too deep", [_TOO_DEEP | {"element_id": exc.id or key}]
                ) from None
            raise DeploymentInvalid(
                f"process '{key}' is not valid", [{"element_id": exc.id or key, "message": _clean(exc)}]
            ) from None
        except (SpiffWorkflowException, KeyError, TypeError, AttributeError, ValueError, IndexError):
            # the parser's own failure: its text ("unexpected keyword argument 'node'") teaches nothing
            raise DeploymentInvalid(
                f"process '{key}' cannot be parsed",
                [
                    {
                        "element_id": key,
                        "message": f"process '{key}' uses a construct the engine cannot read: check its references "
                        "(messages, signals, errors, escalations need a name and an id the events point to) "
                        "and the elements named in earlier warnings",
                    }
                ],
            ) from None

    # --- forms deployed with a model ---------------------------------------------------------------
    def forms_of(self, scope, definition_id: int) -> dict[str, Form]:
        """The forms deployed with a definition version (none for most), read once per version."""
        with self._lock:
            cached = self._forms.get(definition_id)
        if cached is not None:
            return cached
        schemas = scope.scalar(
            select(Deployment.forms)
            .join(ProcessDefinition, ProcessDefinition.deployment_id == Deployment.id)
            .where(ProcessDefinition.id == definition_id)
        )
        found = {key: make_form(key, schema) for key, schema in (schemas or {}).items()}
        with self._lock:
            self._forms[definition_id] = found
        return found

    def form(self, scope, definition_id: int | None, key: str | None) -> Form | None:
        """A task's form: the one deployed with its version first, then the installed forms (forms/)."""
        if not key:
            return None
        if definition_id is not None:
            deployed = self.forms_of(scope, definition_id).get(key)
            if deployed is not None:
                return deployed
        return self.ctx.forms.get(key) if key in self.ctx.forms else None

    # --- queries ---------------------------------------------------------------------------------
    @staticmethod
    def _latest(scope, key: str) -> ProcessDefinition | None:
        return scope.scalars(
            select(ProcessDefinition)
            .where(ProcessDefinition.key == key)
            .order_by(ProcessDefinition.version.desc())
            .limit(1)
        ).first()

    def start_form(self, key: str) -> str | None:
        """The form key of the latest version's start event (what a page shows to report a case)."""
        with self.ctx.db.read() as scope:
            meta = scope.scalars(
                select(ProcessDefinition.meta)
                .where(ProcessDefinition.key == key)
                .order_by(ProcessDefinition.version.desc())
                .limit(1)
            ).first()
        if meta is None:
            raise DefinitionNotFound(f"process definition '{key}' does not exist")
        return meta.get(key, {}).get("start_form")

    def get_definition(self, key: str, version: int | None = None, with_xml: bool = False) -> dict[str, Any]:
        with self.ctx.db.read() as scope:
            return _definition_view(self._version(scope, key, version), with_xml)

    def list_versions(self, key: str) -> list[dict[str, Any]]:
        """Every version of a process key, newest first: who deployed it when, with which comment and
        forms, and how many of its cases are running (one grouped count over the instances' index)."""
        with self.ctx.db.read() as scope:
            rows = scope.execute(
                select(ProcessDefinition, Deployment)
                .join(Deployment, ProcessDefinition.deployment_id == Deployment.id)
                .where(ProcessDefinition.key == key)
                .order_by(ProcessDefinition.version.desc())
            ).all()
            if not rows:
                raise DefinitionNotFound(f"process definition '{key}' does not exist")
            running = dict(
                scope.execute(
                    select(ProcessInstance.definition_id, func.count())
                    .where(
                        ProcessInstance.definition_id.in_([r.id for r, _ in rows]),
                        ProcessInstance.status == InstanceStatus.RUNNING,
                    )
                    .group_by(ProcessInstance.definition_id)
                ).all()
            )
            return [
                _definition_view(row)
                | {
                    "deployed_by": deployment.deployed_by,
                    "comment": deployment.comment,
                    "forms": sorted(deployment.forms or {}),
                    "running_cases": running.get(row.id, 0),
                }
                for row, deployment in rows
            ]

    def deployed_forms(self, key: str, version: int) -> dict[str, Any]:
        """The JSON Schemas deployed with one version ({} when it uses only the installed forms)."""
        with self.ctx.db.read() as scope:
            found = scope.execute(
                select(ProcessDefinition.id, Deployment.forms)
                .join(Deployment, ProcessDefinition.deployment_id == Deployment.id)
                .where(ProcessDefinition.key == key, ProcessDefinition.version == version)
            ).first()
        if found is None:
            raise DefinitionNotFound(f"process definition '{key}' version {version} does not exist")
        return dict(found.forms or {})

    def diff(self, key: str, old: int, new: int) -> dict[str, Any]:
        """What changed between two versions: model elements added, removed, or with changed
        attributes (the diagram's layout alone is not a change)."""
        before = bpmn.element_signatures(self.get_definition(key, old, with_xml=True)["xml"])
        after = bpmn.element_signatures(self.get_definition(key, new, with_xml=True)["xml"])
        changed = []
        for element_id in sorted(set(before) & set(after)):
            fields = sorted(
                name
                for name in set(before[element_id]) | set(after[element_id])
                if before[element_id].get(name) != after[element_id].get(name)
            )
            if fields:
                changed.append({"element_id": element_id, "fields": fields})
        return {
            "key": key,
            "from": old,
            "to": new,
            "added": sorted(set(after) - set(before)),
            "removed": sorted(set(before) - set(after)),
            "changed": changed,
        }

    def list_decisions(self, key: str, version: int | None = None) -> list[dict[str, Any]]:
        """The DMN decisions a version runs (its own business rule tasks' and those of the processes
        it calls), each summarised: hit policy, inputs, outputs, rule count, the tasks that call it."""
        with self.ctx.db.read() as scope:
            row = self._version(scope, key, version)
            return [
                _decision_view(process_key, decision_id, meta) for process_key, decision_id, meta in _decisions(row)
            ]

    def get_decision(self, key: str, decision_id: str, version: int | None = None) -> dict[str, Any]:
        """One decision's summary and `xml`, the DMN document it was deployed in (as uploaded)."""
        with self.ctx.db.read() as scope:
            row = self._version(scope, key, version)
            found = next(((p, d, m) for p, d, m in _decisions(row) if d == decision_id), None)
            if found is None:
                raise DecisionNotFound(
                    f"process definition '{key}' version {row.version} runs no decision '{decision_id}'"
                )
            view = _decision_view(*found)
            view["xml"] = self._dmn_documents(scope, row).get(view["document"])
            return view

    def decision_documents(self, key: str, version: int) -> list[dict[str, str]]:
        """The `.dmn` documents a version's decisions were deployed in, as uploaded: what a redeploy of
        its BPMN from the modeler sends again."""
        with self.ctx.db.read() as scope:
            found = self._dmn_documents(scope, self._version(scope, key, version))
            return [{"name": name, "xml": xml} for name, xml in sorted(found.items())]

    def decisions_in(self, files: Sequence[tuple[str, bytes | str]]) -> dict[str, list[dict[str, Any]]]:
        """The decisions of the DMN documents among `files`, by document (one that does not load is left
        out: validating or deploying it names its problems)."""
        found = {}
        for name, data in files:
            if decisions.is_dmn(data):
                try:
                    tables = decisions.load(name, data, max_bytes=self.ctx.settings.max_bpmn_bytes)
                except EngineError:
                    continue
                found[name] = [decisions.summary(tables[d]) for d in sorted(tables)]
        return found

    def _dmn_documents(self, scope, row: ProcessDefinition) -> dict[str, str]:
        """Document name -> XML, for the decisions `row` runs (kept with the deployment of the
        definition, own or called, whose business rule tasks use them)."""
        found: dict[str, str] = {}
        for process_key, decision_id, meta in _decisions(row):
            name = (meta.get("decision_documents") or {}).get(decision_id)
            provider = self._provider(scope, row, process_key)
            if name is None or name in found or provider is None:
                continue
            deployment = scope.get(Deployment, provider.deployment_id)
            xml = next((r.get("xml") for r in deployment.resources if r.get("name") == name and r.get("xml")), None)
            if xml is not None:
                found[name] = xml
        return found

    def _version(self, scope, key: str, version: int | None) -> ProcessDefinition:
        query = select(ProcessDefinition).where(ProcessDefinition.key == key)
        if version is not None:
            query = query.where(ProcessDefinition.version == version)
        row = scope.scalars(query.order_by(ProcessDefinition.version.desc()).limit(1)).first()
        if row is None:
            raise DefinitionNotFound(
                f"process definition '{key}'" + (f" version {version}" if version else "") + " does not exist"
            )
        return row

    @staticmethod
    def _provider(scope, row: ProcessDefinition, process_key: str, depth: int = 0) -> ProcessDefinition | None:
        """The definition of `process_key` that `row` runs: itself or a process it calls (pinned at deploy)."""
        if row.key == process_key:
            return row
        if depth > MAX_CALL_DEPTH:
            return None
        for called_id in row.called or []:
            called = scope.get(ProcessDefinition, called_id)
            found = RepositoryService._provider(scope, called, process_key, depth + 1) if called else None
            if found is not None:
                return found
        return None

    def count_definitions(self) -> int:
        """How many process keys are deployed (the readiness check: one small read, no XML)."""
        with self.ctx.db.read() as scope:
            return scope.scalar(select(func.count(func.distinct(ProcessDefinition.key))))

    def list_definitions(self) -> list[dict[str, Any]]:
        """The latest version of every process key."""
        with self.ctx.db.read() as scope:
            latest = (
                select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("v"))
                .group_by(ProcessDefinition.key)
                .subquery()
            )
            rows = scope.scalars(
                select(ProcessDefinition)
                .join(latest, (ProcessDefinition.key == latest.c.key) & (ProcessDefinition.version == latest.c.v))
                .order_by(ProcessDefinition.key)
            ).all()
            return [_definition_view(r) for r in rows]


def tables_of(rows, tables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The decision tables a parse needs: the deployment's own and those in the meta of `rows` (the
    definitions, with every process they call)."""
    found = dict(tables or {})
    for row in rows:
        for meta in (row.meta or {}).values():
            if isinstance(meta, dict):
                found.update(meta.get("decisions") or {})
    return found


MAX_CALL_DEPTH = 20


def _bytes(data: bytes | str) -> bytes:
    return data if isinstance(data, bytes) else data.encode("utf-8")


def _decisions(row: ProcessDefinition) -> list[tuple[str, str, dict[str, Any]]]:
    """(process key, decision id, that process's meta) for every decision a version runs, the
    version's own process first; a decision two processes share is listed once."""
    found, seen = [], set()
    metas = sorted((row.meta or {}).items(), key=lambda item: (item[0] != row.key, item[0]))
    for process_key, meta in metas:
        if not isinstance(meta, dict):
            continue
        for decision_id in sorted(meta.get("decisions") or {}):
            if decision_id not in seen:
                seen.add(decision_id)
                found.append((process_key, decision_id, meta))
    return found


def _decision_view(process_key: str, decision_id: str, meta: dict[str, Any]) -> dict[str, Any]:
    return decisions.summary(meta["decisions"][decision_id]) | {
        "process_key": process_key,
        "tasks": sorted(t for t, rule in (meta.get("rule_tasks") or {}).items() if rule.get("decision") == decision_id),
        # None for a version deployed before the documents' names were kept
        "document": (meta.get("decision_documents") or {}).get(decision_id),
    }


def _definition_view(row: ProcessDefinition, with_xml: bool = False) -> dict[str, Any]:
    view = {
        "id": row.id,
        "key": row.key,
        "version": row.version,
        "name": row.name,
        "deployment_id": row.deployment_id,
        "deployed_at": row.deployed_at.isoformat(),
        "resource_name": row.resource_name,
        "content_hash": row.content_hash,
        "start_form": row.meta.get(row.key, {}).get("start_form"),
        # isExecutable="false": deployed for viewing and editing, not startable
        "executable": row.meta.get(row.key, {}).get("executable", True),
        "status": "executable" if row.meta.get(row.key, {}).get("executable", True) else "not_executable",
    }
    if with_xml:
        view["xml"] = row.xml
    return view


MAX_COMMENT = 1000
MAX_FORMS = 20


def _checked_comment(comment: Any) -> str | None:
    if comment is None:
        return None
    if not isinstance(comment, str):
        raise InvalidInput("the comment must be text", [{"field": "comment", "message": "not a string"}])
    text = comment.strip()
    if len(text) > MAX_COMMENT:
        raise InvalidInput("the comment is longer than 1000 characters", [{"field": "comment", "message": "too long"}])
    return text or None


def _check_forms(forms: Any) -> None:
    """Forms deployed with a model: a JSON object of at most 20 {key: JSON Schema}, each usable."""
    if not isinstance(forms, dict):
        raise InvalidInput(
            "forms must be a JSON object {key: schema}", [{"field": "forms", "message": "not an object"}]
        )
    if len(forms) > MAX_FORMS:
        raise InvalidInput(f"at most {MAX_FORMS} forms per deployment", [{"field": "forms", "message": "too many"}])
    problems: list[dict[str, Any]] = [
        {"element_id": None, "form": str(key)[:64], "message": f"form '{str(key)[:64]}': {reason}"}
        for key, schema in sorted(forms.items(), key=lambda item: str(item[0]))
        for reason in schema_problems(key, schema)
    ]
    if problems:
        raise DeploymentInvalid("; ".join(p["message"] for p in problems), problems)


_TOO_DEEP = {"message": "the model is too deep to parse: split long paths into call activities"}


_INTERNAL = re.compile(r"\b[A-Z]\w*(Error|Exception)\(|unexpected keyword|object has no attribute|NoneType")


def _clean(exc: EngineError | Exception) -> str:
    """The parser's validation sentence; an internal exception's text inside it is never shown."""
    text = str(exc).split("\n")[0]
    if _INTERNAL.search(text):
        return "the parser could not read this element: check the references it makes (ids, names) and its attributes"
    return text[:500]


def _model_forms(docs) -> dict[str, Any]:
    """The forms the documents' own form fields make (engine/model_forms.py)."""
    return {key: schema for doc in docs for key, schema in doc.forms.items()}
