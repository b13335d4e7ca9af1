-- on_error="skip": the poison event and its error, written in the batch transaction
-- that moves the checkpoint past it (a retried skip writes it once).
INSERT INTO {dead_letters} (name, version, persistence_id, sequence_nr, position, error)
VALUES (%(name)s, %(version)s, %(pid)s, %(seq)s, %(position)s, %(error)s)
ON CONFLICT (name, version, persistence_id, sequence_nr) DO UPDATE
SET error = EXCLUDED.error, at = now()
