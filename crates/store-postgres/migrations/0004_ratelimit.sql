-- Rate limiting, the whole schema: per-key state, tenant policies and overrides, the change
-- feed, and the decision functions (one decision, and a batch of decisions, in ONE round trip).
--
-- ratelimit_state is UNLOGGED: counters are hot, rewritten on every request, and worth less
-- than WAL traffic; after a crash PostgreSQL empties it and limits start afresh.
-- A row whose expires_at_ms has passed decides like no row.
--
-- Every decision's UPDATE is a HOT update (heap-only: new row version on the same page, no
-- index insertion): no index covers a column a decision rewrites, and each page keeps room
-- (fillfactor 70). Cleanup still finds expired rows through an index: expires_minute is
-- expires_at_ms / 60 000, a STORED generated column; PostgreSQL decides HOT by comparing the
-- indexed values, and a decision moves expires_at_ms forward by milliseconds, so the minute
-- (and the index entry) changes at most once a minute per active key. Purging is a bounded
-- scan (ratelimit_purge_expired: DELETE … WHERE ctid IN (SELECT ctid … LIMIT n FOR UPDATE
-- SKIP LOCKED)).
CREATE UNLOGGED TABLE ratelimit_state (
    tenant_id        TEXT COLLATE "C" NOT NULL,
    policy           TEXT COLLATE "C" NOT NULL,
    key              TEXT COLLATE "C" NOT NULL,
    state            TEXT,
    blocked_until_ms BIGINT NOT NULL DEFAULT 0,
    expires_at_ms    BIGINT NOT NULL,
    expires_minute   BIGINT GENERATED ALWAYS AS (expires_at_ms / 60000) STORED,
    PRIMARY KEY (tenant_id, policy, key)
) WITH (fillfactor = 70);
CREATE INDEX ratelimit_state_expiry_minute ON ratelimit_state (expires_minute);

CREATE TABLE ratelimit_policies (
    tenant_id     TEXT COLLATE "C" NOT NULL,
    name          TEXT COLLATE "C" NOT NULL,
    policy        TEXT NOT NULL,
    version       BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- key is '' for a tenant-wide override (real keys are never empty).
CREATE TABLE ratelimit_overrides (
    tenant_id     TEXT COLLATE "C" NOT NULL,
    policy        TEXT COLLATE "C" NOT NULL,
    key           TEXT COLLATE "C" NOT NULL,
    body          TEXT NOT NULL,
    version       BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, policy, key)
);

-- The change feed. One row holds the last version: config writes bump it inside their
-- transaction, so versions commit in order and a poller reading "version > last seen" never
-- skips one (a sequence could commit 7 before 6).
CREATE TABLE ratelimit_version (
    id BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    v  BIGINT NOT NULL
);
INSERT INTO ratelimit_version (v) VALUES (0);

-- Each change records when it was written (at_ms), for pruning; ratelimit_feed remembers the
-- highest version ever pruned: a poller whose cursor is below it may have missed changes and
-- reloads every policy and override instead of following the feed.
CREATE TABLE ratelimit_changes (
    version   BIGINT PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL,
    change    TEXT NOT NULL,
    at_ms     BIGINT NOT NULL
);
CREATE INDEX ratelimit_changes_at ON ratelimit_changes (at_ms);

CREATE TABLE ratelimit_feed (
    id             BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    pruned_through BIGINT NOT NULL
);
INSERT INTO ratelimit_feed (pruned_through) VALUES (0);

