"""The pages: list, detail, create, edit, delete. Every write is a POST with a CSRF token.

Query arguments are read leniently (a page number that is no number means page 1); user ids
must look like ids (24 hex digits, the `oid` converter) or the page is a 404 without asking the
API.
"""

import re
from collections.abc import Callable
from typing import Any

import flask
from werkzeug.routing import BaseConverter
from werkzeug.wrappers import Response

from frontend.client import OBJECT_ID, ApiProblem, UsersClient
from frontend.display import page_window
from frontend.forms import UserForm, VersionedForm

bp = flask.Blueprint("users", __name__)

LIST_FILTERS = ("role", "active", "skill", "q", "sort")
PAGE_SIZES = (10, 20, 50, 100)
DEFAULT_PAGE_SIZE = 20
LAST_PAGE = 9_999_999  # the API's largest page number is 10,000,000: a bigger one is past the end
STALE_EDIT = (
    "Someone else changed this user since you opened the form: the form now shows their version."
)
UNCHECKED_EDIT = (
    "This form's version of the user could not be read, so it was not saved: the form now "
    "shows the stored version."
)
STALE_DELETE = "This user may have changed since you opened the page: check before deleting."


class ObjectIdConverter(BaseConverter):
    """`<oid:user_id>`: 24 hex digits, as the contract's ids are."""

    regex = OBJECT_ID.pattern


def client() -> UsersClient:
    users: UsersClient = flask.current_app.extensions["users_client"]
    return users


def _whole_number(text: str | None) -> int | None:
    """`text` as a number from 1 if it is ASCII digits (capped at LAST_PAGE), else None."""
    digits = (text or "").lstrip("0")
    if not digits or not re.fullmatch(r"[0-9]+", digits):
        return None
    return LAST_PAGE if len(digits) > len(str(LAST_PAGE)) else min(int(digits), LAST_PAGE)


@bp.get("/")
def index() -> Response:
    return flask.redirect(flask.url_for("users.list_users"))


@bp.get("/users")
def list_users() -> Any:
    args = flask.request.args
    filters: dict[str, Any] = {name: args[name] for name in LIST_FILTERS if args.get(name)}
    page = _whole_number(args.get("page")) or 1
    page_size = _whole_number(args.get("page_size"))
    if page_size not in PAGE_SIZES:
        page_size = DEFAULT_PAGE_SIZE
    if page_size != DEFAULT_PAGE_SIZE:
        filters["page_size"] = str(page_size)  # kept by every link, like the filters
    try:
        result = client().list_users({**filters, "page": page, "page_size": page_size})
    except ApiProblem as problem:  # a filter the API refuses: show why, with no results
        flask.flash(f"Those filters were refused: {problem.detail}", "error")
        result = {"items": [], "total": 0, "page": 1, "page_size": page_size}
        page = 1  # not redirected: the API would refuse the same filters again
    pages = max(1, -(-result["total"] // result["page_size"]))
    if page > pages:  # past the end (an old link, a typed number): the last page
        return flask.redirect(flask.url_for("users.list_users", **filters, page=pages))
    return flask.render_template(
        "list.html",
        result=result,
        filters=filters,
        page=page,
        pages=pages,
        window=page_window(page, pages),
        page_size=page_size,
        page_sizes=PAGE_SIZES,
    )


@bp.get("/users/<oid:user_id>")
def show_user(user_id: str) -> str:
    user, etag = client().get_user(user_id)
    return flask.render_template("detail.html", user=user, etag=etag)


def _render_form(form: UserForm, *, user: dict[str, Any] | None, status: int = 200) -> Any:
    return flask.render_template("form.html", form=form, user=user), status


def _invalid(form: UserForm) -> bool:
    """Whether a submitted form has errors of its own (shown, and the API not asked)."""
    return flask.request.method == "POST" and not form.validate()


@bp.route("/users/new", methods=["GET", "POST"])
def create_user() -> Any:
    form = UserForm()
    if flask.request.method == "GET":
        return _render_form(form, user=None)
    if _invalid(form):
        return _render_form(form, user=None, status=422)
    try:
        user = client().create_user(form.to_user())
    except ApiProblem as problem:
        return _refused(form, problem, user=None)
    flask.flash(f"Created {user['name']}.", "success")
    return flask.redirect(flask.url_for("users.show_user", user_id=user["id"]))


@bp.route("/users/<oid:user_id>/edit", methods=["GET", "POST"])
def edit_user(user_id: str) -> Any:
    form = UserForm()
    current, etag = client().get_user(user_id)
    if flask.request.method == "GET":
        form.fill(current, etag)
        return _render_form(form, user=current)
    if _invalid(form):
        return _render_form(form, user=current, status=422)
    version = form.version()
    if version is None:
        return _reload(form, current, etag, UNCHECKED_EDIT)
    try:
        user = client().replace_user(user_id, form.to_user(), version)
    except ApiProblem as problem:
        if problem.status == 412:
            return _reload(form, current, etag, STALE_EDIT)
        return _refused(form, problem, user=current)
    flask.flash(f"Saved {user['name']}.", "success")
    return flask.redirect(flask.url_for("users.show_user", user_id=user_id))


def _reload(form: UserForm, current: dict[str, Any], etag: str, message: str) -> Any:
    """Show the stored version in the form, and why what was typed was not saved."""
    form.fill(current, etag)
    flask.flash(message, "error")
    return _render_form(form, user=current, status=409)


def _refused(form: UserForm, problem: ApiProblem, *, user: dict[str, Any] | None) -> Any:
    """Show the API's refusal on the form, keeping what was typed: messages next to their
    fields, the rest above the form. Refusals about the site rather than the form (not found,
    no key) go to the error pages."""
    if problem.status in (401, 403, 404):
        raise problem
    if problem.code == "email_taken":
        form.email.errors = [*form.email.errors, "Another user already has this email."]
    elif problem.errors:
        for message in form.show_api_errors(problem.errors):
            flask.flash(message, "error")
    else:
        flask.flash(problem.detail, "error")
    return _render_form(form, user=user, status=problem.status)


def written_as_shown(form: VersionedForm, write: Callable[[str], Any]) -> bool:
    """Run `write` at the version of the user the form was shown with; False when the form
    holds none or the user changed since (the API's 412). Other problems propagate."""
    version = form.version()
    if version is None:
        return False
    try:
        write(version)
    except ApiProblem as problem:
        if problem.status != 412:
            raise
        return False
    return True


@bp.route("/users/<oid:user_id>/delete", methods=["GET", "POST"])
def delete_user(user_id: str) -> Any:
    form = VersionedForm()
    user, etag = client().get_user(user_id)
    if flask.request.method == "GET":
        form.etag.data = etag
        return flask.render_template("confirm_delete.html", user=user, form=form)
    # CSRFProtect has checked the form's token before this view ran.
    if not written_as_shown(form, lambda version: client().delete_user(user_id, version)):
        flask.flash(STALE_DELETE, "error")
        return flask.redirect(flask.url_for("users.show_user", user_id=user_id))
    flask.flash(f"Deleted {user['name']}.", "success")
    return flask.redirect(flask.url_for("users.list_users"))
