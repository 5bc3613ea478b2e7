-- Rate limiting: every decision's UPDATE is a HOT update.
--
-- A decision rewrites state and expires_at_ms. While ratelimit_state_expiry indexed
-- expires_at_ms, no such update could be HOT (heap-only: new row version on the same page,
-- no index insertion), so each decision inserted into both indexes and the table bloated
-- with dead versions. Without that index, and with room left on each page (fillfactor 70),
-- the update touches no indexed column and stays on its page. Purging expired rows is a
-- periodic, bounded scan instead (ratelimit_purge_expired: DELETE … WHERE ctid IN (SELECT
-- ctid … LIMIT n FOR UPDATE SKIP LOCKED)).
DROP INDEX ratelimit_state_expiry;
ALTER TABLE ratelimit_state SET (fillfactor = 70);

-- ratelimit_decide as in 0005, with the same answers, doing less work:
-- * one check (the common case) takes a fast path without per-check arrays or key ordering
--   (with one check, the gate is exactly "this check is denied and enforced");
-- * on that path the row is read without a lock and updated through its ctid (a TID scan,
--   no second primary-key lookup) only if it still holds what was read (compare and set: a
--   concurrent change moves the row to a new ctid or changes it, and the UPDATE finds no
--   row); then the decision is taken again under the row lock, as in 0005. A decision that
--   writes nothing answers from the committed state it read. Several checks keep 0005's code.
CREATE OR REPLACE FUNCTION ratelimit_decide(
    p_tenant text, p_now bigint, p_policy text[], p_key text[], p_algo text[],
    p_quota bigint[], p_window bigint[], p_burst bigint[], p_block bigint[],
    p_shadow boolean[], p_cost bigint[]
) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    n int := cardinality(p_policy);
    ord int[];
    st text[] := '{}';
    blk bigint[] := '{}';
    ev ratelimit_eval_result[] := '{}';
    blocked boolean[] := '{}';
    e ratelimit_eval_result;
    z ratelimit_eval_result;
    v_st text;
    v_blk bigint;
    v_tid tid;
    v_blocked boolean;
    gate boolean := false;
    outcome bigint;
    x bigint;
    o bigint[] := '{}';
    i int;
