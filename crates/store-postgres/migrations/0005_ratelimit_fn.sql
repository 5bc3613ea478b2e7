-- Rate limiting: one decision in ONE round trip.
--
-- ratelimit_decide() decides every check of a request atomically, all or nothing, with the
-- same arithmetic as palisade_ratelimit::decide_all and algorithm/{gcra,fixed,sliding}.rs
-- (the conformance suite and a differential test against the memory store hold them to one
-- answer), on the `now` the caller passes (the store's clock). It locks the rows of the
-- decision in (policy, key) order (COLLATE "C"), creating missing ones, so concurrent
-- decisions serialise per key and cannot deadlock; decides; writes the changed states; and
-- returns per check: allowed (0|1), outcome (0 allowed, 1 limited, 2 shadow-limited),
-- remaining, reset_after_ms, retry_after_ms — flattened, 5 values per check.
-- State text is the codec of algorithm/codec.rs: g:<tat µs> | f:<start>:<count> | s:<i>:<c>,…

-- Floor division and its remainder (b > 0), like i64::div_euclid / rem_euclid.
CREATE FUNCTION ratelimit_fdiv(a bigint, b bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN a >= 0 THEN a / b ELSE -((-a + b - 1) / b) END $$;

CREATE FUNCTION ratelimit_cdiv(a bigint, b bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN a >= 0 THEN (a + b - 1) / b ELSE -((-a) / b) END $$;

-- A µs span as whole ms rounded up; negative spans are 0 (us_to_ms_ceil).
CREATE FUNCTION ratelimit_us_ms(us bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN us <= 0 THEN 0 ELSE (us + 999) / 1000 END $$;

-- One algorithm evaluation (algorithm::Eval): `next_state` is the state text to store (NULL:
-- unchanged) and `next_exp` when that state stops mattering.
CREATE TYPE ratelimit_eval_result AS (
    allowed   boolean,
    remaining bigint,
    reset_ms  bigint,
    retry_ms  bigint,
    next_state text,
    next_exp   bigint
);

-- The sliding-window ring (SlidingState::from_pairs): 11 slots of (index, units).
CREATE FUNCTION ratelimit_ring(st text, OUT ri bigint[], OUT rc bigint[])
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    pair text;
    i bigint;
    pos int;
BEGIN
    ri := array_fill(0::bigint, ARRAY[11]);
    rc := array_fill(0::bigint, ARRAY[11]);
    IF st IS NULL OR st !~ '^s:(-?[0-9]+:[0-9]+(,-?[0-9]+:[0-9]+)*)?$' THEN
        RETURN;
    END IF;
    IF length(st) = 2 THEN
        RETURN;
    END IF;
    FOREACH pair IN ARRAY string_to_array(substr(st, 3), ',') LOOP
        i := split_part(pair, ':', 1)::bigint;
        pos := (i - ratelimit_fdiv(i, 11) * 11)::int + 1;
        ri[pos] := i;
        rc[pos] := split_part(pair, ':', 2)::bigint;
    END LOOP;
END $$;

-- algorithm::evaluate: `cost` units of (algo, q, w, burst) at `now` against state text `st`
-- (a state of another algorithm, or none, counts as empty).
CREATE FUNCTION ratelimit_eval(
    algo text, q bigint, w bigint, burst bigint, st text, now bigint, cost bigint
) RETURNS ratelimit_eval_result
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    r ratelimit_eval_result;
    t bigint; tau bigint; nowu bigint; base bigint; nt bigint;
    ws bigint; cnt bigint := 0; used bigint; rst bigint;
    b bigint; lo bigint; cur bigint; pos int; ri bigint[]; rc bigint[];
    ni bigint[]; nc bigint[]; total bigint := 0; newest bigint; need bigint; freed bigint := 0;
    i bigint; parts text[];
BEGIN
    IF algo = 'g' THEN
        t := greatest(ratelimit_cdiv(w * 1000, greatest(q, 1)), 1);
        tau := burst * t;
        nowu := now * 1000;
        base := nowu;
        IF st ~ '^g:-?[0-9]+$' THEN
            base := greatest(substr(st, 3)::bigint, nowu);
        END IF;
        IF cost = 0 THEN
            r := ROW(true, greatest(tau - (base - nowu), 0) / t, ratelimit_us_ms(base - nowu), 0,
                     NULL, NULL);
            RETURN r;
        END IF;
        nt := base + cost * t;
        IF nt - nowu <= tau THEN
            r := ROW(true, greatest(tau - (nt - nowu), 0) / t, ratelimit_us_ms(nt - nowu), 0,
                     'g:' || nt, ratelimit_cdiv(nt, 1000));
            RETURN r;
        END IF;
        rst := ratelimit_us_ms(base - nowu);
        r := ROW(false, greatest(tau - (base - nowu), 0) / t, rst,
                 greatest(CASE WHEN cost > burst THEN rst
                               ELSE ratelimit_us_ms(nt - nowu - tau) END, 1),
                 NULL, NULL);
        RETURN r;
    ELSIF algo = 'f' THEN
        ws := now - (now - ratelimit_fdiv(now, w) * w);
        IF st ~ '^f:-?[0-9]+:[0-9]+$' THEN
            parts := string_to_array(st, ':');
            IF parts[2]::bigint = ws THEN
                cnt := parts[3]::bigint;
            END IF;
        END IF;
        rst := ws + w - now;
        IF cost = 0 OR cnt + cost <= q THEN
            used := cnt + cost;
            r := ROW(true, greatest(q - used, 0), CASE WHEN used = 0 THEN 0 ELSE rst END, 0,
                     CASE WHEN cost > 0 THEN 'f:' || ws || ':' || used END,
                     CASE WHEN cost > 0 THEN ws + w END);
            RETURN r;
        END IF;
        r := ROW(false, greatest(q - cnt, 0), rst, greatest(rst, 1), NULL, NULL);
        RETURN r;
    END IF;
    -- sliding window: sub-windows of b ms, span [lo, cur]; a sub-window leaves every window
    -- at (idx + 1) * b + w - 1.
    b := greatest(ratelimit_cdiv(w, 10), 1);
    lo := ratelimit_fdiv(now - w + 1, b);
    cur := ratelimit_fdiv(now, b);
    SELECT x.ri, x.rc INTO ri, rc FROM ratelimit_ring(st) x;
    ni := array_fill(0::bigint, ARRAY[11]);
    nc := array_fill(0::bigint, ARRAY[11]);
    i := lo;
    WHILE i <= cur LOOP
        pos := (i - ratelimit_fdiv(i, 11) * 11)::int + 1;
        IF ri[pos] = i AND rc[pos] > 0 THEN
            total := total + rc[pos];
            newest := i;
            ni[pos] := i;
            nc[pos] := rc[pos];
        END IF;
        i := i + 1;
    END LOOP;
    IF cost = 0 OR total + cost <= q THEN
        IF cost > 0 THEN
            pos := (cur - ratelimit_fdiv(cur, 11) * 11)::int + 1;
            nc[pos] := CASE WHEN ni[pos] = cur THEN nc[pos] ELSE 0 END + cost;
            ni[pos] := cur;
            newest := cur;
            r.next_state := 's:' || (SELECT coalesce(string_agg(ni[k] || ':' || nc[k], ',' ORDER BY k), '')
                                 FROM generate_series(1, 11) k WHERE nc[k] > 0);
            r.next_exp := (cur + 1) * b + w - 1;
        END IF;
        r.allowed := true;
        r.remaining := greatest(q - total - cost, 0);
        r.reset_ms := CASE WHEN newest IS NULL THEN 0 ELSE (newest + 1) * b + w - 1 - now END;
        r.retry_ms := 0;
        RETURN r;
    END IF;
    rst := CASE WHEN newest IS NULL THEN 0 ELSE (newest + 1) * b + w - 1 - now END;
    r.allowed := false;
    r.remaining := greatest(q - total, 0);
    r.reset_ms := rst;
    r.retry_ms := rst;
    IF cost <= q THEN
        need := total + cost - q;
        i := lo;
        WHILE i <= cur LOOP
            pos := (i - ratelimit_fdiv(i, 11) * 11)::int + 1;
            IF ri[pos] = i AND rc[pos] > 0 THEN
                freed := freed + rc[pos];
                IF freed >= need THEN
                    r.retry_ms := (i + 1) * b + w - 1 - now;
                    EXIT;
                END IF;
            END IF;
            i := i + 1;
        END LOOP;
    END IF;
    r.retry_ms := greatest(r.retry_ms, 1);
    RETURN r;
END $$;

-- KeyState::expires_at_ms of the algorithm part: when state text `st` stops mattering under
-- window `w`; NULL when there is no (valid) state.
CREATE FUNCTION ratelimit_state_exp(st text, w bigint) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    ri bigint[]; rc bigint[]; newest bigint; k int;
BEGIN
    IF st ~ '^g:-?[0-9]+$' THEN
        RETURN ratelimit_cdiv(substr(st, 3)::bigint, 1000);
    ELSIF st ~ '^f:-?[0-9]+:[0-9]+$' THEN
        RETURN split_part(st, ':', 2)::bigint + w;
    ELSIF st ~ '^s:(-?[0-9]+:[0-9]+(,-?[0-9]+:[0-9]+)*)?$' THEN
        SELECT x.ri, x.rc INTO ri, rc FROM ratelimit_ring(st) x;
        FOR k IN 1..11 LOOP
            IF rc[k] > 0 AND (newest IS NULL OR ri[k] > newest) THEN
                newest := ri[k];
            END IF;
        END LOOP;
        IF newest IS NULL THEN
            RETURN 0;
        END IF;
        RETURN (newest + 1) * greatest(ratelimit_cdiv(w, 10), 1) + w - 1;
    END IF;
    RETURN NULL;
END $$;

-- One decision (decision::decide_all). Arrays are per check, same length, same order;
-- p_algo is g (GCRA) | f (fixed window) | s (sliding window).
CREATE FUNCTION ratelimit_decide(
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
    gate boolean := false;
    outcome bigint;
    x bigint;
    o bigint[] := '{}';
    i int;
BEGIN
    IF n = 1 THEN
        ord := ARRAY[1];
    ELSE
        SELECT array_agg(u.i ORDER BY u.p COLLATE "C", u.k COLLATE "C") INTO ord
          FROM unnest(p_policy, p_key) WITH ORDINALITY AS u(p, k, i);
    END IF;
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
