"""The command-line interface users and scripts rely on: `tenant add` with the server stopped
and running, `tenant env`, the first editor user, refusals with clear messages, `--help` and
`--version`, configuration errors, and a clean stop on SIGTERM."""

from __future__ import annotations

import re
import subprocess

import bcrypt
import pytest
from pymongo.errors import OperationFailure


def cli(redhive, *args, stdin=None):
    return subprocess.run(
        [redhive.server.binary, *args, "--data-dir", str(redhive.data_dir)],
        env=redhive.server.env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_tenant_add_works_while_the_server_runs(redhive):
    cp = cli(redhive, "tenant", "add", "r3")
    assert cp.returncode == 0, cp.stderr
    uri = cp.stdout.strip().splitlines()[-1]
    assert re.fullmatch(rf"mongodb://r3:[A-Za-z0-9]+@127\.0\.0\.1:{redhive.mongo_port}/r3\?authSource=r3", uri)
    db = redhive.client(uri)["r3"]
    db.c.insert_one({"hello": "r3"})
    assert db.c.find_one({}, {"_id": 0}) == {"hello": "r3"}
    with pytest.raises(OperationFailure) as err:
        redhive.client(uri)["r1"].c.find_one()
    assert err.value.code == 13


def test_duplicate_and_invalid_names_are_refused(redhive):
    dup = cli(redhive, "tenant", "add", "r1")
    assert dup.returncode != 0
    assert "already exists" in dup.stderr
    for bad, why in [("R1", "lowercase"), ("admin", "reserved"), ("1x", "start with a letter"), ("a" * 64, "63")]:
        cp = cli(redhive, "tenant", "add", bad)
        assert cp.returncode != 0, bad
        assert why in cp.stderr, cp.stderr


def test_tenant_env_renders_a_working_runtime_environment(redhive):
    cp = cli(redhive, "tenant", "env", "r1")
    assert cp.returncode == 0, cp.stderr
    env = dict(line.split("=", 1) for line in cp.stdout.splitlines())
    assert env["APP_NAME"] == "r1"
    assert len(env["NODE_RED_CREDENTIAL_SECRET"]) >= 32
    db = redhive.client(env["MONGO_URL"])["r1"]
    assert db.command("ping")["ok"] == 1.0
    other = cli(redhive, "tenant", "env", "r2")
    other_env = dict(line.split("=", 1) for line in other.stdout.splitlines())
    assert other_env["NODE_RED_CREDENTIAL_SECRET"] != env["NODE_RED_CREDENTIAL_SECRET"]
    missing = cli(redhive, "tenant", "env", "nobody")
    assert missing.returncode != 0 and "no tenant named" in missing.stderr


def test_first_editor_user_is_stored_hashed_and_lower_cased(redhive):
    cp = cli(redhive, "tenant", "add", "r4", "--user", " Admin ", "--password-file", "-", stdin="s3cret-pass\n")
    assert cp.returncode == 0, cp.stderr
    uri = cp.stdout.strip().splitlines()[-1]
    users = list(redhive.client(uri)["r4"].users.find({}, {"_id": 0}))
    assert len(users) == 1
    user = users[0]
    assert user["appname"] == "r4" and user["username"] == "admin" and user["permissions"] == "*"
    assert user["password"].startswith("$2b$12$")
    assert "s3cret-pass" not in str(user)
    assert bcrypt.checkpw(b"s3cret-pass", user["password"].encode())
    assert not bcrypt.checkpw(b"s3cret-pass\n", user["password"].encode())
    indexes = {i["name"]: i for i in redhive.client(uri)["r4"].users.list_indexes()}
    assert indexes["appname_1_username_1"].get("unique") is True
    short = cli(redhive, "tenant", "add", "r5", "--user", "a", "--password-file", "-", stdin="short\n")
    assert short.returncode != 0 and "at least 8" in short.stderr
    # Nothing of the refused tenant was kept.
    assert cli(redhive, "tenant", "env", "r5").returncode != 0


def test_help_and_version(redhive):
    binary = redhive.server.binary
    version = subprocess.run([binary, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and re.match(r"redhive \d+\.\d+\.\d+", version.stdout)
    for args in ([], ["serve"], ["tenant"], ["tenant", "add"], ["tenant", "env"]):
        cp = subprocess.run([binary, *args, "--help"], capture_output=True, text=True)
        assert cp.returncode == 0, args
        assert "Usage:" in cp.stdout


def test_bad_configuration_names_its_origin(redhive, tmp_path):
    env = dict(redhive.server.env(), REDHIVE_MONGO_LISTEN="localhost")
    cp = subprocess.run(
        [redhive.server.binary, "--data-dir", str(tmp_path / "d"), "serve"],
        env=env, capture_output=True, text=True, timeout=30,
    )
    assert cp.returncode == 78
    assert "REDHIVE_MONGO_LISTEN" in cp.stderr and "localhost" in cp.stderr
    (tmp_path / "c.toml").write_text("[mongo]\nlissen = 1\n")
    cp = subprocess.run(
        [redhive.server.binary, "--config", str(tmp_path / "c.toml"), "serve"],
        env=redhive.server.env(), capture_output=True, text=True, timeout=30,
    )
    assert cp.returncode == 78 and "lissen" in cp.stderr


def test_sigterm_stops_cleanly_and_keeps_data(redhive):
    db = redhive.tenant_client("r1")["r1"]
    db.kept.insert_one({"_id": "before-stop"})
    status = redhive.stop()
    assert status == 0, redhive.log_text()[-2000:]
    assert "stopped" in redhive.log_text()
    assert not (redhive.data_dir / "run" / "control.sock").exists()
    redhive.start()
    assert redhive.tenant_client("r1")["r1"].kept.find_one({"_id": "before-stop"})


def test_unknown_users_get_the_same_fake_salt_after_a_restart(redhive):
    """A fake salt that changed with every restart would tell unknown users from real ones."""

    def salt_for(user: str) -> str:
        reply = redhive.noauth_client().admin.command(
            "saslStart", mechanism="SCRAM-SHA-256", payload=f"n,,n={user},r=0123456789abcdef".encode(), autoAuthorize=1
        )
        fields = dict(part.split("=", 1) for part in reply["payload"].decode().split(","))
        return fields["s"]

    ghost = salt_for("ghost")
    assert salt_for("ghost") == ghost
    assert salt_for("phantom") != ghost
    redhive.stop()
    redhive.start()
    redhive.close_clients()
    assert salt_for("ghost") == ghost
