"""gRPC servicers of the fake dYdX node: thin adapters from the v4_proto services to `FakeDydxNode`.

`GetTx` follows cosmos-sdk x/auth/tx/service.go: a committed tx comes back with its DeliverTx result
(`tx_response.height/code/codespace/raw_log`), anything else is `NOT_FOUND` "tx not found: <hash>"
(a tx still in the mempool, one dropped from it, and every short-term order, which is never a
committed tx). A timed-out BroadcastTx's tx is findable here once committed, whatever the sequence.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import grpc
from google.protobuf.any_pb2 import Any as PbAny
from v4_proto.cosmos.auth.v1beta1 import query_pb2 as auth_q
from v4_proto.cosmos.auth.v1beta1 import query_pb2_grpc as auth_g
from v4_proto.cosmos.auth.v1beta1.auth_pb2 import BaseAccount
from v4_proto.cosmos.base.abci.v1beta1.abci_pb2 import GasInfo, TxResponse
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2 as tm_q
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2_grpc as tm_g
from v4_proto.cosmos.tx.v1beta1 import service_pb2 as tx_s
from v4_proto.cosmos.tx.v1beta1 import service_pb2_grpc as tx_g
from v4_proto.cosmos.tx.v1beta1.tx_pb2 import AuthInfo, Tx, TxBody, TxRaw
from v4_proto.dydxprotocol.accountplus import query_pb2 as ap_q
from v4_proto.dydxprotocol.accountplus import query_pb2_grpc as ap_g
from v4_proto.dydxprotocol.accountplus.models_pb2 import AccountAuthenticator
from v4_proto.dydxprotocol.clob import query_pb2 as clob_q
from v4_proto.dydxprotocol.clob import query_pb2_grpc as clob_g
from v4_proto.dydxprotocol.clob.block_rate_limit_config_pb2 import (
    BlockRateLimitConfiguration,
    MaxPerNBlocksRateLimit,
)
from v4_proto.dydxprotocol.clob.equity_tier_limit_config_pb2 import (
    EquityTierLimit,
    EquityTierLimitConfiguration,
)

if TYPE_CHECKING:
    from tests.fakes.dydx_node import FakeDydxNode


def add_servicers(node: FakeDydxNode, server: grpc.Server) -> None:
    """Serve auth Account, tendermint GetLatestBlock, tx BroadcastTx/GetTx/Simulate, accountplus,
    clob BlockRateLimitConfiguration / EquityTierLimitConfiguration."""
    auth_g.add_QueryServicer_to_server(_Auth(node), server)
    tm_g.add_ServiceServicer_to_server(_Tendermint(node), server)
    tx_g.add_ServiceServicer_to_server(_Tx(node), server)
    ap_g.add_QueryServicer_to_server(_AccountPlus(node), server)
    clob_g.add_QueryServicer_to_server(_Clob(node), server)


class _Auth(auth_g.QueryServicer):
    def __init__(self, node: FakeDydxNode) -> None:
        self.node = node

    def Account(self, request, context):  # noqa: N802 - gRPC method name
        self.node._enter("Account", context)
        account = self.node.accounts.get(request.address)
        if account is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"account {request.address} not found")
        packed = PbAny()
        packed.Pack(BaseAccount(address=account.address, account_number=account.account_number,
                                sequence=account.committed), type_url_prefix="/")
        return auth_q.QueryAccountResponse(account=packed)


class _Tendermint(tm_g.ServiceServicer):
    def __init__(self, node: FakeDydxNode) -> None:
        self.node = node

    def GetLatestBlock(self, request, context):  # noqa: N802
        self.node._enter("GetLatestBlock", context)
        response = tm_q.GetLatestBlockResponse()
        response.block.header.height = self.node.exchange.height
        response.block.header.chain_id = self.node.chain_id
        response.block.header.time.FromSeconds(int(self.node.exchange.block_time))
        response.sdk_block.header.height = self.node.exchange.height
        return response


class _Tx(tx_g.ServiceServicer):
    def __init__(self, node: FakeDydxNode) -> None:
        self.node = node

    def BroadcastTx(self, request, context):  # noqa: N802
        fault = self.node._enter("BroadcastTx", context)
        response = self.node.broadcast(request.tx_bytes, fault)
        if fault is not None and fault.kind in ("timeout", "timeout_evicted"):
            time.sleep(self.node.timeout_sleep)  # processed, but the client stops waiting
        return tx_s.BroadcastTxResponse(tx_response=response)

    def GetTx(self, request, context):  # noqa: N802
        self.node._enter("GetTx", context)
        found = self.node.get_tx(request.hash)
        if found is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"tx not found: {request.hash}")
        tx = Tx()
        if found.tx_bytes:
            raw = TxRaw.FromString(found.tx_bytes)
            tx = Tx(body=TxBody.FromString(raw.body_bytes),
                    auth_info=AuthInfo.FromString(raw.auth_info_bytes), signatures=list(raw.signatures))
        response = TxResponse(height=found.height, txhash=found.tx_hash, code=found.code,
                              codespace=found.codespace, raw_log=found.log)
        return tx_s.GetTxResponse(tx=tx, tx_response=response)

    def Simulate(self, request, context):  # noqa: N802
        self.node._enter("Simulate", context)
        return tx_s.SimulateResponse(gas_info=GasInfo(gas_used=100_000))


class _AccountPlus(ap_g.QueryServicer):
    def __init__(self, node: FakeDydxNode) -> None:
        self.node = node

    def GetAuthenticators(self, request, context):  # noqa: N802
        self.node._enter("GetAuthenticators", context)
        found = self.node.authenticators.get(request.account, [])
        return ap_q.GetAuthenticatorsResponse(account_authenticators=[
            AccountAuthenticator(id=a.id, type=a.type, config=a.config) for a in found])


def _serializable_int(value: int) -> bytes:
    # protocol/dtypes/serializable_int.go Marshal: Go's big.Int GobEncode, version 1 (byte 1 = 1<<1 | sign)
    magnitude = abs(value)
    return bytes([2 | (value < 0)]) + magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")


class _Clob(clob_g.QueryServicer):
    """x/clob/keeper/grpc_query_block_rate_limit_configuration.go and grpc_query_equity_tier_limit_config.go:
    the configurations in state (the node's `stateful_limits`, the exchange's `equity_tiers`); every
    other clob query is UNIMPLEMENTED here."""

    def __init__(self, node: FakeDydxNode) -> None:
        self.node = node

    def BlockRateLimitConfiguration(self, request, context):  # noqa: N802
        self.node._enter("BlockRateLimitConfiguration", context)
        limits = [MaxPerNBlocksRateLimit(num_blocks=b, limit=n) for b, n in self.node.stateful_limits]
        return clob_q.QueryBlockRateLimitConfigurationResponse(
            block_rate_limit_config=BlockRateLimitConfiguration(max_stateful_orders_per_n_blocks=limits))

    def EquityTierLimitConfiguration(self, request, context):  # noqa: N802
        self.node._enter("EquityTierLimitConfiguration", context)
        tiers = [EquityTierLimit(usd_tnc_required=_serializable_int(int(usd.scaleb(6))), limit=n)
                 for usd, n in self.node.exchange.equity_tiers]
        return clob_q.QueryEquityTierLimitConfigurationResponse(
            equity_tier_limit_config=EquityTierLimitConfiguration(stateful_order_equity_tiers=tiers))
