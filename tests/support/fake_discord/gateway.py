"""Gateway websocket: HELLO, IDENTIFY/READY, RESUME with replay, heartbeats, chunks, dispatch."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .constants import API_VERSION, CloseCode, Intent, Op
from .records import GatewayFrame, WaitableLog
from .state import Json

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

# Enough history for any realistic test; older events cannot be replayed and force a fresh IDENTIFY.
_REPLAY_LIMIT = 5000


def _dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))


@dataclass
class _Marker:
    future: asyncio.Future[None]


@dataclass
class _Close:
    code: int
    reason: str
    abrupt: bool


class GatewayConnection:
    """One websocket; a single writer task keeps frames in order and lets sync code enqueue."""

    def __init__(
        self, number: int, ws: web.WebSocketResponse, request: web.Request, compress: bool
    ) -> None:
        self.number = number
        self.ws = ws
        self.request = request
        self.session: GatewaySession | None = None
        self.closing = False
        self.server_close_code: int | None = None
        self._queue: asyncio.Queue[str | _Marker | _Close] = asyncio.Queue()
        self._zlib = zlib.compressobj() if compress else None
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def send_raw(self, frame: str) -> None:
        """Queue an already-serialised payload."""
        if not self.closing:
            self._queue.put_nowait(frame)

    def send_op(self, op: int, d: Any) -> None:
        """Queue a non-dispatch payload."""
        self.send_raw(_dumps({"op": op, "d": d, "s": None, "t": None}))

    def marker(self) -> asyncio.Future[None]:
        """Future resolved once everything queued before it is written (or the socket died)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.closing:
            future.set_result(None)
        else:
            self._queue.put_nowait(_Marker(future))
        return future

    def close(self, code: int, reason: str = "", *, abrupt: bool = False) -> None:
        """Queue a close after pending frames; abrupt drops TCP without a close frame."""
        if self.closing:
            return
        self.closing = True
        self.server_close_code = code
        self._queue.put_nowait(_Close(code, reason, abrupt))

    async def wait_closed(self) -> None:
        """Wait for the writer task to finish."""
        await asyncio.shield(self._writer)

    async def _write_loop(self) -> None:
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, _Marker):
                    if not item.future.done():
                        item.future.set_result(None)
                elif isinstance(item, _Close):
                    if item.abrupt:
                        transport = self.request.transport
                        if transport is not None:
                            transport.abort()
                    else:
                        await self.ws.close(code=item.code, message=item.reason.encode())
                    return
                elif self._zlib is not None:
                    data = self._zlib.compress(item.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(item)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("gateway connection %s writer stopped: %r", self.number, exc)
        finally:
            self.closing = True
            while not self._queue.empty():
                pending = self._queue.get_nowait()
                if isinstance(pending, _Marker) and not pending.future.done():
                    pending.future.set_result(None)


class GatewaySession:
    """A gateway session: sequence numbers and the replay buffer survive reconnects (RESUME)."""

    def __init__(self, session_id: str, intents: int, shard: tuple[int, int] | None) -> None:
        self.session_id = session_id
        self.intents = intents
        self.shard = shard
        self.seq = 0
        self.buffer: deque[tuple[int, str]] = deque(maxlen=_REPLAY_LIMIT)
        self.connection: GatewayConnection | None = None
        self.invalidated = False

    def wants_guild(self, guild_id: int | None) -> bool:
        """Whether a guild's events belong to this session's shard."""
        if guild_id is None or self.shard is None:
            return True
        shard_id, shard_count = self.shard
        return (guild_id >> 22) % shard_count == shard_id

    def dispatch(self, event: str, data: Any) -> asyncio.Future[None] | None:
        """Send (or buffer for replay) an op 0 event; returns a 'written' future when connected."""
        self.seq += 1
        frame = _dumps({"op": Op.DISPATCH, "t": event, "s": self.seq, "d": data})
        self.buffer.append((self.seq, frame))
        conn = self.connection
        if conn is None or conn.closing:
            return None
        conn.send_raw(frame)
        return conn.marker()


class GatewayHub:
    """All gateway connections and sessions of one FakeDiscord."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: set[GatewayConnection] = set()
        self.frames: WaitableLog[GatewayFrame] = WaitableLog(GatewayFrame.describe)
        self.ready_sent: WaitableLog[str] = WaitableLog()
        self.resumed_sent: WaitableLog[str] = WaitableLog()
        self.connection_paths: list[str] = []
        self._numbers = 0

    # ------------------------------------------------------------- dispatching

    def live_sessions(self) -> list[GatewaySession]:
        """Sessions that can still receive events (connected or awaiting RESUME)."""
        return [s for s in self.sessions.values() if not s.invalidated]

    def dispatch(
        self,
        event: str,
        data: Json | Callable[[GatewaySession], Json | None],
        *,
        intent: int | None = None,
        guild_id: int | None = None,
    ) -> list[asyncio.Future[None]]:
        """Dispatch to every live session that subscribed to `intent` and owns `guild_id`.

        `data` may be a per-session factory (e.g. to blank content without MESSAGE_CONTENT).
        """
        futures = []
        for session in self.live_sessions():
            if intent is not None and not session.intents & intent:
                continue
            if not session.wants_guild(guild_id):
                continue
            payload = data(session) if callable(data) else data
            if payload is None:
                continue
            future = session.dispatch(event, payload)
            if future is not None:
                futures.append(future)
        return futures

    async def disconnect(self, *, resumable: bool, abrupt: bool = False) -> None:
        """Drop every connection; resumable keeps sessions (clients RESUME), else invalidates."""
        conns = [c for c in self.connections if not c.closing]
        for conn in conns:
            if resumable:
                conn.close(
                    CloseCode.UNKNOWN_ERROR, "Unknown error (fake disconnect)", abrupt=abrupt
                )
            else:
                if conn.session is not None:
                    conn.session.invalidated = True
                conn.send_op(Op.INVALID_SESSION, False)
        await asyncio.gather(*(c.marker() for c in conns))

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT on every connection (the client closes and RESUMEs)."""
        conns = [c for c in self.connections if not c.closing]
        for conn in conns:
            conn.send_op(Op.RECONNECT, None)
        await asyncio.gather(*(c.marker() for c in conns))

    async def close_all(self) -> None:
        """Close every socket with 1001 (going away) and wait for the writers."""
        conns = list(self.connections)
        for conn in conns:
            conn.close(1001, "fake discord stopping")
        await asyncio.gather(*(c.wait_closed() for c in conns), return_exceptions=True)

    # --------------------------------------------------------------- handling

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for the gateway and resume-gateway URLs."""
        ws = web.WebSocketResponse(timeout=2.0, max_msg_size=0, autoclose=True)
        await ws.prepare(request)
        self._numbers += 1
        self.connection_paths.append(request.path)
        compress = request.query.get("compress") == "zlib-stream"
        conn = GatewayConnection(self._numbers, ws, request, compress)
        self.connections.add(conn)
        conn.send_op(
            Op.HELLO,
            {"heartbeat_interval": self.fake.heartbeat_interval_ms, "_trace": ["fake-gateway"]},
        )
        try:
            async for msg in ws:
                if conn.closing:
                    continue
                if msg.type is not WSMsgType.TEXT:
                    conn.close(CloseCode.DECODE_ERROR, "Error while decoding payload.")
                    continue
                try:
                    payload = json.loads(msg.data)
                    op = int(payload["op"])
                except (ValueError, KeyError, TypeError):
                    conn.close(CloseCode.DECODE_ERROR, "Error while decoding payload.")
                    continue
                d = payload.get("d")
                self.frames.append(GatewayFrame(conn.number, op, d))
                try:
                    self._on_payload(conn, op, d)
                except Exception as exc:
                    log.exception("FakeDiscord gateway error handling op %s", op)
                    self.fake.internal_errors.append(exc)
                    conn.close(CloseCode.UNKNOWN_ERROR, "FakeDiscord internal error")
        finally:
            self._detach(conn, ws.close_code)
            conn.close(1000)
            await conn.wait_closed()
            self.connections.discard(conn)
        return ws

    def _detach(self, conn: GatewayConnection, close_code: int | None) -> None:
        session = conn.session
        if session is None or session.connection is not conn:
            return
        session.connection = None
        client_initiated = conn.server_close_code is None
        # A clean close from the client ends the session, exactly like Discord.
        if client_initiated and close_code in (1000, 1001):
            session.invalidated = True

    def _on_payload(self, conn: GatewayConnection, op: int, d: Any) -> None:
        if op == Op.HEARTBEAT:
            conn.send_op(Op.HEARTBEAT_ACK, None)
        elif op == Op.IDENTIFY:
            self._identify(conn, d or {})
        elif op == Op.RESUME:
            self._resume(conn, d or {})
        elif conn.session is None:
            conn.close(CloseCode.NOT_AUTHENTICATED, "Not authenticated.")
        elif op == Op.REQUEST_GUILD_MEMBERS:
            self._request_members(conn.session, d or {})
        elif op in (Op.PRESENCE_UPDATE, Op.VOICE_STATE_UPDATE):
            pass  # recorded in frames; nothing to simulate
        else:
            conn.close(CloseCode.UNKNOWN_OPCODE, "Unknown opcode.")

    def _authenticated(self, conn: GatewayConnection, d: Json) -> bool:
        """Whether an IDENTIFY/RESUME may go on; closes the socket as Discord does when not."""
        if conn.session is not None:
            conn.close(CloseCode.ALREADY_AUTHENTICATED, "Already authenticated.")
            return False
        if self.fake.reject_token or d.get("token") != self.fake.token:
            conn.close(CloseCode.AUTHENTICATION_FAILED, "Authentication failed.")
            return False
        return True

    def _identify(self, conn: GatewayConnection, d: Json) -> None:
        fake = self.fake
        if not self._authenticated(conn, d):
            return
        intents = d.get("intents")
        # Accept any plausible bit so newer discord.py intents don't trip the fake.
        if not isinstance(intents, int) or not 0 <= intents < 1 << 30:
            conn.close(CloseCode.INVALID_INTENTS, "Invalid intent(s).")
            return
        if fake.reject_intents and intents & Intent.PRIVILEGED:
            conn.close(CloseCode.DISALLOWED_INTENTS, "Disallowed intent(s).")
            return
        shard: tuple[int, int] | None = None
        if d.get("shard") is not None:
            shard_id, shard_count = (int(x) for x in d["shard"])
            if not 0 <= shard_id < shard_count:
                conn.close(CloseCode.INVALID_SHARD, "Invalid shard.")
                return
            shard = (shard_id, shard_count)

        session = GatewaySession(uuid.uuid4().hex, intents, shard)
        self.sessions[session.session_id] = session
        conn.session = session
        session.connection = conn

        world = fake.world
        guild_ids = [g for g in world.guilds if session.wants_guild(g)]
        user = world.bot_user.payload()
        user.update(verified=True, mfa_enabled=False, email=None, locale="en-US", flags=0)
        ready: Json = {
            "v": API_VERSION,
            "user": user,
            "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": fake.resume_gateway_url,
            "application": {"id": str(fake.application_id), "flags": fake.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": ["local"],
            "_trace": ["fake-gateway"],
        }
        if shard is not None:
            ready["shard"] = list(shard)
        session.dispatch("READY", ready)
        for guild_id in guild_ids:
            # Like Discord, only the bot's member is inlined; GUILD_MEMBERS clients chunk the rest.
            session.dispatch(
                "GUILD_CREATE", world.guild_create_payload(guild_id, member_ids=[world.bot_user.id])
            )
        conn.marker().add_done_callback(lambda _: self.ready_sent.append(session.session_id))

    def _resume(self, conn: GatewayConnection, d: Json) -> None:
        if not self._authenticated(conn, d):
            return
        session = self.sessions.get(str(d.get("session_id")))
        seq = int(d.get("seq") or 0)
        oldest = session.buffer[0][0] if session and session.buffer else 1
        if session is None or session.invalidated or seq > session.seq or seq + 1 < oldest:
            conn.send_op(Op.INVALID_SESSION, False)
            return
        previous = session.connection
        if previous is not None and previous is not conn:
            previous.close(CloseCode.UNKNOWN_ERROR, "Session resumed elsewhere.")
        conn.session = session
        session.connection = conn
        for frame_seq, frame in session.buffer:
            if frame_seq > seq:
                conn.send_raw(frame)
        session.dispatch("RESUMED", {"_trace": ["fake-gateway"]})
        conn.marker().add_done_callback(lambda _: self.resumed_sent.append(session.session_id))

    def _request_members(self, session: GatewaySession, d: Json) -> None:
        world = self.fake.world
        raw_ids = d.get("guild_id")
        guild_ids = raw_ids if isinstance(raw_ids, list) else [raw_ids]
        for raw in guild_ids:
            guild = world.guilds.get(int(raw)) if raw is not None else None
            if guild is None:
                continue
            wanted = (
                {int(u) for u in d.get("user_ids") or []} if d.get("user_ids") is not None else None
            )
            query = (d.get("query") or "").lower()
            limit = int(d.get("limit") or 0)
            members = []
            for user_id, member in guild.members.items():
                if wanted is not None and user_id not in wanted:
                    continue
                user = world.users[user_id]
                names = [user.username.lower(), (member.nick or "").lower()]
                if query and not any(n.startswith(query) for n in names):
                    continue
                members.append(world.member_payload(guild.id, user_id))
            if limit and wanted is None:
                members = members[:limit]
            found = {int(m["user"]["id"]) for m in members}
            chunk: Json = {
                "guild_id": str(guild.id),
                "members": members,
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [str(u) for u in (wanted or set()) - found],
            }
            if d.get("presences"):
                chunk["presences"] = []
            if d.get("nonce") is not None:
                chunk["nonce"] = d["nonce"]
            session.dispatch("GUILD_MEMBERS_CHUNK", chunk)
