"""The dashboard's routes: login and logout, pages, fragments and chart data (reads), and the
round actions (POST, CSRF-checked, run as background jobs after a confirmation step).

Every read calls a use case, the same the CLI and the REST API call. Pages are plain ``def``
routes: FastAPI runs them in its threadpool, as the REST API runs its use cases.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ValidationError

from active_learning.strategies import DEFAULT_STRATEGY, STRATEGIES
from annotator.llm.factory import BACKENDS
from pairloop.api.dashboard.auth import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_TTL_S,
    ActionForm,
    DataSession,
    PageSession,
    read_form,
    safe_next,
    same,
    set_cookie,
)
from pairloop.api.dashboard.jobs import Job, summary
from pairloop.api.dashboard.render import render, secured
from pairloop.api.dependencies import ContextDep, GuardedRoute
from pairloop.api.routers.rounds import RoundRequest
from pairloop.usecases import graph as kg
from pairloop.usecases import rounds
from pairloop.usecases.annotators import round_annotators
from pairloop.usecases.context import Context
from pairloop.usecases.curve import learning_curve, stopping_hint
from pairloop.usecases.llm_review import llm_agreement_reports, llm_disagreements
from pairloop.usecases.queue import annotation_queue
from pairloop.usecases.round_progress import label_studio_url, round_progress, rounds_progress
from store.errors import BadInput
from store.models import MAX_ID


class FormRoute(GuardedRoute):
    body_limit = 16 * 1024  # a dashboard form is a few short fields


router = APIRouter(include_in_schema=False, route_class=FormRoute)
RoundId = Annotated[int, Path(ge=1, le=MAX_ID)]
Version = Annotated[str, Path(max_length=64, pattern=r"^[^\x00-\x1f\x7f/]+$")]
LLM_CHOICES = (*BACKENDS, "none")
ACTIONS = {  # name: (button, what it does, the use case)
    "sync": ("Sync", "Read the annotations from Label Studio, read adjudicators' rulings and send newly "
                     "disputed pairs to adjudication.", rounds.sync_round),
    "adjudicate": ("Adjudicate", "Read the adjudicators' rulings and send newly disputed pairs to the "
                                 "round's adjudication project.", rounds.adjudicate_round),
    "close": ("Close", "Derive the verified labels, retrain the classifier on every verified label and "
                       "record the round's metrics. Answers that arrive later are stored as late and never "
                       "counted. A round with undecided pairs closes only when forced.", rounds.close_round),
}


# --- login ---------------------------------------------------------------------------------------

@router.get("/dashboard/login")
def login_form(request: Request, next: str = "/") -> Response:
    """The login form, with a fresh double-submit token for it."""
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", next=safe_next(next), login_csrf=token, error=None)
    set_cookie(request, response, LOGIN_COOKIE, token, max_age=3600, path="/dashboard/login")
    return response


@router.post("/dashboard/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    next_path = safe_next(form.get("next"))
    if not same(form.get(CSRF_FIELD), request.cookies.get(LOGIN_COOKIE) or "\0"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the login form expired: reload it and log in again")
    if not same(form.get("token", "").strip(), request.app.state.api_token):
        token = secrets.token_urlsafe(24)
        response = render(request, "login.html", status.HTTP_401_UNAUTHORIZED, next=next_path, login_csrf=token,
                          error="That is not the service's API token.")
        set_cookie(request, response, LOGIN_COOKIE, token, max_age=3600, path="/dashboard/login")
        return response
    session = request.app.state.sessions.create()
    response = secured(Response(status_code=status.HTTP_303_SEE_OTHER, headers={"Location": next_path}))
    set_cookie(request, response, SESSION_COOKIE, session.id, max_age=SESSION_TTL_S)
    response.delete_cookie(LOGIN_COOKIE, path="/dashboard/login")
    return response


@router.post("/dashboard/logout")
def logout(request: Request, _form: ActionForm) -> Response:
    request.app.state.sessions.end(request.cookies.get(SESSION_COOKIE))
    response = secured(Response(status_code=status.HTTP_303_SEE_OTHER, headers={"Location": "/dashboard/login"}))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- rounds --------------------------------------------------------------------------------------

@router.get("/")
def rounds_page(request: Request, _session: PageSession, ctx: ContextDep) -> Response:
    """Every round; each open round's counts arrive as a fragment (they read its labels)."""
    board = rounds_progress(ctx, count_open=False)
    return render(request, "rounds.html", page="rounds", board=board, jobs=request.app.state.jobs.recent(),
                  strategies=list(STRATEGIES), default_strategy=DEFAULT_STRATEGY, llms=LLM_CHOICES,
                  default_llm=ctx.settings.llm_backend, actions=ACTIONS)


