"""`esbridge watch`: log signatures become tracked issues, with a lifecycle and notifications."""