-- The decision functions decide every check of a request atomically, all or nothing, with the
-- same arithmetic as palisade_ratelimit::decide_all and algorithm/{gcra,fixed,sliding}.rs (the
-- conformance suite and a differential test against the memory store hold them to one answer),
-- on the `now` the caller passes (the store's clock). They return per check: allowed (0|1),
-- outcome (0 allowed, 1 limited, 2 shadow-limited), remaining, reset_after_ms, retry_after_ms
-- — flattened, 5 values per check.
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
-- unchanged) and `next_expires_at` when that state stops mattering.
CREATE TYPE ratelimit_eval_result AS (
    allowed   boolean,
    remaining bigint,
    reset_ms  bigint,
    retry_ms  bigint,
    next_state text,
    next_expires_at   bigint
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
            r.next_expires_at := (cur + 1) * b + w - 1;
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
CREATE FUNCTION ratelimit_state_expires_at(st text, w bigint) RETURNS bigint
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
-- p_algo is g (GCRA) | f (fixed window) | s (sliding window). It locks the rows of the
-- decision in (policy, key) order (COLLATE "C"), creating missing ones, so concurrent
-- decisions serialise per key and cannot deadlock; decides; writes the changed states.
-- Doing less work for the common case:
-- * one check (the common case) takes a fast path without per-check arrays or key ordering
--   (with one check, the gate is exactly "this check is denied and enforced");
-- * on that path the row is read without a lock and updated through its ctid (a TID scan,
--   no second primary-key lookup) only if it still holds what was read (compare and set: a
--   concurrent change moves the row to a new ctid or changes it, and the UPDATE finds no
--   row); then the decision is taken again under the row lock, as below. A decision that
--   writes nothing answers from the committed state it read. Several checks take the general path.
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
                x := ratelimit_state_expires_at(v_st, p_window[1]);
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
                   SET state = e.next_state, expires_at_ms = greatest(e.next_expires_at, v_blk)
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
            x := ratelimit_state_expires_at(st[i], p_window[i]);
            UPDATE ratelimit_state
               SET state = CASE WHEN x IS NULL THEN NULL ELSE st[i] END,
                   blocked_until_ms = p_now + p_block[i],
                   expires_at_ms = greatest(coalesce(x, 0), p_now + p_block[i])
             WHERE tenant_id = p_tenant AND policy = p_policy[i] AND key = p_key[i];
        ELSIF NOT gate AND e.allowed AND e.next_state IS NOT NULL THEN
            UPDATE ratelimit_state
               SET state = e.next_state, expires_at_ms = greatest(e.next_expires_at, blk[i])
             WHERE tenant_id = p_tenant AND policy = p_policy[i] AND key = p_key[i];
        END IF;
        o := o || ARRAY[CASE WHEN outcome = 1 THEN 0 ELSE 1 END, outcome, e.remaining,
                        e.reset_ms, e.retry_ms];
    END LOOP;
    RETURN o;
END $$;

-- Rate limiting: several callers' decisions in ONE statement.
--
-- ratelimit_decide_batch() takes a batch of decisions (each one tenant's checks, decided all
-- or nothing with the same arithmetic as ratelimit_decide; decisions are
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
-- inserts or locks row by row in input order. ratelimit_decide locks a multi-check
-- decision's rows in (policy, key) order within one tenant, its single-check path
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
            -- check is denied and enforced" (as in ratelimit_decide's fast path)
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
                x := ratelimit_state_expires_at(st[r], p_window[i]);
                IF x IS NULL THEN
                    st[r] := NULL;
                END IF;
                blk[r] := now + p_block[i];
                exp[r] := greatest(coalesce(x, 0), now + p_block[i]);
                dirty[r] := true;
            ELSIF e.allowed AND e.next_state IS NOT NULL THEN
                st[r] := e.next_state;
                exp[r] := greatest(e.next_expires_at, blk[r]);
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
                x := ratelimit_state_expires_at(st0[i], p_window[i]);
                st[r] := CASE WHEN x IS NULL THEN NULL ELSE st0[i] END;
                blk[r] := now + p_block[i];
                exp[r] := greatest(coalesce(x, 0), now + p_block[i]);
                dirty[r] := true;
            ELSIF NOT gate AND e.allowed AND e.next_state IS NOT NULL THEN
                st[r] := e.next_state;
                exp[r] := greatest(e.next_expires_at, blk0[i]);
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
