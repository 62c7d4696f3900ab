"""Log the bot in: a configured access token first, then a saved session, then a password."""

from __future__ import annotations

from nio import AsyncClient, LoginResponse, WhoamiResponse

from bot.logs import get_logger
from bot.matrix.session import SavedSession, SessionFile
from bot.matrix.types import MatrixConfig

log = get_logger(__name__)


class MatrixLoginError(RuntimeError):
    """The homeserver rejected the bot's credentials; retrying will not help."""


async def log_in(client: AsyncClient, config: MatrixConfig, sessions: SessionFile) -> None:
    """Leave `client` logged in, reusing the saved device so restarts add no new device."""
    if config.access_token:
        device_id = await _whoami_device(client, config, config.access_token)
        if device_id is None:
            raise MatrixLoginError(f"access_token is not valid for {config.user_id}")
        client.restore_login(config.user_id, device_id, config.access_token)
        return
    saved = sessions.load(config.user_id)
    if saved is not None:
        if await _whoami_device(client, config, saved.access_token) == saved.device_id:
            client.restore_login(saved.user_id, saved.device_id, saved.access_token)
            log.info("matrix_session_restored", device_id=saved.device_id)
            return
        # The token was revoked: log in again, asking for the same device back.
        client.device_id = saved.device_id
    if not config.password:
        raise MatrixLoginError("set matrix.access_token or matrix.password")
    response = await client.login(config.password, device_name=config.device_name)
    if not isinstance(response, LoginResponse):
        client.access_token = ""
        raise MatrixLoginError(f"password login as {config.user_id} failed: {response.message}")
    sessions.save(SavedSession(response.user_id, response.device_id, response.access_token))
    log.info("matrix_logged_in", device_id=response.device_id)


async def _whoami_device(client: AsyncClient, config: MatrixConfig, token: str) -> str | None:
    """The device id behind `token` if it belongs to the configured user, else None."""
    client.access_token = token
    response = await client.whoami()
    client.access_token = ""
    if isinstance(response, WhoamiResponse) and response.user_id == config.user_id:
        return str(response.device_id) if response.device_id else None
    return None
