// Split text into plain and matching parts for a case-insensitive search.

export interface Part {
  text: string;
  match: boolean;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export function splitMatches(text: string, query: string): Part[] {
  if (!query) return [{ text, match: false }];
  const parts: Part[] = [];
  const re = new RegExp(escapeRegExp(query), "gi");
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > last) parts.push({ text: text.slice(last, m.index), match: false });
    parts.push({ text: m[0], match: true });
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push({ text: text.slice(last), match: false });
  return parts;
}

export function countMatches(text: string, query: string): number {
  return query ? splitMatches(text, query).filter((p) => p.match).length : 0;
}

/** A file name made only of safe characters. */
export function logFileName(session: string, kernel: string): string {
  const safe = (s: string) => s.replace(/[^\w.-]+/g, "_");
  return `${safe(session)}-${safe(kernel)}-logs.txt`;
}
