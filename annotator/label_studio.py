"""The Label Studio adapter: every call pairloop makes to Label Studio lives here (SDK 2.x).

Errors come out as two types the round code can catch: :class:`LabelStudioUnavailable`
(the server cannot be reached or failed) and :class:`LabelStudioError` (it refused the request).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from annotator.annotations import answer_result
from annotator.interface import ANSWERS_FIELD, ItemView, item_fields, label_config, proposal_summary
from store.errors import ServiceFailed, ServiceUnavailable

if TYPE_CHECKING:  # the SDK is imported when a client is made: commands that never talk to Label Studio skip it
    from label_studio_sdk.core.api_error import ApiError

WEBHOOK_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED")
# An adjudication task names its pair under its own key, so that nothing that reads verification
# tasks (a webhook delivery, ``round sync``) ever takes an adjudicator's answer for a vote.
ADJUDICATED_PAIR = "adjudicated_pair_id"
CLOSED_SUFFIX = " · closed"  # ends the title of a closed round's projects
PROJECT_TITLE_MAX = 50  # Label Studio's limit on a project's title
DEFAULT_CHUNK = 1000
LIST_PAGE = 500
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
T = TypeVar("T")


class LabelStudioUnavailable(ServiceUnavailable):
    """Label Studio cannot be reached (refused, timed out) or failed on its side (HTTP 5xx)."""


class LabelStudioError(ServiceFailed):
    """Label Studio refused a request (HTTP 4xx): a wrong token, an unknown project, bad data."""


def token_kind(token: str) -> str:
    """``personal-access-token`` for a JWT refresh token, ``legacy`` for a classic API token."""
    return "personal-access-token" if _JWT.match(token.strip()) else "legacy"


@dataclass(frozen=True)
class Proposal:
    """The LLM's answer shown to annotators: as a suggestion, or as a pre-selected prediction."""

    relation: str
    fine_code: int | None = None
    confidence: float | None = None
    rationale: str | None = None


@dataclass(frozen=True)
class PairTask:
    """One pair to verify, items in the order annotators see them.

    ``answers`` (the annotators' answers, as text) makes it an adjudication task.
    """

    pair_id: int
    item_1: ItemView
    item_2: ItemView
    round_id: int | None = None
    proposal: Proposal | None = None
    presented_reversed: bool = False
    answers: str | None = None

    def payload(self, model_version: str | None) -> dict[str, Any]:
        """The Label Studio task: data (the proposal as text) and, when there is a proposal and a
        model version, the proposal as a prediction, which Label Studio pre-selects for
        annotators (see :func:`annotator.push.preannotation_policy` for when it may)."""
        proposal = self.proposal
        data = {
            "pair_id" if self.answers is None else ADJUDICATED_PAIR: self.pair_id,
            "round_id": self.round_id,
            "presented_reversed": self.presented_reversed,
            **item_fields(self.item_1, self.item_2),
            "llm_summary": proposal_summary(
                *(
                    (proposal.relation, proposal.fine_code, proposal.confidence, proposal.rationale)
                    if proposal
                    else (None, None, None, None)
                )
            ),
        }
        if self.answers is not None:
            data[ANSWERS_FIELD] = self.answers
        task: dict[str, Any] = {"data": data}
        if proposal is not None and model_version is not None:
            prediction: dict[str, Any] = {
                "model_version": model_version,
                "result": answer_result(proposal.relation, proposal.fine_code),
            }
            if proposal.confidence is not None:
                prediction["score"] = proposal.confidence
            task["predictions"] = [prediction]
        return task


@dataclass(frozen=True)
class ListedTask:
    """A task as listed back: its id, its data (``pair_id``...) and its current annotations."""

    id: int
    data: dict[str, Any]
    annotations: list[dict[str, Any]]
    updated_at: str | None = None


