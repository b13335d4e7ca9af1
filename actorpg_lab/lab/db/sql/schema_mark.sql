-- use_schema(): mark a schema the workbench just created (see SCHEMA_MARKER).
COMMENT ON SCHEMA {schema} IS {marker}
