"""Routes one HTTP request to the Entra endpoints, the admin surface or the Web API."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote, urlsplit

from .auth import Entra, TokenError
from .authorize import SignIn
from .batch import BatchRunner
from .errors import ApiError
from .limits import Limits, Stats
from .messages import ApiRequest, ApiResponse
from .service import Dataverse
from .webapi import WebApi, route_key

_API_PATH = re.compile(r"^/api/data/v9\.[0-2](?:/(.*))?$")
_FAULT_BODIES = {
    "500": (500, "0x80040216", "An unexpected error occurred."),
    "502": (502, "", "Bad Gateway"),
    "503": (503, "", "The service is temporarily unavailable. Please try again later."),
}


class App:
    def __init__(
        self, dv: Dataverse, entra: Entra, api: WebApi, limits: Limits, stats: Stats,
        admin: Callable[[str, str, dict[str, object]], ApiResponse],
    ) -> None:
        self.dv = dv
        self.entra = entra
        self.api = api
        self.limits = limits
        self.stats = stats
        self.admin = admin
        self.signin = SignIn(entra, dv)
        api.batch_handler = BatchRunner(dv.store, api.handle, api.api_url, self._batch_op).run

    def _batch_op(self, req: ApiRequest, resp: ApiResponse) -> None:
        del resp
        self.stats.record_batch_operation(route_key(req.method, req.path))

    def dispatch(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> ApiResponse | None:
        """The response, or None when a fault says to drop the connection."""
        parts = urlsplit(target)
        path = unquote(parts.path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        api = _API_PATH.match(path)
        if api is not None:  # v9.0 and v9.1 URLs answer like v9.2, as in Dataverse
            return self._api(method, api.group(1) or "", query, headers, body)
        if path.startswith("/_mock/"):
            resp = self._admin(method, path, body)
            self.stats.record(method, f"{method} {path}", resp.status, api=False)
            return resp
        signin = self.signin.route(method, path, query, body)
        if signin is not None:
            route, resp = signin
            self.stats.record(method, route, resp.status, api=False)
            return resp
        m = re.match(r"^/([^/]+)/(v2\.0/\.well-known/openid-configuration|oauth2/v2\.0/token)$",
                     path)
        if m is not None:
            resp = self._entra(method, m.group(1), m.group(2), headers, body)
            route = "POST token" if m.group(2).endswith("token") else "GET openid-configuration"
            self.stats.record(method, route, resp.status, api=False)
            return resp
        resp = ApiResponse.json(404, {"error": {"code": "", "message": f"No route for {path}"}})
        self.stats.record(method, f"{method} {path}", 404, api=False)
        return resp

    def _entra(
        self, method: str, tenant: str, what: str, headers: dict[str, str], body: bytes
    ) -> ApiResponse:
        if what.startswith("v2.0"):
            if tenant != self.entra.tenant:
                return ApiResponse.json(400, {
                    "error": "invalid_tenant",
                    "error_description": f"AADSTS90002: Tenant '{tenant}' not found.",
                })
            return ApiResponse.json(200, self.entra.openid_configuration())
        if method != "POST":
            return ApiResponse.json(405, {"error": "invalid_request",
                                          "error_description": "Use POST."})
        form = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        basic = None
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                basic = (unquote(user), unquote(password))
            except ValueError:
                basic = None
        try:
            if form.get("grant_type") == "authorization_code" and tenant == self.entra.tenant:
                return ApiResponse.json(200, self.signin.token(form, basic),
                                        {"Cache-Control": "no-store"})
            return ApiResponse.json(200, self.entra.issue(form, tenant, basic),
                                    {"Cache-Control": "no-store"})
        except TokenError as exc:
            return ApiResponse.json(exc.status, exc.payload)

    def _api(
        self, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str],
        body: bytes,
    ) -> ApiResponse | None:
        route = route_key(method, path)
        request_id = str(uuid.uuid4())
        caller = ""
        admitted = False
        try:
            caller = self.entra.caller(headers.get("authorization", ""))
            self.limits.admit(caller)
            admitted = True
            self.limits.delay()
            fault = self.limits.draw_fault()
            if fault is not None:
                self.stats.record_fault(fault)
                if fault == "drop":
                    self.stats.record(method, route, 0, api=True)
                    return None
                status, code, message = _FAULT_BODIES[fault]
                raise ApiError(status, code, message)
            req = ApiRequest(method, path, query, headers, body, caller)
            resp = self.api.handle(req)
        except ApiError as exc:
            resp = ApiResponse.json(exc.status, exc.body(), exc.headers)
        finally:
            if admitted:
                self.limits.release(caller)
        limit = self.limits.concurrency_limit
        resp.headers.setdefault("OData-Version", "4.0")
        resp.headers["REQ_ID"] = request_id
        resp.headers["x-ms-service-request-id"] = request_id
        resp.headers["x-ms-dop-hint"] = str(4 if limit is None else max(1, min(4, limit)))
        self.stats.record(method, route, resp.status, api=True)
        return resp

    def _admin(self, method: str, path: str, body: bytes) -> ApiResponse:
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            return _plain_error(400, "Body is not JSON.")
        if not isinstance(data, dict):
            return _plain_error(400, "Body must be a JSON object.")
        try:
            return self.admin(method, path.removeprefix("/_mock/"), data)
        except ApiError as exc:
            return ApiResponse.json(exc.status, exc.body())
        except (ValueError, TypeError) as exc:
            return _plain_error(400, str(exc))


def _plain_error(status: int, message: str) -> ApiResponse:
    return ApiResponse.json(status, {"error": {"code": "", "message": message}})
