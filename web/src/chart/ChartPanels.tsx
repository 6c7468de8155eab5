import { nameOf } from '../fhir.ts';
import type { ChartData } from './chart-data.ts';

export function ChartPanels({ data }: { data: ChartData }) {
  return (
    <section className="panel">
      <h1>{nameOf(data.patient)}</h1>
    </section>
  );
}
