"""Insights: what the directory's users look like, as counts over those matching listUsers'
filters (/api/v1/users/stats)."""

from typing import Any

from flask.views import MethodView

from api import stats
from api.db import current_store
from api.history_schemas import StatsQuerySchema, UserStatsSchema
from api.resources.users import check_ranges
from api.spec import Blueprint

blp = Blueprint("insights", __name__, url_prefix="/api/v1/users")


@blp.route("/stats")
class UserStats(MethodView):
    @blp.doc(operationId="getUserStats")
    @blp.arguments(StatsQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, UserStatsSchema)
    @blp.errors(400, 503)
    async def get(self, top: int, **filters: Any) -> dict[str, Any]:
        """Describe the users

        Over the users matching every filter given (listUsers' filters; the trash is left
        out): counts by role, the `top` most frequent skills and companies, years of
        experience in fixed buckets, active against inactive, and sign-ups per month. One
        MongoDB aggregation, bounded in what it returns.
        """
        check_ranges(filters)
        return await stats.user_stats(current_store(), filters=filters, top=top)
