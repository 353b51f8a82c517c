"""`strongroom server -dev`: a throwaway, unsealed server for trying things out, as Vault's.

In-memory storage, one share, unsealed at start, `secret/` mounted as kv v2, and the unseal
key and root token printed — everything a production server must never do.
"""

from __future__ import annotations

import base64

from server.core import Core

BANNER = """\
WARNING! dev mode is enabled! In this mode, strongroom runs entirely in-memory
and starts unsealed with a single unseal key. The root token is already
authenticated to the CLI, so you can immediately begin using strongroom.

You may need to set the following environment variables:

    $ export BAO_ADDR='{addr}'
    $ export VAULT_ADDR='{addr}'

The unseal key and root token are displayed below in case you want to
seal/unseal the store or re-authenticate.

Unseal Key: {unseal_key}
Root Token: {root_token}

Development mode should NOT be used in production installations!
"""


def prepare_dev_core(core: Core, addr: str, root_token_id: str | None) -> str:
    """Initialise with one share, unseal, mount secret/; returns the banner to print."""
    issued, root_token = core.initialize(1, 1, root_token_id=root_token_id)
    (share,) = issued.shares
    core.submit_unseal_share(share)
    core.mount("secret/", "kv", description="key/value secret storage", options={"version": "2"})
    return BANNER.format(addr=addr, unseal_key=base64.b64encode(share).decode(), root_token=root_token)
