"""deploy/: the systemd units, the Kubernetes manifests and the Containerfile stay working.

Units go through `systemd-analyze verify`; manifests are parsed and checked for what matters
(schedule, no overlap, non-root, read-only root, probes on the ports serve listens on, the
secret from a Secret); every seqsync command and option the files use must exist; the shipped
config must load. Building the image needs a container engine: without one that test says so
and skips (this machine has a docker CLI but no engine)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from connector.cli.main import app
from connector.config import load_settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SEQSYNC = shutil.which("seqsync") or str(Path(__import__("sys").executable).with_name("seqsync"))


def _units() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((DEPLOY / "systemd").iterdir())}


def _manifests() -> dict[str, list[dict]]:
    return {p.name: [d for d in yaml.safe_load_all(p.read_text()) if d]
            for p in sorted((DEPLOY / "kubernetes").glob("*.yaml"))}


def _command_works(argv: list[str]) -> None:
    """`seqsync <command> [options]` as a deployment file writes it: the command exists and
    every option it uses is one the command knows."""
    words = [w for w in argv if w != "seqsync" and not w.endswith("/seqsync")]
    command = words[0]
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, f"seqsync {command}: {result.output}"
    for word in words[1:]:
        if word.startswith("--"):
            assert word.split("=")[0] in result.stdout, f"seqsync {command} has no {word}"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_units_pass_systemd_analyze_verify(tmp_path) -> None:
    for name, text in _units().items():
        # verify checks that ExecStart's program exists: point it at this checkout's seqsync.
        (tmp_path / name).write_text(text.replace("/usr/local/bin/seqsync", SEQSYNC))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no",
                           *sorted(str(p) for p in tmp_path.iterdir())],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_systemd_units_run_real_commands_and_treat_exit_codes_right() -> None:
    units = _units()
    assert set(units) == {"seqsync-sync.service", "seqsync-sync.timer", "seqsync-serve.service"}
    for name in ("seqsync-sync.service", "seqsync-serve.service"):
        text = units[name]
        exec_start = re.search(r"^ExecStart=(.*)$", text, re.M)
        assert exec_start, name
        _command_works(shlex.split(exec_start.group(1)))
        assert "EnvironmentFile=/etc/seqsync/secret.env" in text  # the secret, not the config
        assert "ProtectSystem=strict" in text and "StateDirectory=seqsync" in text
    assert "SuccessExitStatus=75" in units["seqsync-sync.service"]  # lock held is no failure
    assert "Type=oneshot" in units["seqsync-sync.service"]
    assert "RestartPreventExitStatus=2" in units["seqsync-serve.service"]
    assert "Unit=seqsync-sync.service" in units["seqsync-sync.timer"]
    assert "WantedBy=timers.target" in units["seqsync-sync.timer"]


def _pod(doc: dict) -> dict:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def test_kubernetes_manifests_are_safe_and_consistent() -> None:
    docs = _manifests()
    by_kind = {d["kind"]: d for ds in docs.values() for d in ds}
    assert {"CronJob", "Deployment", "ConfigMap", "PersistentVolumeClaim", "Service"} <= set(
        by_kind)
    cron, deployment = by_kind["CronJob"], by_kind["Deployment"]
    assert cron["apiVersion"] == "batch/v1" and deployment["apiVersion"] == "apps/v1"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert len(cron["spec"]["schedule"].split()) == 5
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # never two SQLite writers
    claim = by_kind["PersistentVolumeClaim"]["metadata"]["name"]
    config_map = by_kind["ConfigMap"]["metadata"]["name"]
    for doc in (cron, deployment):
        pod = _pod(doc)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        container, = pod["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        _command_works(container["args"])
        env = {e["name"]: e for e in container["env"]}
        assert env["SEQSYNC_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]["key"]
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts["/etc/seqsync"]["readOnly"] is True
        assert "/var/lib/seqsync" in mounts and "/tmp" in mounts
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes[mounts["/var/lib/seqsync"]["name"]]["persistentVolumeClaim"][
            "claimName"] == claim
        assert volumes[mounts["/etc/seqsync"]["name"]]["configMap"]["name"] == config_map
        config_path = env["SEQSYNC_CONFIG"]["value"]
        assert config_path.startswith("/etc/seqsync/")
    container, = _pod(deployment)["containers"]
    args = container["args"]
    port = int(args[args.index("--metrics-port") + 1])
    assert args[args.index("--metrics-host") + 1] == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == port
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert by_kind["Service"]["spec"]["ports"][0]["targetPort"] == "metrics"


def test_the_shipped_configs_load_and_keep_state_on_the_volume(tmp_path) -> None:
    config_map = next(d for ds in _manifests().values() for d in ds if d["kind"] == "ConfigMap")
    (tmp_path / "seqsync.toml").write_text(config_map["data"]["seqsync.toml"])
    for path in (DEPLOY / "seqsync.toml", tmp_path / "seqsync.toml"):
        settings = load_settings(path)
        assert settings.state.url.startswith("sqlite:////var/lib/seqsync/")
        assert str(settings.crm.token_cache).startswith("/var/lib/seqsync/")
        assert str(settings.sync.lock_file).startswith("/var/lib/seqsync/")
        assert settings.log.format == "json"


def _containerfile() -> list[tuple[str, str]]:
    text = (DEPLOY / "Containerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines  # type: ignore[misc]
            if line and not line.startswith("#")]


def test_the_containerfile_is_non_root_and_runs_real_commands() -> None:
    steps = _containerfile()
    instructions = [i for i, _ in steps]
    final = steps[max(n for n, (i, _) in enumerate(steps) if i == "FROM"):]
    user = next(arg for i, arg in final if i == "USER")
    assert user.split(":")[0] not in ("0", "root")
    assert "VOLUME" in instructions
    assert any(i == "VOLUME" and "/var/lib/seqsync" in a for i, a in final)
    entrypoint = next(arg for i, arg in final if i == "ENTRYPOINT")
    cmd = next(arg for i, arg in final if i == "CMD")
    assert entrypoint == '["seqsync"]'
    _command_works(["seqsync", *yaml.safe_load(cmd)])
    for instruction, arg in steps:
        if instruction == "COPY" and not arg.startswith("--from"):
            for source in arg.split()[:-1]:
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"


def _engine() -> str | None:
    for tool in ("docker", "podman"):
        if shutil.which(tool) and subprocess.run([tool, "info"], capture_output=True,
                                                 timeout=60, check=False).returncode == 0:
            return tool
    return None


@pytest.mark.slow
def test_the_image_builds_and_runs_doctor_against_the_mock(tmp_path) -> None:
    engine = _engine()
    if engine is None:
        pytest.skip("no container engine answers `docker info` / `podman info` on this machine:"
                    " the image was not built")
    from connector.mockserver import MockDataverse

    tag = "seqsync-test:latest"
    build = subprocess.run([engine, "build", "-f", str(DEPLOY / "Containerfile"), "-t", tag,
                            str(REPO)], capture_output=True, text=True, timeout=1800,
                           check=False)
    assert build.returncode == 0, build.stderr[-4000:]
    with MockDataverse(port=0, generate={"leads": 3}) as crm:  # reached with --network host
        ca = tmp_path / "ca.pem"
        ca.write_text(Path(crm.ca_file).read_text())
        env = {"SEQSYNC_CRM__URL": crm.url, "SEQSYNC_CRM__TENANT_ID": crm.tenant,
               "SEQSYNC_CRM__CLIENT_ID": crm.client_id, "SEQSYNC_CRM__AUTHORITY_HOST": crm.url,
               "SEQSYNC_CRM__CA_BUNDLE": "/ca/ca.pem",
               "SEQSYNC_CLIENT_SECRET": crm.client_secret}
        run = subprocess.run(
            [engine, "run", "--rm", "--network", "host", "--read-only", "--tmpfs", "/tmp",
             "--tmpfs", "/var/lib/seqsync:uid=10001,gid=10001", "-v", f"{tmp_path}:/ca:ro",
             *[a for k, v in env.items() for a in ("-e", f"{k}={v}")], tag, "doctor"],
            capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
