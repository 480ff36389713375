"""Connections to a dYdX node (gRPC) and indexer (REST), safe for an asyncio app.

dydx-v4-client 1.1.5's `NodeClient` methods are `async def` but make blocking gRPC
calls without a deadline: on the event loop they freeze every other user's work, and
a hung node blocks forever. So we build the channel ourselves with a default
deadline and run every node call in a worker thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import httpx
from dydx_v4_client.indexer.rest.indexer_client import IndexerClient
from dydx_v4_client.network import NodeConfig, mainnet_node, testnet_node
from dydx_v4_client.node.client import NodeClient
from v4_proto.cosmos.tx.v1beta1 import service_pb2_grpc
from v4_proto.cosmos.tx.v1beta1.service_pb2 import GetTxRequest
from v4_proto.cosmos.tx.v1beta1.tx_pb2 import Tx

from trading_app.domain.enums import Network
from trading_app.venues.dydx.errors import error_for_http, error_for_rpc
from trading_app.venues.errors import VenueTemporaryError

if TYPE_CHECKING:
    from dydx_v4_client.node.builder import Builder

T = TypeVar("T")

DEFAULT_NODES = {Network.TESTNET: "test-dydx-grpc.kingnodes.com:443", Network.MAINNET: "oegs.dydx.trade:443"}
DEFAULT_INDEXERS = {
    Network.TESTNET: "https://indexer.v4testnet.dydx.exchange",
    Network.MAINNET: "https://indexer.dydx.trade",
}
_NODE_CONFIGS = {Network.TESTNET: testnet_node, Network.MAINNET: mainnet_node}
_PLAINTEXT = ("http://", "grpc://")
_TLS = ("https://", "grpcs://")


@dataclass(frozen=True)
class DydxEndpoints:
    """Where one network's node and indexer answer.

    `node_url` is `host:port` (TLS) or `http://host:port` / `grpc://host:port` for a
    plaintext node (local nodes, polkachu's testnet port). The indexer URL is the bare
    host: the client adds `/v4/...` itself.
    """

    network: Network
    node_url: str
    indexer_url: str
    rpc_timeout: float = 8.0
    indexer_timeout: float = 5.0

    @property
    def plaintext(self) -> bool:
        return self.node_url.startswith(_PLAINTEXT)

    @property
    def node_target(self) -> str:
        target = self.node_url
        for prefix in _PLAINTEXT + _TLS:
            if target.startswith(prefix):
                target = target[len(prefix) :]
        target = target.rstrip("/")
        if ":" not in target:
            target += ":443"  # TLS gRPC endpoints are published without a port
        return target


def endpoints_for(network: Network | str, settings: Any = None) -> DydxEndpoints:
    """Endpoints for testnet or mainnet from settings, falling back to public defaults.

    Args:
        network: `Network.TESTNET` or `Network.MAINNET`.
        settings: An object with `dydx_<network>_node_url` / `_indexer_url`
            (defaults to `get_settings()`).

    Raises:
        ValueError: the network is not a dYdX network.
    """
    network = Network(network)
    if network not in DEFAULT_NODES:
        raise ValueError(f"{network} is not a dYdX network")
    if settings is None:
        from trading_app.settings import get_settings

        settings = get_settings()
    node = getattr(settings, f"dydx_{network.value}_node_url", None) or DEFAULT_NODES[network]
    indexer = getattr(settings, f"dydx_{network.value}_indexer_url", None) or DEFAULT_INDEXERS[network]
    return DydxEndpoints(network, node, indexer.rstrip("/"))


@dataclass(frozen=True)
class CommittedTx:
    """A tx the chain committed, with its DeliverTx result (code 0: the message ran)."""

    height: int
    code: int
    codespace: str = ""
    log: str = ""


# grpc ships no types (pyproject.toml), so its base classes are Any to mypy
class _CallDetails(
    collections.namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")
    ),
    grpc.ClientCallDetails,  # type: ignore[misc]
):
    pass


class DefaultDeadline(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]  # grpc: no types
    """Give every unary call a deadline unless the caller set one."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def intercept_unary_unary(
        self, continuation: Callable[[Any, Any], Any], client_call_details: Any, request: Any
    ) -> Any:
        details = client_call_details
        if details.timeout is None:
            details = _CallDetails(
                details.method,
                self.seconds,
                details.metadata,
                details.credentials,
                details.wait_for_ready,
                details.compression,
            )
        return continuation(details, request)


def make_channel(endpoints: DydxEndpoints) -> grpc.Channel:
    """A gRPC channel with TLS (unless plaintext was asked for) and a default deadline."""
    if endpoints.plaintext:
        raw = grpc.insecure_channel(endpoints.node_target)
    else:
        options = [("grpc.keepalive_time_ms", 30000), ("grpc.keepalive_timeout_ms", 10000)]
        raw = grpc.secure_channel(endpoints.node_target, grpc.ssl_channel_credentials(), options=options)
    return grpc.intercept_channel(raw, DefaultDeadline(endpoints.rpc_timeout))