@router.get("/dashboard/fragments/rounds/{round_id}")
def round_row(request: Request, round_id: RoundId, _session: DataSession, ctx: ContextDep) -> Response:
    """One round's row of the rounds page, an open round counted now."""
    return render(request, "_round_row.html", r=round_progress(ctx, round_id), ls_url=label_studio_url(ctx),
                  actions=ACTIONS)


def _start_request(form: dict[str, str]) -> RoundRequest:
    """The start form as the REST API's request (its bounds and choices); BadInput for what it refuses."""
    fields = {name: value for name in ("strategy", "size", "seed", "llm") if (value := form.get(name, "").strip())}
    try:
        return RoundRequest.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = error["loc"][0]
        raise BadInput(f"unknown {name} {error['input']!r}: {error['msg']}" if error["type"] == "literal_error"
                       else f"{name}: {error['msg']}") from None


def _submit(request: Request, title: str, work: Callable[[Context], BaseModel]) -> Response:
    """Queue ``work(ctx)`` as a job on the service's settings and engine; see its page."""
    state = request.app.state
    job = state.jobs.submit(title, lambda progress: work(Context(state.settings, progress,
                                                                 engine_given=state.engine)))
    return secured(Response(status_code=status.HTTP_303_SEE_OTHER, headers={"Location": f"/dashboard/jobs/{job.id}"}))


@router.post("/dashboard/rounds/start")
def start_round(request: Request, form: ActionForm) -> Response:
    """First post: what will happen, to confirm; the confirmed post starts the job."""
    start = _start_request(form)
    strategy, size, seed = start.strategy, start.size, start.seed
    llm = start.llm or request.app.state.settings.llm_backend
    if form.get("confirm") != "yes":
        fields = {"strategy": strategy, "size": size, "seed": "" if seed is None else seed, "llm": llm}
        what = (f"Start a round of {size} pairs chosen by {strategy}" + (f" (seed {seed})" if seed is not None else "")
                + (", proposals by the LLM " + llm if llm != "none" else ", without LLM proposals")
                + ", pushed to Label Studio. An unfinished round is resumed instead.")
        return render(request, "confirm.html", page="rounds", title="Start a round", what=what,
                      action="/dashboard/rounds/start", fields=fields, can_force=False)
    return _submit(request, f"start a round ({strategy}, {size} pairs, LLM {llm})",
                   lambda ctx: rounds.start_round(ctx, strategy, size, seed, llm))


@router.post("/dashboard/rounds/{round_id}/{action}")
def round_action(request: Request, round_id: RoundId, action: str, form: ActionForm) -> Response:
    if action not in ACTIONS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no action {action!r}")
    label, what, operation = ACTIONS[action]
    if form.get("confirm") != "yes":
        return render(request, "confirm.html", page="rounds", title=f"{label} round {round_id}", what=what,
                      action=f"/dashboard/rounds/{round_id}/{action}", fields={}, can_force=action == "close")
    if action == "close" and form.get("force") == "yes":  # only a close can be forced
        return _submit(request, f"close round {round_id} (forced)",
                       lambda ctx: rounds.close_round(ctx, round_id, force=True))
    return _submit(request, f"{action} round {round_id}", lambda ctx: operation(ctx, round_id))


def _job(request: Request, job_id: str) -> Job:
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such job (jobs are kept until the service restarts)")
    return job


@router.get("/dashboard/jobs/{job_id}")
def job_page(request: Request, job_id: str, _session: PageSession) -> Response:
    job = _job(request, job_id)
    return render(request, "job.html", page="rounds", job=job, result=summary(job))


@router.get("/dashboard/fragments/jobs/{job_id}")
def job_fragment(request: Request, job_id: str, _session: DataSession) -> Response:
    job = _job(request, job_id)
    return render(request, "_job.html", job=job, result=summary(job))


