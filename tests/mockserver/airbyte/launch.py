"""Runs Airbyte's Dataverse source (spec/check/discover/read) against the mock.

Executed by the Airbyte virtual environment's Python, not imported by pytest. The source's
Entra token host is fixed in its code (`https://login.microsoftonline.com/{tenant}/...`); this
launcher redirects that one setting to the mock's token endpoint, given in the
MOCK_TOKEN_ENDPOINT environment variable. Everything else is the source as published.

Trust: the Airbyte CDK sends with `Session.send`, which ignores REQUESTS_CA_BUNDLE, so the mock's
CA is made the default bundle of this process, as an operator installs a private CA.
"""

import os
import sys

import requests.adapters
from source_microsoft_dataverse import dataverse, run, source

requests.adapters.DEFAULT_CA_BUNDLE_PATH = os.environ["REQUESTS_CA_BUNDLE"]

_published_get_auth = dataverse.get_auth


def _get_auth(config):  # type: ignore[no-untyped-def]
    auth = _published_get_auth(config)
    auth._token_refresh_endpoint = os.environ["MOCK_TOKEN_ENDPOINT"]
    return auth


dataverse.get_auth = _get_auth
source.get_auth = _get_auth

if __name__ == "__main__":
    sys.argv[0] = "source-microsoft-dataverse"
    run.run()
