import { Activity } from "lucide-react";
import type { HealthState } from "./useHealth";

export function HealthPill({ health, onCheck }: { health: HealthState; onCheck(): void }) {
  let tone = "info";
  let text = "checking…";
  let title = "Checking the endpoint's /healthz";
  if (health.kind === "up") {
    tone = "ok";
    text = health.health.profile ?? "healthy";
    title = `Endpoint healthy; sandbox profile ${health.health.profile ?? "unknown"}${health.health.version ? `, version ${health.health.version}` : ""}`;
  } else if (health.kind === "down") {
    tone = "warn";
    text = `down (${health.status})`;
    title = health.message;
  } else if (health.kind === "unreachable") {
    tone = "error";
    text = "unreachable";
    title = `${health.url}: ${health.message}`;
  }
  return (
    <button
      type="button"
      className={`pill pill-${tone}`}
      onClick={onCheck}
      title={title}
      aria-label={`Endpoint health: ${text}. ${title}. Check again`}
      data-testid="health"
      data-health={health.kind}
    >
      <Activity size={14} aria-hidden />
      <span>{text}</span>
    </button>
  );
}
