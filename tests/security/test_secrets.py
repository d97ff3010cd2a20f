"""No secret reaches logs, JSON output, error messages, --dry-run output or the state database."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from support.world import T0, World

NOW = T0 + timedelta(minutes=1)


def _issued_tokens(world: World) -> list[str]:
    return list(world.crm.entra._tokens)


def _db_dump(path: Path) -> str:
    con = sqlite3.connect(path)
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


def _needles(secret: str, tokens: list[str], key_pem: str | None = None) -> dict[str, str]:
    found = {"client secret": secret}
    for i, token in enumerate(tokens):
        found[f"access token {i}"] = token
        found[f"access token {i} signature"] = token.rsplit(".", 1)[-1]
    if key_pem:
        body = [line for line in key_pem.splitlines() if line and "-----" not in line]
        for i, line in enumerate(body[1:-1:4]):
            found[f"private key line {i}"] = line
    return found


def _assert_clean(texts: dict[str, str], needles: dict[str, str]) -> None:
    leaks = [(where, what) for where, text in texts.items()
             for what, needle in needles.items() if needle and needle in text]
    assert leaks == [], leaks


def _outputs(world: World, *runs: tuple[str, ...], secret: str | None = None) -> dict[str, str]:
    texts: dict[str, str] = {}
    for args in runs:
        result = world.run_cli(*args, secret=secret)
        texts[f"{' '.join(args)} stdout"] = result.stdout
        texts[f"{' '.join(args)} stderr"] = result.stderr
    return texts


def test_a_client_secret_never_leaves_the_process(world: World) -> None:
    world.write_config(log={"format": "json", "level": "DEBUG"})
    world.sync(T0)
    world.connect(world.sequence(), world.open_leads(4))
    world.crm.set_faults(fault_rate=0.15, fault_seed=3)  # retries log their causes
    texts = _outputs(
        world,
        ("--now", NOW.isoformat(), "sync", "--dry-run"),
        ("--json", "--now", NOW.isoformat(), "sync"),
        ("--now", NOW.isoformat(), "sync"),
        ("--json", "status"),
        ("status",),
    )
    world.crm.set_faults(fault_rate=0.0)
    # An expired token in the cache, a rotated secret: the error path prints and logs too.
    secret = world.crm.client_secret
    world.crm.expire_tokens()
    world.crm.set_client_secret("rotated-" + secret[:4])
    texts.update(_outputs(world, ("--now", NOW.isoformat(), "sync"), secret=secret))
    assert "invalid_client" in texts[f"--now {NOW.isoformat()} sync stderr"]
    texts["state database"] = _db_dump(world.state_db)
    tokens = _issued_tokens(world)
    assert tokens, "the mock issued tokens"
    _assert_clean(texts, _needles(secret, tokens))
    # The token cache is the one file allowed to hold a token; nothing else in the folder may.
    for path in world.folder.iterdir():
        if path.is_file() and path.name != "token-cache.json" and path.suffix != ".db":
            texts[path.name] = path.read_text(errors="replace")
    _assert_clean(texts, _needles(secret, tokens))


def test_a_secret_pasted_in_place_of_the_variable_name_is_not_echoed(world: World) -> None:
    secret = world.crm.client_secret
    world.config.write_text(world.config.read_text().replace(
        '"SEQSYNC_TEST_SECRET"', f'"{secret}"'))
    result = world.run_cli("sync")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "client_secret_env" in result.stderr
    assert secret not in result.stdout + result.stderr


def _certificate(folder: Path) -> tuple[Path, bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "seqsync test app")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    path = folder / "app-cert.pem"
    path.write_text(key_pem + cert_pem.decode())
    path.chmod(0o600)
    return path, cert_pem, key_pem


def test_a_certificate_private_key_never_leaves_the_process(world: World) -> None:
    path, cert_pem, key_pem = _certificate(world.folder)
    world.crm.register_certificate(cert_pem)
    world.write_config(crm={"certificate_path": str(path)}, log={"format": "json",
                                                                 "level": "DEBUG"})
    env_secret = world.crm.client_secret
    world.sync(T0)
    world.connect(world.sequence(), world.open_leads(3))
    texts = _outputs(world, ("--json", "--now", NOW.isoformat(), "sync"),
                     ("--now", NOW.isoformat(), "sync", "--dry-run"))
    assert '"outcome": "ok"' in texts[f"--json --now {NOW.isoformat()} sync stdout"]
    # A certificate the tenant does not know: the refusal must not quote the key either.
    other, _, other_key = _certificate(world.folder / "..")
    world.write_config(crm={"certificate_path": str(other)})
    (world.folder / "token-cache.json").unlink(missing_ok=True)
    failed = world.run_cli("--now", NOW.isoformat(), "sync")
    assert failed.returncode == 3, failed.stderr
    texts["refused stdout"], texts["refused stderr"] = failed.stdout, failed.stderr
    texts["state database"] = _db_dump(world.state_db)
    needles = _needles(env_secret, _issued_tokens(world), key_pem)
    needles.update({f"other {k}": v for k, v in _needles("", [], other_key).items()})
    _assert_clean(texts, needles)
