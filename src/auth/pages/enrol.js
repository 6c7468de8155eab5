// The enrolment page (/enrol?token=…): a one-time link from first-run setup, an invitation or a
// recovery. Creates a passkey (discoverable, user verification required) and signs in.

(() => {
  const { api, passkeyError, say, workstationLocation, busy } = window.Hale;
  const { startRegistration } = window.SimpleWebAuthnBrowser;
  const $ = (id) => document.getElementById(id);
  const status = $('status');
  const token = new URLSearchParams(window.location.search).get('token') || '';
  let purpose;

  async function start() {
    try {
      const info = await api('POST', '/auth/enrol/info', { token });
      purpose = info.purpose;
      const a = info.account;
      $('intro').textContent =
        purpose === 'setup'
          ? 'Welcome. Create the administrator account and its passkey.'
          : purpose === 'recovery'
            ? `Recovery for ${a.name} (${a.role}): enrol a new passkey. Your other passkeys keep working until you revoke them.`
            : `Welcome, ${a.name}. You are invited as ${a.role}: create your passkey to sign in.`;
      $('setup-fields').hidden = purpose !== 'setup';
      $('display-name').required = purpose === 'setup';
      $('enrol-form').hidden = false;
      (purpose === 'setup' ? $('display-name') : $('passkey-name')).focus();
    } catch (err) {
      $('intro').textContent = 'This link cannot be used.';
      say(status, err.message, 'error');
      $('title').focus();
    }
  }

  $('enrol-form').addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('enrol'), async () => {
      const details = purpose === 'setup' ? { displayName: $('display-name').value.trim() || undefined, email: $('email').value.trim() || undefined } : {};
      say(status, 'Follow your browser: touch your passkey or confirm with your fingerprint, face or PIN…');
      try {
        const optionsJSON = await api('POST', '/auth/enrol/options', { token, ...details });
        const response = await startRegistration({ optionsJSON });
        await api('POST', '/auth/enrol/verify', {
          token,
          response,
          name: $('passkey-name').value.trim() || undefined,
          location: workstationLocation(),
          ...details,
        });
        say(status, 'Passkey saved. Signing you in…');
        window.location.assign('/signin?enrolled=1');
      } catch (err) {
        say(status, passkeyError(err), 'error');
      }
    });
  });

  start();
})();
