"""What an on-chain dYdX authenticator lets a key sign, worked out the way the chain evaluates it.

Everything here follows dydxprotocol/v4-chain (commit 84d4664), under protocol/x/accountplus/:
- ante/ante.go: each message of a tx is authenticated on its own by the selected authenticator of
  the message's signer (the subaccount owner), with the tx's one signature;
- authenticator/all_of.go: AllOf passes when every sub-authenticator passes the same request;
- authenticator/any_of.go: AnyOf passes as soon as one sub-authenticator does;
- types/iface.go + any_of.go/all_of.go `Initialize`: a composite's config is a JSON list of
  `SubAuthenticatorInitData{type, config []byte}` (Go's encoding/json: config is base64 text or a
  list of byte values, keys match case-insensitively, the last duplicate wins), with at least 2 entries;
- authenticator/signature_authenticator.go: passes when the signature verifies under its key;
- authenticator/message_filter.go: config split on "," (constants.go); passes when
  `sdk.MsgTypeURL(msg)` is in the list (cosmos-sdk types/tx_msg.go: always "/" + the proto name);
- authenticator/subaccount_filter.go and clob_pair_id_filter.go: config split on ",", each a
  base-10 uint32 (`strconv.ParseUint`, else Initialize fails); they check MsgPlaceOrder,
  MsgCancelOrder and MsgBatchCancel only and let every other message through;
- app/app.go: the registered types are exactly AllOf, AnyOf, SignatureVerification,
  MessageFilter, ClobPairIdFilter and SubaccountFilter;
- keeper/authenticators.go: a stored authenticator that fails Initialize fails every tx.
Composite ids are the chain's own (`compositeId`: "7.1.0" is sub 0 of sub 1 of authenticator 7).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, TypeVar

PLACE_ORDER = "/dydxprotocol.clob.MsgPlaceOrder"
CANCEL_ORDER = "/dydxprotocol.clob.MsgCancelOrder"
BATCH_CANCEL = "/dydxprotocol.clob.MsgBatchCancel"
# the messages a trading key may sign; SubaccountFilter checks exactly these (subaccount_filter.go)
TRADING_MESSAGES = frozenset({PLACE_ORDER, CANCEL_ORDER, BATCH_CANCEL})
COMPOSITES = ("AllOf", "AnyOf")
MAX_BRANCHES = 256  # ways to succeed we are willing to enumerate; real keys have one or a few
MAX_DEPTH = 16
_UINT = re.compile(r"[0-9]+")


class MalformedAuthenticator(ValueError):
    """The chain could not initialise this authenticator (so it authorizes nothing), or it is
    too large to check. The message names the sub-authenticator, never key bytes."""


@dataclass(frozen=True)
class Branch:
    """One way the authenticator can succeed: every one of its leaves must pass.

    Attributes:
        leaves: What the branch consists of, e.g. ("7.0 SignatureVerification(this key)", ...).
        keys: Public keys whose SignatureVerification must all pass with the one signature.
        messages: Type URLs its MessageFilters let through (intersection); None: no MessageFilter.
        subaccounts: Subaccount numbers its SubaccountFilters let through for the three clob
            messages; None: no SubaccountFilter.
        clob_pairs: Clob pair ids its ClobPairIdFilters let through; None: no such filter.
    """

    leaves: tuple[str, ...]
    keys: frozenset[bytes] = frozenset()
    messages: frozenset[str] | None = None
    subaccounts: frozenset[int] | None = None
    clob_pairs: frozenset[int] | None = None

    def join(self, other: Branch) -> Branch:
        """Both branches at once (AllOf): every condition of each."""
        return Branch(self.leaves + other.leaves, self.keys | other.keys,
                      _meet(self.messages, other.messages), _meet(self.subaccounts, other.subaccounts),
                      _meet(self.clob_pairs, other.clob_pairs))

    @property
    def passable_messages(self) -> frozenset[str] | None:
        """The type URLs some message can pass this branch with (None: every type).

        A filter entry that does not start with "/" matches nothing (a type URL always does).
        When the clob pair filters leave no pair, MsgPlaceOrder and MsgCancelOrder (one pair
        each) cannot pass; a MsgBatchCancel without short-term cancels still can.
        """
        if self.messages is None:
            return None
        found = frozenset(m for m in self.messages if m.startswith("/"))
        if self.clob_pairs is not None and not self.clob_pairs:
            found -= {PLACE_ORDER, CANCEL_ORDER}
        return found

    @property
    def dead(self) -> bool:
        """True when no message at all can pass this branch."""
        if len(self.keys) > 1:
            return True  # the one signature of the tx cannot verify under two different keys
        found = self.passable_messages
        if found is None:
            return False  # messages outside the clob three pass SubaccountFilter unchecked
        if not found:
            return True
        return found <= TRADING_MESSAGES and self.subaccounts is not None and not self.subaccounts


_E = TypeVar("_E")


def _meet(a: frozenset[_E] | None, b: frozenset[_E] | None) -> frozenset[_E] | None:
    if a is None:
        return b
    return a if b is None else a & b


def _short(type_url: str) -> str:
    # the clob three by name; anything else as the chain spells it, cut short for the page
    return type_url.rsplit(".", 1)[-1] if type_url in TRADING_MESSAGES else type_url[:80]


def branches(kind: str, config: bytes, public_key: bytes, path: str = "root") -> list[Branch]:
    """Every way an authenticator can succeed (its AllOf/AnyOf tree in disjunctive form).

    Args:
        kind: `AccountAuthenticator.type`.
        config: `AccountAuthenticator.config`.
        public_key: The key we sign with; leaves name it "this key", any other "another key".
        path: The authenticator's id, to name its parts as the chain does ("7.1.0").

    Raises:
        MalformedAuthenticator: the chain could not initialise it, or it has too many branches.
    """
    return _expand(kind, bytes(config), bytes(public_key), path, 0)


def _expand(kind: str, config: bytes, public_key: bytes, path: str, depth: int) -> list[Branch]:
    if depth > MAX_DEPTH:
        raise MalformedAuthenticator(f"part {path} is nested too deeply to check")
    if kind == "SignatureVerification":
        whose = "this key" if config == public_key else "another key"
        return [Branch((f"{path} SignatureVerification({whose})",), keys=frozenset({config}))]
    if kind == "MessageFilter":
        entries = frozenset(config.decode("utf-8", "surrogateescape").split(","))
        names = sorted(_short(m) for m in entries)
        shown = ",".join(names[:5]) + (f",+{len(names) - 5} more" if len(names) > 5 else "")
        return [Branch((f"{path} MessageFilter({shown})",), messages=entries)]
    if kind == "SubaccountFilter":
        numbers = _uint32_list(config, path, kind)
        return [Branch((f"{path} SubaccountFilter({','.join(map(str, sorted(numbers)))})",),
                       subaccounts=numbers)]
    if kind == "ClobPairIdFilter":
        pairs = _uint32_list(config, path, kind)
        return [Branch((f"{path} ClobPairIdFilter({','.join(map(str, sorted(pairs)))})",), clob_pairs=pairs)]
    if kind not in COMPOSITES:
        raise MalformedAuthenticator(f"part {path} has type {kind[:40]!r}, which the chain does not register")
    children = [_expand(sub_kind, sub_config, public_key, f"{path}.{i}", depth + 1)
                for i, (sub_kind, sub_config) in enumerate(_sub_authenticators(config, path))]
    if kind == "AnyOf":
        found = [branch for child in children for branch in child]
    else:
        found = [Branch(())]
        for child in children:
            found = [done.join(branch) for done in found for branch in child]
            if len(found) > MAX_BRANCHES:
                break
    if len(found) > MAX_BRANCHES:
        raise MalformedAuthenticator(
            f"part {path} has over {MAX_BRANCHES} ways to succeed, too many to check"
        )
    return found


def _uint32_list(config: bytes, path: str, kind: str) -> frozenset[int]:
    # strconv.ParseUint(s, 10, 32) per entry: digits only, no sign, no spaces, < 2**32
    numbers = set()
    for entry in config.decode("utf-8", "surrogateescape").split(","):
        if not _UINT.fullmatch(entry) or int(entry) >= 2**32:
            raise MalformedAuthenticator(f"part {path} {kind} has an entry that is not a whole number; "
                                         "the chain cannot initialise it")
        numbers.add(int(entry))
    return frozenset(numbers)


def _sub_authenticators(config: bytes, path: str) -> list[tuple[str, bytes]]:
    """Decode a composite's config as Go's json.Unmarshal into []SubAuthenticatorInitData does."""
    try:
        entries = json.loads(config.decode("utf-8", "replace"), object_pairs_hook=list)
    except ValueError:
        raise MalformedAuthenticator(f"part {path} has a config that is not JSON") from None
    if entries is None:
        entries = []
    if not isinstance(entries, list) or any(not isinstance(e, list) for e in entries):
        raise MalformedAuthenticator(f"part {path} has a config that is not a list of sub-authenticators")
    if len(entries) <= 1:  # all_of.go / any_of.go Initialize
        raise MalformedAuthenticator(f"part {path} needs at least 2 sub-authenticators")
    decoded = []
    for i, pairs in enumerate(entries):
        fields: dict[str, Any] = {"type": "", "config": None}
        for key, value in pairs:  # Go: case-insensitive field match, later keys overwrite earlier
            if isinstance(key, str) and key.casefold() in fields:
                fields[key.casefold()] = value
        kind, raw = fields["type"], fields["config"]
        if not isinstance(kind, str):
            raise MalformedAuthenticator(f"part {path}.{i} has a type that is not text")
        decoded.append((kind, _go_bytes(raw, f"{path}.{i}")))
    return decoded


def _go_bytes(value: Any, path: str) -> bytes:
    """A JSON value decoded into Go's []byte: base64 text, a list of byte values, or null."""
    if value is None:
        return b""
    if isinstance(value, str):
        try:  # base64.StdEncoding ignores \r and \n, needs padding
            return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
        except (binascii.Error, ValueError):
            raise MalformedAuthenticator(f"part {path} has a config that is not valid base64") from None
    if isinstance(value, list) and all(type(v) is int and 0 <= v <= 255 for v in value):
        return bytes(value)
    raise MalformedAuthenticator(f"part {path} has a config that is neither base64 text nor bytes")


