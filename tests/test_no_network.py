"""The suite's own guards (tests/conftest.py): nothing reaches the network at run time, in CI
(CI=true) nothing is skipped for a missing package or file, and a seeded fixture leaves the
global random state as it found it."""

import os
import random
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import conftest

TESTS = os.path.dirname(os.path.abspath(__file__))
TEST_NET_3 = "203.0.113.1"  # documentation-only addresses (RFC 5737): never routed


def test_guard_refuses_a_non_loopback_connect():
    with socket.socket() as sock:
        with pytest.raises(conftest.NetworkRefused, match=f"'{TEST_NET_3}', 80.*refused"):
            sock.connect((TEST_NET_3, 80))
        with pytest.raises(conftest.NetworkRefused):
            sock.connect_ex((TEST_NET_3, 443))
    with pytest.raises(conftest.NetworkRefused, match="'example.com'"):  # refused unresolved
        socket.create_connection(("example.com", 443), timeout=1)
    with socket.socket(socket.AF_INET6) as sock, pytest.raises(conftest.NetworkRefused):
        sock.connect(("2001:db8::1", 80, 0, 0))


def test_guard_allows_loopback():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        for host in ("127.0.0.1", "localhost"):
            with socket.create_connection((host, port), timeout=10):
                server.accept()[0].close()
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) == 0


def test_ci_names_what_is_missing_at_session_start(monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "REQUIRED_MODULES", ("no_such_package_kc", "json"))
    monkeypatch.setattr(conftest, "REQUIRED_FILES", (tmp_path / "params.tsv",))
    missing = conftest.missing_requirements()
    assert [line.split(" (")[0] for line in missing] == [
        "package no_such_package_kc", f"file {tmp_path / 'params.tsv'}"]
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.UsageError, match="would skip for want of: package "
                                                "no_such_package_kc .*; file .*params.tsv"):
        conftest.pytest_sessionstart(None)
    monkeypatch.setenv("CI", "false")
    conftest.pytest_sessionstart(None)  # outside CI a missing package only skips its tests


INNER = {
    "test_inner.py": """
        import pytest

        def test_needs_a_package():
            pytest.importorskip("no_such_package_kc")

        @pytest.mark.skip(reason="Keras 3 only (TF_USE_LEGACY_KERAS=1 runs the legacy subset)")
        def test_of_one_keras():
            pass
        """,
    "test_inner_module.py": """
        import pytest

        pytest.importorskip("no_such_package_kc", reason="the extra is not installed")

        def test_never_collected():
            pass
        """,
}


def test_ci_turns_skips_for_missing_packages_into_failures(tmp_path):
    """A pytest run in CI with this conftest: a test and a module that skip for a missing
    package fail, naming it; a skip of one Keras world stays a skip."""
    if missing := conftest.missing_requirements():
        pytest.skip(f"the inner CI run would stop at its start: {missing} not installed")
    for name, source in INNER.items():
        (tmp_path / name).write_text(textwrap.dedent(source))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # xdist's too
    env.update(CI="true",
               PYTHONPATH=os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")])))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
         "--continue-on-collection-errors", *INNER], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300)
    out = result.stdout
    assert result.returncode == 1, out[-3000:] + result.stderr[-3000:]
    assert "1 failed, 1 skipped, 1 error" in out, out[-3000:]
    assert "skip for something missing is a failure: could not import 'no_such_package_kc'" in out
    assert "skip for something missing is a failure: the extra is not installed" in out


def test_seeded_restores_the_global_random_state(seeded):
    from tensorflow.python.eager import context

    def draws(seed=None):
        if seed is not None:
            np.random.seed(seed)
            random.seed(seed)
        return np.random.random(), random.random()

    tf_seed = context.global_seed()
    draws(1)
    with seeded(7):
        inside, tf_inside = draws(), context.global_seed()
    after = draws()
    assert inside == draws(7) and tf_inside == 7  # the block ran seeded
    draws(1)
    assert after == draws() and context.global_seed() == tf_seed  # as if it had not run
