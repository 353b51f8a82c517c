"""The sys backend's route table: every sys/ path strongroom serves, and its flags."""

from __future__ import annotations

from server.request import DELETE, HEAD, LIST, READ, UPDATE
from server.routing import Router
from server.auth import token
from server.sys import audit, auth, generate_root, health, keyring, keys, mounts, policy, rekey, seal, wrapping

MOUNT = r"(?P<path>.+)"


def _legacy_rekey_enabled(core) -> bool:
    return not core.listener.disable_unauthed_rekey_endpoints


def _legacy_generate_root_enabled(core) -> bool:
    return not core.listener.disable_unauthed_generate_root_endpoints


def build_router() -> Router:
    router = Router()
    raw_unauth = {"unauthenticated": True, "sealed_ok": True, "raw": True}
    router.add("sys/init", {READ: seal.read_init, UPDATE: seal.write_init}, **raw_unauth)
    router.add("sys/seal-status", {READ: seal.read_seal_status}, **raw_unauth)
    router.add("sys/unseal", {UPDATE: seal.write_unseal}, **raw_unauth)
    router.add("sys/unseal-check", {UPDATE: seal.check_share}, **raw_unauth)
    router.add("sys/health", {READ: health.health, HEAD: health.health}, **raw_unauth)
    router.add("sys/leader", {READ: health.leader}, **raw_unauth)
    # Sealing while sealed is a no-op, so it may answer then; once open it needs sudo.
    router.add("sys/seal", {UPDATE: seal.write_seal}, sealed_ok=True, raw=True, sudo=True)

    router.add("sys/rotate(?:/keyring)?", {UPDATE: keys.rotate}, sudo=True)
    router.add("sys/key-status", {READ: keys.key_status})
    router.add("sys/keyring", {READ: keyring.read_keyring}, sudo=True)
    router.add("sys/keyring/retire", {UPDATE: keyring.retire_term}, sudo=True)

    for name, ops in rekey.handlers(legacy=False).items():
        router.add(f"sys/rotate/root/{name}", ops, sudo=True)
    for name, ops in rekey.handlers(legacy=True).items():
        router.add(f"sys/rekey/{name}", ops, unauthenticated=True, raw=True, enabled=_legacy_rekey_enabled)
    for name, ops in generate_root.handlers(legacy=False).items():
        router.add(f"sys/generate-root-token/{name}", ops, sudo=True)
    for name, ops in generate_root.handlers(legacy=True).items():
        router.add(f"sys/generate-root/{name}", ops, unauthenticated=True, raw=True,
                   enabled=_legacy_generate_root_enabled)

    router.add("sys/mounts", {READ: mounts.list_mounts})
    router.add(f"sys/mounts/{MOUNT}/tune", {READ: mounts.read_tune, UPDATE: mounts.write_tune}, sudo={UPDATE})
    router.add(f"sys/mounts/{MOUNT}", {READ: mounts.read_mount, UPDATE: mounts.enable_mount,
                                       DELETE: mounts.disable_mount}, sudo={UPDATE, DELETE})
    router.add("sys/internal/ui/mounts", {READ: mounts.ui_mounts}, token_optional=True, acl_exempt=True)
    router.add(f"sys/internal/ui/mounts/{MOUNT}", {READ: mounts.ui_mount}, acl_exempt=True)

    name = r"(?P<name>[^/]+)"
    router.add("sys/policy/?", {READ: policy.list_policies, LIST: policy.list_policies})
    router.add(f"sys/policy/{name}", {READ: policy.read_policy, UPDATE: policy.write_policy,
                                      DELETE: policy.delete_policy}, sudo={UPDATE, DELETE})
    router.add("sys/policies/acl/?", {LIST: policy.list_acl})
    router.add(f"sys/policies/acl/{name}", {READ: policy.read_acl, UPDATE: policy.write_policy,
                                            DELETE: policy.delete_policy}, sudo={UPDATE, DELETE})
    router.add("sys/capabilities-self", {UPDATE: policy.capabilities_self})
    router.add("sys/capabilities", {UPDATE: policy.capabilities})
    router.add("sys/capabilities-accessor", {UPDATE: policy.capabilities_accessor})

    router.add("sys/audit", {READ: audit.list_devices}, sudo=True)
    router.add(f"sys/audit/{MOUNT}", {UPDATE: audit.enable_device, DELETE: audit.disable_device}, sudo=True)
    router.add(f"sys/audit-hash/{MOUNT}", {UPDATE: audit.audit_hash})

    router.add("sys/wrapping/wrap", {UPDATE: wrapping.wrap})
    # The wrapping token itself authenticates these two (its one use is the unwrap).
    router.add("sys/wrapping/unwrap", {UPDATE: wrapping.unwrap}, unauthenticated=True)
    router.add("sys/wrapping/lookup", {UPDATE: wrapping.lookup, READ: wrapping.lookup}, unauthenticated=True)
    router.add("sys/wrapping/rewrap", {UPDATE: wrapping.rewrap})

    router.add("sys/auth", {READ: auth.list_methods})
    router.add(f"sys/auth/{MOUNT}/tune", {READ: auth.read_tune, UPDATE: auth.write_tune}, sudo={UPDATE})
    router.add(f"sys/auth/{MOUNT}", {UPDATE: auth.enable_method, DELETE: auth.disable_method}, sudo=True)

    token.register(router)
    return router

