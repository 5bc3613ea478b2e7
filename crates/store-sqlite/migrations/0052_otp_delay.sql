-- OTP progressive delay: when the identity's last failed verify was decided, so that a verify
-- sooner than otp.delay_base × 2^(failures − otp.delay_after) after it is refused uncounted.
ALTER TABLE otp_state ADD COLUMN last_failure_ms INTEGER NOT NULL DEFAULT 0;
