"""The pages of a user's history, the trash and the dashboard. Writes are POSTs with a CSRF
token; restoring a version asks for confirmation first, and is sent with the ETag the
confirmation was shown at."""

import logging
from typing import Any

import flask
from werkzeug.wrappers import Response

from frontend import charts, diffs
from frontend.client import ApiError, ApiProblem
from frontend.display import page_window
from frontend.forms import VersionedForm
from frontend.views import DEFAULT_PAGE_SIZE, _whole_number, client, written_as_shown

log = logging.getLogger(__name__)

bp = flask.Blueprint("history", __name__)

RECENT_VERSIONS = 5  # on the user's page
HISTORY_PAGE = 100  # on the history page: the API's largest page
STALE_RESTORE = "This user changed since you opened the page: check the history again."
STATS_FILTERS = ("role", "active", "skill", "company")
# What each write was, as the history says it.
OPERATION_NAMES = {
    "create": "created",
    "replace": "replaced",
    "update": "updated",
    "add_skill": "skill added",
    "remove_skill": "skill removed",
    "delete": "deleted",
    "restore": "restored from the trash",
    "restore_version": "an earlier version restored",
}


def recent_history(user_id: str) -> dict[str, Any] | None:
    """The user's latest versions with their changes, for the user's page; None when the
    history cannot be read (the page still shows the user)."""
    try:
        page = client().list_versions(user_id, page_size=RECENT_VERSIONS + 1)
    except ApiError as error:
        log.warning("the history of %s could not be read: %s", user_id, error)
        return None
    shown = page["items"][: RECENT_VERSIONS + 1]
    listed = diffs.with_changes(shown, complete=page["total"] <= len(shown))
    return {"items": listed[:RECENT_VERSIONS], "total": page["total"]}


@bp.get("/users/<oid:user_id>/history")
def user_history(user_id: str) -> str:
    user, _ = client().get_user(user_id)
    page = client().list_versions(user_id, page_size=HISTORY_PAGE)
    versions = diffs.with_changes(page["items"], complete=page["total"] <= len(page["items"]))
    return flask.render_template("history.html", user=user, versions=versions, total=page["total"])


@bp.route("/users/<oid:user_id>/versions/<int:version>/restore", methods=["GET", "POST"])
def restore_version(user_id: str, version: int) -> Any:
    form = VersionedForm()
    user, etag = client().get_user(user_id)
    chosen = client().get_version(user_id, version)
    if flask.request.method == "GET":
        form.etag.data = etag
        return flask.render_template(
            "confirm_restore.html",
            user=user,
            version=chosen,
            changes=diffs.changes(user, chosen["user"]),
            form=form,
        )
    try:
        written = written_as_shown(
            form, lambda shown_at: client().restore_version(user_id, version, shown_at)
        )
    except ApiProblem as problem:
        if problem.status != 409:
            raise
        flask.flash(f"Not restored: {problem.detail}", "error")
        return flask.redirect(flask.url_for("history.user_history", user_id=user_id))
    if not written:
        flask.flash(STALE_RESTORE, "error")
        return flask.redirect(flask.url_for("history.user_history", user_id=user_id))
    flask.flash(f"Restored version {version} of {user['name']}.", "success")
    return flask.redirect(flask.url_for("users.show_user", user_id=user_id))


@bp.get("/trash")
def trash() -> Any:
    page = _whole_number(flask.request.args.get("page")) or 1
    result = client().list_trash(
        {"page": page, "page_size": DEFAULT_PAGE_SIZE, "sort": "-created_at"}
    )
    pages = max(1, -(-result["total"] // result["page_size"]))
    if page > pages:
        return flask.redirect(flask.url_for("history.trash", page=pages))
    return flask.render_template(
        "trash.html",
        result=result,
        page=page,
        pages=pages,
        window=page_window(page, pages),
        form=VersionedForm(),
    )


@bp.post("/trash/<oid:user_id>/restore")
def restore_user(user_id: str) -> Response:
    # CSRFProtect has checked the form's token before this view ran.
    try:
        user = client().restore_user(user_id)
    except ApiProblem as problem:
        if problem.code == "email_taken":
            flask.flash(
                "Not restored: another user has this email now. Change theirs first.", "error"
            )
        elif problem.status in (404, 409):
            flask.flash("Not restored: the trash no longer holds this user.", "error")
        else:
            raise
        return flask.redirect(flask.url_for("history.trash"))
    flask.flash(f"Restored {user['name']}.", "success")
    return flask.redirect(flask.url_for("users.show_user", user_id=user_id))


def _rows(counts: list[dict[str, Any]], missing: str) -> list[tuple[str, int]]:
    return [(charts.label(entry["value"], missing), entry["count"]) for entry in counts]


@bp.get("/dashboard")
def dashboard() -> str:
    args = flask.request.args
    filters = {name: args[name] for name in STATS_FILTERS if args.get(name)}
    try:
        stats = client().user_stats(filters)
    except ApiProblem as problem:
        flask.flash(f"Those filters were refused: {problem.detail}", "error")
        stats = client().user_stats({})
        filters = {}
    activity = stats["activity"]
    sections = [
        ("roles", "Users by role", "Role", _rows(stats["roles"], "(no role)"), "bar"),
        ("skills", "Most frequent skills", "Skill", _rows(stats["skills"], "(none)"), "bar"),
        (
            "companies",
            "Most frequent companies",
            "Company",
            _rows(stats["companies"], "(none)"),
            "bar",
        ),
        (
            "experience",
            "Years of experience",
            "Years",
            [(bucket["label"], bucket["count"]) for bucket in stats["experience"]],
            "column",
        ),
        (
            "activity",
            "Active and inactive users",
            "Status",
            [("active", activity["active"]), ("inactive", activity["inactive"])],
            "bar",
        ),
        (
            "signups",
            "Sign-ups per month",
            "Month",
            [(month["month"], month["count"]) for month in stats["signups"]],
            "column",
        ),
    ]
    drawn = [
        {
            "id": chart_id,
            "title": title,
            "column": column,
            "rows": rows,
            "svg": (charts.bar_chart if kind == "bar" else charts.column_chart)(
                chart_id, title, rows
            ),
        }
        for chart_id, title, column, rows, kind in sections
    ]
    return flask.render_template("dashboard.html", stats=stats, charts=drawn, filters=filters)
