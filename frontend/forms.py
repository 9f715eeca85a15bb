"""The forms: fields as a person types them, turned into the API's user document.

The frontend checks only what it can say better than the API: an empty required field gets one
message, the same for every field, and the API is not asked. Everything else is the API's to
validate: its problem responses are shown next to the fields they name.
"""

import re
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import DataRequired

from frontend.client import ETAG

REQUIRED = "This field is required."
# Up to nine ASCII digits go to the API as a number; anything else goes as typed, for the API
# to refuse in its words (int() would take "٣" and choke on "²" or 5,000 digits).
WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


def _items(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


class VersionedForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped: its base is Any
    """A form about one stored user, at the version (ETag) it was shown at."""

    etag = HiddenField()

    def version(self) -> str | None:
        """The ETag the form was shown at, or None if what came back is not one (an old page,
        or an edited form): never sent to the API, which would take `*` as any version."""
        etag = self.etag.data or ""
        return etag if ETAG.fullmatch(etag) else None


class UserForm(VersionedForm):
    name = StringField("Name", [DataRequired(REQUIRED)])
    email = StringField("Email", [DataRequired(REQUIRED)])
    role = StringField("Role")
    skills = StringField("Skills", description="Comma-separated, e.g. Docker, AWS")
    years = StringField("Years of experience")
    companies = StringField("Companies", description="Comma-separated")
    active = BooleanField("Active", default=True)

    # API error field (its first dotted segment, or the whole path) -> form field
    API_FIELDS = {
        "experience.years": "years",
        "experience.companies": "companies",
        "experience": "years",
    }

    def to_user(self) -> dict[str, Any]:
        """The user document the form describes (what createUser and replaceUser take)."""
        user: dict[str, Any] = {
            "name": self.name.data or "",
            "email": self.email.data or "",
            "skills": _items(self.skills.data),
            "active": bool(self.active.data),
        }
        if self.role.data:
            user["role"] = self.role.data
        experience: dict[str, Any] = {}
        years = (self.years.data or "").strip()
        if years:
            experience["years"] = int(years) if WHOLE_NUMBER.fullmatch(years) else years
        if _items(self.companies.data):
            experience["companies"] = _items(self.companies.data)
        if experience:
            user["experience"] = experience
        return user

    def fill(self, user: dict[str, Any], etag: str) -> None:
        """Show `user` (at version `etag`) in the form."""
        self.name.data = user["name"]
        self.email.data = user["email"]
        self.role.data = user.get("role", "")
        self.skills.data = ", ".join(user.get("skills", []))
        experience = user.get("experience", {})
        self.years.data = str(experience["years"]) if "years" in experience else ""
        self.companies.data = ", ".join(experience.get("companies", []))
        self.active.data = user.get("active", True)
        self.etag.data = etag

    def show_api_errors(self, errors: dict[str, list[str]]) -> list[str]:
        """Put the API's validation messages on their fields; return those that fit none."""
        unplaced: list[str] = []
        for path, messages in errors.items():
            name = next(
                (field for prefix, field in self.API_FIELDS.items() if path.startswith(prefix)),
                path.split(".")[0],
            )
            field = self._fields.get(name) if name not in ("csrf_token", "etag") else None
            if field is None:
                unplaced += messages
            else:
                field.errors = [*field.errors, *messages]
        return unplaced
