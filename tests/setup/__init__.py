"""Set-up on a fresh machine (issue 20): the server user, the server binaries, the README."""
