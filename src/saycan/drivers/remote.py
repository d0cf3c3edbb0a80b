"""`RemoteDriver`: a robot served by `saycan serve-robot` on another computer (`robot=remote`).

ZeroMQ's own pings (answered by libzmq's threads, never delayed by a busy interpreter) watch
the connection: when the host dies or leaves pings unanswered for `host_timeout_s`, the call
waiting (or the next one) raises `DisconnectedError`. A heartbeat thread keeps the session
alive on the host and hears of its e-stop; its answers missing for `host_silence_s` (a host
whose process answers pings but not messages) is a lost host too, and the episode ends
`disconnected` with its files written. Every call has a deadline. `RemoteSimDriver`
(`robot=remote_sim`) adds the simulator extras for a host in simulation-debug mode; the plain
client declares only what every robot offers.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import zmq

from saycan.drivers import wire
from saycan.drivers.types import (
    GripperResult,
    MotionResult,
    ObjectState,
    Observation,
    Pose,
    Vec3,
    Workcell,
)
from saycan.errors import ConfigError, DisconnectedError, DriverError, SayCanError
from saycan.sim.scene_spec import ObjectSpec

#: Slices a waiting call polls in, checking the heartbeat between them.
POLL_S = 0.02


class _Link:
    """One DEALER socket and the request/reply bookkeeping on it (one thread uses it)."""

    def __init__(
        self, ctx: zmq.Context, address: str, ping: tuple[float, float] | None = None
    ) -> None:
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, wire.MAX_REPLY_BYTES)
        self.monitor = None
        if ping is not None:
            # ZeroMQ's own pings, answered by libzmq's I/O threads on both ends: a busy Python
            # (a model, a physics step) never misses one, and a host process that dies or
            # stops answering them drops the connection, which the monitor reports.
            interval, timeout = (max(1, int(v * 1000)) for v in ping)
            self.sock.setsockopt(zmq.HEARTBEAT_IVL, interval)
            self.sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, timeout)
            self.sock.setsockopt(zmq.HEARTBEAT_TTL, timeout)
            self.monitor = self.sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self.sock.connect(address)
        self.ids = itertools.count(1)

    def dropped(self) -> bool:
        """The connection to the host was lost (closed, or its pings went unanswered)."""
        if self.monitor is None:
            return False
        lost = False
        while self.monitor.poll(0):
            self.monitor.recv_multipart()
            lost = True
        return lost

    def send(self, message: dict[str, Any]) -> int:
        msg_id = next(self.ids)
        self.sock.send(wire.pack({"v": wire.PROTOCOL_VERSION, "id": msg_id, **message}))
        return msg_id

    def receive(
        self, msg_id: int, timeout_s: float, *, any_reply: bool = False
    ) -> dict[str, Any] | None:
        """The reply to `msg_id` within `timeout_s` (older replies are dropped; with
        `any_reply`, the first reply to any request on this link), else None."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            if not self.sock.poll(max(1, int(left * 1000))):
                return None
            reply = wire.unpack(self.sock.recv(), wire.MAX_REPLY_BYTES)
            if any_reply or reply.get("id") == msg_id or reply.get("id") is None:
                return reply
        return None

    def close(self) -> None:
        if self.monitor is not None:
            self.sock.disable_monitor()
            self.monitor.close(0)
        self.sock.close(0)


class _Heartbeat(threading.Thread):
    """Sends a heartbeat every `interval_s` and records how long the host leaves one unanswered."""

    def __init__(
        self, ctx: zmq.Context, address: str, auth: dict[str, Any], interval_s: float
    ) -> None:
        super().__init__(daemon=True, name="robot-heartbeat")
        self.link = _Link(ctx, address)
        self.auth = auth
        self.interval_s = interval_s
        self.waiting_since: float | None = None  # when the oldest unanswered heartbeat left
        self.lost: str | None = None  # the host's word that the session is over (e-stop, ...)
        self._quit = threading.Event()

    def run(self) -> None:
        try:
            while not self._quit.is_set():
                if self.waiting_since is None:
                    self.waiting_since = time.monotonic()
                msg_id = self.link.send({**self.auth, "op": "heartbeat"})
                # any heartbeat's answer will do: under latency it arrives after the next beat
                reply = self.link.receive(msg_id, self.interval_s, any_reply=True)
                if reply is not None:
                    answered = time.monotonic()
                    self.waiting_since = None
                    if not reply.get("ok"):
                        self.lost = f"{reply.get('error')}: {reply.get('message')}"
                    elif reply["result"].get("estop"):
                        self.lost = f"the host latched its e-stop ({reply['result']['estop']})"
                    self._quit.wait(max(0.0, self.interval_s - (time.monotonic() - answered)))
        except (zmq.ZMQError, wire.ProtocolError) as exc:
            self.lost = f"heartbeat failed: {exc}"
        finally:
            self.link.close()

    def silent_for(self) -> float:
        """How long a heartbeat has gone unanswered (0 when none is waiting): counted from
        the send, so a thread merely starved of the GIL between beats is not a lost host."""
        since = self.waiting_since
        return 0.0 if since is None else time.monotonic() - since

    def stop(self) -> None:
        self._quit.set()


