"""The `seqsync mock-server` command (registered on the main CLI by the lead)."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from .server import MockDataverse, parse_rate_limit


def parse_generate(text: str | None) -> dict[str, int] | None:
    """`leads=100,opportunities=20` -> {"leads": 100, "opportunities": 20}."""
    if not text:
        return None
    out: dict[str, int] = {}
    for item in text.split(","):
        name, sep, count = item.partition("=")
        if not sep or not count.strip().isdigit():
            raise ValueError(f"--generate: '{item}' must look like TABLE=COUNT, e.g. leads=100")
        out[name.strip()] = int(count)
    return out


def config_block(crm: MockDataverse) -> str:
    return "\n".join([
        "[crm]",
        f'url = "{crm.url}"',
        f'tenant_id = "{crm.tenant}"',
        f'client_id = "{crm.client_id}"',
        f'authority_host = "{crm.url}"',
        f'ca_bundle = "{crm.ca_file}"',
        'client_secret_env = "SEQSYNC_CLIENT_SECRET"',
    ])


def mock_server(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 8443,
    seed: Annotated[Path | None, typer.Option(help="JSON seed file keyed by entity set.")] = None,
    generate: Annotated[
        str | None, typer.Option(help="Generate rows, e.g. leads=1000,opportunities=200.")
    ] = None,
    ca_file: Annotated[Path | None, typer.Option(help="Where to write the CA (PEM).")] = None,
    client_id: Annotated[str | None, typer.Option(help="Application (client) id.")] = None,
    client_secret: Annotated[
        str | None, typer.Option(help="Client secret (random if unset).")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant id.")] = None,
    rate_limit: Annotated[
        str | None, typer.Option(help="REQUESTS/SECONDS per caller, e.g. 6000/300.")
    ] = None,
    concurrency_limit: Annotated[
        int | None, typer.Option(help="Concurrent requests per caller, e.g. 52.")
    ] = None,
    latency: Annotated[float, typer.Option(help="Added latency per API request, ms.")] = 0,
    fault_rate: Annotated[float, typer.Option(help="Share of API requests that fail, 0-1.")] = 0,
    fault_seed: Annotated[int, typer.Option(help="Seed for the fault sequence.")] = 0,
    delta_token_ttl: Annotated[
        float | None, typer.Option(help="Seconds before a delta token expires.")
    ] = None,
    ready_file: Annotated[
        Path | None, typer.Option(help="Write the connection details as JSON here when ready.")
    ] = None,
) -> None:
    """Run the mock Dataverse (Web API + Entra token endpoint) until SIGINT/SIGTERM."""
    # The printed [crm] block is pasted into configs elsewhere: the CA path must be absolute.
    ca_file = ca_file.resolve() if ca_file is not None else None
    try:
        if not 0 <= fault_rate <= 1:
            raise ValueError("--fault-rate must be between 0 and 1")
        crm = MockDataverse(
            host, port, seed=seed, generate=parse_generate(generate), ca_file=ca_file,
            client_id=client_id, client_secret=client_secret, tenant=tenant,
            rate_limit=parse_rate_limit(rate_limit) if rate_limit else None,
            concurrency_limit=concurrency_limit, latency_ms=latency, fault_rate=fault_rate,
            fault_seed=fault_seed, delta_token_ttl=delta_token_ttl,
        )
        crm.start()
    except (ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        del signum, frame
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    details = {
        "url": crm.url, "api_url": crm.api_url, "authority": crm.authority,
        "tenant": crm.tenant, "client_id": crm.client_id, "client_secret": crm.client_secret,
        "ca_file": crm.ca_file, "pid": os.getpid(),
    }
    typer.echo(f"Mock Dataverse listening on {crm.url}")
    typer.echo(f"  Web API:   {crm.api_url}")
    typer.echo(f"  authority: {crm.authority}")
    typer.echo(f"  tenant:    {crm.tenant}")
    typer.echo(f"  client id: {crm.client_id}")
    typer.echo(f"  CA file:   {crm.ca_file}  (REQUESTS_CA_BUNDLE={crm.ca_file})")
    typer.echo("\nPaste into your seqsync config:\n")
    typer.echo(config_block(crm))
    # Secrets never go to the terminal: the user chose it, or reads it from the ready file.
    if client_secret:
        typer.echo("\nClient secret: the one given with --client-secret "
                   "(export it as SEQSYNC_CLIENT_SECRET).")
    else:
        typer.echo("\nClient secret: generated and not shown; pass --client-secret to choose "
                   "one, or read it from the --ready-file JSON.")
    if ready_file is not None:
        tmp = ready_file.with_suffix(ready_file.suffix + ".tmp")
        # It holds the client secret: readable by its owner only, like a token cache.
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
                       encoding="utf-8") as fh:
            fh.write(json.dumps(details))
        tmp.replace(ready_file)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        crm.stop()
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)  # it holds the secret of a server now gone
        typer.echo("Mock Dataverse stopped.")


def register(app: typer.Typer) -> None:
    """Add the `mock-server` command to `app`."""
    app.command("mock-server")(mock_server)
