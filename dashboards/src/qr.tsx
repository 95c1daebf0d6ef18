// A QR code drawn as one SVG path, made in the browser (uqr); it carries the text as it is,
// so a scanner reading the label types the device id back.
import { encode } from "uqr";

/** The dark modules of `text` as an SVG path, and the code's size in modules (with border). */
export function qrPath(text: string): { d: string; size: number } {
  const qr = encode(text, { ecc: "M", border: 2 });
  let d = "";
  qr.data.forEach((row, y) => {
    let x = 0;
    while (x < row.length) {
      if (!row[x]) {
        x++;
        continue;
      }
      const start = x;
      while (x < row.length && row[x]) x++;
      d += `M${start},${y}h${x - start}v1h${start - x}z`;
    }
  });
  return { d, size: qr.size };
}

export function QrCode({ text, label }: { text: string; label: string }) {
  const { d, size } = qrPath(text);
  return (
    <svg class="qr" viewBox={`0 0 ${size} ${size}`} role="img" aria-label={label} shape-rendering="crispEdges">
      <rect width={size} height={size} fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
}
