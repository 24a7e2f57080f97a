// Text forms of IP addresses: dotted IPv4 (cached, they repeat) and RFC 5952 IPv6.

const V4_CACHE_LIMIT = 65536;
const v4Cache = new Map<number, string>();

/** '10.0.0.1' for the 4 bytes at buf[p]. Cached: the same few addresses repeat in a capture. */
export function ipv4ToString(buf: Buffer, p: number): string {
  const key = buf[p] * 0x1000000 + ((buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]);
  let s = v4Cache.get(key);
  if (s === undefined) {
    s = `${buf[p]}.${buf[p + 1]}.${buf[p + 2]}.${buf[p + 3]}`;
    if (v4Cache.size >= V4_CACHE_LIMIT) v4Cache.clear();
    v4Cache.set(key, s);
  }
  return s;
}

const V6_GROUPS = 8;
const V6_MAPPED_PREFIX_GROUPS = 5;
const V6_MAPPED_MARKER = 0xffff;

/**
 * Canonical IPv6 text (RFC 5952): lower-case hex without leading zeros, the longest run of two
 * or more zero groups (the first one on a tie) written as '::', IPv4-mapped as ::ffff:a.b.c.d.
 */
export function ipv6ToString(buf: Buffer, p: number): string {
  // Cached by the four 32-bit words: one hash slot each, the words compared on a hit.
  const w0 = buf.readUInt32BE(p);
  const w1 = buf.readUInt32BE(p + 4);
  const w2 = buf.readUInt32BE(p + 8);
  const w3 = buf.readUInt32BE(p + 12);
  const slot =
    (Math.imul(
      w0 ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca77) ^ Math.imul(w3, 0xc2b2ae3d),
      0x27d4eb2f,
    ) >>>
      0) &
    V6_CACHE_MASK;
  const hit = v6Cache[slot];
  if (hit !== undefined && hit.w0 === w0 && hit.w1 === w1 && hit.w2 === w2 && hit.w3 === w3)
    return hit.text;
  const text = formatIpv6(buf, p);
  v6Cache[slot] = { w0, w1, w2, w3, text };
  return text;
}

const V6_CACHE_MASK = 0xffff;
interface V6Entry {
  w0: number;
  w1: number;
  w2: number;
  w3: number;
  text: string;
}
const v6Cache: (V6Entry | undefined)[] = new Array<V6Entry | undefined>(V6_CACHE_MASK + 1).fill(
  undefined,
);

function formatIpv6(buf: Buffer, p: number): string {
  const g = new Array<number>(V6_GROUPS);
  for (let i = 0; i < V6_GROUPS; i++) g[i] = (buf[p + 2 * i] << 8) | buf[p + 2 * i + 1];
  let mapped = g[V6_MAPPED_PREFIX_GROUPS] === V6_MAPPED_MARKER;
  for (let i = 0; i < V6_MAPPED_PREFIX_GROUPS && mapped; i++) if (g[i] !== 0) mapped = false;
  if (mapped) return `::ffff:${ipv4ToString(buf, p + 12)}`;
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < V6_GROUPS;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < V6_GROUPS && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return g.map((x) => x.toString(16)).join(':');
  const head = g
    .slice(0, bestStart)
    .map((x) => x.toString(16))
    .join(':');
  const tail = g
    .slice(bestStart + bestLen)
    .map((x) => x.toString(16))
    .join(':');
  return `${head}::${tail}`;
}

/**
 * The address as four unsigned 32-bit words (IPv4: [address, 0, 0, 0]), as UdpView.srcWord reads
 * them from a packet; undefined when the text is not an IP address.
 */
export function addressWords(text: string): [number, number, number, number] | undefined {
  const v4 = ipv4Value(text);
  if (v4 !== undefined) return [v4, 0, 0, 0];
  const groups = ipv6Groups(text);
  if (!groups) return undefined;
  const w = (i: number): number => groups[2 * i] * 0x10000 + groups[2 * i + 1];
  return [w(0), w(1), w(2), w(3)];
}

function ipv4Value(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

/** The eight 16-bit groups of an IPv6 text ('::' and a trailing dotted IPv4 allowed). */
function ipv6Groups(text: string): number[] | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const read = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (i === items.length - 1 && item.includes('.')) {
        const v4 = ipv4Value(item);
        if (v4 === undefined) return undefined;
        out.push(Math.floor(v4 / 0x10000), v4 % 0x10000);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(item)) out.push(parseInt(item, 16));
      else return undefined;
    }
    return out;
  };
  const head = read(halves[0]);
  const tail = halves.length === 2 ? read(halves[1]) : [];
  if (!head || !tail) return undefined;
  if (halves.length === 1) return head.length === V6_GROUPS ? head : undefined;
  const missing = V6_GROUPS - head.length - tail.length;
  if (missing < 1) return undefined;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}
