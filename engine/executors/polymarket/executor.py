"""The real executor: signed CLOB V2 orders through py-clob-client-v2 (ARCHITECTURE §6, issue 7).

* Signing is local and warm (:mod:`engine.executors.polymarket.signing`): tick size and
  neg-risk come with the order, so building and signing make no HTTP call; the signed order's
  EIP-712 hash is the venue's order id, known before sending.
* The client is synchronous: each call runs in a thread pool under ``asyncio.wait_for``; our
  transport (:mod:`engine.executors.polymarket.client`) says whether a failed request can have
  reached the venue. Failures become reason codes (:mod:`engine.executors.polymarket.errors`),
  never exceptions out of :meth:`RealExecutor.submit`.
* Retries (429, a 5xx the CLOB answered, connection refused) re-post the *same signed order*
  after a backoff, so even a wrong guess cannot make two orders: the venue answers
  "Duplicated" and we treat the order as accepted.
* A submit whose answer is lost is returned ``UNKNOWN`` with its order id and tracked: every
  poll asks ``GET /data/order/<id>`` and scans the market's trades for that id, until the venue
  shows it, or ``execution.unknown_order_timeout_s`` passes with no trace (then REJECTED).
* Fills come from the gateway's user channel (:meth:`RealExecutor.on_user_update`), with
  ``GET /data/trades`` polling as the fallback; fill ids are ``<trade id>:<order id>`` from
  both, so the order manager applies each once. Attribution:
  :mod:`engine.executors.polymarket.reports`.
* While live, the venue heartbeat (:mod:`engine.venue_heartbeat`) runs; when it fails,
  :meth:`healthy` is False and submits are refused with ``HEARTBEAT_UNHEALTHY``.
* Maker rebates are not in the fills (the venue pays them apart, VENUE §5): every
  ``rebate_poll_interval_s`` the executor asks ``GET /rebates/current`` for today and yesterday
  (UTC) for our maker address and keeps what the venue says it credited, per day and market
  (:meth:`RealExecutor.rebates_usdc_by_market`, logged as ``maker_rebates`` when it grows).
  They are *reported, not booked*: the engine's ledger does not include them yet (pending; the
  paper executor's rebates, credited with the fills, are in the ledger).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from py_clob_client_v2.clob_types import (
    ApiCreds,
    AssetType,
    BalanceAllowanceParams,
    OrderPayload,
    PostOrdersV2Args,
)
from py_clob_client_v2.constants import END_CURSOR, INITIAL_CURSOR
from py_clob_client_v2.exceptions import PolyApiException

from engine.effects import ResolutionAnswer
from engine.executors.base import (
    CancelResult,
    Executor,
    IncompleteVenueAnswer,
    OrderRequest,
    SubmitOutcome,
    SubmitResult,
    VenueFill,
    VenueOrder,
    VenueOrders,
    VenueOrderUpdate,
    VenueTrades,
    VenueUnavailable,
)
from engine.executors.polymarket.client import ExecutorClobClient
from engine.executors.polymarket.errors import VenueFailure, classify, classify_message, error_text
from engine.executors.polymarket.reports import (
    FILL_DUST_SHARES,
    Identity,
    ReportError,
    TradeReport,
    fills_of_ours,
    order_from_message,
    order_from_rest,
    trade_from_message,
    trade_from_rest,
)
from engine.executors.polymarket.signing import (
    OrderBuildError,
    OrderSigner,
    OrderTerms,
    SignedOrder,
)
from engine.secrets import SecretError, load_private_key
from engine.venue_heartbeat import VenueHeartbeat
from polyloly import metrics
from polyloly.clock import Clock, SystemClock
from polyloly.config import API_CREDENTIAL_ENV, Config
from polyloly.domain import OrderStatus, RejectReason
from polyloly.logs import get_logger, register_secret
from polyloly.messages import UserOrderUpdate, UserTradeUpdate
from polyloly.resilience import RetryPolicy

LIVE_TRADING_ENV: Final = "LIVE_TRADING"
API_CREDS_ENV: Final = API_CREDENTIAL_ENV  # defined once, shared with the gateway (issue 20 #10)
MAX_BATCH: Final = 15  # POST /orders legs per request (VENUE §3.2)
MAX_PAGES: Final = 1000
_SEEN_FILLS_MAX: Final = 100_000
_REUSE_SIGNED_S: Final = 30.0  # a retried order reuses its signature for this long

_log = get_logger("real_executor")
T = TypeVar("T")


class RealExecutorError(RuntimeError):
    """The real executor cannot start (not enabled, no key, no credentials, venue refused);
    the engine turns it into a refusal to start."""


_STATUS_OUTCOME: Final = {
    "live": SubmitOutcome.LIVE,
    "unmatched": SubmitOutcome.LIVE,
    "matched": SubmitOutcome.MATCHED,
    "delayed": SubmitOutcome.DELAYED,
}


@dataclass(slots=True)
class _Tracked:
    request: OrderRequest
    signed: SignedOrder
    sent_ms: int
    unknown: bool = False
    filled: float = 0.0


@dataclass(slots=True)
class _SeenFills:
    order: deque[str] = field(default_factory=deque)
    ids: set[str] = field(default_factory=set)

    def add(self, fill_id: str) -> bool:
        if fill_id in self.ids:
            return False
        self.ids.add(fill_id)
        self.order.append(fill_id)
        if len(self.order) > _SEEN_FILLS_MAX:
            self.ids.discard(self.order.popleft())
        return True


@dataclass(frozen=True, slots=True)
class VenueBalances:
    """Our collateral (USDC) and outcome-token balances (shares) at the venue."""

    collateral_usdc: float
    shares: Mapping[str, float]
    fetched_ms: int


class RealExecutor(Executor):
    """Executor for the live venue. Build it with :meth:`create` (checks, keys, credentials,
    heartbeat); the constructor takes ready parts, for tests."""

    name = "real"

    def __init__(
        self,
        client: ExecutorClobClient,
        signer: OrderSigner,
        *,
        api_key: str,
        clock: Clock,
        retry: RetryPolicy,
        request_timeout_s: float,
        unknown_order_timeout_s: float = 30.0,
        trade_poll_interval_s: float = 2.0,
        rebate_poll_interval_s: float = 60.0,
        fee_rate_of_token: Mapping[str, float] | None = None,
        heartbeat: VenueHeartbeat | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        super().__init__()
        self._client = client
        self._signer = signer
        self._clock = clock
        self._retry = retry
        self._call_timeout_s = request_timeout_s + 1.0
        self._unknown_timeout_ms = int(unknown_order_timeout_s * 1000)
        self._poll_interval_ms = int(trade_poll_interval_s * 1000)
        # maker rebates the venue reports: (UTC date, condition id) -> USDC credited that day
        self._rebate_interval_ms = int(rebate_poll_interval_s * 1000)
        self._last_rebate_poll_ms: int | None = None
        self._rebate_polling = False
        self._rebates: dict[tuple[str, str], float] = {}
        self._rebates_logged = 0.0
        self._fee_rates = dict(fee_rate_of_token or {})
        self.heartbeat = heartbeat
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="clob")
        self._orders: dict[str, _Tracked] = {}
        self._adopted: set[str] = set()
        self._by_client_id: dict[str, SignedOrder] = {}
        # signatures of orders the venue refused for now (retryable): the order manager's
        # resend reuses them (same venue id, stored before the first POST; the venue dedupes)
        self._resend: dict[str, SignedOrder] = {}
        self._seen = _SeenFills()
        self._identity = Identity(
            api_key=api_key,
            addresses=frozenset({signer.address.lower(), signer.maker.lower()}),
            order_ids=_OrderIds(self._orders, self._adopted),
        )
        self._last_poll_ms = 0
        self._poll_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._closed = False

    # --- construction ------------------------------------------------------------------------

    @classmethod
    async def create(
        cls,
        config: Config,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        host: str | None = None,
        start_heartbeat: bool = True,
    ) -> RealExecutor:
        """Check ``LIVE_TRADING=1``, read the key, derive API credentials, warm the signer and
        start the heartbeat; raise :class:`RealExecutorError` naming what is missing."""
        env = os.environ if environ is None else environ
        if env.get(LIVE_TRADING_ENV) != "1":
            raise RealExecutorError(
                f"the real executor needs {LIVE_TRADING_ENV}=1 in the environment "
                "(refusing to trade real money without it)"
            )
        execution, venue = config.execution, config.polymarket
        try:
            key = load_private_key(
                key_env=execution.private_key_env,
                key_file=execution.private_key_file,
                environ=env,
            )
        except SecretError as exc:
            raise RealExecutorError(str(exc)) from None
        funder = venue.funder or None
        client = ExecutorClobClient(
            host or venue.clob_rest_url,
            venue.chain_id,
            key.hex,
            signature_type=venue.signature_type,
            funder=funder,
            timeout_s=venue.request_timeout_s,
        )
        try:
            signer = OrderSigner(key, venue.chain_id, venue.signature_type, venue.funder)
        except ValueError as exc:
            client.close()
            raise RealExecutorError(f"polymarket: {exc}") from None
        loop = asyncio.get_running_loop()
        try:
            creds: ApiCreds = _creds_from_env(env) or await asyncio.wait_for(
                loop.run_in_executor(None, client.create_or_derive_api_key),
                venue.request_timeout_s * 3,
            )
        except Exception as exc:
            client.close()
            raise RealExecutorError(
                f"cannot create or derive API credentials at {host or venue.clob_rest_url}: "
                f"{classify(exc).message}"
            ) from None
        for secret in (creds.api_key, creds.api_secret, creds.api_passphrase):
            register_secret(secret)
        client.set_api_creds(creds)
        fee_rates = {}
        for market in config.markets:
            for token in market.token_ids:
                fee_rates[token] = market.taker_fee_rate
        retry = RetryPolicy(
            max_attempts=execution.retry.max_attempts,
            base_delay_s=execution.retry.base_delay_s,
            max_delay_s=execution.retry.max_delay_s,
            jitter=execution.retry.jitter,
        )
        clock = clock or SystemClock()
        executor = cls(
            client,
            signer,
            api_key=creds.api_key,
            clock=clock,
            retry=retry,
            request_timeout_s=venue.request_timeout_s,
            unknown_order_timeout_s=execution.unknown_order_timeout_s,
            trade_poll_interval_s=execution.trade_poll_interval_s,
            fee_rate_of_token=fee_rates,
        )
        executor.heartbeat = VenueHeartbeat(
            executor._send_heartbeat, execution.heartbeat_interval_s, clock
        )
        if start_heartbeat:
            if not await executor.heartbeat.beat():
                await executor.close()
                raise RealExecutorError(
                    f"venue heartbeat refused at start: {executor.heartbeat.last_error}"
                )
            executor.heartbeat.start()
        _log.info(
            "real_executor_ready",
            "real executor ready",
            address=signer.address,
            maker=signer.maker,
            signer_backend=signer.backend(),
            host=host or venue.clob_rest_url,
        )
        return executor

    # --- plumbing ----------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, fn, *args)
        return await asyncio.wait_for(future, self._call_timeout_s)

    async def _call_retrying(self, fn: Callable[..., T], *args: Any) -> T:
        attempt = 0
        while True:
            try:
                return await self._call(fn, *args)
            except Exception as exc:
                failure = classify(exc)
                attempt += 1
                if not failure.retryable or attempt >= self._retry.max_attempts:
                    raise
                await self._sleep(self._retry.delay_s(attempt - 1, self._rng))

    async def _send_heartbeat(self, heartbeat_id: str) -> Any:
        return await self._call(self._client.post_heartbeat, heartbeat_id)

    def _now_ms(self) -> int:
        return self._clock.wall_ms()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @property
    def address(self) -> str:
        """Our signing address."""
        return self._signer.address

    # --- submit ------------------------------------------------------------------------------

    def _refusal(self) -> SubmitResult | None:
        if self._closed:
            return SubmitResult(
                SubmitOutcome.REJECTED, reason=RejectReason.NOT_READY,
                message="executor closed", retryable=False,
            )
        if self.heartbeat is not None and not self.heartbeat.healthy():
            return SubmitResult(
                SubmitOutcome.REJECTED, reason=RejectReason.HEARTBEAT_UNHEALTHY,
                message=f"venue heartbeat unhealthy: {self.heartbeat.last_error}",
                retryable=True,
            )
        return None

    def _sign(self, order: OrderRequest) -> SignedOrder:
        now_ms = self._now_ms()
        previous = self._by_client_id.get(order.client_order_id)
        if previous is not None and previous.order_id in self._orders:
            age_s = (now_ms - previous.timestamp_ms) / 1000
            if age_s < _REUSE_SIGNED_S:
                return previous
        for client_id, old in list(self._resend.items()):  # forget stale ones
            if (now_ms - old.timestamp_ms) / 1000 >= _REUSE_SIGNED_S:
                del self._resend[client_id]
        refused = self._resend.pop(order.client_order_id, None)
        if refused is not None:
            self._by_client_id[order.client_order_id] = refused
            self._orders[refused.order_id] = _Tracked(order, refused, now_ms)
            return refused
        signed = self._signer.sign(
            OrderTerms(
                token_id=order.token_id,
                side=order.side,
                price=order.price,
                size=order.size,
                order_type=order.order_type,
                tick_size=order.tick_size,
                neg_risk=order.neg_risk,
                expiration_s=order.expiration_s,
            )
        )
        self._by_client_id[order.client_order_id] = signed
        self._orders[signed.order_id] = _Tracked(order, signed, self._now_ms())
        return signed

    async def market_resolution(self, market_id: str) -> ResolutionAnswer:
        """The venue's REST view of one market's resolution (``GET /markets/{condition_id}``):
        resolved when closed with exactly one winning token, or closed with every token at
        0.5 (a 50-50); anything else is not (yet) resolved. Raises when the call fails."""
        answer = await self._call_retrying(self._client.get_market, market_id)
        if not isinstance(answer, dict) or not answer.get("closed"):
            return ResolutionAnswer(False, None, "venue REST")
        tokens = [t for t in answer.get("tokens") or () if isinstance(t, dict)]
        winners = [str(t.get("token_id")) for t in tokens if t.get("winner") is True]
        if len(winners) == 1:
            return ResolutionAnswer(True, winners[0], "venue REST")
        halves = bool(tokens) and all(_as_float(t.get("price")) == 0.5 for t in tokens)
        return ResolutionAnswer(not winners and halves, None, "venue REST")

    def prepare(self, order: OrderRequest) -> str | None:
        """Sign ``order`` now and return the id the venue will give it (its EIP-712 hash), so
        the engine stores it before the POST: an engine killed between storing the order and
        the venue's answer looks it up by this id at restart. :meth:`submit` reuses this
        signature. None when the order cannot be built (submit then says why)."""
        try:
            return self._sign(order).order_id
        except OrderBuildError:
            return None

    async def submit(self, order: OrderRequest) -> SubmitResult:
        """Sign and post one order; never raises (see the module doc for outcomes)."""
        refusal = self._refusal()
        if refusal is not None:
            self._unsent(order.client_order_id, resend=refusal.retryable)
            return refusal
        try:
            signed = self._sign(order)
        except OrderBuildError as exc:
            failure = classify(exc)
            metrics.intent_rejects.labels(failure.reason.value).inc()
            return SubmitResult(
                SubmitOutcome.REJECTED, reason=failure.reason, message=failure.message
            )
        started = time.perf_counter()

        def post() -> Any:
            # post-only (maker quotes): the venue refuses one that would cross ("order crosses
            # book"), so it never becomes a taker
            return self._client.post_order(signed.order, order.order_type.value,
                                           order.post_only)

        try:
            # one POST per call: the order manager owns the resend budget
            # (execution.retry.max_attempts per order); retrying here too nested the two
            answer = await self._call(post)
        except Exception as exc:
            result = self._failed_submit(signed, classify(exc))
        else:
            result = self._answered_submit(order, signed, answer)
        latency_ms = (time.perf_counter() - started) * 1000
        return _with_latency(result, latency_ms)

    async def submit_batch(self, orders: Sequence[OrderRequest]) -> list[SubmitResult]:
        """Post several orders with ``POST /orders`` (≤15 per request, e.g. both legs of a
        pair); one result per order, in order. Never raises."""
        if any(o.post_only for o in orders) and not all(o.post_only for o in orders):
            # POST /orders has one post_only flag for the whole batch: mixed batches go one by one
            return [await self.submit(o) for o in orders]
        results: list[SubmitResult] = []
        for start in range(0, len(orders), MAX_BATCH):
            results.extend(await self._submit_chunk(orders[start : start + MAX_BATCH]))
        return results

    async def _submit_chunk(self, orders: Sequence[OrderRequest]) -> list[SubmitResult]:
        refusal = self._refusal()
        if refusal is not None:
            return [refusal] * len(orders)
        slots: list[SubmitResult | SignedOrder] = []
        for order in orders:
            try:
                slots.append(self._sign(order))
            except OrderBuildError as exc:
                failure = classify(exc)
                slots.append(
                    SubmitResult(
                        SubmitOutcome.REJECTED, reason=failure.reason, message=failure.message
                    )
                )
        legs = [(o, s) for o, s in zip(orders, slots, strict=True) if isinstance(s, SignedOrder)]
        if not legs:
            return [s for s in slots if isinstance(s, SubmitResult)]
        args = [PostOrdersV2Args(order=s.order, orderType=o.order_type.value) for o, s in legs]
        started = time.perf_counter()
        answers: list[SubmitResult]
        try:
            answer = await self._call(self._client.post_orders, args,  # one POST (as submit)
                                      legs[0][0].post_only)
        except Exception as exc:
            failure = classify(exc)
            answers = [self._failed_submit(s, failure) for _, s in legs]
        else:
            if isinstance(answer, list) and len(answer) == len(legs):
                answers = [
                    self._answered_submit(o, s, leg)
                    for (o, s), leg in zip(legs, answer, strict=True)
                ]
            else:
                failure = VenueFailure(
                    RejectReason.VENUE_UNAVAILABLE, False, True,
                    f"batch answer does not list {len(legs)} legs: {str(answer)[:200]}",
                )
                answers = [self._failed_submit(s, failure) for _, s in legs]
        latency_ms = (time.perf_counter() - started) * 1000
        answered = iter(answers)
        return [
            _with_latency(next(answered), latency_ms) if isinstance(s, SignedOrder) else s
            for s in slots
        ]

    def _failed_submit(self, signed: SignedOrder, failure: VenueFailure) -> SubmitResult:
        tracked = self._orders.get(signed.order_id)
        if failure.duplicate:
            _log.warning(
                "submit_duplicate", "venue already holds this signed order; tracking it",
                order_id=signed.order_id,
            )
            return SubmitResult(
                SubmitOutcome.ACCEPTED, venue_order_id=signed.order_id, message=failure.message
            )
        if failure.outcome_unknown:
            if tracked is not None:
                tracked.unknown = True
            _log.warning(
                "submit_outcome_unknown",
                "no answer to a submit; tracking the order by its id",
                order_id=signed.order_id,
                error=failure.message,
            )
            return SubmitResult(
                SubmitOutcome.UNKNOWN, venue_order_id=signed.order_id,
                reason=failure.reason, message=failure.message,
            )
        if failure.retryable:
            for client_id, known in self._by_client_id.items():
                if known.order_id == signed.order_id:
                    self._resend[client_id] = signed
        self._forget(signed)
        metrics.intent_rejects.labels(failure.reason.value).inc()
        _log.info(
            "submit_rejected", "venue refused the order", order_id=signed.order_id,
            reason=failure.reason.value, retryable=failure.retryable, error=failure.message,
            status_code=failure.status_code,
        )
        return SubmitResult(
            SubmitOutcome.REJECTED, venue_order_id=None, reason=failure.reason,
            message=failure.message, retryable=failure.retryable,
        )

    def _answered_submit(
        self, order: OrderRequest, signed: SignedOrder, answer: Any
    ) -> SubmitResult:
        if not isinstance(answer, dict):
            return self._failed_submit(
                signed,
                VenueFailure(
                    RejectReason.VENUE_UNAVAILABLE, False, True,
                    f"unreadable submit answer: {str(answer)[:200]}",
                ),
            )
        venue_id = str(answer.get("orderID") or answer.get("orderId") or "")
        message = str(answer.get("errorMsg") or "")
        if not venue_id or answer.get("success") is False:
            failure = classify_message(message or error_text(answer))
            return self._failed_submit(signed, failure)
        if venue_id.lower() != signed.order_id.lower():
            metrics.bad_input.labels("real_executor", "order_id_mismatch").inc()
            _log.error(
                "order_id_mismatch", "venue order id differs from the signed order hash",
                order_id=signed.order_id, venue_order_id=venue_id,
            )
            tracked = self._orders.pop(signed.order_id, None)
            if tracked is not None:
                self._orders[venue_id] = tracked
        outcome = _STATUS_OUTCOME.get(str(answer.get("status", "")).lower(), SubmitOutcome.ACCEPTED)
        trade_ids = [str(t) for t in answer.get("tradeIDs") or () if t]
        if trade_ids:
            self._spawn(self._fetch_trades(trade_ids))
        return SubmitResult(outcome, venue_order_id=venue_id, message=message)

    def _unsent(self, client_order_id: str, *, resend: bool) -> None:
        """A prepared order refused before any POST: no longer tracked (nothing to poll), its
        signature kept for the resend when the refusal is for now."""
        signed = self._by_client_id.get(client_order_id)
        if signed is None:
            return
        if resend:
            self._resend[client_order_id] = signed
        self._forget(signed)

    def _forget(self, signed: SignedOrder) -> None:
        self._orders.pop(signed.order_id, None)
        for client_id, known in list(self._by_client_id.items()):
            if known.order_id == signed.order_id:
                del self._by_client_id[client_id]

    # --- cancels -----------------------------------------------------------------------------

    async def cancel(self, venue_order_id: str) -> CancelResult:
        """Cancel one order (``DELETE /order``)."""
        return await self._cancel(self._client.cancel_order, OrderPayload(orderID=venue_order_id))

    async def cancel_many(self, venue_order_ids: Sequence[str]) -> CancelResult:
        """Cancel several orders in one ``DELETE /orders``."""
        return await self._cancel(self._client.cancel_orders, list(venue_order_ids))

    async def cancel_all(self) -> CancelResult:
        """Cancel every open order of ours (``DELETE /cancel-all``)."""
        return await self._cancel(self._client.cancel_all)

    async def _cancel(self, fn: Callable[..., Any], *args: Any) -> CancelResult:
        try:
            answer = await self._call_retrying(fn, *args)
        except Exception as exc:
            failure = classify(exc)
            _log.warning("cancel_failed", "cancel failed", error=failure.message)
            return CancelResult(ok=False, message=failure.message)
        if not isinstance(answer, dict):
            return CancelResult(ok=False, message=f"unreadable cancel answer: {str(answer)[:200]}")
        cancelled = tuple(str(i) for i in answer.get("canceled") or ())
        refused = answer.get("not_canceled") or {}
        not_cancelled = (
            tuple((str(k), str(v)) for k, v in refused.items())
            if isinstance(refused, dict)
            else ()
        )
        return CancelResult(cancelled=cancelled, not_cancelled=not_cancelled, ok=True)

    # --- queries -----------------------------------------------------------------------------

    async def open_orders(self) -> VenueOrders:
        """Every open order of ours, all pages, or :class:`IncompleteVenueAnswer`."""
        orders: list[VenueOrder] = []
        cursor, pages = INITIAL_CURSOR, 0
        while cursor != END_CURSOR:
            pages += 1
            if pages > MAX_PAGES:
                raise IncompleteVenueAnswer(f"open orders: more than {MAX_PAGES} pages")
            try:
                page = await self._call_retrying(self._client.get_open_orders_page, cursor)
                cursor, items = _page(page)
                orders.extend(order_from_rest(item) for item in items)
            except Exception as exc:
                raise IncompleteVenueAnswer(
                    f"open orders: page {pages} failed: {classify_or_report(exc)}"
                ) from None
        return VenueOrders(orders=tuple(orders), fetched_ms=self._now_ms())

    async def trades(self, since_ms: int) -> VenueTrades:
        """Our fills matched since ``since_ms`` (epoch ms), all pages, oldest first."""
        reports = await self._trade_reports(after_s=max(0, since_ms // 1000))
        fills = [
            fill
            for report in reports
            for fill in fills_of_ours(report, self._identity, self._fee_rate(report.token_id))
        ]
        fills.sort(key=lambda f: f.t_ms)
        return VenueTrades(fills=tuple(fills), fetched_ms=self._now_ms())

    async def _trade_reports(
        self, after_s: int = 0, market: str = "", trade_id: str = ""
    ) -> list[TradeReport]:
        reports: list[TradeReport] = []
        cursor, pages = INITIAL_CURSOR, 0
        while cursor != END_CURSOR:
            pages += 1
            if pages > MAX_PAGES:
                raise IncompleteVenueAnswer(f"trades: more than {MAX_PAGES} pages")
            try:
                page = await self._call_retrying(
                    self._client.get_trades_page, cursor, after_s, market, trade_id
                )
                cursor, items = _page(page)
                reports.extend(trade_from_rest(item) for item in items)
            except Exception as exc:
                detail = f"trades: page {pages} failed: {classify_or_report(exc)}"
                if pages == 1:
                    raise VenueUnavailable(detail) from None
                raise IncompleteVenueAnswer(detail) from None
        return reports

    async def order_status(self, venue_order_id: str) -> VenueOrder | None:
        """One order's venue state; None when the venue does not list it (unknown, or no
        longer active: look at trades for what became of it)."""
        try:
            answer = await self._call_retrying(self._client.get_order, venue_order_id)
        except PolyApiException as exc:
            if exc.status_code in (400, 404):
                return None
            raise VenueUnavailable(f"order {venue_order_id}: {classify(exc).message}") from None
        except Exception as exc:
            raise VenueUnavailable(f"order {venue_order_id}: {classify(exc).message}") from None
        if not answer or not isinstance(answer, dict) or not answer.get("id"):
            return None
        try:
            return order_from_rest(answer)
        except ReportError as exc:
            raise VenueUnavailable(f"order {venue_order_id}: malformed answer: {exc}") from None

    async def balances(self, token_ids: Iterable[str]) -> VenueBalances:
        """Collateral and outcome-token balances (``GET /balance-allowance``)."""
        try:
            collateral = await self._call_retrying(
                self._client.get_balance_allowance,
                BalanceAllowanceParams(asset_type=AssetType.COLLATERAL),
            )
            shares: dict[str, float] = {}
            for token in token_ids:
                answer = await self._call_retrying(
                    self._client.get_balance_allowance,
                    BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=token),
                )
                shares[token] = _micro(answer)
            return VenueBalances(_micro(collateral), shares, self._now_ms())
        except Exception as exc:
            raise VenueUnavailable(f"balances: {classify_or_report(exc)}") from None

    async def positions(self, token_ids: Sequence[str]) -> dict[str, float]:
        """Outcome-token balances in shares (the reconciler's ``balances`` query)."""
        return dict((await self.balances(token_ids)).shares)

    def adopt(self, venue_order_id: str) -> None:
        """Treat an order found at the venue (reconciliation) as ours for attribution."""
        self._adopted.add(venue_order_id)

    # --- events ------------------------------------------------------------------------------

    def on_user_update(self, update: UserOrderUpdate | UserTradeUpdate) -> None:
        """Turn one user-channel message into order updates and fills; bad ones are counted
        and logged, never raised."""
        try:
            if isinstance(update, UserOrderUpdate):
                order = order_from_message(update)
                if order.status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED):
                    # a closing report is only a claim until REST says so: a forged cancel
                    # would hide a live order until reconciliation (issue 20 #2)
                    self._spawn(self._confirm_closed(order))
                else:
                    self._apply_order(order)
            else:
                self._apply_trade(trade_from_message(update))
        except (ReportError, ValueError, KeyError) as exc:
            metrics.bad_input.labels("real_executor", "user_update").inc()
            _log.warning("bad_user_update", "unusable user-channel message", error=str(exc))

    async def _confirm_closed(self, claim: VenueOrder) -> None:
        """Apply the venue's REST state of an order the user channel says closed: still open
        there refutes the claim (counted, logged; the REST state applies); not listed means
        not live, so the claim stands. A failed lookup applies nothing (the trade poll and
        reconciliation follow up); never raises."""
        try:
            venue = await self.order_status(claim.venue_order_id)
        except Exception as exc:
            _log.info("close_confirm_failed", "REST lookup of a closed order failed",
                      order_id=claim.venue_order_id, error=str(exc))
            return
        if venue is None:
            venue = claim
        elif venue.status.is_open:
            metrics.bad_input.labels("real_executor", "refuted_close").inc()
            _log.warning("refuted_close", "the user channel said closed, the venue's REST "
                         "lists the order open: kept open", order_id=claim.venue_order_id,
                         status=venue.status.value)
        self._apply_order(venue)

    def _apply_order(self, order: VenueOrder) -> None:
        if order.status is OrderStatus.UNKNOWN:
            metrics.bad_input.labels("real_executor", "order_status").inc()
            return
        tracked = self._orders.get(order.venue_order_id)
        if tracked is not None:
            tracked.unknown = False
            if order.status.is_terminal:
                self._orders.pop(order.venue_order_id, None)
        self.emit(
            VenueOrderUpdate(
                venue_order_id=order.venue_order_id,
                status=order.status,
                size_matched=order.size_matched,
                t_ms=order.created_ms or self._now_ms(),
            )
        )

    def _apply_trade(self, report: TradeReport) -> None:
        if report.status == "FAILED":
            ours = fills_of_ours(dataclasses.replace(report, status="MATCHED"), self._identity)
            if ours:
                metrics.bad_input.labels("real_executor", "trade_failed").inc()
                _log.critical(
                    "trade_failed",
                    "a trade with our fills FAILED on chain: positions must be reconciled",
                    trade_id=report.trade_id, market_id=report.market_id,
                )
            return
        for fill in fills_of_ours(report, self._identity, self._fee_rate(report.token_id)):
            self._emit_fill(fill)

    def _emit_fill(self, fill: VenueFill) -> None:
        if not self._seen.add(fill.fill_id):
            return
        tracked = self._orders.get(fill.venue_order_id)
        if tracked is not None:
            tracked.unknown = False
            tracked.filled += fill.size
        self.emit(fill)

    def _fee_rate(self, token_id: str) -> float:
        return self._fee_rates.get(token_id, 0.0)

    async def _fetch_trades(self, trade_ids: Sequence[str]) -> None:
        for trade_id in trade_ids:
            try:
                reports = await self._trade_reports(trade_id=trade_id)
            except Exception as exc:  # the poll loop will find the fill later
                _log.info("trade_fetch_failed", "trade fetch failed", error=str(exc))
                continue
            for report in reports:
                self._apply_trade(report)

    async def tick(self, now_ms: int) -> None:
        """Start a background poll (trades, unknown orders; maker rebates) when one is due;
        never blocks."""
        if self._closed:
            return
        if not self._rebate_polling and (
            self._last_rebate_poll_ms is None
            or now_ms - self._last_rebate_poll_ms >= self._rebate_interval_ms
        ):
            self._last_rebate_poll_ms = now_ms
            self._rebate_polling = True
            self._spawn(self.poll_rebates(now_ms))
        if now_ms - self._last_poll_ms < self._poll_interval_ms:
            return
        if self._poll_task is not None and not self._poll_task.done():
            return
        self._last_poll_ms = now_ms
        self._poll_task = asyncio.get_running_loop().create_task(self.poll(now_ms))

    async def poll(self, now_ms: int) -> None:
        """Poll trades since the oldest open order and resolve unknown submits (never raises)."""
        if not self._orders:
            return
        since_ms = min(t.sent_ms for t in self._orders.values()) - 60_000
        try:
            reports = await self._trade_reports(after_s=max(0, since_ms // 1000))
        except Exception as exc:
            _log.info("trade_poll_failed", "trade poll failed", error=str(exc))
            return
        for report in reports:
            self._apply_trade(report)
        for order_id, tracked in list(self._orders.items()):
            if tracked.unknown:
                await self._resolve_unknown(order_id, tracked, now_ms)

    async def poll_rebates(self, now_ms: int) -> None:
        """Ask the venue what maker rebates it credited our maker address today and yesterday
        (UTC: the venue's rebate day, VENUE §9) and remember them; never raises."""
        try:
            day = 86_400_000
            for date in (_utc_date(now_ms - day), _utc_date(now_ms)):
                answer = await self._call(self._client.get_rebates_current, date,
                                          self._signer.maker)
                for (when, condition_id), usdc in _rebates_of(answer, date).items():
                    self._rebates[(when, condition_id)] = usdc
        except Exception as exc:  # a failed poll is retried at the next interval
            _log.info("rebate_poll_failed", "maker rebate poll failed",
                      error=classify_or_report(exc))
            return
        finally:
            self._rebate_polling = False
        total = self.rebates_usdc()
        if total != self._rebates_logged:
            self._rebates_logged = total
            _log.info("maker_rebates", "maker rebates the venue credited (not in the ledger)",
                      rebates_usdc=round(total, 6), markets=len(self.rebates_usdc_by_market()))

    def rebates_usdc_by_market(self) -> dict[str, float]:
        """Maker rebates the venue reported crediting us, per condition id, over the days
        polled (USDC)."""
        by_market: dict[str, float] = {}
        for (_, condition_id), usdc in self._rebates.items():
            by_market[condition_id] = by_market.get(condition_id, 0.0) + usdc
        return by_market

    def rebates_usdc(self) -> float:
        """All maker rebates the venue reported crediting us (USDC)."""
        return sum(self._rebates.values())

    async def _resolve_unknown(self, order_id: str, tracked: _Tracked, now_ms: int) -> None:
        try:
            venue_order = await self.order_status(order_id)
        except VenueUnavailable as exc:
            _log.info("unknown_order_poll_failed", "poll failed", order_id=order_id, error=str(exc))
            return
        if venue_order is not None:
            _log.info(
                "unknown_order_found", "the venue has the order", order_id=order_id,
                status=venue_order.status.value,
            )
            self._apply_order(venue_order)
            return
        shares = tracked.signed.shares
        if tracked.filled > 0:
            status = (
                OrderStatus.FILLED
                if tracked.filled >= shares - FILL_DUST_SHARES
                else OrderStatus.CANCELLED
            )
            self._orders.pop(order_id, None)
            self.emit(VenueOrderUpdate(order_id, status, tracked.filled, now_ms, "no longer open"))
            return
        if now_ms - tracked.sent_ms >= self._unknown_timeout_ms:
            self._orders.pop(order_id, None)
            _log.warning(
                "unknown_order_absent",
                "the venue has no trace of the order: it was never placed",
                order_id=order_id,
            )
            self.emit(
                VenueOrderUpdate(
                    order_id, OrderStatus.REJECTED, 0.0, now_ms,
                    "venue has no trace of the order",
                )
            )

    def tracked_order_ids(self) -> tuple[str, ...]:
        """Venue ids of orders this executor still follows (open or unknown)."""
        return tuple(self._orders)

    def unknown_order_ids(self) -> tuple[str, ...]:
        """Venue ids of submits whose outcome is still unknown."""
        return tuple(i for i, t in self._orders.items() if t.unknown)

    # --- lifecycle ---------------------------------------------------------------------------

    def healthy(self) -> bool:
        """False once closed or while the venue heartbeat is failing."""
        return not self._closed and (self.heartbeat is None or self.heartbeat.healthy())

    async def close(self) -> None:
        """Stop the heartbeat and polls, close HTTP connections; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.heartbeat is not None:
            await self.heartbeat.stop()
        tasks = [t for t in (self._poll_task, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()


class _OrderIds:
    """Membership in our tracked or adopted orders (a live view for :class:`Identity`)."""

    def __init__(self, tracked: Mapping[str, Any], adopted: set[str]) -> None:
        self._tracked = tracked
        self._adopted = adopted

    def __contains__(self, item: object) -> bool:
        return item in self._tracked or item in self._adopted


def _with_latency(result: SubmitResult, latency_ms: float) -> SubmitResult:
    return SubmitResult(
        outcome=result.outcome,
        venue_order_id=result.venue_order_id,
        fills=result.fills,
        reason=result.reason,
        message=result.message,
        retryable=result.retryable,
        latency_ms=latency_ms,
    )


def _page(page: Any) -> tuple[str, list[Any]]:
    if not isinstance(page, dict) or "next_cursor" not in page:
        raise ReportError(f"page: expected data and next_cursor, was {str(page)[:120]}")
    items = page.get("data")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise ReportError("page.data: expected a list")
    cursor = str(page["next_cursor"] or END_CURSOR)
    return cursor, items


def _utc_date(wall_ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(wall_ms / 1000))


def _rebates_of(answer: Any, date: str) -> dict[tuple[str, str], float]:
    """``GET /rebates/current`` entries → {(date, condition id): USDC}; raise
    :class:`ReportError` naming the first entry that is not the documented shape."""
    if not isinstance(answer, list):
        raise ReportError(f"rebates/current: expected a list, was {str(answer)[:120]}")
    rebates: dict[tuple[str, str], float] = {}
    for index, entry in enumerate(answer):
        try:
            condition_id = str(entry["condition_id"])
            usdc = float(entry["rebated_fees_usdc"])
            when = str(entry.get("date") or date)
        except (KeyError, TypeError, ValueError):
            raise ReportError(
                f"rebates/current[{index}]: expected condition_id and a numeric "
                f"rebated_fees_usdc, was {str(entry)[:120]}"
            ) from None
        if not usdc >= 0.0:
            raise ReportError(f"rebates/current[{index}].rebated_fees_usdc: expected >= 0, "
                              f"was {usdc!r}")
        rebates[(when, condition_id)] = rebates.get((when, condition_id), 0.0) + usdc
    return rebates


def _micro(answer: Any) -> float:
    if not isinstance(answer, dict) or answer.get("balance") in (None, ""):
        raise ReportError(f"balance: missing in {str(answer)[:120]}")
    return int(str(answer["balance"])) / 1e6


def classify_or_report(exc: BaseException) -> str:
    """A one-line description of a query failure."""
    if isinstance(exc, ReportError):
        return f"malformed answer: {exc}"
    return classify(exc).message


def _creds_from_env(env: Mapping[str, str]) -> ApiCreds | None:
    values = [env.get(name, "") for name in API_CREDS_ENV]
    if all(values):
        return ApiCreds(api_key=values[0], api_secret=values[1], api_passphrase=values[2])
    return None


__all__ = ["RealExecutor", "RealExecutorError", "VenueBalances"]


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
