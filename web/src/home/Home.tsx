import { useSession } from '../session.tsx';

export function Home() {
  const { account } = useSession();
  return <h1>Good day, {account.name}</h1>;
}
