"""The built-in Microsoft 365 sign-in: OAuth2 device-code flow with MSAL.

`kept auth ACCOUNT` runs `device_sign_in` once: it prints a URL and a code,
the user enters the code in any browser, and MSAL's token cache (which holds
the refresh token) is stored in the system keyring under service
``"kept-oauth2"``, user = the account name. Never in the config file.

Afterwards `cached_access_token` refreshes access tokens silently from that
cache and writes the cache back whenever MSAL rotates the refresh token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from kept.errors import AuthenticationError, UserError
from kept.settings import OAuth2Settings

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

TOKEN_KEYRING_SERVICE = "kept-oauth2"

# Scopes of the Microsoft 365 protocols kept uses. MSAL adds offline_access
# (the refresh token) and openid/profile by itself.
IMAP_SCOPES = ("https://outlook.office.com/IMAP.AccessAsUser.All",)
SMTP_SCOPES = ("https://outlook.office.com/SMTP.Send",)
EWS_SCOPES = ("https://outlook.office365.com/EWS.AccessAsUser.All",)
EWS_APP_SCOPES = ("https://outlook.office365.com/.default",)


class KeyringTokenCache:
    """An MSAL token cache that lives in the system keyring.

    :param name: the account name (the keyring user name).
    """

    def __init__(self, name: str) -> None:
        # keyring and msal (150 ms together) load only when a Microsoft sign-in is used.
        import keyring
        import msal

        self.name = name
        self.cache = msal.SerializableTokenCache()
        stored = self._keyring_call(lambda: keyring.get_password(TOKEN_KEYRING_SERVICE, name))
        if stored:
            self.cache.deserialize(stored)

    def save(self) -> None:
        """Write the cache back if MSAL changed it (a new or rotated refresh token)."""
        import keyring  # loaded on first use, see __init__

        if self.cache.has_state_changed:
            serialized = self.cache.serialize()
            self._keyring_call(lambda: keyring.set_password(TOKEN_KEYRING_SERVICE, self.name, serialized))
            logger.debug("%s: token cache saved to the keyring", self.name)

    def _keyring_call(self, call: Callable[[], _T]) -> _T:
        """Run one keyring operation; a locked or missing keyring becomes a UserError."""
        from keyring.errors import KeyringError  # loaded on first use, see __init__

        try:
            return call()
        except (KeyringError, RuntimeError) as error:
            raise UserError(
                f"{self.name}: cannot use the system keyring for the Microsoft sign-in: {error}",
                hint="unlock the keyring (log in to a desktop session), or use token_command instead",
            ) from error


def _application(name: str, oauth2: OAuth2Settings, cache: KeyringTokenCache, verify: bool | str = True) -> Any:
    """MSAL's public client application for `oauth2` (Any: msal ships no type information)."""
    import msal  # loaded on first use, see KeyringTokenCache

    return msal.PublicClientApplication(
        oauth2.client_id,
        authority=oauth2.authority,
        token_cache=cache.cache,
        verify=verify,
        # Our authority is named explicitly; asking login.microsoftonline.com
        # whether it exists is one more network call and breaks other clouds.
        instance_discovery=False,
    )


def device_sign_in(
    name: str,
    oauth2: OAuth2Settings,
    scopes: tuple[str, ...],
    show: Callable[[str], None] = print,
    verify: bool | str = True,
) -> str:
    """Run the device-code flow for account `name`; return the signed-in user name.

    `show` receives MSAL's instruction text (URL and code). Blocks until the
    user has entered the code or the code expires.
    """
    cache = KeyringTokenCache(name)
    app = _application(name, oauth2, cache, verify)
    flow = app.initiate_device_flow(scopes=list(scopes))
    if "user_code" not in flow:
        raise AuthenticationError(
            f"{name}: Microsoft refused to start the sign-in: {flow.get('error_description') or flow.get('error')}",
            hint="check oauth2_client_id and oauth2_tenant, and that the app registration allows "
            "public client flows",
        )
    show(flow["message"])
    result = app.acquire_token_by_device_flow(flow)
    if "access_token" not in result:
        raise AuthenticationError(
            f"{name}: the sign-in did not complete: {result.get('error_description') or result.get('error')}",
            hint=f"run `kept auth {name}` again and enter the code before it expires",
        )
    cache.save()
    claims = result.get("id_token_claims") or {}
    return str(claims.get("preferred_username") or "")


def cached_access_token(
    name: str, oauth2: OAuth2Settings, scopes: tuple[str, ...], verify: bool | str = True
) -> str:
    """A fresh access token from the keyring's refresh token, without any prompt.

    Raises AuthenticationError naming `kept auth` when there is no sign-in or
    Microsoft no longer accepts it.
    """
    cache = KeyringTokenCache(name)
    app = _application(name, oauth2, cache, verify)
    accounts = app.get_accounts()
    result = app.acquire_token_silent(list(scopes), account=accounts[0]) if accounts else None
    cache.save()
    if not result or "access_token" not in result:
        reason = (result or {}).get("error_description") or "not signed in yet"
        raise AuthenticationError(
            f"{name}: no valid Microsoft sign-in ({reason.splitlines()[0]})",
            hint=f"run `kept auth {name}` once to sign in",
        )
    token: str = result["access_token"]  # MSAL's result is an untyped dict
    return token
