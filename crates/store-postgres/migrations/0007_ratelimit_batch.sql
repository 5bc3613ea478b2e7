-- Rate limiting: several callers' decisions in ONE statement.
--
-- ratelimit_decide_batch() takes a batch of decisions (each one tenant's checks, decided all
-- or nothing with the same arithmetic as ratelimit_decide in 0005/0006; decisions are
-- independent of each other) and returns 5 values per check in input order: allowed (0|1),
-- outcome (0 allowed, 1 limited, 2 shadow-limited), remaining, reset_after_ms,
-- retry_after_ms.
--
-- Inputs:
-- * p_tenant, p_policy, p_key: the batch's distinct rows, sorted by (tenant, policy, key)
--   byte-wise (COLLATE "C", the columns' collation);
-- * p_now, p_len: per decision, its `now` (the store's clock when the caller asked) and its
--   number of checks; checks are listed decision by decision, in the order to decide them;
-- * p_row: per check, its row (1-based index into the distinct rows); p_algo … p_cost: per
--   check, as in ratelimit_decide.
--
-- Locking: ONE statement locks every row of the batch, creating missing ones, in the sorted
-- order, and reads it: INSERT … ON CONFLICT DO UPDATE (a no-op update, HOT) … RETURNING
-- inserts or locks row by row in input order. ratelimit_decide (0005) locks a multi-check
-- decision's rows in (policy, key) order within one tenant, its single-check path (0006)
-- holds one row at a time, and ratelimit_purge_expired never waits (SKIP LOCKED), so every
-- transaction takes these row locks in one global order and none can deadlock. (Locking
-- with SELECT … FOR UPDATE and creating the missing rows afterwards would break the order.)
-- Then the decisions are taken one after the other, on the rows' current state held in
-- arrays, so a key in two decisions is decided sequentially (the second sees the first's
-- write); a one-check decision (the common case) skips the per-check arrays and a GCRA one
-- runs its evaluation inlined (a plpgsql call costs more than the arithmetic); one
-- UPDATE by ctid (the locked versions) writes each changed row once.
CREATE FUNCTION ratelimit_decide_batch(
    p_tenant text[], p_policy text[], p_key text[], p_now bigint[], p_len int[],
    p_row int[], p_algo text[], p_quota bigint[], p_window bigint[], p_burst bigint[],
    p_block bigint[], p_shadow boolean[], p_cost bigint[]
) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    nrows int := cardinality(p_key);
    st text[];            -- per row: current state
    blk bigint[];         -- per row: current blocked_until_ms
    tids tid[];           -- per row: its (locked) version
    exp bigint[] := array_fill(NULL::bigint, ARRAY[nrows]);
    dirty boolean[] := array_fill(false, ARRAY[nrows]);
    st0 text[];           -- per check of the current decision: state at its start
    blk0 bigint[];
    ev ratelimit_eval_result[];
    blocked boolean[];
    e ratelimit_eval_result;
    z ratelimit_eval_result;
    gate boolean;
    v_blocked boolean;
    t bigint;
    tau bigint;
    nowu bigint;
    base bigint;
    nt bigint;
    outcome bigint;
    x bigint;
    now bigint;
    o bigint[] := '{}';
    first int := 1;
    d int;
    i int;
    r int;
BEGIN
    -- lock (or create) every row in the global order, reading it in the same statement
    WITH l AS (
        INSERT INTO ratelimit_state AS s (tenant_id, policy, key, expires_at_ms)
        SELECT u.t, u.p, u.k, p_now[1]
          FROM unnest(p_tenant, p_policy, p_key) WITH ORDINALITY AS u(t, p, k, i)
         ORDER BY u.i
            ON CONFLICT (tenant_id, policy, key) DO UPDATE SET expires_at_ms = s.expires_at_ms
        RETURNING s.tenant_id, s.policy, s.key, s.state, s.blocked_until_ms, s.ctid
    )
    SELECT array_agg(l.state ORDER BY u.i), array_agg(l.blocked_until_ms ORDER BY u.i),
           array_agg(l.ctid ORDER BY u.i)
      INTO st, blk, tids
      FROM unnest(p_tenant, p_policy, p_key) WITH ORDINALITY AS u(t, p, k, i)
      JOIN l ON l.tenant_id = u.t AND l.policy = u.p AND l.key = u.k;
    IF cardinality(tids) IS DISTINCT FROM nrows THEN
        RAISE EXCEPTION 'ratelimit_decide_batch: locked rows not found';
    END IF;
    FOR d IN 1..cardinality(p_len) LOOP
        now := p_now[d];
        IF p_len[d] = 1 THEN
            -- one check (the common case): no per-check arrays; the gate is exactly "this
            -- check is denied and enforced" (as in 0006's fast path)
            i := first;
            r := p_row[i];
            IF p_algo[i] = 'g' AND p_cost[i] > 0 THEN
                -- ratelimit_eval's GCRA branch for cost > 0, inlined (a call costs more)
                t := greatest(ratelimit_cdiv(p_window[i] * 1000, greatest(p_quota[i], 1)), 1);
                tau := p_burst[i] * t;
                nowu := now * 1000;
                base := nowu;
                IF st[r] ~ '^g:-?[0-9]+$' THEN
                    base := greatest(substr(st[r], 3)::bigint, nowu);
                END IF;
                nt := base + p_cost[i] * t;
                IF nt - nowu <= tau THEN
                    e := ROW(true, greatest(tau - (nt - nowu), 0) / t, ratelimit_us_ms(nt - nowu),
                             0, 'g:' || nt, ratelimit_cdiv(nt, 1000));
                ELSE
                    x := ratelimit_us_ms(base - nowu);
                    e := ROW(false, greatest(tau - (base - nowu), 0) / t, x,
                             greatest(CASE WHEN p_cost[i] > p_burst[i] THEN x
                                           ELSE ratelimit_us_ms(nt - nowu - tau) END, 1),
                             NULL, NULL);
                END IF;
            ELSE
                e := ratelimit_eval(p_algo[i], p_quota[i], p_window[i], p_burst[i], st[r], now,
                                    p_cost[i]);
            END IF;
            v_blocked := blk[r] > now AND p_cost[i] > 0;
            IF v_blocked THEN
                e := ROW(false, 0, greatest(e.reset_ms, blk[r] - now), blk[r] - now, NULL, NULL);
            END IF;
            outcome := CASE WHEN e.allowed THEN 0 WHEN p_shadow[i] THEN 2 ELSE 1 END;
            IF NOT e.allowed AND NOT v_blocked AND p_block[i] > 0 THEN
                e.retry_ms := greatest(e.retry_ms, p_block[i]);
                e.reset_ms := greatest(e.reset_ms, p_block[i]);
                x := ratelimit_state_exp(st[r], p_window[i]);
                IF x IS NULL THEN
                    st[r] := NULL;
                END IF;
                blk[r] := now + p_block[i];
                exp[r] := greatest(coalesce(x, 0), now + p_block[i]);
                dirty[r] := true;
            ELSIF e.allowed AND e.next_state IS NOT NULL THEN
                st[r] := e.next_state;
                exp[r] := greatest(e.next_exp, blk[r]);
                dirty[r] := true;
            END IF;
            o := o || ARRAY[CASE WHEN outcome = 1 THEN 0 ELSE 1 END, outcome, e.remaining,
                            e.reset_ms, e.retry_ms];
            first := first + 1;
            CONTINUE;
        END IF;
        gate := false;
        st0 := '{}';
        blk0 := '{}';
        ev := '{}';
        blocked := '{}';
        -- evaluate, honouring blocks, on the state before this decision
        FOR i IN first..first + p_len[d] - 1 LOOP
            r := p_row[i];
            st0[i] := st[r];
            blk0[i] := blk[r];
            e := ratelimit_eval(p_algo[i], p_quota[i], p_window[i], p_burst[i], st0[i], now,
                                p_cost[i]);
            blocked[i] := blk0[i] > now AND p_cost[i] > 0;
            IF blocked[i] THEN
                e := ROW(false, 0, greatest(e.reset_ms, blk0[i] - now), blk0[i] - now,
                         NULL, NULL);
            END IF;
            IF NOT e.allowed AND NOT p_shadow[i] THEN
                gate := true;
            END IF;
            ev[i] := e;
        END LOOP;
        -- decide all or nothing, write to the arrays
        FOR i IN first..first + p_len[d] - 1 LOOP
            r := p_row[i];
            e := ev[i];
            outcome := CASE WHEN e.allowed THEN 0 WHEN p_shadow[i] THEN 2 ELSE 1 END;
            IF gate AND e.allowed THEN
                z := ratelimit_eval(p_algo[i], p_quota[i], p_window[i], p_burst[i], st0[i],
                                    now, 0);
                e.remaining := z.remaining;
                e.reset_ms := z.reset_ms;
                e.retry_ms := z.retry_ms;
            END IF;
            IF NOT (ev[i]).allowed AND NOT blocked[i] AND p_block[i] > 0 THEN
                e.retry_ms := greatest(e.retry_ms, p_block[i]);
                e.reset_ms := greatest(e.reset_ms, p_block[i]);
                x := ratelimit_state_exp(st0[i], p_window[i]);
                st[r] := CASE WHEN x IS NULL THEN NULL ELSE st0[i] END;
                blk[r] := now + p_block[i];
                exp[r] := greatest(coalesce(x, 0), now + p_block[i]);
                dirty[r] := true;
            ELSIF NOT gate AND e.allowed AND e.next_state IS NOT NULL THEN
                st[r] := e.next_state;
                exp[r] := greatest(e.next_exp, blk0[i]);
                dirty[r] := true;
            END IF;
            o := o || ARRAY[CASE WHEN outcome = 1 THEN 0 ELSE 1 END, outcome, e.remaining,
                            e.reset_ms, e.retry_ms];
        END LOOP;
        first := first + p_len[d];
    END LOOP;
    -- write each changed row once, by the version locked above
    UPDATE ratelimit_state s
       SET state = w.st, blocked_until_ms = w.blk, expires_at_ms = w.exp
      FROM unnest(tids, st, blk, exp, dirty) AS w(tid, st, blk, exp, dirty)
     WHERE w.dirty AND s.ctid = w.tid;
    RETURN o;
END $$;
