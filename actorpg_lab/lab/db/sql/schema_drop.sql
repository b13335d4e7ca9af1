-- connect(schema=..., fresh_schema=True): start a notebook from an empty schema.
DROP SCHEMA IF EXISTS {schema} CASCADE