class RemoteMotion:
    """`MotionInterface` over the wire: each call is one request, answered when it ends."""

    def __init__(self, driver: RemoteDriver) -> None:
        self._driver = driver

    def move_to_pose(
        self, pose: Pose, *, max_steps: int = 2000, stop_on_contact: bool = False
    ) -> MotionResult:
        args = {
            "pose": wire.pose_dict(pose),
            "max_steps": int(max_steps),
            "stop_on_contact": bool(stop_on_contact),
        }
        return wire.motion_from(self._driver.call("move_to_pose", args))

    def set_gripper(self, closed: bool, *, max_steps: int = 500) -> GripperResult:
        return wire.gripper_from(
            self._driver.call("set_gripper", {"closed": bool(closed), "max_steps": int(max_steps)})
        )

    def home(self, *, max_steps: int = 3000) -> MotionResult:
        return wire.motion_from(self._driver.call("home", {"max_steps": int(max_steps)}))

    def is_reachable(self, pose: Pose) -> bool:
        return bool(self._driver.call("is_reachable", {"pose": wire.pose_dict(pose)}))


class RemoteDriver:
    """A `RobotDriver` (and `DeclaresWorkcell`: the host driver's cell) on a robot host.

    `is_physical` is True: one host serves one client, so parallel launchers are refused."""

    is_physical = True

    def __init__(
        self,
        address: str = "tcp://127.0.0.1:5555",
        *,
        token_env: str = "SAYCAN_ROBOT_TOKEN",
        connect_timeout_s: float = 5.0,
        call_timeout_s: float = 120.0,
        heartbeat_interval_s: float = 0.1,
        host_timeout_s: float = 1.0,
        host_silence_s: float = 10.0,
    ) -> None:
        for key, value in (
            ("connect_timeout_s", connect_timeout_s),
            ("call_timeout_s", call_timeout_s),
            ("heartbeat_interval_s", heartbeat_interval_s),
            ("host_timeout_s", host_timeout_s),
            ("host_silence_s", host_silence_s),
        ):
            wire.seconds(f"robot.{key}", value, positive=True)
        if heartbeat_interval_s >= host_timeout_s:
            raise ConfigError("robot.heartbeat_interval_s must be below robot.host_timeout_s")
        self.address = str(address)
        self.token_env = str(token_env)
        self.connect_timeout_s = float(connect_timeout_s)
        self.call_timeout_s = float(call_timeout_s)
        self.heartbeat_interval_s = float(heartbeat_interval_s)
        self.host_timeout_s = float(host_timeout_s)
        self.host_silence_s = float(host_silence_s)
        self.name = f"remote@{self.address}"
        self._ctx: zmq.Context | None = None
        self._link: _Link | None = None
        self._heartbeat: _Heartbeat | None = None
        self._auth: dict[str, Any] = {}
        self._info: dict[str, Any] | None = None
        self._offer: dict[str, Any] | None = None  # the host's `describe` answer
        self._motion = RemoteMotion(self)

    # -- connection ------------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self._info is not None

    def connect(self) -> None:
        if self._info is not None:
            return
        token = self._token()
        self._ctx = zmq.Context()
        self._link = _Link(
            self._ctx, self.address, (self.heartbeat_interval_s, self.host_timeout_s)
        )
        try:
            info = self._ask_once(token, "hello")
            self._check_offer(info)
        except SayCanError:
            self._close()
            raise
        self._auth = {"token": token, "session": info["session"]}
        self.name = f"remote:{info['name']}@{self.address}"
        self._heartbeat = _Heartbeat(self._ctx, self.address, self._auth, self.heartbeat_interval_s)
        self._heartbeat.start()
        self._info = info

    def _token(self) -> str:
        token = os.environ.get(self.token_env, "")
        if not token:
            raise ConfigError(
                f"set the environment variable {self.token_env} to the robot host's token"
            )
        return token

    def _ask_once(self, token: str, op: str) -> dict[str, Any]:
        """A request outside a session (`hello`, `describe`), answered within connect_timeout_s."""
        try:
            msg_id = self._link.send({"token": token, "op": op})
            reply = self._link.receive(msg_id, self.connect_timeout_s)
        except wire.ProtocolError as exc:
            raise DriverError(f"robot host at {self.address}: {exc}") from None
        if reply is None:
            raise DisconnectedError(
                f"no robot host answered at {self.address} within "
                f"{self.connect_timeout_s:g} s (is saycan serve-robot running?)"
            )
        if not reply.get("ok"):
            raise DriverError(
                f"robot host at {self.address} refused the connection: "
                f"{reply.get('error')}: {reply.get('message')}"
            )
        result = reply.get("result")
        texts = ("name", "session") if op == "hello" else ("name",)
        if (
            not isinstance(result, dict)
            or "workcell" not in result
            or not all(isinstance(result.get(k), str) for k in texts)
        ):
            raise DriverError(
                f"robot host at {self.address}: a malformed {op} answer (not this protocol's host?)"
            )
        return result

    def _check_offer(self, info: dict[str, Any]) -> None:
        """The plain client needs nothing beyond what every host offers."""

    def disconnect(self) -> None:
        if self._info is None:
            self._close()
            return
        try:  # best effort: a host that is gone cannot answer
            msg_id = self._link.send({**self._auth, "op": "bye"})
            self._link.receive(msg_id, min(1.0, self.host_timeout_s))
        except (zmq.ZMQError, wire.ProtocolError):
            pass
        self._close()

    def _close(self) -> None:
        self._info = None
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat.join(timeout=2.0)
            self._heartbeat = None
        if self._link is not None:
            self._link.close()
            self._link = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None

    def _lose(self, why: str) -> DisconnectedError:
        self._close()
        return DisconnectedError(f"robot host at {self.address}: {why}")

    def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        """One request, answered within `call_timeout_s`; raises `DisconnectedError` as soon as
        the connection drops (within `host_timeout_s`), or the host refuses."""
        if self._info is None:
            raise DriverError(f"{self.name} is not connected; call connect() first")
        try:
            msg_id = self._link.send({**self._auth, "op": op, "args": args or {}})
            deadline = time.monotonic() + self.call_timeout_s
            while True:
                reply = self._link.receive(msg_id, POLL_S)
                if reply is not None:
                    break
                hb = self._heartbeat
                if hb.lost is not None:
                    raise self._lose(hb.lost)
                if self._link.dropped():
                    raise self._lose(
                        f"the connection dropped (no answer to pings for "
                        f"{self.host_timeout_s:g} s, or the host closed it)"
                    )
                if hb.silent_for() > self.host_silence_s:
                    raise self._lose(f"no answer for {hb.silent_for():.1f} s (host gone?)")
                if time.monotonic() > deadline:
                    raise self._lose(f"{op} not answered within {self.call_timeout_s:g} s")
        except (zmq.ZMQError, wire.ProtocolError) as exc:
            raise self._lose(f"{op}: {exc}") from None
        if reply.get("ok"):
            return reply.get("result")
        kind, message = reply.get("error"), reply.get("message")
        if kind in ("estop_latched", "no_session", "unauthorized", "protocol"):
            raise self._lose(f"{kind}: {message}")
        raise DriverError(f"robot host at {self.address}: {op} failed: {message}")

    # -- RobotDriver -------------------------------------------------------------------------
    @property
    def motion(self) -> RemoteMotion:
        return self._motion

    @property
    def workcell(self) -> Workcell | None:
        """The host driver's cell, so the safety gate here bounds targets as it would there
        (asked without opening a session when not connected: the gate is built first)."""
        if self._info is not None:
            return wire.workcell_from(self._info["workcell"])
        if self._offer is None:
            self._ctx = self._ctx or zmq.Context()
            self._link = self._link or _Link(self._ctx, self.address)
            try:
                self._offer = self._ask_once(self._token(), "describe")
            finally:
                self._close()
        return wire.workcell_from(self._offer["workcell"])

    def get_observation(self) -> Observation:
        return wire.observation_from(self.call("get_observation"))

    def __enter__(self) -> RemoteDriver:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()


