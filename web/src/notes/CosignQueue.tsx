export default function CosignQueue() {
  return <h1>Notes waiting for co-signature</h1>;
}
