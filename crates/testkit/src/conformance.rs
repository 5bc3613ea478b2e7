//! [`conformance!`](crate::conformance): one named `#[tokio::test]` per check of a suite.

/// Emits a module named after the suite holding one `#[tokio::test]` per check of that suite,
/// each run against a fresh store from `$subject`, so one failing check never hides the others
/// and `cargo test locks::renew_is_holder_only` runs that check on every backend.
///
/// `$subject` is an async callable given the check's name (for skip messages) that answers
/// `None` to skip (a backend absent outside CI, see [`crate::backends`]) or:
///
/// | suite | `Some(..)` of |
/// |---|---|
/// | `tenancy`, `ratelimit_config` | the store |
/// | `locks`, `idempotency`, `ratelimit`, `stream_slots` | `(store, Time)` |
/// | `corrupt` | `(store, damage)`: `damage(table, column)` breaks that column of every row |
/// | `jobs`, `realtime` | `(store, Arc<ManualClock>)`: the store reads that clock |
/// | `jobs`, `otp`, `csrf`, `tokens` | `(store, Arc<ManualClock>)`: the store reads that clock |
/// | `cron` | a [`crate::cron::Subject`]: the cron store, its jobs store and their clock |
///
/// `otp` and `csrf` run every check; `otp, self_expiring` and `csrf, self_expiring` all but
/// the purge check, for a store whose state expires by itself (Redis: purge deletes nothing).
///
/// `ratelimit` takes the clock kind first: `ratelimit, manual_clock` (the exact sequences and
/// the differential check against the memory store), `ratelimit, real_time` (short real-time
/// waits, for a store on its server's clock), or `ratelimit, manual_clock_purged` (as
/// `manual_clock`, for a store whose `ratelimit_purge_expired` deletes expired state).
///
/// ```ignore
/// palisade_testkit::conformance!(locks, crate::common::locks_subject);
/// ```
#[macro_export]
macro_rules! conformance {
    (tenancy, $subject:expr) => {
        $crate::__conformance_tests!(
            tenancy,
            store,
            $subject,
            [
                create_is_idempotent_by_external_id,
                concurrent_creates_make_one_tenant,
                list_pages_by_cursor,
                keys_are_scoped_and_revocable,
                writes_that_stop_keys_are_in_the_change_feed,
            ]
        );
    };
    (locks, $subject:expr) => {
        $crate::__conformance_tests!(
            locks,
            timed,
            $subject,
            [
                grant_and_deny,
                renew_is_holder_only,
                release_is_holder_only,
                expired_lease_cannot_be_renewed_or_released,
                stale_holder_is_fenced_out,
                tokens_increase_across_release_and_expiry,
                tenants_are_isolated,
                racing_holders_never_overlap,
                bounded_wait_acquires_after_release,
            ]
        );
    };
    (idempotency, $subject:expr) => {
        $crate::__conformance_tests!(
            idempotency,
            timed,
            $subject,
            [
                new_then_in_flight_then_mismatch,
                complete_then_replay_exactly,
                unknown_and_abandoned_entries,
                lock_expiry_resumes_from_recovery_point,
                late_holder_may_complete_until_taken_over,
                recovery_point_extends_the_lock,
                tenants_and_principals_are_isolated,
                completed_entries_expire_and_are_swept,
                concurrent_begins_claim_once,
                concurrent_takeovers_claim_once,
            ]
        );
    };
    (ratelimit, manual_clock, $subject:expr) => {
        $crate::__ratelimit_tests!(
            $subject,
            [
                gcra_sequence,
                fixed_window_sequence,
                sliding_window_sequence,
                block_after_violation,
                decides_exactly_like_the_memory_store,
            ]
        );
    };
    (ratelimit, manual_clock_purged, $subject:expr) => {
        $crate::__ratelimit_tests!(
            $subject,
            [
                gcra_sequence,
                fixed_window_sequence,
                sliding_window_sequence,
                block_after_violation,
                decides_exactly_like_the_memory_store,
                expired_state_is_purged,
            ]
        );
    };
    (ratelimit, real_time, $subject:expr) => {
        $crate::__ratelimit_tests!($subject, [real_time_window_and_block]);
    };
    (ratelimit_config, $subject:expr) => {
        $crate::__conformance_tests!(
            ratelimit_config,
            store,
            $subject,
            [
                policies_and_overrides,
                caps,
                concurrent_creates_at_cap_minus_one,
                pruned_feed,
            ]
        );
    };
    (audit, $subject:expr) => {
        $crate::__conformance_tests!(
            audit,
            borrowed,
            $subject,
            [
                append_and_list_back_in_order,
                cursor_pagination,
                filter_by_type,
                filter_by_time,
                tenant_isolation,
                operator_list_across_tenants,
                prune_deletes_only_older,
                redaction_of_secrets_in_detail,
            ]
        );
    };
    (jobs, $subject:expr) => {
        $crate::__conformance_tests!(
            jobs,
            clocked,
            $subject,
            [
                enqueue_and_get,
                unique_duplicate_marker,
                concurrent_unique_enqueue_makes_one_job,
                lease_order_priority_then_run_at,
                delayed_job_not_leased_early,
                stale_token_refused_after_rescue,
                rescue_after_lease_expiry,
                backoff_schedules_retry,
                give_up_and_last_attempt_are_dead,
                redrive_dead_one_and_filtered,
                cancel_queued,
                cancel_running_learned_by_heartbeat,
                checkpoint_handed_to_retry,
                release_gives_the_job_back_at_once,
                refused_call_leaves_the_job_leasable_at_once,
                event_log_from_offset,
                tenant_isolation,
                fairness_across_tenants,
                per_tenant_running_cap,
                prune_by_state,
                list_paginates_and_filters,
                bad_input_refused,
                delete_waiting_and_finished_not_running,
                stats_count_by_state_and_oldest_due,
                list_filters_by_created_time,
                stats_throughput_by_window,
                per_key_running_cap,
                lease_gate_admits_by_key,
                running_caps_exact_after_every_stop,
                fairness_counts_running_jobs_past_the_first_share,
                complete_many_checks_each_token,
                enqueue_many_answers_in_order,
                concurrent_batches_make_one_job_per_key,
                stored_jobs_match_what_lease_and_complete_answer,
            ]
        );
    };
    (realtime, $subject:expr) => {
        $crate::__conformance_tests!(
            realtime,
            clocked,
            $subject,
            [
                publish_and_read_back,
                concurrent_publishes_get_consecutive_ids,
                history_bounded_by_count_reports_gap,
                history_bounded_by_age,
                tenants_and_topics_are_isolated,
                revocations_by_token_key_and_principal,
                topic_delete_drops_history_keeps_ids,
            ]
        );
    };
    (stream_slots, $subject:expr) => {
        $crate::__conformance_tests!(
            stream_slots,
            timed,
            $subject,
            [
                caps_per_principal_and_per_tenant,
                release_frees_a_slot,
                lapsed_leases_stop_counting,
                renewed_slots_keep_counting,
                tenants_are_isolated,
                concurrent_takes_never_pass_a_cap,
            ]
        );
    };
    (cron, $subject:expr) => {
        $crate::__conformance_tests!(
            cron,
            borrowed,
            $subject,
            [
                create_get_update_delete,
                list_pages_by_name,
                tenant_isolation,
                fires_each_slot_once,
                concurrent_fires_make_one_job_per_slot,
                missed_skip_fires_none_of_the_missed,
                missed_latest_fires_the_latest,
                missed_all_fires_each_up_to_the_bound,
                dst_skipped_and_repeated_slots_fire_once,
                disabled_schedule_fires_nothing,
                due_lists_due_enabled_schedules,
                bad_input_refused,
            ]
        );
    };
    (otp, self_expiring, $subject:expr) => {
        $crate::__otp_tests!($subject, []);
    };
    (otp, $subject:expr) => {
        $crate::__otp_tests!($subject, [purge_keeps_live_state]);
    };
    (csrf, self_expiring, $subject:expr) => {
        $crate::__csrf_tests!($subject, []);
    };
    (csrf, $subject:expr) => {
        $crate::__csrf_tests!($subject, [purge_deletes_only_expired]);
    };
    (tokens, $subject:expr) => {
        $crate::__conformance_tests!(
            tokens,
            clocked,
            $subject,
            [
                issuer_round_trip,
                iss_is_unique_per_tenant,
                tenants_are_isolated,
                list_pages_and_delete,
                jti_revocation_lasts_until_its_expiry,
                subject_revocation_keeps_the_latest,
                purge_deletes_only_expired,
                writes_record_their_changes,
            ]
        );
    };
    (corrupt, $subject:expr) => {
        $crate::__conformance_tests!(
            corrupt,
            damaged,
            $subject,
            [tenant, lock, idempotency, policy_row,]
        );
    };
}

