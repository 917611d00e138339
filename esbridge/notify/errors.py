"""The one error every notification channel raises, so the watcher handles all alike."""


class NotifyError(Exception):
    """A digest was not delivered; the message names the channel and the cause, never secrets."""
