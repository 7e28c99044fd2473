import type { Identity } from '../kube/cluster-index.js';
import type { ClusterNames } from '../kube/cluster-names.js';
import type { Logger } from '../log/logger.js';
import { MAX_ADDRESSES, parsePodsResponse, PODS_PATH } from '../names/protocol.js';
import { HttpTransport } from '../sink/http-transport.js';
import { errorText } from '../util/error-text.js';

/**
 * Pods by the UID their cgroup names, from the Kubernetes API: through the names service
 * (`POST /v1/pods`) or the watch in this process. The node agent asks it for the pods it finds;
 * what it cannot answer (not reachable, not ready, a UID it does not hold) is absent from the
 * answer, and the agent names those pods from the runtime's metadata on disk.
 */
export interface PodDirectory {
  readonly name: string;
  pods(uids: readonly string[]): Promise<Map<string, Identity>>;
  close(): void;
}

/** The names service's `POST /v1/pods`. A failure is logged once, and once more when it answers again. */
export class NamesPodDirectory implements PodDirectory {
  readonly name = 'names';
  private readonly transport: HttpTransport;
  private failing: string | undefined;

  constructor(
    private readonly url: string,
    timeoutMs: number,
    private readonly log: Logger,
  ) {
    this.transport = new HttpTransport({ url, timeoutMs });
  }

  async pods(uids: readonly string[]): Promise<Map<string, Identity>> {
    const out = new Map<string, Identity>();
    for (let i = 0; i < uids.length; i += MAX_ADDRESSES) {
      const part = uids.slice(i, i + MAX_ADDRESSES);
      try {
        const answer = await this.transport.request(
          PODS_PATH,
          { uids: part },
          { method: 'POST', headers: { accept: 'application/json' } },
        );
        for (const [uid, id] of parsePodsResponse(answer)) if (id.kind === 'pod') out.set(uid, id);
        if (this.failing !== undefined) {
          this.log.info({ url: this.url }, `node: the names service at ${this.url} names pods again`);
          this.failing = undefined;
        }
      } catch (err) {
        const why = errorText(err);
        if (this.failing === undefined)
          this.log.warn(
            { url: this.url, err: why },
            `node: the names service at ${this.url} cannot name pods (${why}); the runtime's metadata names them until it answers`,
          );
        this.failing = why;
        break;
      }
    }
    return out;
  }

  close(): void {}
}

/** The watch in this process (NSTATS_KUBERNETES); nothing until its first lists are in. */
export class ClusterPodDirectory implements PodDirectory {
  readonly name = 'kubernetes';

  constructor(private readonly cluster: ClusterNames) {}

  pods(uids: readonly string[]): Promise<Map<string, Identity>> {
    const out = new Map<string, Identity>();
    if (!this.cluster.ready) return Promise.resolve(out);
    for (const uid of uids) {
      const id = this.cluster.pod(uid);
      if (id) out.set(uid, id);
    }
    return Promise.resolve(out);
  }

  close(): void {
    this.cluster.stop();
  }
}
