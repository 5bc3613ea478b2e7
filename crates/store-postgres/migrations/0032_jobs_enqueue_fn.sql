-- Transactional enqueue for applications in any language: call palisade_job_enqueue inside
-- your own transaction and the job exists if and only if that transaction commits.
--
--   BEGIN;
--   INSERT INTO orders ...;
--   SELECT * FROM palisade_job_enqueue('ten_123', 'emails', 'order-confirmation',
--                                       '{"order": 42}'::jsonb, p_unique_key => 'order-42');
--   COMMIT;
--
-- Answers (job_id, duplicate): the new job's id, or — when a job of the tenant holds the
-- unique key (in any state but cancelled, as a Rust enqueue with the default key states) —
-- that job's id with duplicate = true. Arguments: tenant id, queue, kind, payload (JSON, at
-- most 256 KiB), and optionally p_run_at (not before; default now), p_priority (0..9,
-- lower first; default 5), p_max_attempts (1..100; default 25), p_unique_key, p_tags (at
-- most 20). Timeout (15 min), lease (30 s) and backoff (1 s doubling to 1 h, 20 % jitter) are
-- the Rust defaults. Bad input raises SQLSTATE 22023 naming the argument, never its value.
-- Idle workers are notified at commit (channel palisade_jobs), as for a Rust enqueue.
CREATE FUNCTION palisade_job_enqueue(
    p_tenant       TEXT,
    p_queue        TEXT,
    p_kind         TEXT,
    p_payload      JSONB       DEFAULT '{}',
    p_run_at       TIMESTAMPTZ DEFAULT NULL,
    p_priority     INT         DEFAULT 5,
    p_max_attempts INT         DEFAULT 25,
    p_unique_key   TEXT        DEFAULT NULL,
    p_tags         TEXT[]      DEFAULT '{}'
) RETURNS TABLE (job_id TEXT, duplicate BOOLEAN)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    v_now    BIGINT := (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT;
    v_run_at BIGINT;
    v_state  TEXT;
    v_id     TEXT;
    v_held   TEXT;
    v_text   TEXT;
BEGIN
    IF p_tenant IS NULL OR p_tenant !~ '^[A-Za-z0-9_-]{1,64}$' THEN
        RAISE EXCEPTION 'palisade_job_enqueue: p_tenant must be a tenant id' USING ERRCODE = '22023';
    END IF;
    FOREACH v_text IN ARRAY ARRAY[p_queue, p_kind] || coalesce(p_tags, '{}') LOOP
        IF v_text IS NULL OR char_length(v_text) NOT BETWEEN 1 AND 200 OR v_text ~ '[[:cntrl:]]' THEN
            RAISE EXCEPTION 'palisade_job_enqueue: p_queue, p_kind and p_tags must be 1 to 200 characters without control characters'
                USING ERRCODE = '22023';
        END IF;
    END LOOP;
    IF p_unique_key IS NOT NULL AND (char_length(p_unique_key) NOT BETWEEN 1 AND 200
                                     OR p_unique_key ~ '[[:cntrl:]]') THEN
        RAISE EXCEPTION 'palisade_job_enqueue: p_unique_key must be 1 to 200 characters without control characters'
            USING ERRCODE = '22023';
    END IF;
    IF p_payload IS NULL OR octet_length(p_payload::TEXT) > 262144 THEN
        RAISE EXCEPTION 'palisade_job_enqueue: p_payload must be JSON of at most 262144 bytes' USING ERRCODE = '22023';
    END IF;
    IF p_priority IS NULL OR p_priority NOT BETWEEN 0 AND 9 THEN
        RAISE EXCEPTION 'palisade_job_enqueue: p_priority must be an integer from 0 to 9' USING ERRCODE = '22023';
    END IF;
    IF p_max_attempts IS NULL OR p_max_attempts NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'palisade_job_enqueue: p_max_attempts must be an integer from 1 to 100' USING ERRCODE = '22023';
    END IF;
    IF cardinality(coalesce(p_tags, '{}')) > 20 THEN
        RAISE EXCEPTION 'palisade_job_enqueue: p_tags must hold at most 20 tags' USING ERRCODE = '22023';
    END IF;
    v_run_at := greatest(v_now, coalesce((extract(epoch FROM p_run_at) * 1000)::BIGINT, v_now));
    v_state := CASE WHEN v_run_at > v_now THEN 'scheduled' ELSE 'queued' END;
    FOR i IN 1..5 LOOP
        v_id := 'job_' || lpad(to_hex(v_now), 12, '0')
                || substr(replace(gen_random_uuid()::TEXT, '-', ''), 1, 12);
        INSERT INTO jobs (id, tenant_id, queue, kind, payload, owner, priority, state, run_at_ms,
            attempt, max_attempts, timeout_ms, lease_ms, backoff, tags, unique_key,
            unique_states, lease_token, lease_expires_at_ms, worker, cancel_requested,
            checkpoint, progress, last_error, created_at_ms, updated_at_ms, finished_at_ms, events)
        VALUES (v_id, p_tenant, p_queue, p_kind, p_payload::TEXT, NULL, p_priority, v_state,
            v_run_at, 0, p_max_attempts, 900000, 30000,
            '{"base_ms":1000,"max_ms":3600000,"factor":2.0,"jitter":0.2}',
            to_jsonb(coalesce(p_tags, '{}'))::TEXT, p_unique_key, 63, 0, NULL, NULL, FALSE,
            NULL, NULL, NULL, v_now, v_now, NULL, 1)
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            INSERT INTO job_events (job_id, seq, tenant_id, at_ms, kind, data)
            VALUES (v_id, 0, p_tenant, v_now, 'enqueued',
                    json_build_object('state', v_state, 'run_at_ms', v_run_at)::TEXT);
            IF v_state = 'queued' THEN
                PERFORM pg_notify('palisade_jobs', current_schema() || '/' || p_queue);
            END IF;
            RETURN QUERY SELECT v_id, FALSE;
            RETURN;
        END IF;
        SELECT j.id INTO v_held FROM jobs j
        WHERE j.tenant_id = p_tenant AND j.unique_key = p_unique_key
          AND (j.unique_states & (CASE j.state WHEN 'queued' THEN 1 WHEN 'scheduled' THEN 2
               WHEN 'running' THEN 4 WHEN 'retrying' THEN 8 WHEN 'completed' THEN 16
               WHEN 'dead' THEN 32 ELSE 0 END)) <> 0;
        IF FOUND THEN
            RETURN QUERY SELECT v_held, TRUE;
            RETURN;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'palisade_job_enqueue: the unique key kept changing hands, try again'
        USING ERRCODE = '40001';
END;
$$;