class RemoteSimDriver(RemoteDriver):
    """`robot=remote_sim`: a simulator behind `saycan serve-robot debug=true`; implements
    `SimulatorExtras` by delegating each method to the host (disturbances stay local: none)."""

    is_physical = False

    def _check_offer(self, info: dict[str, Any]) -> None:
        if not info.get("debug"):
            raise ConfigError(
                f"robot=remote_sim needs a simulator host started with debug=true; "
                f"{info.get('name')} at {self.address} is not in debug mode"
            )

    def reset_scene(
        self, objects: Sequence[ObjectSpec], *, seed: int, record_video: bool = False
    ) -> None:
        self.call(
            "reset_scene",
            {
                "objects": [wire.spec_dict(o) for o in objects],
                "seed": int(seed),
                "record_video": bool(record_video),
            },
        )

    def ground_truth(self) -> tuple[ObjectState, ...]:
        return tuple(wire.state_from(s) for s in self.call("ground_truth"))

    def video_frames(self) -> list[np.ndarray]:
        return (
            [wire.rgb_from_png(f) for f in self.call("video_frames")] if self.is_connected else []
        )

    def set_render_images(self, render: bool) -> None:
        self.call("set_render_images", {"render": bool(render)})

    def set_disturbance(self, disturbance: Any) -> None:
        if disturbance is not None and getattr(disturbance, "name", "none") != "none":
            raise ConfigError(
                f"disturbance={disturbance.name} runs inside the simulator; it does "
                "not cross the wire (run it on the host's computer)"
            )

    def disturb(self, carried: str | None) -> list[dict]:
        return []

    def teleport_object(self, name: str, position: Vec3) -> int:
        return int(
            self.call("teleport_object", {"name": name, "position": [float(v) for v in position]})
        )