def ls_time(moment: datetime) -> str:
    """A time in the one format Label Studio's task filters accept (naive times are UTC, as
    SQLite gives back the times pairloop stored)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LabelStudio:
    """A connection to one Label Studio server, authenticated by either kind of token.

    The SDK's automatic retries are off: it retries after a dropped connection, and a retried
    import whose first attempt had landed creates every task twice. pairloop's operations are
    safe to run again instead (see :mod:`annotator.push`, :mod:`annotator.reconcile`).
    """

    def __init__(self, url: str, token: str, timeout: float = 120.0):
        from label_studio_sdk import LabelStudio as _Client
        from label_studio_sdk.core.api_error import ApiError

        self.url = url.rstrip("/")
        self.token_kind = token_kind(token)
        try:
            self._client = _Client(base_url=self.url, api_key=token.strip(), timeout=timeout,
                                   max_retries=0)
        except ApiError as exc:  # an expired or malformed personal access token
            raise LabelStudioError(f"Label Studio token refused: {_detail(exc)}") from None

    def _call(self, what: str, call: Callable[[], T]) -> T:
        from label_studio_sdk.core.api_error import ApiError

        try:
            return call()
        except httpx.TransportError as exc:
            raise LabelStudioUnavailable(
                f"cannot reach Label Studio at {self.url} ({what}): {exc or type(exc).__name__}"
            ) from None
        except ApiError as exc:
            if exc.status_code is None or exc.status_code >= 500:
                raise LabelStudioUnavailable(
                    f"Label Studio at {self.url} failed ({what}): HTTP {exc.status_code}: {_detail(exc)}"
                ) from None
            raise LabelStudioError(
                f"Label Studio refused {what}: HTTP {exc.status_code}: {_detail(exc)}"
            ) from None

    # --- identity and users -------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        me = self._call("whoami", self._client.users.whoami)
        return {"id": me.id, "email": me.email, "username": me.username}

    def user_emails(self) -> dict[int, str]:
        """Label Studio user id → email, to show annotators by name."""
        return self._call("list users", lambda: {
            user.id: user.email or user.username for user in self._client.users.list()})

    # --- projects -----------------------------------------------------------------------

    def create_project(self, title: str, model_version: str | None, overlap: int = 1,
                       description: str = "", adjudication: bool = False) -> int:
        """A project with pairloop's interface (its adjudication variant when ``adjudication``);
        ``model_version`` makes the predictions of that version visible (pre-selected), and
        without one the interface calls the LLM's answer a suggestion."""
        config = label_config(adjudication, preselected=model_version is not None)
        project = self._call("create project", lambda: self._client.projects.create(
            title=title, description=description, label_config=config,
            maximum_annotations=overlap, model_version=model_version,
            show_collab_predictions=True, show_skip_button=True,
        ))
        return project.id

    def project(self, project_id: int) -> dict[str, Any]:
        """Title, description, model version, overlap and task / annotation counts of one project."""
        project = self._call("get project", lambda: self._client.projects.get(id=project_id))
        return {
            "id": project.id, "title": project.title, "description": project.description,
            "model_version": project.model_version,
            "maximum_annotations": project.maximum_annotations, "task_number": project.task_number,
            "num_tasks_with_annotations": project.num_tasks_with_annotations,
            "total_annotations_number": project.total_annotations_number,
        }

    def mark_closed(self, project_id: int, note: str) -> str:
        """Title the project "… · closed" (once) and show ``note`` as its description and as the
        instructions annotators see before they answer; the new title."""
        title = self._call("get project", lambda: self._client.projects.get(id=project_id)).title or ""
        if not title.endswith(CLOSED_SUFFIX):
            title = title[:PROJECT_TITLE_MAX - len(CLOSED_SUFFIX)] + CLOSED_SUFFIX
        self._call("update project", lambda: self._client.projects.update(
            id=project_id, title=title, description=note, expert_instruction=f"<p>{html.escape(note)}</p>",
            show_instruction=True))
        return title

    def project_ids(self) -> list[int]:
        """Ids of the projects the token's user can see."""
        return self._call("list projects", lambda: sorted(p.id for p in self._client.projects.list()))

    def delete_project(self, project_id: int) -> None:
        self._call("delete project", lambda: self._client.projects.delete(id=project_id))

    # --- tasks --------------------------------------------------------------------------

    def import_chunk(self, project_id: int, tasks: Sequence[PairTask],
                     model_version: str | None) -> dict[int, int]:
        """Import tasks (with predictions) in one call; pair id → new task id."""
        payload = [task.payload(model_version) for task in tasks]
        response = self._call("import tasks", lambda: self._client.projects.import_tasks(
            id=project_id, request=payload, return_task_ids=True,
        ))
        task_ids = list(response.task_ids or [])
        if len(task_ids) != len(tasks):
            raise LabelStudioError(f"import returned {len(task_ids)} task ids for {len(tasks)} tasks")
        return {task.pair_id: task_id for task, task_id in zip(tasks, task_ids, strict=True)}

    def import_tasks(self, project_id: int, tasks: Sequence[PairTask], model_version: str | None,
                     chunk_size: int = DEFAULT_CHUNK) -> Iterator[dict[int, int]]:
        """Import in chunks (one call per chunk); yields each chunk's pair id → task id.

        Callers record each chunk as it is yielded, so a failure part-way loses nothing
        already pushed (see :func:`annotator.push.push_round_pairs`).
        """
        for start in range(0, len(tasks), chunk_size):
            yield self.import_chunk(project_id, tasks[start:start + chunk_size], model_version)

    def list_tasks(self, project_id: int, updated_since: datetime | None = None,
                   annotated_only: bool = False, with_annotations: bool = True) -> Iterator[ListedTask]:
        """The project's tasks (optionally only those changed since a time, or annotated)."""
        filters = []
        if updated_since is not None:
            filters.append({"filter": "filter:tasks:updated_at", "operator": "greater",
                            "type": "Datetime", "value": ls_time(updated_since)})
        if annotated_only:
            filters.append({"filter": "filter:tasks:total_annotations", "operator": "greater",
                            "type": "Number", "value": 0})
        query = json.dumps({"filters": {"conjunction": "and", "items": filters}}) if filters else None
        pager = self._call("list tasks", lambda: self._client.tasks.list(
            project=project_id, query=query, page_size=LIST_PAGE,
            fields="all" if with_annotations else "task_only",
        ))
        iterator = iter(pager)
        while True:
            task = self._call("list tasks", lambda: next(iterator, None))
            if task is None:
                return
            yield ListedTask(
                id=task.id, data=dict(task.data or {}),
                annotations=[_plain(a) for a in (task.annotations or [])] if with_annotations else [],
                updated_at=_iso(getattr(task, "updated_at", None)),
            )

    def task(self, task_id: int) -> dict[str, Any]:
        """One task with its data and predictions (to check what annotators see)."""
        task = self._call("get task", lambda: self._client.tasks.get(id=task_id))
        return {
            "id": task.id, "data": dict(task.data or {}),
            "predictions": [
                {"model_version": p.model_version, "score": p.score, "result": list(p.result or [])}
                for p in (task.predictions or [])
            ],
        }

    # --- annotations --------------------------------------------------------------------

    def create_annotation(self, task_id: int, result: list[dict[str, Any]], lead_time: float | None = None,
                          was_cancelled: bool = False) -> dict[str, Any]:
        """Answer a task as the token's user (simulated annotators use their own tokens)."""
        annotation = self._call("create annotation", lambda: self._client.annotations.create(
            id=task_id, result=result, lead_time=lead_time, was_cancelled=was_cancelled,
        ))
        return _annotation(annotation)

    def update_annotation(self, annotation_id: int, result: list[dict[str, Any]]) -> dict[str, Any]:
        annotation = self._call("update annotation", lambda: self._client.annotations.update(
            id=annotation_id, result=result,
        ))
        return _annotation(annotation)

    def delete_annotation(self, annotation_id: int) -> None:
        self._call("delete annotation", lambda: self._client.annotations.delete(id=annotation_id))

    # --- webhooks -----------------------------------------------------------------------

    def register_webhook(self, project_id: int, url: str, headers: Mapping[str, str]) -> int:
        """Point the project's annotation events at ``url`` (sending ``headers``); idempotent per URL."""
        hooks = self._call("list webhooks", lambda: self._client.webhooks.list(project=str(project_id)))
        existing = next((h.id for h in hooks if h.url == url and h.project == project_id), None)
        settings = {"url": url, "headers": dict(headers), "actions": list(WEBHOOK_ACTIONS),
                    "send_payload": True, "is_active": True}
        if existing is not None:
            self._call("update webhook", lambda: self._client.webhooks.update(id=existing, **settings))
            return existing
        hook = self._call("create webhook",
                          lambda: self._client.webhooks.create(project=project_id, **settings))
        return hook.id


