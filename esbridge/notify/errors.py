"""The one error every notification channel raises, so the watcher handles all alike."""

from esbridge.errors import EsbridgeError


class NotifyError(EsbridgeError):
    """A digest was not delivered; the message names the channel and the cause, never secrets."""
