"""`./rps serve` refuses a port already taken before touching anything under var/."""

from __future__ import annotations

import socket

from rps_site import quickstart


def test_a_taken_port_is_refused_and_the_running_servers_database_is_left_alone(  # type: ignore[no-untyped-def]
    tmp_path, monkeypatch, capsys
) -> None:
    run_dir = tmp_path / "var"
    run_dir.mkdir()
    database = run_dir / "quickstart.sqlite3"
    database.write_bytes(b"the running server's data")
    monkeypatch.setattr(quickstart, "RUN_DIR", run_dir)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        monkeypatch.setenv("RPS_PORT", str(listener.getsockname()[1]))
        assert quickstart.main() == 1
    assert "is in use" in capsys.readouterr().err
    assert database.read_bytes() == b"the running server's data"


def test_a_free_port_is_not_reported_as_taken() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert quickstart.port_in_use(free) is False
