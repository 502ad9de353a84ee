"""py-clob-client-v2's ``ClobClient`` with our own HTTP transport and no hidden waiting.

Three changes, all by overriding the client's private transport hooks, none by editing it:

* requests go through one ``httpx.Client`` of ours with explicit timeouts (the library's is a
  module-wide client with httpx defaults), and a failure without an HTTP answer raises
  :class:`~engine.executors.polymarket.errors.VenueTransportError` saying whether the request can
  have reached the venue (the library folds every such failure into one "Request exception!");
* ``post_order``/``post_orders`` return the venue's answer at once: the library would poll
  ``/data/trades`` for up to 30 s to fill in transaction hashes we do not need;
* a venue answer that is not JSON is returned as text, as the library does.

Everything else — L1/L2 headers, HMAC, the JSON bodies, pagination cursors — is the client's.
"""

from __future__ import annotations

from typing import Any

import httpx
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.endpoints import ORDERS, TRADES
from py_clob_client_v2.exceptions import PolyApiException

from engine.executors.polymarket.errors import VenueTransportError

_HEADERS = {
    "User-Agent": "py_clob_client_v2",
    "Accept": "*/*",
    "Connection": "keep-alive",
    "Content-Type": "application/json",
}
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class ExecutorClobClient(ClobClient):  # type: ignore[misc]  # py-clob-client-v2 has no types
    """A ``ClobClient`` whose every request uses ``timeout_s`` (seconds, whole request) and
    ``connect_timeout_s``; HTTP/2 only over TLS."""

    def __init__(
        self,
        host: str,
        chain_id: int,
        key: str | None = None,
        *,
        creds: Any = None,
        signature_type: int | None = None,
        funder: str | None = None,
        timeout_s: float = 5.0,
        connect_timeout_s: float = 2.0,
    ) -> None:
        super().__init__(
            host, chain_id, key=key, creds=creds, signature_type=signature_type, funder=funder
        )
        self._http = httpx.Client(
            http2=host.startswith("https://"),
            timeout=httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s)),
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
        )

    # --- transport hooks of ClobClient -------------------------------------------------------

    def _get(self, endpoint: str, headers: Any = None, params: dict[str, Any] | None = None) -> Any:
        return self._request("GET", endpoint, headers, None, params)

    def _post(
        self,
        endpoint: str,
        headers: Any = None,
        data: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        return self._request("POST", endpoint, headers, data, params)

    def _delete(
        self,
        endpoint: str,
        headers: Any = None,
        data: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        return self._request("DELETE", endpoint, headers, data, params)

    def _resolve_transactions_hashes(self, response: Any) -> Any:
        return response

    # ---------------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None,
        data: Any,
        params: dict[str, Any] | None,
    ) -> Any:
        merged = {**(headers or {}), **_HEADERS}
        if method == "GET":
            merged["Accept-Encoding"] = "gzip"
        try:
            if isinstance(data, str):
                response = self._http.request(
                    method, url, headers=merged, content=data.encode(), params=params
                )
            else:
                response = self._http.request(
                    method, url, headers=merged, json=data, params=params
                )
        except _NOT_SENT as exc:
            raise VenueTransportError("connect", f"{type(exc).__name__} on {method}") from None
        except httpx.HTTPError as exc:
            raise VenueTransportError("response", f"{type(exc).__name__} on {method}") from None
        if response.status_code != 200:
            raise PolyApiException(response)
        try:
            return response.json()
        except ValueError:
            return response.text

    def get_open_orders_page(self, cursor: str) -> Any:
        """One raw ``/data/orders`` page: ``{"data": [...], "next_cursor": ...}``."""
        headers = self._l2_headers("GET", ORDERS)
        return self._get(f"{self.host}{ORDERS}", headers=headers, params={"next_cursor": cursor})

    def get_trades_page(
        self, cursor: str, after_s: int = 0, market: str = "", trade_id: str = ""
    ) -> Any:
        """One raw ``/data/trades`` page: trades matched after ``after_s`` (epoch seconds),
        optionally of one market or one trade id."""
        headers = self._l2_headers("GET", TRADES)
        params: dict[str, Any] = {"next_cursor": cursor}
        if after_s:
            params["after"] = after_s
        if market:
            params["market"] = market
        if trade_id:
            params["id"] = trade_id
        return self._get(f"{self.host}{TRADES}", headers=headers, params=params)

    def get_rebates_current(self, date: str, maker_address: str) -> Any:
        """``GET /rebates/current?date=YYYY-MM-DD&maker_address=0x…``: the maker rebates the
        venue credited ``maker_address`` that UTC day, one entry per market (VENUE §5). Public:
        the venue documents no auth for it, so no L1/L2 headers are sent."""
        params = {"date": date, "maker_address": maker_address}
        return self._get(f"{self.host}/rebates/current", params=params)

    def close(self) -> None:
        """Close the connection pool; idempotent."""
        self._http.close()
