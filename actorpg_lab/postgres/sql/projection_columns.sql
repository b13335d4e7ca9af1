-- Every column of a checkpoint row, plus the server clock (epoch ms) for ages; times
-- as epoch milliseconds so the runner compares them without client clocks.
name, version, tag_filter, position, persistence_id, sequence_nr, handled, last_event_ms,
(extract(epoch FROM committed_at) * 1000)::bigint AS committed_ms,
status, owner,
(extract(epoch FROM lease_until) * 1000)::bigint AS lease_until_ms,
(extract(epoch FROM heartbeat_at) * 1000)::bigint AS heartbeat_ms,
rebuild_total, rebuild_horizon,
(extract(epoch FROM rebuild_started_at) * 1000)::bigint AS rebuild_started_ms,
error, error_pid, error_seq,
(extract(epoch FROM error_at) * 1000)::bigint AS error_ms,
(extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms,
(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms
