import type { ActionProps } from '../actions/registry.ts';

export default function Placeholder({ onCancel }: ActionProps) {
  return (
    <button type="button" onClick={onCancel}>
      Close
    </button>
  );
}
