"""The directory's insights: one MongoDB aggregation over the users matching listUsers' filters.

    [{"$match": the filters, live users only},
     {"$facet": {"total", "roles", "skills", "companies", "experience", "activity", "signups"}}]

The `$match` comes first, so MongoDB serves it from the same indexes as the list (README,
"Indexes"); `$facet` then runs every count over the matches in one pass of the pipeline and one
round trip. Its cost is bounded: each ranking is cut to `top` (at most 50) after its `$sort`,
the histogram has fixed buckets, and sign-ups are cut to the 120 most recent months, so the
answer stays small whatever the data. (The matching itself costs what a count of the same list
costs.)

Rankings use `$group` then `$sort` rather than `$sortByCount` (the same stages, which
mongomock, the embedded store and the wire-protocol test server, lacks), and break ties by
value so that the answer is deterministic (null, a user without a role, first). Every other
operator here runs on mongomock as on MongoDB: `$facet`, `$bucket`, `$dateToString` (without
`timezone`, which mongomock lacks too: months are UTC).
"""

import itertools
from collections.abc import Mapping
from typing import Any

from api import crud
from api.db import Store, storage_operation

# Lower bounds of the experience buckets, years; the last bucket is open-ended up to 80.
YEARS = [0, 2, 5, 10, 20]
YEARS_CEILING = 81  # past ExperienceSchema's maximum of 80
UNKNOWN = "unknown"  # the bucket of users without `experience.years`
MONTHS = 120


def _ranking(path: str, top: int, *, unwind: bool) -> list[dict[str, Any]]:
    stages: list[dict[str, Any]] = [{"$unwind": path}] if unwind else []
    return [
        *stages,
        {"$group": {"_id": path, "count": {"$sum": 1}}},
        {"$sort": {"count": -1, "_id": 1}},
        {"$limit": top},
    ]


def pipeline(query: Mapping[str, Any], top: int) -> list[dict[str, Any]]:
    """The aggregation describing the users `query` matches."""
    return [
        {"$match": dict(query)},
        {
            "$facet": {
                "total": [{"$count": "n"}],
                "roles": _ranking("$role", top, unwind=False),
                "skills": _ranking("$skills", top, unwind=True),
                "companies": _ranking("$experience.companies", top, unwind=True),
                "experience": [
                    {
                        "$bucket": {
                            "groupBy": "$experience.years",
                            "boundaries": [*YEARS, YEARS_CEILING],
                            "default": UNKNOWN,
                            "output": {"count": {"$sum": 1}},
                        }
                    }
                ],
                "activity": [{"$group": {"_id": "$active", "count": {"$sum": 1}}}],
                "signups": [
                    {
                        "$group": {
                            "_id": {"$dateToString": {"format": "%Y-%m", "date": "$created_at"}},
                            "count": {"$sum": 1},
                        }
                    },
                    {"$sort": {"_id": -1}},
                    {"$limit": MONTHS},
                ],
            }
        },
    ]


def _label(low: int, high: int) -> str:
    return f"{low}+" if high == YEARS_CEILING else f"{low}-{high - 1}"


def _buckets(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every bucket in order, the empty ones too (MongoDB's $bucket leaves them out)."""
    counts = {bucket["_id"]: bucket["count"] for bucket in found}
    bounds = [*YEARS, YEARS_CEILING]
    buckets = [
        {"min": low, "max": high, "label": _label(low, high), "count": counts.get(low, 0)}
        for low, high in itertools.pairwise(bounds)
    ]
    buckets.append({"min": None, "max": None, "label": UNKNOWN, "count": counts.get(UNKNOWN, 0)})
    return buckets


def _counts(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Sorted again here: MongoDB sorts null before strings, mongomock after.
    ordered = sorted(found, key=lambda e: (-e["count"], e["_id"] is not None, e["_id"] or ""))
    return [{"value": entry["_id"], "count": entry["count"]} for entry in ordered]


@storage_operation
async def user_stats(
    store: Store, *, filters: Mapping[str, Any] | None = None, top: int = 10
) -> dict[str, Any]:
    """Describe the live users matching every filter (as for crud.list_users): {"total",
    "roles", "skills", "companies" (the `top` most frequent of each, as value and count),
    "experience" (fixed buckets), "activity" (active and inactive), "signups" (per month)}."""
    users = await store.users()
    query = crud.filter_query(filters or {})
    cursor = users.aggregate(pipeline(query, top))
    (facets,) = await cursor.to_list(length=None)
    activity = {entry["_id"]: entry["count"] for entry in facets["activity"]}
    total = facets["total"][0]["n"] if facets["total"] else 0
    return {
        "total": total,
        "roles": _counts(facets["roles"]),
        "skills": _counts(facets["skills"]),
        "companies": _counts(facets["companies"]),
        "experience": _buckets(facets["experience"]),
        # `active` defaults to true: a user stored without it counts as active.
        "activity": {"active": total - activity.get(False, 0), "inactive": activity.get(False, 0)},
        "signups": [
            {"month": entry["_id"], "count": entry["count"]}
            for entry in reversed(facets["signups"])
            if entry["_id"] is not None
        ],
    }
