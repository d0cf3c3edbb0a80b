"""`RobotHost`: serves one driver to one remote client over ZeroMQ (`saycan serve-robot`).

Two threads: the network thread answers every message at once (hellos, heartbeats, refusals)
and keeps the watchdog; the driver thread runs the driver's calls one at a time, so a motion
that takes seconds never delays a heartbeat. The watchdog latches the e-stop when the client's
session falls silent for `heartbeat_timeout_s`: a `Haltable` driver is halted mid-motion, and
every later motion of that session is refused; a new session (the operator reconnects)
starts unlatched. Ground truth and scene control cross the wire only in `debug` mode.
"""

from __future__ import annotations

import heapq
import json
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import zmq

from saycan.drivers import wire
from saycan.drivers.base import Haltable, RobotDriver, SimulatorExtras
from saycan.drivers.types import DeclaresWorkcell, MotionResult, MotionStatus
from saycan.errors import ConfigError, DriverError, MotionHalted, SayCanError

#: Operations that move the arm: refused while the e-stop is latched.
MOTION_OPS = frozenset({"move_to_pose", "set_gripper", "home"})
#: Requests that may wait for the driver thread at once (the client asks one at a time; a
#: peer that floods the queue is refused rather than growing it without end).
MAX_PENDING = 8
#: Refusals written to the record per second (the rest are counted, not written).
REFUSALS_PER_S = 20
#: Operations only a host in simulation-debug mode answers (ground truth, scene control).
DEBUG_OPS = frozenset(
    {"reset_scene", "ground_truth", "video_frames", "set_render_images", "teleport_object"}
)