/// The OTP checks every store runs, and `[$own]` (the purge check, for a store whose purge
/// deletes; a store whose state expires by itself runs `otp, self_expiring`).
#[doc(hidden)]
#[macro_export]
macro_rules! __otp_tests {
    ($subject:expr, [$($own:ident),* $(,)?]) => {
        $crate::__conformance_tests!(otp, clocked, $subject, [
            $($own,)*
            issue_then_verify_once,
            new_issue_replaces_previous_code,
            expired_code_is_invalid,
            unknown_identity_answers_like_wrong_code,
            verify_limit_per_identity,
            lockout_after_consecutive_failures,
            success_resets_failures,
            progressive_delay_after_failures,
            unlock_ends_lockout,
            tenants_are_isolated,
            concurrent_verifies_succeed_once,
            concurrent_attempts_all_counted,
            lockout_is_recorded_and_read_back,
            key_is_stored_once,
        ]);
    };
}

/// The CSRF checks every store runs, and `[$own]` (as [`__otp_tests`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __csrf_tests {
    ($subject:expr, [$($own:ident),* $(,)?]) => {
        $crate::__conformance_tests!(csrf, clocked, $subject, [
            $($own,)*
            issue_then_consume_once,
            another_session_cannot_use_it,
            expired_token_is_refused,
            tenants_are_isolated,
            concurrent_consumes_succeed_once,
        ]);
    };
}

