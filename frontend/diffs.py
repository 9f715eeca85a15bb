"""What changed between two versions of a user, field by field, as people read the values."""

from typing import Any

# The fields a person compares, in the order the user's page shows them.
FIELDS = ("name", "email", "role", "skills", "years", "companies", "active", "deleted_at")
LABELS = {
    "name": "Name",
    "email": "Email",
    "role": "Role",
    "skills": "Skills",
    "years": "Years of experience",
    "companies": "Companies",
    "active": "Active",
    "deleted_at": "Deleted",
}


def _values(user: dict[str, Any]) -> dict[str, str | None]:
    experience = user.get("experience") or {}
    years = experience.get("years")
    active = user.get("active")
    return {
        "name": user.get("name"),
        "email": user.get("email"),
        "role": user.get("role"),
        "skills": ", ".join(user.get("skills") or []) or None,
        "years": None if years is None else str(years),
        "companies": ", ".join(experience.get("companies") or []) or None,
        "active": None if active is None else ("yes" if active else "no"),
        "deleted_at": user.get("deleted_at"),
    }


def changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields that differ, as {"field", "before", "after"} (None: no value); every field
    with a value when there is nothing `before` (the first version kept)."""
    new = _values(after)
    if before is None:
        return [
            {"field": LABELS[name], "before": None, "after": new[name]}
            for name in FIELDS
            if new[name] is not None
        ]
    old = _values(before)
    return [
        {"field": LABELS[name], "before": old[name], "after": new[name]}
        for name in FIELDS
        if old[name] != new[name]
    ]


def with_changes(versions: list[dict[str, Any]], *, complete: bool) -> list[dict[str, Any]]:
    """The versions, newest first, each with its `changes` against the one before it. The
    last one listed is compared with nothing when `complete` (it is the first kept), else it
    gets `changes` None (its predecessor is not listed)."""
    listed = []
    for index, version in enumerate(versions):
        before = versions[index + 1]["user"] if index + 1 < len(versions) else None
        found = None if before is None and not complete else changes(before, version["user"])
        listed.append({**version, "changes": found})
    return listed
