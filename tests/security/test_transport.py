"""Token cache permissions, TLS that cannot be switched off, https only, URLs users cannot bend."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support.world import T0, World

from connector.dataverse import odata
from connector.dataverse.client import DataverseClient

NOW = T0 + timedelta(minutes=1)
HOSTILE = [
    "O'Brien", "a'' or 1 eq 1 or ''='", "x/../../WhoAmI", "a$top=1", "$filter=x",
    "a&$select=*", "a#frag", "100%", "%27%20or%201%20eq%201", "line\nbreak", "tab\there",
    "semi;colon", "plus+sign", "back\\slash", "q?x=1", "unicode é 日本",
]


def _one_line(result) -> str:  # type: ignore[no-untyped-def]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_the_token_cache_is_created_0600_and_a_wider_one_is_refused(world: World) -> None:
    cache = world.folder / "token-cache.json"
    os.umask(0o022)
    assert world.run_cli("sync").returncode == 0
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    cache.chmod(0o644)
    result = world.run_cli("--now", NOW.isoformat(), "sync")
    line = _one_line(result)
    assert result.returncode == 2
    assert str(cache) in line and "chmod 600" in line
    assert stat.S_IMODE(cache.stat().st_mode) == 0o644  # refused, not silently "fixed"


def _foreign_ca(path) -> None:  # type: ignore[no-untyped-def]
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone else's CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_an_untrusted_server_certificate_exits_3(world: World) -> None:
    _foreign_ca(world.folder / "other-ca.pem")
    world.write_config(crm={"ca_bundle": str(world.folder / "other-ca.pem")})
    result = world.run_cli("sync")
    line = _one_line(result)
    assert result.returncode == 3
    assert "TLS verification failed" in line


@pytest.mark.parametrize("env", [
    {"CURL_CA_BUNDLE": ""}, {"REQUESTS_CA_BUNDLE": ""}, {"PYTHONHTTPSVERIFY": "0"},
    {"CURL_CA_BUNDLE": "", "REQUESTS_CA_BUNDLE": "", "SSL_CERT_FILE": "/dev/null"},
])
def test_environment_tricks_do_not_switch_tls_verification_off(world: World, monkeypatch,
                                                              env: dict[str, str]) -> None:
    # No ca_bundle: the mock's CA is not trusted, so only a disabled check could succeed.
    lines = [line for line in world.config.read_text().splitlines()
             if not line.startswith("ca_bundle")]
    world.config.write_text("\n".join(lines) + "\n")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = world.run_cli("sync")
    assert result.returncode == 3, result.stderr
    _one_line(result)
    assert world.crm.stats()["requests"]["api"] == 0


@pytest.mark.parametrize("key,value", [
    ("verify", False), ("tls_verify", False), ("verify_ssl", False), ("insecure", True),
])
def test_there_is_no_setting_that_disables_tls_verification(world: World, key: str,
                                                           value: bool) -> None:
    world.write_config(crm={key: value})
    result = world.run_cli("sync")
    line = _one_line(result)
    assert result.returncode == 2 and key in line


@pytest.mark.parametrize("key,value", [
    ("url", "http://{host}"), ("authority_host", "http://{host}"), ("url", "ftp://{host}"),
    ("url", "//{host}"), ("url", "{host}"),
])
def test_only_https_urls_are_accepted_for_the_crm_and_the_authority(
    world: World, key: str, value: str
) -> None:
    world.write_config(crm={key: value.format(host=world.crm.url.removeprefix("https://"))})
    result = world.run_cli("sync")
    line = _one_line(result)
    assert result.returncode == 2
    assert key in line and str(world.config) in line
    assert world.crm.stats()["requests"]["total"] == 0


def test_a_link_from_the_crm_to_another_host_or_plain_http_is_never_followed(
    world: World
) -> None:
    client = DataverseClient(world.settings.crm)
    for link in (world.crm.api_url.replace("https://", "http://") + "/leads",
                 "https://evil.example/api/data/v9.2/leads",
                 world.crm.url + "/other/leads"):
        with pytest.raises(Exception, match="outside"):
            client.request("GET", link, idempotent=True)
    assert world.crm.stats()["requests"]["api"] == 0


def test_user_text_in_a_filter_reaches_the_crm_as_one_literal(world: World) -> None:
    """The real server parses the query: the row with exactly that name comes back, alone."""
    client = DataverseClient(world.settings.crm)
    leads = [world.crm.insert("leads", {"fullname": text, "statecode": 0, "statuscode": 1})
             for text in HOSTILE]
    before = world.crm.stats()["requests"]["by_route"]
    for target, text in zip(leads, HOSTILE, strict=True):
        rows = list(client.query("leads", ["leadid", "fullname"],
                                 f"fullname eq {odata.literal(text)}"))
        assert [(r["leadid"], r["fullname"]) for r in rows] == [(target, text)], text
        ids = list(client.query_in("leads", "leadid", [target], select=["leadid"]))
        assert [r["leadid"] for r in ids] == [target], text
    after = world.crm.stats()["requests"]["by_route"]
    new_routes = {k for k in after if after[k] != before.get(k)}
    assert new_routes <= {"GET leads", "POST token", "GET openid-configuration"}


@pytest.mark.parametrize("text", HOSTILE)
def test_user_text_can_never_become_a_record_id_or_entity_name(text: str) -> None:
    with pytest.raises(ValueError):
        odata.entity_path("leads", text)
    with pytest.raises(ValueError):
        odata.name(text)


def test_hostile_values_on_the_command_line_give_clear_answers(world: World) -> None:
    world.sync(T0)
    seq = world.sequence()
    before = world.crm.stats()["requests"]["total"]
    for args in (a for t in HOSTILE for a in _commands(seq, t)):
        result = world.cli(*args)
        assert result.exit_code in (0, 1, 2), (args, result.output)
        assert "Traceback" not in result.output and "unexpected" not in result.output, args
    # None of these commands talks to the CRM at all.
    assert world.crm.stats()["requests"]["total"] == before


def _commands(seq: str, text: str) -> tuple[tuple[str, ...], ...]:
    return (("records", "show", text), ("connect", seq, text),
            ("records", "list", "--where", f"companyname={text}"),
            ("connect", seq, "--where", f"fullname={text}"),
            ("sequence", "show", text))


def test_a_double_quote_inside_an_in_filter_value_stays_inside_the_value(world: World) -> None:
    target = world.crm.insert("leads", {"fullname": 'say "hi"', "statecode": 0,
                                        "statuscode": 1})
    client = DataverseClient(world.settings.crm)
    rows = list(client.query_in("leads", "fullname", ['say "hi"'], select=["leadid"]))
    assert [r["leadid"] for r in rows] == [target]
