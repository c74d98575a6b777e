import { useEffect, useState } from "react";

/** Seconds since `since` (a performance.now() time), ticking every 100 ms. */
export function Elapsed({ since }: { since: number }) {
  const [now, setNow] = useState(performance.now());
  useEffect(() => {
    const t = setInterval(() => setNow(performance.now()), 100);
    return () => clearInterval(t);
  }, []);
  return <span className="elapsed">{((now - since) / 1000).toFixed(1)} s</span>;
}
