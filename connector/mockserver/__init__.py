"""A faithful mock of the Dataverse Web API and the Entra token endpoint, over HTTPS.

It imports nothing from the rest of `connector`: it stands in for a foreign server.
"""

from .certs import ClientCertificate, make_client_certificate
from .server import DEFAULT_CLIENT_ID, DEFAULT_TENANT, MockDataverse

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_TENANT",
    "ClientCertificate",
    "MockDataverse",
    "make_client_certificate",
]