/// The ratelimit checks every clock kind runs, after the kind's own `[$own]`.
#[doc(hidden)]
#[macro_export]
macro_rules! __ratelimit_tests {
    ($subject:expr, [$($own:ident),* $(,)?]) => {
        $crate::__conformance_tests!(ratelimit, timed, $subject, [
            $($own,)*
            cost_zero_and_above_one,
            all_or_nothing_across_policies,
            tenants_are_isolated,
            shadow_reports_but_never_denies,
            reset_forgets_a_key,
            concurrent_checks_grant_exactly_the_quota,
            concurrent_single_checks_grant_exactly_the_quota,
        ]);
    };
}

/// `mod $suite { one #[tokio::test] per $check }`, each calling `$crate::$suite::$check` with
/// a fresh subject of `$kind` (see [`conformance!`](crate::conformance)).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($suite:ident, $kind:ident, $subject:expr, [$($check:ident),* $(,)?]) => {
        mod $suite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    $crate::__conformance_call!($kind, $suite, $check, $subject);
                }
            )*
        }
    };
}

/// The body of one conformance test: make the subject (or skip), run the check.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_call {
    (store, $suite:ident, $check:ident, $subject:expr) => {
        let Some(store) = ($subject)(stringify!($check)).await else {
            return;
        };
        $crate::$suite::$check(::std::sync::Arc::new(store)).await;
    };
    (borrowed, $suite:ident, $check:ident, $subject:expr) => {
        let Some(store) = ($subject)(stringify!($check)).await else {
            return;
        };
        $crate::$suite::$check(&store).await;
    };
    (timed, $suite:ident, $check:ident, $subject:expr) => {
        let Some((store, time)) = ($subject)(stringify!($check)).await else {
            return;
        };
        $crate::$suite::$check(::std::sync::Arc::new(store), time).await;
    };
    (clocked, $suite:ident, $check:ident, $subject:expr) => {
        let Some((store, clock)) = ($subject)(stringify!($check)).await else {
            return;
        };
        let store: $crate::$suite::Store = ::std::sync::Arc::new(store);
        $crate::$suite::$check(&store, &clock).await;
    };
    (damaged, $suite:ident, $check:ident, $subject:expr) => {
        let Some((store, damage)) = ($subject)(stringify!($check)).await else {
            return;
        };
        $crate::$suite::$check(&store, damage).await;
    };
}
