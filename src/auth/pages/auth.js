// Shared by Hale's sign-in pages: JSON calls with the session's CSRF token, passkey errors in plain words,
// status messages, and the workstation's location (which sets how soon it locks when idle).

(() => {
  const state = { csrf: undefined, session: undefined };

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (state.csrf && method !== 'GET') headers['X-CSRF-Token'] = state.csrf;
    const res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const message = json?.issue?.map((i) => i.diagnostics).join(' ') || `The server answered ${res.status} ${res.statusText}.`;
      const err = new Error(message);
      err.status = res.status;
      throw err;
    }
    return json;
  }

  /** What went wrong with a passkey ceremony, for a person. */
  function passkeyError(err) {
    if (err?.name === 'NotAllowedError') return 'The passkey request was cancelled or timed out. Try again.';
    if (err?.name === 'InvalidStateError') return 'This authenticator already holds a passkey for this account.';
    if (err?.name === 'SecurityError') return 'Passkeys need a secure address (https, or localhost).';
    return err?.message || String(err);
  }

  function say(el, message, kind) {
    el.textContent = message || '';
    el.classList.toggle('error', kind === 'error');
    el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  }

  /** The workstation's location (?location=ed), remembered on this browser. */
  function workstationLocation() {
    const fromUrl = new URLSearchParams(window.location.search).get('location');
    try {
      if (fromUrl) localStorage.setItem('hale.location', fromUrl);
      return fromUrl || localStorage.getItem('hale.location') || undefined;
    } catch {
      return fromUrl || undefined;
    }
  }

  /** Runs `fn` with `button` disabled, so a double click starts one ceremony, not two. */
  async function busy(button, fn) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      return await fn();
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  }

  window.Hale = { state, api, passkeyError, say, workstationLocation, busy };
})();