def trading_key_problems(kind: str, config: bytes, public_key: bytes, subaccount: int,
                         path: str = "root") -> list[str]:
    """Why `public_key` may not be used as a trading-only key for `subaccount` (empty: it may).

    Accepted only when every way the authenticator can succeed needs this key's signature, lets
    only MsgPlaceOrder/MsgCancelOrder/MsgBatchCancel through, and only for `subaccount`; and some
    way lets this key place orders and some way cancel them.

    Raises:
        MalformedAuthenticator: the chain could not initialise it (it authorizes nothing).
    """
    live = [b for b in branches(kind, config, public_key, path) if not b.dead]
    if not live:
        return ["it can never succeed: its filters leave no message through"]
    if not any(public_key in b.keys for b in live):
        return ["it does not authorize this API key (it checks the signature of another key)"]
    problems = [p for p in (_branch_problem(b, public_key, subaccount) for b in live) if p]
    if problems:
        return problems
    for needed in (PLACE_ORDER, CANCEL_ORDER):
        if not any(needed in (b.passable_messages or ()) for b in live):
            problems.append(f"it never lets this key send {_short(needed)}")
    return problems


def _branch_problem(branch: Branch, public_key: bytes, subaccount: int) -> str | None:
    where = "its branch " + " + ".join(branch.leaves)
    if not branch.keys:
        return f"{where} needs no signature at all, so anyone could use it"
    if public_key not in branch.keys:
        return f"{where} lets another key sign"
    passable = branch.passable_messages
    if passable is None:
        return f"{where} allows every message type, withdrawals and transfers included"
    extra = sorted(passable - TRADING_MESSAGES)
    if extra:
        return f"{where} also allows {', '.join(_short(m) for m in extra[:3])}" + (
            f" and {len(extra) - 3} more" if len(extra) > 3 else "")
    if branch.subaccounts is None:
        return f"{where} allows orders for every subaccount, not only subaccount {subaccount}"
    if subaccount not in branch.subaccounts:
        allowed = ", ".join(map(str, sorted(branch.subaccounts)))
        return f"{where} allows subaccount {allowed} only, not this account's subaccount {subaccount}"
    others = sorted(branch.subaccounts - {subaccount})
    if others:
        return f"{where} also allows subaccount {', '.join(map(str, others))}"
    return None