# --- learning curve ------------------------------------------------------------------------------

@router.get("/dashboard/curve")
def curve_page(request: Request, _session: PageSession, ctx: ContextDep) -> Response:
    return render(request, "curve.html", page="curve", curve=learning_curve(ctx),
                  test_set=ctx.settings.test_set)


@router.get("/dashboard/data/curve")
def curve_data(_session: DataSession, ctx: ContextDep) -> Response:
    """The learning curve's points as JSON (what the chart draws)."""
    return secured(JSONResponse(learning_curve(ctx).model_dump(mode="json")))


@router.get("/dashboard/fragments/stopping")
def stopping_fragment(request: Request, _session: DataSession, ctx: ContextDep) -> Response:
    return render(request, "_stopping.html", hint=stopping_hint(ctx))


# --- annotators, LLM, queue ----------------------------------------------------------------------

@router.get("/dashboard/annotators")
def annotators_page(request: Request, _session: PageSession, ctx: ContextDep,
                    round: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Response:
    board = rounds_progress(ctx, count_open=False)
    report = round_annotators(ctx, round) if board.rounds else None
    return render(request, "annotators.html", page="annotators", board=board, report=report)


@router.get("/dashboard/llm")
def llm_page(request: Request, _session: PageSession, ctx: ContextDep) -> Response:
    return render(request, "llm.html", page="llm", reports=llm_agreement_reports(ctx),
                  board=rounds_progress(ctx, count_open=False),
                  target_precision=ctx.settings.llm_target_precision)


@router.get("/dashboard/llm/disagreements")
def disagreements_page(request: Request, _session: PageSession, ctx: ContextDep,
                       round: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                       offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> Response:
    board = rounds_progress(ctx, count_open=False)
    found = llm_disagreements(ctx, round, offset) if board.rounds else None
    return render(request, "disagreements.html", page="llm", board=board, found=found, limit=50)


@router.get("/dashboard/queue")
def queue_page(request: Request, _session: PageSession, ctx: ContextDep,
               offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> Response:
    return render(request, "queue.html", page="queue", queue=annotation_queue(ctx, offset), limit=100)


# --- snapshots -----------------------------------------------------------------------------------

@router.get("/dashboard/snapshots")
def snapshots_page(request: Request, _session: PageSession, ctx: ContextDep) -> Response:
    return render(request, "snapshots.html", page="snapshots", snapshots=kg.list_snapshots(ctx))


# Diffs by the two snapshots' content checksums: a snapshot's content never changes (its files
# are checked against its manifest on every page), so its diff is computed once per process.
_diffs: dict[tuple[str, str, str, str], kg.SnapshotDiff] = {}
_diffs_lock = threading.Lock()


@router.get("/dashboard/snapshots/diff")
def snapshot_diff_page(request: Request, _session: PageSession, ctx: ContextDep,
                       old: Annotated[str, Query(max_length=64)],
                       new: Annotated[str, Query(max_length=64)]) -> Response:
    """What changed between two registered versions (never a folder named in the query), both
    verified against their manifests first (an unregistered version is a NotFound there)."""
    key = (old, new, kg.snapshot_manifest(ctx, old).checksum, kg.snapshot_manifest(ctx, new).checksum)
    with _diffs_lock:
        found = _diffs.get(key)
    if found is None:
        found = kg.diff(ctx, old, new)
        with _diffs_lock:
            if len(_diffs) >= 16:
                _diffs.pop(next(iter(_diffs)))
            _diffs[key] = found
    return render(request, "diff.html", page="snapshots", diff=found)


@router.get("/dashboard/snapshots/{version}")
def snapshot_page(request: Request, version: Version, _session: PageSession, ctx: ContextDep) -> Response:
    """The manifest, every file checked against it first (a 409 page when one does not match)."""
    return render(request, "snapshot.html", page="snapshots", manifest=kg.snapshot_manifest(ctx, version))


@router.get("/dashboard/snapshots/{version}/files/{name}")
def snapshot_download(version: Version, name: str, _session: PageSession, ctx: ContextDep) -> Response:
    """A snapshot's file, served only when every file matches the manifest (as the API does)."""
    return secured(FileResponse(kg.snapshot_file(ctx, version, name), filename=f"{version}-{name}"))
