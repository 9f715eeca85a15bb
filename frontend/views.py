"""The pages: list, detail, create, edit, delete. Every write is a POST with a CSRF token."""

from typing import Any

import flask
from werkzeug.wrappers import Response

from frontend.client import ApiProblem, UsersClient
from frontend.forms import UserForm

bp = flask.Blueprint("users", __name__)

LIST_FILTERS = ("role", "active", "skill", "q", "sort")
PAGE_SIZE = 10


def client() -> UsersClient:
    return flask.current_app.extensions["users_client"]


@bp.get("/")
def index() -> Response:
    return flask.redirect(flask.url_for("users.list_users"))


@bp.get("/users")
def list_users() -> str:
    args = flask.request.args
    filters = {name: args[name] for name in LIST_FILTERS if args.get(name)}
    page = args.get("page", "1")
    page = int(page) if page.isdigit() and int(page) > 0 else 1
    try:
        result = client().list_users({**filters, "page": page, "page_size": PAGE_SIZE})
    except ApiProblem as problem:  # a filter the API refuses: show why, with no results
        flask.flash(f"Those filters were refused: {problem.detail}", "error")
        result = {"items": [], "total": 0, "page": 1, "page_size": PAGE_SIZE}
    pages = max(1, -(-result["total"] // PAGE_SIZE))
    return flask.render_template(
        "list.html", result=result, filters=filters, page=result.get("page", 1), pages=pages
    )


@bp.get("/users/<user_id>")
def show_user(user_id: str) -> str:
    user, etag = client().get_user(user_id)
    return flask.render_template("detail.html", user=user, etag=etag)


def _render_form(form: UserForm, *, user: dict[str, Any] | None, status: int = 200) -> Any:
    return flask.render_template("form.html", form=form, user=user), status


@bp.route("/users/new", methods=["GET", "POST"])
def create_user() -> Any:
    form = UserForm()
    if flask.request.method == "GET" or not form.validate_on_submit():
        return _render_form(form, user=None)
    try:
        user = client().create_user(form.to_user())
    except ApiProblem as problem:
        return _refused(form, problem, user=None)
    flask.flash(f"Created {user['name']}.", "success")
    return flask.redirect(flask.url_for("users.show_user", user_id=user["id"]))


@bp.route("/users/<user_id>/edit", methods=["GET", "POST"])
def edit_user(user_id: str) -> Any:
    form = UserForm()
    if flask.request.method == "GET":
        user, etag = client().get_user(user_id)
        form.fill(user, etag)
        return _render_form(form, user=user)
    current, etag = client().get_user(user_id)
    if not form.validate_on_submit():
        return _render_form(form, user=current)
    try:
        user = client().replace_user(user_id, form.to_user(), form.etag.data or etag)
    except ApiProblem as problem:
        if problem.status == 412:
            form.fill(current, etag)
            flask.flash(
                "Someone else changed this user since you opened the form: "
                "the form now shows their version.",
                "error",
            )
            return _render_form(form, user=current, status=409)
        return _refused(form, problem, user=current)
    flask.flash(f"Saved {user['name']}.", "success")
    return flask.redirect(flask.url_for("users.show_user", user_id=user_id))


def _refused(form: UserForm, problem: ApiProblem, *, user: dict[str, Any] | None) -> Any:
    """Show the API's refusal on the form: messages next to their fields."""
    if problem.code == "email_taken":
        form.email.errors = [*form.email.errors, "Another user already has this email."]
    elif problem.errors:
        for message in form.show_api_errors(problem.errors):
            flask.flash(message, "error")
    else:
        raise problem
    return _render_form(form, user=user, status=422 if problem.status == 422 else 409)


@bp.route("/users/<user_id>/delete", methods=["GET", "POST"])
def delete_user(user_id: str) -> Any:
    form = UserForm()  # only for its CSRF token and the ETag
    if flask.request.method == "GET":
        user, etag = client().get_user(user_id)
        form.etag.data = etag
        return flask.render_template("confirm_delete.html", user=user, form=form)
    if not form.validate_on_submit():
        flask.abort(400)
    try:
        client().delete_user(user_id, form.etag.data or "")
    except ApiProblem as problem:
        if problem.status != 412:
            raise
        flask.flash("Someone else changed this user meanwhile: check before deleting.", "error")
        return flask.redirect(flask.url_for("users.show_user", user_id=user_id))
    flask.flash("Deleted.", "success")
    return flask.redirect(flask.url_for("users.list_users"))
