-- The server's version number (e.g. 160002), to pick features such as IS JSON (16+).
SELECT current_setting('server_version_num')::int AS version
