"""The robot host against a hostile peer that holds the token: messages no client sends (wrong
types, poses no one means, floods, commands queued before an e-stop). Each is refused with a
typed one-line error, nothing moves, and the host keeps serving. The host runs in this process
(a thread) on 127.0.0.1, so a message that ends its loop shows as a dead thread."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq

from saycan.drivers import wire
from saycan.drivers.mock import MockDriver
from saycan.drivers.robot_host import MAX_PENDING, REFUSALS_PER_S, RobotHost

TOKEN = "hostile-test-token-77"
HOME_POSE = {"position": [0.45, 0.1, 0.2], "orientation": [1, 0, 0, 0]}


class Peer:
    def __init__(self, address: str) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(address)
        self.session: str | None = None

    def send(self, **fields) -> None:
        self.sock.send(
            wire.pack(
                {
                    "v": wire.PROTOCOL_VERSION,
                    "id": 1,
                    "token": TOKEN,
                    "session": self.session,
                    **fields,
                }
            )
        )

    def recv(self) -> dict:
        assert self.sock.poll(5000), "the host did not answer"
        return wire.unpack(self.sock.recv())

    def ask(self, **fields) -> dict:
        self.send(**fields)
        return self.recv()

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[RobotHost, Peer, MockDriver]]:
    driver = MockDriver()
    driver.connect()
    host = RobotHost(
        driver, token=TOKEN, port=0, heartbeat_timeout_s=5.0, log_path=tmp_path / "host.jsonl"
    )
    thread = threading.Thread(target=host.serve, daemon=True)
    thread.start()
    peer = Peer(host.address)
    peer.session = peer.ask(op="hello")["result"]["session"]
    try:
        yield host, peer, driver
        assert thread.is_alive(), "a message ended the host's loop"
        assert peer.ask(op="heartbeat")["ok"] or peer.session is None  # still serving
    finally:
        peer.close()
        host.stop()
        thread.join(10)


def ee(driver: MockDriver) -> tuple[float, ...]:
    return tuple(np.round(driver.motion.ee_position(), 9))


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"op": [1, 2]}, "op must be a string"),
        ({"op": {"nested": {"map": 1}}}, "op must be a string"),
        ({"op": "heartbeat", "session": [1]}, "session must be a string"),
        ({"op": "move_to_pose", "args": [1, 2]}, "args must be a map"),
        ({"op": "move_to_pose", "args": "pose"}, "args must be a map"),
    ],
)
def test_a_request_of_the_wrong_shape_is_a_protocol_error(served, fields, message):
    _, peer, _ = served
    reply = peer.ask(**fields)
    assert reply["ok"] is False and reply["error"] == "protocol" and reply["message"] == message


def pose(position, orientation=(1, 0, 0, 0)) -> dict:
    return {"pose": {"position": list(position), "orientation": list(orientation)}}


nan, inf = float("nan"), float("inf")


@pytest.mark.parametrize(
    "op, args, message",
    [
        ("move_to_pose", {"pose": b"\x00\x01"}, "a pose must be a map"),
        ("move_to_pose", pose([0.5, 0]), "position must be a list of 3 numbers"),
        ("move_to_pose", pose([0.5, 0, 0.1, 9]), "position must be a list of 3 numbers"),
        ("move_to_pose", pose(["0.5", 0, 0.1]), "position must hold numbers only"),
        ("move_to_pose", pose([{"x": 1}, 0, 0.1]), "position must hold numbers only"),
        (
            "move_to_pose",
            {**pose([0.5, 0, 0.1]), "max_steps": inf},
            "max_steps must be a whole number",
        ),
        (
            "move_to_pose",
            {**pose([0.5, 0, 0.1]), "max_steps": 10**18},
            "max_steps must be a whole number",
        ),
        (
            "move_to_pose",
            {**pose([0.5, 0, 0.1]), "stop_on_contact": "no"},
            "stop_on_contact must be",
        ),
        ("home", {"max_steps": -1}, "max_steps must be a whole number"),
        ("set_gripper", {"closed": "no"}, "closed must be true or false"),
        ("set_gripper", {}, "closed must be true or false"),
    ],
)
def test_a_bad_argument_moves_nothing(served, op, args, message):
    _, peer, driver = served
    before, closed = ee(driver), driver.motion.closed
    reply = peer.ask(op=op, args=args)
    assert reply["ok"] is False and reply["error"] == "driver_error"
    assert message in reply["message"] and "\n" not in reply["message"]
    assert ee(driver) == before and driver.motion.closed == closed


@pytest.mark.parametrize(
    "args",
    [
        pose([nan, 0, 0.1]),
        pose([0.5, 0, inf]),
        pose([0.5, 0, 0.1], [nan] * 4),
        pose([0.5, 0, 0.1], [0, 0, 0, 0]),
    ],
)
def test_a_target_no_arm_can_take_is_a_typed_refusal(served, args):
    _, peer, driver = served
    before = ee(driver)
    reply = peer.ask(op="move_to_pose", args=args)
    assert reply["ok"] is True and reply["result"]["status"] == "refused"
    assert peer.ask(op="is_reachable", args=args)["result"] is False
    assert ee(driver) == before


def test_bytes_and_ext_values_are_recorded_not_fatal(served):
    host, peer, _ = served
    reply = peer.ask(
        op="move_to_pose", args={"pose": msgpack.ExtType(7, b"x"), "junk": b"\xff" * 9}
    )
    assert reply["ok"] is False
    assert '"junk": "<9 bytes>"' in host.log_path.read_text()  # the audit line was written


def test_motions_queued_before_the_session_ends_never_start(served):
    host, peer, driver = served
    gate = threading.Event()
    host._worker.submit(gate.wait, 10)  # the arm is busy with a long motion
    before = ee(driver)
    for _ in range(3):
        peer.send(op="move_to_pose", args=pose([0.5, 0.2, 0.1]))
    time.sleep(0.2)  # the three wait behind the busy arm; then the client says bye
    peer.send(op="bye")
    time.sleep(0.2)
    gate.set()
    replies = [peer.recv() for _ in range(4)]
    refused = [r for r in replies if r.get("error") == "driver_error"]
    assert len(refused) == 3 and all(
        "session ended before this motion" in r["message"] for r in refused
    )
    assert ee(driver) == before
    peer.session = None


def test_a_flood_of_requests_is_refused_past_the_queue_limit(served):
    host, peer, _ = served
    gate = threading.Event()
    host._worker.submit(gate.wait, 10)
    for _ in range(MAX_PENDING + 3):
        peer.send(op="is_reachable", args=pose([0.5, 0.0, 0.1]))
    time.sleep(0.3)
    busy = []
    while peer.sock.poll(100):
        busy.append(wire.unpack(peer.sock.recv()))
    assert len(busy) == 3 and all(r["error"] == "busy" for r in busy)
    gate.set()
    done = [peer.recv() for _ in range(MAX_PENDING)]
    assert all(r["ok"] and r["result"] is True for r in done)


# -- the other way round: a hostile host, read by the client -----------------------------------
@pytest.mark.parametrize(
    "decode, value",
    [
        (wire.observation_from, {"rgb": None}),
        (wire.observation_from, "not a map"),
        (wire.motion_from, {"status": "teleported", "steps": 1}),
        (wire.gripper_from, {"status": "ok"}),
        (wire.workcell_from, {"low": [0, 0], "high": None, "what": "x"}),
        (wire.camera_from, {"width": "wide"}),
        (wire.rgb_from_png, b"not a png"),
        (wire.depth_from_bytes, {"zlib": b"junk", "shape": [2, 2]}),
        (
            wire.depth_from_bytes,
            {"zlib": __import__("zlib").compress(bytes(10**7)), "shape": [4, 4]},
        ),
        (wire.depth_from_bytes, {"zlib": b"", "shape": [10**9, 10**9]}),
    ],
)
def test_a_malformed_reply_is_one_protocol_error(decode, value):
    with pytest.raises(wire.ProtocolError) as err:
        decode(value)
    assert "\n" not in str(err.value)


def test_a_host_answering_hello_with_junk_is_a_driver_error(monkeypatch):
    from saycan.drivers.remote import RemoteDriver
    from saycan.errors import DriverError

    monkeypatch.setenv("HOSTILE_TOKEN", TOKEN)
    with zmq.Context() as ctx, ctx.socket(zmq.ROUTER) as sock:
        port = sock.bind_to_random_port("tcp://127.0.0.1")

        def answer() -> None:  # a host that answers every message with ok and no session
            if sock.poll(5000):
                ident, raw = sock.recv_multipart()
                msg = wire.unpack(raw)
                sock.send_multipart(
                    [
                        ident,
                        wire.pack(
                            {
                                "v": wire.PROTOCOL_VERSION,
                                "id": msg["id"],
                                "ok": True,
                                "result": [1, 2],
                            }
                        ),
                    ]
                )

        t = threading.Thread(target=answer)
        t.start()
        with pytest.raises(DriverError, match="malformed hello answer"):
            RemoteDriver(
                f"tcp://127.0.0.1:{port}", token_env="HOSTILE_TOKEN", connect_timeout_s=3
            ).connect()
        t.join(5)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"heartbeat_timeout_s": float("nan")}, "heartbeat_timeout_s must be a finite number > 0"),
        ({"heartbeat_timeout_s": 0}, "heartbeat_timeout_s must be a finite number > 0"),
        ({"heartbeat_timeout_s": "2"}, "heartbeat_timeout_s must be a finite number > 0"),
        ({"delay_s": -1.0}, "delay_s must be a finite number >= 0"),
        ({"port": "abc"}, "port must be a whole number"),
        ({"port": -1}, "port must be a whole number"),
        ({"port": 70000}, "port must be a whole number"),
        ({"debug": "no"}, "debug must be true or false"),
        ({"bind": "no.such.interface"}, "serve-robot cannot listen on tcp://no.such.interface"),
    ],
)
def test_bad_host_settings_are_one_config_error(settings, message):
    from saycan.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        RobotHost(MockDriver(), token=TOKEN, **{"port": 0, **settings})


def test_a_taken_port_is_one_config_error(served):
    from saycan.errors import ConfigError

    host, _, _ = served
    with pytest.raises(ConfigError, match="cannot listen on .*Address already in use"):
        RobotHost(MockDriver(), token=TOKEN, port=host.port)


@pytest.mark.parametrize(
    "settings",
    [
        {"host_timeout_s": float("inf")},
        {"call_timeout_s": "abc"},
        {"connect_timeout_s": float("nan")},
    ],
)
def test_bad_client_timeouts_are_one_config_error(settings):
    from saycan.drivers.remote import RemoteDriver
    from saycan.errors import ConfigError

    with pytest.raises(ConfigError, match=r"robot\.\w+_s must be a finite number > 0"):
        RemoteDriver("tcp://127.0.0.1:5555", **settings)


def test_a_huge_version_field_is_not_copied_into_the_record(served):
    host, peer, _ = served
    peer.sock.send(wire.pack({"v": "9" * 1_000_000, "id": 1, "token": "no"}))
    reply = peer.recv()
    assert reply["error"] == "protocol" and len(reply["message"]) < 300
    assert host.log_path.stat().st_size < 100_000


def test_a_flood_without_the_token_is_answered_but_not_all_recorded(served):
    host, peer, _ = served
    for _ in range(300):
        peer.sock.send(
            wire.pack({"v": wire.PROTOCOL_VERSION, "id": 1, "token": "wrong-token", "op": "hello"})
        )
    answers = [peer.recv() for _ in range(300)]
    assert all(a["error"] == "unauthorized" for a in answers)  # every one is still answered
    refused = [json.loads(x) for x in host.log_path.read_text().splitlines() if '"refused"' in x]
    assert 1 <= len(refused) <= 3 * REFUSALS_PER_S
    time.sleep(1.05)
    peer.ask(op="hello", token="wrong-token")  # the next window: its line counts the rest
    last = [json.loads(x) for x in host.log_path.read_text().splitlines()][-1]
    counted = len(refused) + sum(r.get("unlogged_before", 0) for r in refused)
    assert last["event"] == "refused" and counted + last["unlogged_before"] == 300
