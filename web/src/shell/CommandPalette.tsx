/**
 * Ctrl/Cmd-K: every action and every recent patient, filtered as you type, Enter to run. Chart actions
 * apply to the open chart (and say so when no chart is open).
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { openAction, QUICK_ACTIONS } from '../actions/registry.ts';
import { recentPatients } from '../recent.ts';
import { navigate } from '../router.tsx';
import { useSession } from '../session.tsx';

interface Command {
  label: string;
  hint?: string;
  run: () => void;
  disabled?: string;
}

export function CommandPalette({ chartId, onClose }: { chartId?: string; onClose: () => void }) {
  const { account, lock, signOut } = useSession();
  const [text, setText] = useState('');
  const [active, setActive] = useState(0);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);

  const commands = useMemo<Command[]>(() => {
    const actions = QUICK_ACTIONS.filter((a) => a.roles.includes(account.role)).map((a) => ({
      label: a.label,
      hint: chartId ? `key ${a.key.toUpperCase()}` : undefined,
      disabled: chartId ? undefined : 'open a chart first',
      run: () => openAction(a.id),
    }));
    const recent = recentPatients(account.id).map((p) => ({
      label: `Open chart: ${p.name}`,
      hint: p.detail,
      run: () => navigate(`/patients/${p.id}`),
    }));
    return [
      ...actions,
      { label: 'Find a patient', hint: '/', run: () => setTimeout(() => document.getElementById('patient-search')?.focus(), 0) },
      ...recent,
      { label: 'Worklist (home)', run: () => navigate('/') },
      { label: 'Co-signature queue: notes and orders waiting', run: () => navigate('/cosign') },
      ...(account.role === 'admin' ? [{ label: 'Decision support rules and services', run: () => navigate('/admin/cds') }] : []),
      { label: 'Lock this workstation', hint: 'Ctrl+L', run: () => void lock('user') },
      { label: 'Sign out', run: () => void signOut() },
    ];
  }, [account, chartId, lock, signOut]);

  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = commands.filter((c) => words.every((w) => c.label.toLowerCase().includes(w)));
  const run = (c: Command | undefined) => {
    if (!c || c.disabled) return;
    onClose();
    c.run();
  };

  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: a click on the backdrop closes the palette; Escape does the same from the keyboard.
    <div className="overlay" role="presentation" onMouseDown={onClose}>
      <div className="palette" role="dialog" aria-modal="true" aria-label="Command palette" onMouseDown={(e) => e.stopPropagation()}>
        <input
          ref={input}
          aria-label="Type a command or a patient's name"
          placeholder="Type a command or a recent patient…"
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            setActive(0);
          }}
          onKeyDown={(e) => {
            if (e.key === 'Escape') onClose();
            else if (e.key === 'ArrowDown') {
              e.preventDefault();
              setActive((i) => Math.min(i + 1, shown.length - 1));
            } else if (e.key === 'ArrowUp') {
              e.preventDefault();
              setActive((i) => Math.max(i - 1, 0));
            } else if (e.key === 'Enter') {
              e.preventDefault();
              run(shown[active]);
            }
          }}
        />
        <div role="listbox" aria-label="Commands">
          {shown.length === 0 ? <div className="muted">No command matches.</div> : null}
          {shown.map((c, i) => (
            <div
              key={c.label}
              role="option"
              tabIndex={-1}
              aria-selected={i === active}
              aria-disabled={c.disabled ? true : undefined}
              className={i === active ? 'active' : undefined}
              onMouseDown={() => run(c)}
            >
              <span>{c.label}</span>
              <small>{c.disabled ?? c.hint}</small>
            </div>
          ))}
        </div>
      </div>
    </div>
  );
}
