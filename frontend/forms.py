"""The user form: fields as a person types them, turned into the API's user document.

Validation is the API's: its problem responses are shown next to the fields they name.
"""

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField


def _items(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


class UserForm(FlaskForm):
    name = StringField("Name")
    email = StringField("Email")
    role = StringField("Role")
    skills = StringField("Skills", description="Comma-separated, e.g. Docker, AWS")
    years = StringField("Years of experience")
    companies = StringField("Companies", description="Comma-separated")
    active = BooleanField("Active", default=True)
    etag = HiddenField()

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
            # A number goes as a number; anything else as typed, for the API to refuse.
            experience["years"] = int(years) if years.isdigit() else years
        if self.companies.data and _items(self.companies.data):
            experience["companies"] = _items(self.companies.data)
        if experience:
            user["experience"] = experience
        return user

    def fill(self, user: dict[str, Any], etag: str) -> None:
        """Show `user` (at version `etag`) in the form."""
        self.name.data = user.get("name", "")
        self.email.data = user.get("email", "")
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
            field = getattr(self, name, None) if name in self._fields else None
            if field is None:
                unplaced += messages
            else:
                field.errors = [*field.errors, *messages]
        return unplaced
