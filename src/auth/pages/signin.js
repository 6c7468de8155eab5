// The sign-in page: passkey sign-in (discoverable: no username), the signed-in view (lock, sign out,
// passkeys, invitations for administrators), and the lock screen (one-touch resume, switch user).

(() => {
  const { state, api, passkeyError, say, workstationLocation, busy } = window.Hale;
  const { startAuthentication } = window.SimpleWebAuthnBrowser;
  const $ = (id) => document.getElementById(id);
  const status = $('status');
  const views = { signin: $('signin-view'), lock: $('lock-view'), session: $('session-view') };
  let idleTimer;
  let lastActivity = Date.now();

  function show(name, focus) {
    for (const [k, el] of Object.entries(views)) el.hidden = k !== name;
    document.body.dataset.view = name;
    if (focus) focus.focus();
  }

  function nextPage() {
    const next = new URLSearchParams(window.location.search).get('next');
    return next?.startsWith('/') && !next.startsWith('//') ? next : undefined;
  }

  async function refresh(message) {
    const s = await api('GET', '/auth/session');
    state.session = s;
    state.csrf = s.csrf;
    if (!s.signedIn) {
      stopIdleTimer();
      show('signin', $('signin'));
      if (s.demoMode) await showDemo();
      say(status, message ?? (s.ended ? 'Your session has ended. Sign in again.' : ''));
      return;
    }
    const a = s.account;
    if (s.locked) {
      stopIdleTimer();
      $('lock-who').textContent = `${a.name} (${a.role})`;
      show('lock', $('resume'));
      say(status, message ?? '');
      return;
    }
    $('who').textContent = `${a.name} — ${a.role}${a.demo ? ' (demo account)' : ''}`;
    $('idle-minutes').textContent = String(Math.round((s.idleSeconds ?? 900) / 60));
    $('admin').hidden = a.role !== 'admin';
    show('session', $('session-title'));
    say(status, message ?? '');
    startIdleTimer(s.idleSeconds ?? 900);
    await loadPasskeys();
  }

  // ---- Sign in -----------------------------------------------------------------------------------

  async function signedIn(result, message) {
    state.csrf = result.csrf;
    const next = nextPage();
    if (next) window.location.assign(next);
    else await refresh(message);
  }

  $('signin').addEventListener('click', () =>
    busy($('signin'), async () => {
      say(status, 'Touch your passkey…');
      try {
        const optionsJSON = await api('POST', '/auth/passkey/options', {});
        const response = await startAuthentication({ optionsJSON });
        const result = await api('POST', '/auth/passkey/verify', { response, location: workstationLocation() });
        await signedIn(result, `Signed in as ${result.account.name}.`);
      } catch (err) {
        say(status, passkeyError(err), 'error');
      }
    }),
  );

  async function showDemo() {
    const { accounts } = await api('GET', '/auth/demo');
    const list = $('demo-accounts');
    list.replaceChildren();
    for (const d of accounts) {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = `Demo: ${d.name} — ${d.about}`;
      b.addEventListener('click', () =>
        busy(b, async () => {
          try {
            const result = await api('POST', '/auth/demo', { account: d.account, location: workstationLocation() });
            await signedIn(result, `Signed in as ${result.account.name} (demo).`);
          } catch (err) {
            say(status, err.message, 'error');
          }
        }),
      );
      li.append(b);
      list.append(li);
    }
    $('demo').hidden = accounts.length === 0;
  }

  // ---- Lock, resume, switch user -----------------------------------------------------------------

  async function lock(reason) {
    if (document.body.dataset.view !== 'session') return;
    stopIdleTimer();
    try {
      await api('POST', '/auth/lock', { reason });
    } catch (err) {
      say(status, err.message, 'error');
    }
    await refresh(reason === 'idle' ? 'Locked after a while without use.' : 'Locked.');
  }

  async function unlock(switching) {
    say(status, switching ? 'Next user: touch your passkey…' : 'Touch your passkey…');
    try {
      const optionsJSON = await api('POST', '/auth/resume/options', switching ? { switch: true } : {});
      const response = await startAuthentication({ optionsJSON });
      const result = await api('POST', '/auth/resume/verify', { response, location: workstationLocation() });
      state.csrf = result.csrf;
      // Sent here from the app's lock screen (?next=): back into the app, as whoever touched their passkey.
      const next = nextPage();
      if (next) window.location.assign(next);
      else await refresh(result.switched ? `Signed in as ${result.account.name}; the previous session stays locked.` : `Welcome back, ${result.account.name}.`);
    } catch (err) {
      say(status, passkeyError(err), 'error');
    }
  }

  $('lock').addEventListener('click', () => lock('user'));
  $('resume').addEventListener('click', () => busy($('resume'), () => unlock(false)));
  $('switch').addEventListener('click', () => busy($('switch'), () => unlock(true)));

  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey && !e.altKey && !e.metaKey && (e.key === 'l' || e.key === 'L')) {
      e.preventDefault();
      lock('user');
    }
  });

  function startIdleTimer(idleSeconds) {
    stopIdleTimer();
    lastActivity = Date.now();
    idleTimer = setInterval(() => {
      if (Date.now() - lastActivity >= idleSeconds * 1000) lock('idle');
    }, 5000);
  }
  function stopIdleTimer() {
    if (idleTimer) clearInterval(idleTimer);
    idleTimer = undefined;
  }
  for (const type of ['keydown', 'pointerdown', 'pointermove', 'wheel', 'touchstart']) {
    document.addEventListener(
      type,
      () => {
        lastActivity = Date.now();
      },
      { passive: true },
    );
  }

  // ---- Sign out ----------------------------------------------------------------------------------

  async function signOut(everywhere) {
    try {
      await api('POST', '/auth/signout', { everywhere });
      state.csrf = undefined;
      await refresh(everywhere ? 'Signed out everywhere: all your sessions and tokens ended.' : 'Signed out.');
    } catch (err) {
      say(status, err.message, 'error');
    }
  }
  $('signout').addEventListener('click', () => signOut(false));
  $('lock-signout').addEventListener('click', () => signOut(false));
  $('signout-everywhere').addEventListener('click', () => signOut(true));

  // ---- Passkeys ----------------------------------------------------------------------------------

  async function loadPasskeys(list) {
    const passkeys = list ?? (await api('GET', '/auth/passkeys')).passkeys;
    const ul = $('passkeys');
    ul.replaceChildren();
    for (const p of passkeys) {
      const li = document.createElement('li');
      li.dataset.id = p.id;
      const input = document.createElement('input');
      input.value = p.name;
      input.setAttribute('aria-label', `Name of passkey ${p.name}`);
      input.disabled = Boolean(p.revokedAt);
      const meta = document.createElement('div');
      meta.className = 'meta';
      const date = (d) => new Date(d).toLocaleString();
      meta.textContent = p.revokedAt ? `Revoked ${date(p.revokedAt)}` : `Added ${date(p.createdAt)}${p.lastUsedAt ? `, last used ${date(p.lastUsedAt)}` : ''}`;
      li.append(input, meta);
      if (!p.revokedAt) {
        const row = document.createElement('div');
        row.className = 'row';
        const rename = document.createElement('button');
        rename.type = 'button';
        rename.textContent = 'Rename';
        rename.addEventListener('click', () => change('PATCH', p, { name: input.value }, `Renamed to "${input.value}".`));
        const revoke = document.createElement('button');
        revoke.type = 'button';
        revoke.textContent = 'Revoke';
        revoke.setAttribute('aria-label', `Revoke passkey ${p.name}`);
        revoke.addEventListener('click', () => change('DELETE', p, undefined, `Passkey "${p.name}" revoked: it can no longer sign in.`));
        row.append(rename, revoke);
        li.append(row);
      }
      ul.append(li);
    }
  }

  async function change(method, p, body, message) {
    try {
      const { passkeys } = await api(method, `/auth/passkeys/${encodeURIComponent(p.id)}`, body);
      await loadPasskeys(passkeys);
      say(status, message);
    } catch (err) {
      say(status, err.message, 'error');
    }
  }

  // ---- Administrators: invitations ---------------------------------------------------------------

  $('invite-form').addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('invite'), async () => {
      const out = $('invite-result');
      try {
        const r = await api('POST', '/auth/admin/invite', {
          email: $('invite-email').value,
          role: $('invite-role').value,
          name: $('invite-name').value || undefined,
          fhir: $('invite-fhir').value || undefined,
        });
        out.replaceChildren();
        const p = document.createElement('p');
        p.textContent = `Enrolment link for ${r.account.email} (${r.account.role}), valid until ${new Date(r.expiresAt).toLocaleString()}. Give it to them in person or by a trusted channel; it works once.`;
        const link = document.createElement('input');
        link.readOnly = true;
        link.id = 'invite-link';
        link.value = r.url;
        link.setAttribute('aria-label', 'Enrolment link');
        out.append(p, link);
        link.focus();
        link.select();
      } catch (err) {
        say(status, err.message, 'error');
      }
    });
  });

  const params = new URLSearchParams(window.location.search);
  workstationLocation(); // opening /signin?location=ed once remembers this workstation's location (docs/admin.md)
  refresh(params.get('enrolled') ? 'Passkey saved. You are signed in.' : undefined).catch((err) => say(status, err.message, 'error'));
})();
