import { useEffect, useState } from "react";
import { Download } from "lucide-react";
import { base64ToBytes, dataUrl, isInlineImage, mediaType, type OutputFile, type SkippedFile } from "./api";
import { formatBytes } from "./format";

/** The name a download is saved under: no directories ("plots/a.png" → "plots_a.png"). */
function downloadName(name: string): string {
  return name.replace(/[/\\]+/g, "_");
}

/** A Download link to the file's bytes through a blob: URL, revoked when the link goes away. */
function DownloadLink({ file }: { file: OutputFile }) {
  const [href, setHref] = useState<string | undefined>(undefined);
  const [broken, setBroken] = useState(false);
  useEffect(() => {
    let url: string;
    try {
      url = URL.createObjectURL(new Blob([base64ToBytes(file.content ?? "")], { type: mediaType(file.content_type) }));
    } catch {
      setBroken(true);
      return;
    }
    setBroken(false);
    setHref(url);
    return () => URL.revokeObjectURL(url);
  }, [file.content, file.content_type]);
  if (broken) return <span className="small field-error">content is not base64</span>;
  return (
    <a className="btn btn-small" href={href} download={downloadName(file.name)} aria-label={`Download ${file.name}`} data-testid="output-file-download">
      <Download size={14} aria-hidden /> Download
    </a>
  );
}

/**
 * The files the script left under outputs/: PNG, JPEG and SVG images inline
 * (SVG through <img> with a data: URL only, so its markup never enters the
 * page), everything else as a list with a Download link; then the entries
 * the server skipped, with why, and a note when a limit cut the collection.
 */
export function OutputFiles(props: { files: OutputFile[]; skipped: SkippedFile[]; truncated: boolean }) {
  const { files, skipped, truncated } = props;
  const images = files.filter(isInlineImage);
  const others = files.filter((f) => !isInlineImage(f));
  return (
    <section className="out-section" aria-labelledby="output-files-h" data-testid="output-files">
      <div className="out-section-head">
        <h3 id="output-files-h">Files</h3>
        <span className="small muted">
          outputs/ · {files.length} {files.length === 1 ? "file" : "files"}
        </span>
        {truncated && (
          <span className="badge badge-warn" title="A limit on the number or size of output files stopped the collection">
            truncated
          </span>
        )}
      </div>
      <div className="out-files">
        {images.length > 0 && (
          <div className="out-images">
            {images.map((f) => (
              <figure key={f.name} className="out-image" data-testid="output-file" data-name={f.name} data-kind="image">
                <img src={dataUrl(f)} alt={f.name} />
                <figcaption>
                  <code className="file-name" title={f.name}>
                    {f.name}
                  </code>
                  <span className="small muted">{formatBytes(f.size)}</span>
                  <span className="spacer" />
                  <DownloadLink file={f} />
                </figcaption>
              </figure>
            ))}
          </div>
        )}
        {others.length > 0 && (
          <ul className="file-list out-file-list" aria-label="Output files">
            {others.map((f) => (
              <li key={f.name} className="file-item" data-testid="output-file" data-name={f.name} data-kind="file">
                <code className="file-name" title={f.name}>
                  {f.name}
                </code>
                <span className="small muted file-size">
                  {mediaType(f.content_type)} · {formatBytes(f.size)}
                </span>
                {f.content !== undefined ? (
                  <DownloadLink file={f} />
                ) : (
                  <span className="small muted" title={f.object}>
                    stored{f.object ? ` at ${f.object}` : " elsewhere"}
                  </span>
                )}
              </li>
            ))}
          </ul>
        )}
        {files.length === 0 && <p className="muted empty">(no files came back)</p>}
        {skipped.length > 0 && (
          <div className="files-skipped" data-testid="files-skipped">
            <p className="small">Not returned:</p>
            <ul>
              {skipped.map((s, i) => (
                <li key={`${s.name}\u0000${i}`} className="small">
                  <code>{s.name}</code>: {s.reason || "no reason given"}
                </li>
              ))}
            </ul>
          </div>
        )}
        {truncated && (
          <p className="small files-truncated" data-testid="files-truncated">
            A limit on the number or size of output files stopped the collection: some files in outputs/ are not shown.
          </p>
        )}
      </div>
    </section>
  );
}
