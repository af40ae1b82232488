"""Query parameters the endpoint does not take are an error, not silently dropped.

A misspelt parameter (``lamda=0``, ``min_follower=1000``) would otherwise return a ranking the user
did not ask for that looks like one they did. :class:`StrictQueryRoute` answers 422 naming the
unknown parameters and listing the ones the endpoint takes. Routes left out of the OpenAPI schema
(the explorer page) are not checked.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.utils import get_flat_dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute


class StrictQueryRoute(APIRoute):
    def get_route_handler(self):
        handler = super().get_route_handler()
        if not self.include_in_schema:
            return handler
        allowed = sorted({param.alias for param in get_flat_dependant(self.dependant).query_params})

        async def strict(request: Request):
            unknown = sorted(set(request.query_params.keys()) - set(allowed))
            if unknown:
                takes = ", ".join(allowed) if allowed else "no query parameters"
                return JSONResponse(status_code=422, content={
                    "detail": f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
                              f"{', '.join(map(repr, unknown))}: {self.path} takes {takes}"})
            return await handler(request)

        return strict