BEGIN
    IF n = 1 THEN
        -- First read without locking and write only if the row is unchanged (compare and
        -- set); if another decision changed it meanwhile, decide again under the row lock.
        FOR attempt IN 1..2 LOOP
            IF attempt = 1 THEN
                SELECT s.ctid, s.state, s.blocked_until_ms INTO v_tid, v_st, v_blk
                  FROM ratelimit_state s
                 WHERE s.tenant_id = p_tenant AND s.policy = p_policy[1] AND s.key = p_key[1];
            ELSE
                SELECT s.ctid, s.state, s.blocked_until_ms INTO v_tid, v_st, v_blk
                  FROM ratelimit_state s
                 WHERE s.tenant_id = p_tenant AND s.policy = p_policy[1] AND s.key = p_key[1]
                   FOR UPDATE;
            END IF;
            IF NOT FOUND THEN
                INSERT INTO ratelimit_state (tenant_id, policy, key, expires_at_ms)
                VALUES (p_tenant, p_policy[1], p_key[1], p_now)
                ON CONFLICT (tenant_id, policy, key) DO UPDATE SET tenant_id = excluded.tenant_id
                RETURNING ctid, state, blocked_until_ms INTO v_tid, v_st, v_blk;
            END IF;
            e := ratelimit_eval(p_algo[1], p_quota[1], p_window[1], p_burst[1], v_st, p_now,
                                p_cost[1]);
            v_blocked := v_blk > p_now AND p_cost[1] > 0;
            IF v_blocked THEN
                e := ROW(false, 0, greatest(e.reset_ms, v_blk - p_now), v_blk - p_now,
                         NULL, NULL);
            END IF;
            outcome := CASE WHEN e.allowed THEN 0 WHEN p_shadow[1] THEN 2 ELSE 1 END;
            IF NOT e.allowed AND NOT v_blocked AND p_block[1] > 0 THEN
                e.retry_ms := greatest(e.retry_ms, p_block[1]);
                e.reset_ms := greatest(e.reset_ms, p_block[1]);
                x := ratelimit_state_exp(v_st, p_window[1]);
                UPDATE ratelimit_state
                   SET state = CASE WHEN x IS NULL THEN NULL ELSE v_st END,
                       blocked_until_ms = p_now + p_block[1],
                       expires_at_ms = greatest(coalesce(x, 0), p_now + p_block[1])
                 WHERE ctid = v_tid AND state IS NOT DISTINCT FROM v_st
                   AND blocked_until_ms = v_blk;
                IF NOT FOUND THEN
                    CONTINUE WHEN attempt = 1;
                    RAISE EXCEPTION 'ratelimit_decide: locked row not updated';
                END IF;
            ELSIF e.allowed AND e.next_state IS NOT NULL THEN
                UPDATE ratelimit_state
                   SET state = e.next_state, expires_at_ms = greatest(e.next_exp, v_blk)
                 WHERE ctid = v_tid AND state IS NOT DISTINCT FROM v_st
                   AND blocked_until_ms = v_blk;
                IF NOT FOUND THEN
                    CONTINUE WHEN attempt = 1;
                    RAISE EXCEPTION 'ratelimit_decide: locked row not updated';
                END IF;
            END IF;
            RETURN ARRAY[CASE WHEN outcome = 1 THEN 0 ELSE 1 END, outcome, e.remaining,
                         e.reset_ms, e.retry_ms];
        END LOOP;
    END IF;
    SELECT array_agg(u.i ORDER BY u.p COLLATE "C", u.k COLLATE "C") INTO ord
      FROM unnest(p_policy, p_key) WITH ORDINALITY AS u(p, k, i);
    -- lock (or create and lock) every row, in key order
    FOREACH i IN ARRAY ord LOOP
        SELECT s.state, s.blocked_until_ms INTO v_st, v_blk FROM ratelimit_state s
         WHERE s.tenant_id = p_tenant AND s.policy = p_policy[i] AND s.key = p_key[i]
           FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO ratelimit_state (tenant_id, policy, key, expires_at_ms)
            VALUES (p_tenant, p_policy[i], p_key[i], p_now)
            ON CONFLICT (tenant_id, policy, key) DO UPDATE SET tenant_id = excluded.tenant_id
            RETURNING state, blocked_until_ms INTO v_st, v_blk;
        END IF;
        st[i] := v_st;
        blk[i] := v_blk;
    END LOOP;
    -- evaluate, honouring blocks
    FOR i IN 1..n LOOP
        e := ratelimit_eval(p_algo[i], p_quota[i], p_window[i], p_burst[i], st[i], p_now,
                            p_cost[i]);
        blocked[i] := blk[i] > p_now AND p_cost[i] > 0;
        IF blocked[i] THEN
            e := ROW(false, 0, greatest(e.reset_ms, blk[i] - p_now), blk[i] - p_now, NULL, NULL);
        END IF;
        IF NOT e.allowed AND NOT p_shadow[i] THEN
            gate := true;
        END IF;
        ev[i] := e;
    END LOOP;
    -- decide all or nothing, write
    FOR i IN 1..n LOOP
        e := ev[i];
        outcome := CASE WHEN e.allowed THEN 0 WHEN p_shadow[i] THEN 2 ELSE 1 END;
        IF gate AND e.allowed THEN
            z := ratelimit_eval(p_algo[i], p_quota[i], p_window[i], p_burst[i], st[i], p_now, 0);
            e.remaining := z.remaining;
            e.reset_ms := z.reset_ms;
            e.retry_ms := z.retry_ms;
        END IF;
        IF NOT (ev[i]).allowed AND NOT blocked[i] AND p_block[i] > 0 THEN
            e.retry_ms := greatest(e.retry_ms, p_block[i]);
            e.reset_ms := greatest(e.reset_ms, p_block[i]);
            x := ratelimit_state_exp(st[i], p_window[i]);
            UPDATE ratelimit_state
               SET state = CASE WHEN x IS NULL THEN NULL ELSE st[i] END,
                   blocked_until_ms = p_now + p_block[i],
                   expires_at_ms = greatest(coalesce(x, 0), p_now + p_block[i])
             WHERE tenant_id = p_tenant AND policy = p_policy[i] AND key = p_key[i];
        ELSIF NOT gate AND e.allowed AND e.next_state IS NOT NULL THEN
            UPDATE ratelimit_state
               SET state = e.next_state, expires_at_ms = greatest(e.next_exp, blk[i])
             WHERE tenant_id = p_tenant AND policy = p_policy[i] AND key = p_key[i];
        END IF;
        o := o || ARRAY[CASE WHEN outcome = 1 THEN 0 ELSE 1 END, outcome, e.remaining,
                        e.reset_ms, e.retry_ms];
    END LOOP;
    RETURN o;
END $$;
