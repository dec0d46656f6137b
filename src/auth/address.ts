import { BlockList, isIP } from 'node:net';

/** `::ffff:1.2.3.4` → `1.2.3.4`: IPv4 clients of a dual-stack listener, as users write them in `ips:`. */
export function unmapIp(ip: string): string {
  return ip.toLowerCase().startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/**
 * The IP of a remote address given as `[v6]:port`, `v4:port` or a bare IP.
 * An unbracketed IPv6 address with a port appended is ambiguous and comes
 * back whole (it then matches no `ips:` network): transports pass `ip` instead.
 */
export function ipOf(remoteAddress: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(remoteAddress);
  if (bracketed) return unmapIp(bracketed[1]!);
  const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(remoteAddress);
  if (v4) return v4[1]!;
  const mapped = /^(::ffff:\d+\.\d+\.\d+\.\d+):\d+$/i.exec(remoteAddress);
  if (mapped) return unmapIp(mapped[1]!);
  return unmapIp(remoteAddress);
}

/** `ips:` of a user: addresses and CIDR networks (validated by the config loader). */
export class IpNetworks {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(entries: readonly string[]) {
    this.empty = entries.length === 0;
    for (const entry of entries) {
      const [address = '', prefix] = entry.split('/');
      const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (prefix === undefined) this.list.addAddress(address, type);
      else this.list.addSubnet(address, Number(prefix), type);
    }
  }

  contains(ip: string): boolean {
    const family = isIP(ip);
    if (family === 0) return false;
    return this.list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  }
}
