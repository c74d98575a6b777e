import { useCallback, useEffect, useRef, useState } from "react";
import { checkHealth, type Endpoint, type HealthOutcome } from "./api";
import { pageUrl } from "./pageUrl";

export type HealthState = { kind: "checking" } | HealthOutcome;

/**
 * The endpoint's /healthz: checked on mount and whenever the endpoint
 * changes, and again on check(). A newer check, an endpoint change or
 * unmounting aborts the one in flight, so a stale answer never lands.
 */
export function useHealth(endpoint: Endpoint): { health: HealthState; check(): void } {
  const [health, setHealth] = useState<HealthState>({ kind: "checking" });
  const healthAbort = useRef<AbortController | null>(null);

  const check = useCallback(() => {
    healthAbort.current?.abort();
    const ac = new AbortController();
    healthAbort.current = ac;
    setHealth({ kind: "checking" });
    void checkHealth(endpoint, { pageUrl: pageUrl(), signal: ac.signal }).then((h) => {
      if (!ac.signal.aborted) setHealth(h);
    });
  }, [endpoint]);

  useEffect(() => {
    check();
    return () => healthAbort.current?.abort();
  }, [check]);

  return { health, check };
}