class RobotHost:
    """Serve `driver` (connected here) on `tcp://bind:port`; `port=0` picks a free port."""

    def __init__(
        self,
        driver: RobotDriver,
        *,
        token: str,
        bind: str = "127.0.0.1",
        port: int = 5555,
        heartbeat_timeout_s: float = 2.0,
        debug: bool = False,
        delay_s: float = 0.0,
        log_path: Path | None = None,
    ) -> None:
        if len(token) < 8:
            raise ConfigError("the robot token must be at least 8 characters")
        # a NaN timeout would never be exceeded: the watchdog would never latch the e-stop
        heartbeat_timeout_s = wire.seconds(
            "heartbeat_timeout_s", heartbeat_timeout_s, positive=True
        )
        delay_s = wire.seconds("delay_s", delay_s, positive=False)
        if not isinstance(debug, bool):  # `debug=no` is the string "no", which bool() reads as yes
            raise ConfigError(f"debug must be true or false, got {debug!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(
                f"port must be a whole number in [0, 65535] (0: a free one), got {port!r}"
            )
        self.driver = driver
        self._token = token
        self.sim: SimulatorExtras | None = driver if isinstance(driver, SimulatorExtras) else None
        if debug and self.sim is None:
            raise ConfigError(f"debug=true serves simulator extras, and {driver.name} has none")
        self.debug = bool(debug)
        self.haltable: Haltable | None = driver if isinstance(driver, Haltable) else None
        self.cell = driver.workcell if isinstance(driver, DeclaresWorkcell) else None
        self.heartbeat_timeout_s = float(heartbeat_timeout_s)
        self.delay_s = float(delay_s)
        self.log_path = log_path
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.MAXMSGSIZE, wire.MAX_MESSAGE_BYTES)
        address = f"tcp://{bind}"
        try:
            self.port = self._sock.bind_to_random_port(address) if port == 0 else port
            if port != 0:
                self._sock.bind(f"{address}:{port}")
        except zmq.ZMQError as exc:  # no such interface, the port taken, no permission
            self._sock.close(0)
            self._ctx.term()
            raise ConfigError(
                f"serve-robot cannot listen on {address}:{port}: {exc.strerror}"
            ) from None
        self.address = f"{address}:{self.port}"
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="robot-driver")
        self._pending: list[tuple[bytes, int, Future]] = []
        self._outbox: list[tuple[float, int, bytes, bytes]] = []  # (due, seq, ident, payload)
        self._seq = 0
        self.session: str | None = None
        self._last_seen = 0.0
        self.estop: str | None = None  # why the e-stop is latched (None: not latched)
        self._stop = threading.Event()
        self._refusal_window, self._refusals, self._refusals_unlogged = 0.0, 0, 0

    # -- the log ---------------------------------------------------------------------------
    def log(self, event: str, **fields: Any) -> None:
        """One JSON line per event in the host's own record (never the token)."""
        if self.log_path is None:
            return
        # a client's bytes or ext values are recorded by size: the record never fails to write
        line = json.dumps(
            {"t": round(time.time(), 3), "event": event, **fields}, default=_json_safe
        )
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def _log_refusal(self, **fields: Any) -> None:
        """A refusal in the record, at most REFUSALS_PER_S a second: a peer without the token
        can send messages as fast as the network carries them, and must not fill the disk.
        The refusals left out are counted in the next line that is written."""
        now = time.monotonic()
        if now - self._refusal_window >= 1.0:
            self._refusal_window, self._refusals = now, 0
        self._refusals += 1
        if self._refusals > REFUSALS_PER_S:
            self._refusals_unlogged += 1
            return
        unlogged, self._refusals_unlogged = self._refusals_unlogged, 0
        self.log("refused", **fields, **({"unlogged_before": unlogged} if unlogged else {}))

    def _log_ground_truth(self, why: str) -> None:
        """The world as the simulator knows it, kept on this machine (never sent unless debug)."""
        if self.sim is not None:
            future = self._worker.submit(self.sim.ground_truth)
            states = future.result()
            self.log("ground_truth", why=why, objects=[wire.state_dict(s) for s in states])

    # -- serving ---------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def serve(self, ready: Callable[[], None] | None = None) -> None:
        """Answer messages until `stop()`; `ready` runs once the socket listens."""
        self.log(
            "start",
            address=self.address,
            driver=self.driver.name,
            debug=self.debug,
            heartbeat_timeout_s=self.heartbeat_timeout_s,
            delay_s=self.delay_s,
        )
        self._log_ground_truth("start")
        if ready is not None:
            ready()
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                if dict(poller.poll(5)).get(self._sock):
                    while self._sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                        frames = self._sock.recv_multipart()
                        if len(frames) == 2:
                            self._answer(frames[0], frames[1])
                self._collect()
                self._watchdog()
                self._flush()
        finally:
            if self.session is not None:
                self._end_session("host stopped")
            self._worker.shutdown(wait=True)
            self._sock.close(0)
            self._ctx.term()
            self.log("stop")

    def _reply(self, ident: bytes, msg_id: Any, **fields: Any) -> None:
        payload = wire.pack({"v": wire.PROTOCOL_VERSION, "id": msg_id, **fields})
        self._seq += 1
        heapq.heappush(self._outbox, (time.monotonic() + self.delay_s, self._seq, ident, payload))

    def _error(self, ident: bytes, msg_id: Any, kind: str, message: str) -> None:
        self._reply(ident, msg_id, ok=False, error=kind, message=message)

    def _flush(self) -> None:
        now = time.monotonic()
        while self._outbox and self._outbox[0][0] <= now:
            _, _, ident, payload = heapq.heappop(self._outbox)
            self._sock.send_multipart([ident, payload])

    # -- one message -----------------------------------------------------------------------
    def _answer(self, ident: bytes, raw: bytes) -> None:
        """`_handle`, kept from ever ending the loop: this thread is also the e-stop's watchdog,
        so a message no check foresaw is refused and recorded, and the host keeps serving."""
        try:
            self._handle(ident, raw)
        except Exception as exc:  # noqa: BLE001 - the watchdog must outlive any one message
            self.log("handler_exception", error=f"{type(exc).__name__}: {exc}")
            self._error(ident, None, "protocol", f"message refused ({type(exc).__name__})")

    def _handle(self, ident: bytes, raw: bytes) -> None:
        try:
            msg = wire.unpack(raw)
        except wire.ProtocolError as exc:
            self._log_refusal(reason="protocol", message=str(exc))
            # answered in this version, so the other end can say what is wrong
            self._error(ident, None, "protocol", str(exc))
            return
        msg_id, op = msg.get("id"), msg.get("op")
        if not wire.token_matches(msg.get("token"), self._token):
            self._log_refusal(reason="token", op=wire.short_repr(op))
            self._error(ident, msg_id, "unauthorized", "wrong token: refused, nothing was done")
            return
        shape = wire.request_shape_error(msg)
        if shape is not None:
            self._log_refusal(reason="protocol", message=shape)
            self._error(ident, msg_id, "protocol", shape)
            return
        if op == "hello":
            self._hello(ident, msg_id)
            return
        if op == "describe":  # what the host offers, without opening a session
            self._reply(ident, msg_id, ok=True, result=self._offer())
            return
        if self.session is None or msg.get("session") != self.session:
            self._error(ident, msg_id, "no_session", "no session: connect (hello) first")
            return
        self._last_seen = time.monotonic()
        if op == "heartbeat":
            self._reply(ident, msg_id, ok=True, result={"estop": self.estop})
        elif op == "bye":
            self._end_session("client said bye")
            self._reply(ident, msg_id, ok=True, result=None)
        elif op in MOTION_OPS and self.estop is not None:
            self._error(
                ident,
                msg_id,
                "estop_latched",
                f"e-stop latched ({self.estop}); motion refused until the client reconnects",
            )
        elif op in DEBUG_OPS and not self.debug:
            self._error(
                ident,
                msg_id,
                "not_offered",
                f"{op} is offered only by a host started with debug=true (simulation-debug mode)",
            )
        elif op in _CALLS:
            args = msg.get("args") or {}
            if op in MOTION_OPS:  # the audit trail of everything the arm was told to do
                self.log("motion", op=op, args=args)
            if len(self._pending) >= MAX_PENDING:
                self._error(
                    ident,
                    msg_id,
                    "busy",
                    f"{MAX_PENDING} requests already wait for the arm: refused, nothing was done",
                )
                return
            future = self._worker.submit(self._run, op, self.session, args)
            self._pending.append((ident, msg_id, future))
        else:
            self._error(ident, msg_id, "unknown_op", f"unknown operation {wire.short_repr(op)}")

    def _hello(self, ident: bytes, msg_id: Any) -> None:
        now = time.monotonic()
        if (
            self.session is not None
            and self.estop is None
            and now - self._last_seen < self.heartbeat_timeout_s
        ):
            self._error(ident, msg_id, "busy", "another client holds this robot")
            return
        if self.session is not None:
            self._end_session("replaced by a new session")  # waits for the arm's current call
        # the new session's silence counts from now, not from before that wait
        self.session, self._last_seen, self.estop = secrets.token_hex(8), time.monotonic(), None
        if self.haltable is not None:
            self.haltable.clear_halt()
        self.log("session_start", session=self.session)
        self._reply(ident, msg_id, ok=True, result={"session": self.session, **self._offer()})

    def _offer(self) -> dict[str, Any]:
        return {
            "name": self.driver.name,
            "is_physical": bool(self.driver.is_physical),
            "workcell": wire.workcell_dict(self.cell),
            "debug": self.debug,
            "heartbeat_timeout_s": self.heartbeat_timeout_s,
        }

    def _end_session(self, why: str) -> None:
        # ended first: a motion still queued behind the arm sees it and never starts
        ended, self.session = self.session, None
        self._log_ground_truth(why)  # before session_end: a reader of that event finds it
        self.log("session_end", session=ended, why=why)

    def _collect(self) -> None:
        """Replies for the driver calls that finished."""
        still = []
        for ident, msg_id, future in self._pending:
            if not future.done():
                still.append((ident, msg_id, future))
                continue
            exc = future.exception()
            if exc is None:
                self._reply(ident, msg_id, ok=True, result=future.result())
            elif isinstance(exc, MotionHalted):
                self.log("halted", joint_speed_before=exc.speed_before, joint_speed=exc.joint_speed)
                result = MotionResult(MotionStatus.REFUSED, 0, None, f"e-stop: {exc}")
                self._reply(ident, msg_id, ok=True, result=wire.motion_dict(result))
            elif isinstance(
                exc, (SayCanError, wire.ProtocolError, ValueError, KeyError, TypeError)
            ):
                self._error(ident, msg_id, "driver_error", f"{type(exc).__name__}: {exc}")
            else:
                self.log("driver_exception", error=f"{type(exc).__name__}: {exc}")
                self._error(ident, msg_id, "driver_error", f"{type(exc).__name__}: {exc}")
        self._pending = still

    def _watchdog(self) -> None:
        if self.session is None or self.estop is not None:
            return
        silent = time.monotonic() - self._last_seen
        if silent > self.heartbeat_timeout_s:
            self.estop = f"client silent for {silent:.2f} s"
            if self.haltable is not None:
                self.haltable.halt()
            self.log(
                "estop",
                session=self.session,
                silent_s=round(silent, 3),
                halted=self.haltable is not None,
            )

    # -- the calls the driver thread runs ------------------------------------------------------
    def _run(self, op: str, session: str, args: dict) -> Any:
        """One call, on the driver thread. A motion that waited behind another is checked again
        when its turn comes: one asked for before an e-stop latched or its session ended never
        starts."""
        if op in MOTION_OPS and (self.estop is not None or self.session != session):
            why = (
                f"e-stop latched ({self.estop})" if self.estop is not None else "its session ended"
            )
            raise DriverError(f"{why} before this motion started: refused, nothing moved")
        return _CALLS[op](self, args)

    def _move(self, args: dict) -> dict:
        pose = wire.pose_from(args.get("pose"))
        stop = wire.flag_from(args, "stop_on_contact", False)
        problem = wire.pose_problem(pose)
        if problem is not None:  # a typed failure, as every driver answers it
            res = MotionResult(MotionStatus.REFUSED, 0, None, f"{problem}: refused")
        elif self.cell is not None and not self.cell.contains(
            pose.position, below=0.02 if stop else 0.0
        ):
            # the host's own check, whatever the client's safety gate says
            res = MotionResult(MotionStatus.REFUSED, 0, None, f"target outside {self.cell.text()}")
        else:
            res = self.driver.motion.move_to_pose(
                pose, max_steps=wire.steps_from(args, 2000), stop_on_contact=stop
            )
        return wire.motion_dict(res)

    def _gripper(self, args: dict) -> dict:
        res = self.driver.motion.set_gripper(
            wire.flag_from(args, "closed"), max_steps=wire.steps_from(args, 500)
        )
        return wire.gripper_dict(res)

    def _home(self, args: dict) -> dict:
        return wire.motion_dict(self.driver.motion.home(max_steps=wire.steps_from(args, 3000)))

    def _reachable(self, args: dict) -> bool:
        pose = wire.pose_from(args.get("pose"))
        return wire.pose_problem(pose) is None and bool(self.driver.motion.is_reachable(pose))

    def _observe(self, args: dict) -> dict:
        return wire.observation_dict(self.driver.get_observation(), ground_truth=self.debug)

    # debug mode only (checked in _handle)
    def _reset_scene(self, args: dict) -> None:
        objects = [wire.spec_from(d) for d in args["objects"]]
        self.sim.reset_scene(
            objects, seed=int(args["seed"]), record_video=bool(args.get("record_video"))
        )

    def _ground_truth(self, args: dict) -> list:
        return [wire.state_dict(s) for s in self.sim.ground_truth()]

    def _video_frames(self, args: dict) -> list:
        return [wire.png_bytes(f) for f in self.sim.video_frames()]

    def _render(self, args: dict) -> None:
        self.sim.set_render_images(bool(args["render"]))

    def _teleport(self, args: dict) -> int:
        return int(
            self.sim.teleport_object(str(args["name"]), tuple(float(v) for v in args["position"]))
        )


def _json_safe(value: Any) -> str:
    return f"<{len(value)} bytes>" if isinstance(value, bytes) else f"<{type(value).__name__}>"


#: Each operation the driver thread runs, by name (data, not a chain of ifs).
_CALLS: dict[str, Callable[[RobotHost, dict], Any]] = {
    "get_observation": RobotHost._observe,
    "move_to_pose": RobotHost._move,
    "set_gripper": RobotHost._gripper,
    "home": RobotHost._home,
    "is_reachable": RobotHost._reachable,
    "reset_scene": RobotHost._reset_scene,
    "ground_truth": RobotHost._ground_truth,
    "video_frames": RobotHost._video_frames,
    "set_render_images": RobotHost._render,
    "teleport_object": RobotHost._teleport,
}