def user_token(url: str, email: str, password: str, sign_up: bool = True,
                   timeout: float = 30.0) -> str:
    """Log in through Label Studio's own forms (signing the user up first when ``sign_up`` and
    the login is refused) and get an API token, as a person does in the browser.

    The first call creates the user's personal access token (Label Studio shows it once and
    allows one); later calls return the user's legacy token, where the server allows those
    (``pairloop studio up`` does). Simulated annotators use it to answer as themselves.
    The forms are not part of the SDK.
    """
    base = url.rstrip("/")
    try:
        with httpx.Client(base_url=base, timeout=timeout, follow_redirects=False) as web:
            signup = {"email": email, "password": password, "how_find_us": "Other", "allow_newsletters": "false"}
            if not _submit(web, "/user/login/", {"email": email, "password": password}) and not (
                sign_up and _submit(web, "/user/signup/", signup)
            ):
                raise LabelStudioError(f"Label Studio refused the login{' and sign-up' if sign_up else ''}"
                                       f" of {email} (wrong password, or a password under 8 characters?)")
            created = web.post("/api/token/", json={}, headers={
                "X-CSRFToken": web.cookies.get("csrftoken", ""), "Referer": f"{base}/"})
            if created.status_code == 201:
                return created.json()["token"]
            # 409: the user already has a personal access token, which is shown only once.
            legacy = web.get("/api/current-user/token")
    except httpx.TransportError as exc:
        raise LabelStudioUnavailable(f"cannot reach Label Studio at {base} (log in): {exc}") from None
    if legacy.status_code == 200 and legacy.json().get("token"):
        return legacy.json()["token"]
    raise LabelStudioError(f"no token for {email}: a personal access token exists already (HTTP "
                           f"{created.status_code}) and legacy tokens are off (HTTP {legacy.status_code})")


def _submit(web: httpx.Client, path: str, form: dict[str, str]) -> bool:
    """Post a Django form with its CSRF token; True when it redirects (accepted)."""
    web.get(path)
    form = {**form, "csrfmiddlewaretoken": web.cookies.get("csrftoken", "")}
    answer = web.post(path, data=form, headers={"Referer": f"{web.base_url}{path}"})
    return answer.status_code == 302


def _detail(exc: ApiError) -> str:
    body = exc.body
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("validation_errors") or body)
    return str(body)[:300]


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _plain(annotation: Any) -> dict[str, Any]:
    return dict(annotation) if isinstance(annotation, Mapping) else _annotation(annotation)


def _annotation(annotation: Any) -> dict[str, Any]:
    """An SDK annotation as the plain dict a webhook delivers."""
    return {
        "id": annotation.id, "task": annotation.task, "project": annotation.project,
        "result": list(annotation.result or []), "completed_by": annotation.completed_by,
        "was_cancelled": bool(annotation.was_cancelled), "lead_time": annotation.lead_time,
        "created_at": _iso(annotation.created_at), "updated_at": _iso(annotation.updated_at),
    }