def _drive(coro: Coroutine[Any, Any, T]) -> T:
    # the library's coroutine only wraps a synchronous stub call; run it on this worker thread
    return asyncio.run(coro)


class DydxClient:
    """One network's node and indexer clients; every call is non-blocking for the loop."""

    def __init__(self, endpoints: DydxEndpoints) -> None:
        self.endpoints = endpoints
        self._raw_channel = make_channel(endpoints)
        config: NodeConfig = _NODE_CONFIGS[endpoints.network](channel=self._raw_channel)
        self.node = NodeClient(config.channel, _builder(config))
        self.node.sequence_manager = None  # we keep our own sequence (see signer.py)
        self.indexer = IndexerClient(endpoints.indexer_url, api_timeout=endpoints.indexer_timeout)
        # IndexerClient opens a new httpx client (and TLS context, ~0.1 s of CPU) per request;
        # our reads share one pooled client, with the same URL rendering and timeout
        self._http: httpx.AsyncClient | None = None

    async def node_call(self, make: Any, *args: Any) -> Any:
        """Run `make(*args)` (a NodeClient coroutine function) in a worker thread.

        Raises:
            VenueError: mapped from the gRPC failure.
        """
        try:
            return await asyncio.to_thread(lambda: _drive(make(*args)))
        except grpc.RpcError as e:
            raise error_for_rpc(e) from None

    async def query(self, make: Any, *args: Any) -> Any:
        """`node_call` for read-only queries: safe to repeat, so one retry after a transport error."""
        try:
            return await self.node_call(make, *args)
        except VenueTemporaryError:
            await asyncio.sleep(0.05)
            return await self.node_call(make, *args)

    async def latest_height(self) -> int:
        """Height of the latest block the node has."""
        return int(await self.query(self.node.latest_block_height))

    async def account(self, address: str) -> tuple[int, int]:
        """(account_number, committed sequence) of an on-chain account."""
        acct = await self.query(self.node.get_account, address)
        return int(acct.account_number), int(acct.sequence)

    async def authenticators(self, address: str) -> list[Any]:
        """The account's authenticators (`AccountAuthenticator{id, type, config}`)."""
        resp = await self.query(self.node.get_authenticators, address)
        return list(resp.account_authenticators)

    async def broadcast(self, tx: Tx) -> Any:
        """Send signed tx bytes (BROADCAST_MODE_SYNC); returns the `TxResponse`.

        Raises:
            VenueError: mapped from the gRPC failure (the tx may or may not have landed).
        """
        resp = await self.node_call(self.node.broadcast, tx)
        return resp.tx_response

    async def get_tx(self, tx_hash: str) -> CommittedTx | None:
        """The committed tx with this hash (cosmos.tx.v1beta1.Service/GetTx), None while not found.

        NOT_FOUND covers a tx still in the mempool, one dropped from it and one never sent: it
        decides nothing on its own. 1.1.5's `query_transaction` polls seven times, prints, and
        drops the DeliverTx code, so the library's generated stub is called directly.

        Raises:
            VenueError: any other gRPC failure, mapped.
        """
        def call() -> Any:
            return service_pb2_grpc.ServiceStub(self.node.channel).GetTx(GetTxRequest(hash=tx_hash))

        try:
            response = await asyncio.to_thread(call)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise error_for_rpc(e) from None
        result = response.tx_response
        return CommittedTx(int(result.height), int(result.code), result.codespace, result.raw_log)

    async def indexer_height(self) -> int:
        """The last block the indexer has processed (`GET /v4/height`).

        Raises:
            VenueError: the indexer cannot be asked (a 404 here is an error too).
        """
        try:
            data = await self.get("/v4/height")
        except httpx.HTTPStatusError as e:
            raise error_for_http(e) from None
        return int(data["height"])

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET an indexer path (`/v4/...`) with params rendered as the indexer expects.

        Raises:
            httpx.HTTPStatusError: for 404 only (callers decide what absence means).
            VenueError: any other failure, mapped.
        """
        clean = {k: _render(v) for k, v in (params or {}).items() if v is not None}
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.endpoints.indexer_url,
                                           timeout=self.endpoints.indexer_timeout)
        try:
            response = await self._http.get(path, params=clean)
            response.raise_for_status()
            return response.json()
        except httpx.HTTPStatusError as e:
            if e.response.status_code == 404:
                raise
            raise error_for_http(e) from None
        except httpx.HTTPError as e:
            raise error_for_http(e) from None

    async def close(self) -> None:
        """Close the gRPC channel and the HTTP pool. Safe to call more than once."""
        self._raw_channel.close()
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()


def _render(value: Any) -> str:
    # the indexer's validators want lower-case booleans and comma-joined lists (the 1.1.5
    # wrapper would send True and Python list reprs)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _builder(config: NodeConfig) -> Builder:
    from dydx_v4_client.node.builder import Builder

    builder = Builder(config.chain_id, config.usdc_denom)
    builder.memo = ""  # the library's default memo is "Client Example"
    return builder
