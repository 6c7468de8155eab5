/** Recently opened charts, per user, on this device (names only as the user saw them in the chart banner). */
export interface RecentPatient {
  id: string;
  name: string;
  detail?: string;
}

const key = (accountId: string) => `hale.recent.${accountId}`;

export function recentPatients(accountId: string): RecentPatient[] {
  try {
    return JSON.parse(localStorage.getItem(key(accountId)) ?? '[]') as RecentPatient[];
  } catch {
    return [];
  }
}

export function rememberPatient(accountId: string, p: RecentPatient) {
  const list = [p, ...recentPatients(accountId).filter((x) => x.id !== p.id)].slice(0, 10);
  localStorage.setItem(key(accountId), JSON.stringify(list));
}
