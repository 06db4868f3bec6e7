// Client IP addresses and networks (CIDR) for "Open to public": the rules of the server's
// ipaddress.ip_network(strict=False): no leading zeros in IPv4, no zone IDs.

/** The 4 bytes of a dotted-quad IPv4 address, or null. */
export function parseIpv4(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || (part.length > 1 && part.startsWith("0"))) return null;
    const n = Number(part);
    if (n > 255) return null;
    bytes.push(n);
  }
  return bytes;
}

/** The 16 bytes of an IPv6 address (with "::" and an optional trailing IPv4), or null. */
export function parseIpv6(text: string): number[] | null {
  if (!/^[0-9A-Fa-f:.]+$/.test(text)) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (half: string): number[] | null => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = parseIpv4(part);
        if (!v4) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(part)) {
        out.push(parseInt(part, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return null;
  // An embedded IPv4 address may only end the address.
  if (halves.length === 2 && halves[0].includes(".")) return null;
  let all: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return null;
    all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    if (head.length !== 8) return null;
    all = head;
  }
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

/** Whether `text` is an IPv4 netmask (255.255.240.0) or hostmask (0.0.15.255). */
function isIpv4Mask(text: string): boolean {
  const bytes = parseIpv4(text);
  if (!bytes) return false;
  const bits = bytes.map((b) => b.toString(2).padStart(8, "0")).join("");
  return /^1*0*$/.test(bits) || /^0*1*$/.test(bits);
}

/** null when `text` is an IPv4/IPv6 address or network; otherwise why it is not. Networks may
 * have host bits set ("10.1.2.3/8" means 10.0.0.0/8), like the server's
 * ipaddress.ip_network(strict=False); IPv4 also takes a netmask or hostmask ("10.0.0.0/255.0.0.0"). */
export function addressError(text: string): string | null {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const v4 = parseIpv4(addr);
  const bytes = v4 ?? parseIpv6(addr);
  if (!bytes) return `"${text}" is not an IPv4/IPv6 address or network (CIDR)`;
  if (slash < 0) return null;
  const bits = bytes.length * 8;
  const prefix = text.slice(slash + 1);
  if (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits) return null;
  if (v4 && isIpv4Mask(prefix)) return null;
  return `"${text}": the prefix length must be 0 to ${bits}`;
}

/** The entries of a comma- or space-separated list (empty entries dropped). */
export function splitAddresses(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The first problem of an allowed-IPs list (empty is fine: any client), or null. */
export function addressListError(text: string): string | null {
  for (const item of splitAddresses(text)) {
    const error = addressError(item);
    if (error) return error;
  }
  return null;
}
