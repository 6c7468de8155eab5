-- The fallback sign-in (password + TOTP). A password and TOTP secret being set up wait in the *_pending
-- columns until the user confirms with a first valid code; only then do they replace the active ones.
-- totp_last_step is the time step of the last code accepted: that code (and any older one) is refused
-- afterwards, so a code seen over someone's shoulder cannot be replayed.
ALTER TABLE accounts ADD COLUMN password_pending text;
ALTER TABLE accounts ADD COLUMN totp_pending text;
ALTER TABLE accounts ADD COLUMN totp_last_step bigint;
ALTER TABLE accounts ADD COLUMN password_set_at timestamptz;
