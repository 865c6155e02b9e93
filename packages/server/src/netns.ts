// Real network partitions on one machine: each node runs in its own Linux
// network namespace, attached by a veth pair to a bridge that lives in a
// namespace of its own (so the host's links are never touched). The host
// joins the bridge too, so clients and tests reach every node. Cutting a
// node's bridge port is a partition with no signal at all: no RST, no FIN,
// just silence, which is what a switch failure looks like to a process.
// Needs root and iproute2; tc netem is not available here, so delay comes
// from elsewhere if ever needed.
import { execFileSync } from 'node:child_process';

export interface NetnsOptions {
  /** Short tag (letters/digits) that keeps this network apart from others. */
  tag: string;
  /** Third octet of the 10.77.X.0/24 subnet. */
  subnet: number;
  nodeIds: number[];
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function tryIp(...args: string[]): void {
  try {
    ip(...args);
  } catch {
    // Teardown of something that is not there.
  }
}

export class NetnsNetwork {
  readonly #o: NetnsOptions;

  constructor(options: NetnsOptions) {
    if (!/^[a-z0-9]{1,6}$/.test(options.tag)) throw new Error('netns tag must be 1-6 lowercase letters or digits');
    if (options.subnet < 1 || options.subnet > 250) throw new Error('subnet octet must be in 1-250');
    this.#o = options;
  }

  /** Whether this process may create namespaces (root with iproute2). */
  static available(): boolean {
    if (process.getuid?.() !== 0) return false;
    try {
      execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }

  get bridgeNs(): string {
    return `rk${this.#o.tag}br`;
  }

  nodeNs(id: number): string {
    return `rk${this.#o.tag}n${id}`;
  }

  address(id: number): string {
    return `10.77.${this.#o.subnet}.${id}`;
  }

  get hostAddress(): string {
    return `10.77.${this.#o.subnet}.254`;
  }

  #port(id: number): string {
    return `rk${this.#o.tag}p${id}`;
  }

  get #hostVeth(): string {
    return `rk${this.#o.tag}h`;
  }

  setup(): void {
    this.teardown();
    ip('netns', 'add', this.bridgeNs);
    ip('-n', this.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', this.bridgeNs, 'link', 'set', 'br0', 'up');
    for (const id of this.#o.nodeIds) {
      const ns = this.nodeNs(id);
      ip('netns', 'add', ns);
      ip('link', 'add', 'veth0', 'netns', ns, 'type', 'veth', 'peer', 'name', this.#port(id), 'netns', this.bridgeNs);
      ip('-n', ns, 'addr', 'add', `${this.address(id)}/24`, 'dev', 'veth0');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', 'veth0', 'up');
      ip('-n', this.bridgeNs, 'link', 'set', this.#port(id), 'master', 'br0');
      ip('-n', this.bridgeNs, 'link', 'set', this.#port(id), 'up');
    }
    ip('link', 'add', this.#hostVeth, 'type', 'veth', 'peer', 'name', 'host0', 'netns', this.bridgeNs);
    ip('addr', 'add', `${this.hostAddress}/24`, 'dev', this.#hostVeth);
    ip('link', 'set', this.#hostVeth, 'up');
    ip('-n', this.bridgeNs, 'link', 'set', 'host0', 'master', 'br0');
    ip('-n', this.bridgeNs, 'link', 'set', 'host0', 'up');
  }

  /** Command prefix that runs a program inside node `id`'s namespace. */
  exec(id: number): string[] {
    return ['ip', 'netns', 'exec', this.nodeNs(id)];
  }

  /** Cuts node `id` off the bridge: nobody reaches it, it reaches nobody. */
  isolate(id: number): void {
    ip('-n', this.bridgeNs, 'link', 'set', this.#port(id), 'down');
  }

  heal(id: number): void {
    ip('-n', this.bridgeNs, 'link', 'set', this.#port(id), 'up');
  }

  /** Removes everything; the processes inside must be gone first. */
  teardown(): void {
    tryIp('link', 'del', this.#hostVeth);
    for (const id of this.#o.nodeIds) tryIp('netns', 'del', this.nodeNs(id));
    tryIp('netns', 'del', this.bridgeNs);
  }
}
