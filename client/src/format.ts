/** A duration for the output panel: "4.2 ms", "380 ms", "1.25 s"; "–" when unknown. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** A memory size in MB: "8.5 MB", "83 MB"; "–" when unknown. */
export function formatMb(mb: number): string {
  if (!Number.isFinite(mb)) return "–";
  return `${mb.toFixed(mb < 10 ? 1 : 0)} MB`;
}

/** A byte count: "512 B", "1.5 KiB", "4.0 MiB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return "–";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** What a limit's value means in words, e.g. timeout_ms 1000 → "1.00 s of wall-clock time"; "" for unknown names. */
export function limitGloss(name: string, value: number): string {
  switch (name) {
    case "timeout_ms":
      return `${formatMs(value)} of wall-clock time`;
    case "cpu_time_ms":
      return `${formatMs(value)} of CPU time`;
    case "memory_mb":
      return `${formatMb(value)} of memory`;
    case "result_bytes":
      return `${formatBytes(value)} of result JSON`;
    case "file_size_mb":
      return `${formatMb(value)} per written file`;
    default:
      return "";
  }
}
