"""The networked driver against a real `saycan serve-robot` (mock arm) in another process:
the token, the protocol version, the heartbeat's e-stop latch and the driver contract."""

from __future__ import annotations

import time

import pytest
import zmq

from saycan.drivers import check_driver
from saycan.drivers.base import SimulatorExtras
from saycan.drivers.remote import RemoteDriver, RemoteSimDriver
from saycan.drivers.types import DeclaresWorkcell
from saycan.drivers.wire import PROTOCOL_VERSION, ProtocolError, pack, unpack
from saycan.errors import ConfigError, DriverError

from .robot_host import TOKEN, TOKEN_ENV, client_env, robot_host

# Short, so the watchdog test is quick, but roomy enough that a client's pings (every 0.1 s)
# still arrive on a machine whose two cores run two test workers (0.5 s was missed there).
HEARTBEAT_TIMEOUT = 1.5


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    client_env()
    run_dir = tmp_path_factory.mktemp("host")
    with robot_host(run_dir, "robot=mock", f"heartbeat_timeout_s={HEARTBEAT_TIMEOUT}") as h:
        yield h


class Raw:
    """Hand-written messages, to say what the host does with ones no client would send."""

    def __init__(self, address: str) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(address)

    def ask(self, timeout: float = 5.0, **message) -> dict:
        self.sock.send(pack({"v": PROTOCOL_VERSION, "id": 1, **message}))
        assert self.sock.poll(int(timeout * 1000)), "the host did not answer"
        return unpack(self.sock.recv())

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


def remote(host, **kw) -> RemoteDriver:
    return RemoteDriver(host.address, token_env=TOKEN_ENV, **kw)


def test_check_driver_passes_on_the_remote_driver(host):
    driver = remote(host)
    report = check_driver(driver)
    assert "reachable pose reached; observation agrees" in report.passed
    assert "gripper close/open reported" in report.passed
    assert not driver.is_connected
    # The client offers what every robot offers, and the host's cell for the safety gate.
    assert not isinstance(driver, SimulatorExtras) and isinstance(driver, DeclaresWorkcell)
    assert driver.workcell.contains((0.5, 0.0, 0.1)) and not driver.workcell.contains((5.0, 0, 0.1))
    driver.disconnect()


def test_a_wrong_token_is_refused_and_nothing_moves(host, monkeypatch):
    with remote(host) as good:
        before = good.get_observation()
        raw = Raw(host.address)
        try:
            reply = raw.ask(token="not-the-token", op="hello")
            assert reply["ok"] is False and reply["error"] == "unauthorized"
            # a command carrying a live session but the wrong token is refused the same way
            session = good._auth["session"]
            reply = raw.ask(
                token="not-the-token",
                session=session,
                op="move_to_pose",
                args={"pose": {"position": [0.5, 0.2, 0.1], "orientation": [1, 0, 0, 0]}},
            )
            assert reply["ok"] is False and reply["error"] == "unauthorized"
        finally:
            raw.close()
        monkeypatch.setenv("OTHER_TOKEN", "a-wrong-token-value")
        with pytest.raises(DriverError, match="refused the connection: unauthorized"):
            RemoteDriver(host.address, token_env="OTHER_TOKEN").connect()
        after = good.get_observation()
    assert after.ee_position == before.ee_position and after.step == before.step
    refused = host.events("refused")
    assert sum(e["reason"] == "token" for e in refused) >= 3
    record = host.log_path.read_text() + "".join(host.output)
    assert TOKEN not in record and "a-wrong-token-value" not in record  # never printed


def test_a_protocol_version_mismatch_is_one_clear_error(host):
    raw = Raw(host.address)
    try:
        raw.sock.send(pack({"v": PROTOCOL_VERSION + 1, "id": 1, "token": TOKEN, "op": "hello"}))
        assert raw.sock.poll(5000)
        reply = unpack(raw.sock.recv())
    finally:
        raw.close()
    assert reply["ok"] is False and reply["error"] == "protocol"
    assert (
        f"this end speaks {PROTOCOL_VERSION}, the other {PROTOCOL_VERSION + 1}" in reply["message"]
    )
    with pytest.raises(ProtocolError, match="protocol version mismatch"):
        unpack(pack({"v": 0, "id": 1}))


def test_a_silent_client_latches_the_e_stop_until_it_reconnects(host):
    raw = Raw(host.address)
    move = {
        "op": "move_to_pose",
        "args": {"pose": {"position": [0.45, 0.1, 0.2], "orientation": [1, 0, 0, 0]}},
    }
    try:
        session = raw.ask(token=TOKEN, op="hello")["result"]["session"]
        started = len(host.events("estop"))
        time.sleep(HEARTBEAT_TIMEOUT + 0.3)  # no heartbeat: the watchdog fires
        estop = host.wait_for("estop", count=started + 1, timeout=5)[-1]
        assert estop["session"] == session
        assert HEARTBEAT_TIMEOUT <= estop["silent_s"] < HEARTBEAT_TIMEOUT + 0.25
        moves = len(host.events("motion"))
        reply = raw.ask(token=TOKEN, session=session, **move)
        assert reply["ok"] is False and reply["error"] == "estop_latched"
        assert len(host.events("motion")) == moves  # nothing was sent to the arm
        # a new session (the operator reconnects) starts unlatched
        session = raw.ask(token=TOKEN, op="hello")["result"]["session"]
        reply = raw.ask(token=TOKEN, session=session, **move)
        assert reply["ok"] is True and reply["result"]["status"] == "ok"
        raw.ask(token=TOKEN, session=session, op="bye")
    finally:
        raw.close()


def test_a_host_not_in_debug_mode_sends_no_ground_truth(host):
    with remote(host) as driver:
        assert driver.get_observation().ground_truth is None
        raw = Raw(host.address)
        try:
            reply = raw.ask(token=TOKEN, session=driver._auth["session"], op="ground_truth")
        finally:
            raw.close()
        assert reply["ok"] is False and reply["error"] == "not_offered"
    with pytest.raises(ConfigError, match="debug=true"):
        RemoteSimDriver(host.address, token_env=TOKEN_ENV).connect()


def test_no_host_is_a_typed_error_within_the_connect_timeout():
    client_env()
    with zmq.Context() as ctx, ctx.socket(zmq.ROUTER) as sock:
        port = sock.bind_to_random_port("tcp://127.0.0.1")  # a port nobody answers on
        t0 = time.monotonic()
        with pytest.raises(DriverError, match="no robot host answered"):
            RemoteDriver(
                f"tcp://127.0.0.1:{port}", token_env=TOKEN_ENV, connect_timeout_s=0.5
            ).connect()
        assert time.monotonic() - t0 < 2.0
