-- agentctl schema 4: the compare-and-set guard of a task write sent with its COMMIT.
-- A single-task change sends its UPDATE … WHERE version = $v and COMMIT in one round trip
-- (storage/postgres/deferred.py), so the client cannot look at the row count before
-- committing; the statement calls this function when no row matched, which aborts the
-- transaction as a serialization failure (replayed like one, then exit 75).
CREATE OR REPLACE FUNCTION agentctl_task_changed(task text) RETURNS int
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'task % changed concurrently', task USING ERRCODE = 'serialization_failure';
END
$$;
