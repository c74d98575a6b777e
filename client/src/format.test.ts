import { describe, expect, it } from "vitest";
import { formatBytes, formatMb, formatMs, limitGloss } from "./format";

describe("format", () => {
  it("durations, memory and bytes", () => {
    expect(formatMs(6.14)).toBe("6.1 ms");
    expect(formatMs(12.4)).toBe("12 ms");
    expect(formatMs(1250)).toBe("1.25 s");
    expect(formatMs(NaN)).toBe("–");
    expect(formatMb(83.2)).toBe("83 MB");
    expect(formatMb(8.46)).toBe("8.5 MB");
    expect(formatMb(Infinity)).toBe("–");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(4 * 1024 * 1024)).toBe("4.0 MiB");
  });
  it("says what a limit's value means, and nothing for a name it does not know", () => {
    expect(limitGloss("timeout_ms", 1000)).toBe("1.00 s of wall-clock time");
    expect(limitGloss("cpu_time_ms", 500)).toBe("500 ms of CPU time");
    expect(limitGloss("memory_mb", 256)).toBe("256 MB of memory");
    expect(limitGloss("result_bytes", 1048576)).toBe("1.0 MiB of result JSON");
    expect(limitGloss("file_size_mb", 16)).toBe("16 MB per written file");
    expect(limitGloss("something_new", 3)).toBe("");
  });
});
