"""Probes for load balancers and orchestrators: liveness touches nothing; readiness asks MongoDB."""

from flask.views import MethodView

from api.db import current_store
from api.schemas import StatusSchema
from api.spec import Blueprint

blp = Blueprint("health", __name__, url_prefix="/health")


@blp.route("/live")
class Liveness(MethodView):
    @blp.doc(operationId="getLiveness")
    @blp.response(200, StatusSchema)
    def get(self) -> dict[str, str]:
        """Report that the process serves requests

        Touches no database: use it for liveness probes.
        """
        return {"status": "ok"}


@blp.route("/ready")
class Readiness(MethodView):
    @blp.doc(operationId="getReadiness")
    @blp.response(200, StatusSchema)
    @blp.errors(503)
    async def get(self) -> dict[str, str]:
        """Report whether MongoDB answers

        Pings MongoDB within MONGODB_TIMEOUT_MS: 200 when it answers, 503 with Retry-After
        when it does not. Use it for readiness probes.
        """
        await current_store().ping()
        return {"status": "ok"}
