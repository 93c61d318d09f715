/**
 * @module
 * The node's Envoy configuration, kept from NATS: the agent watches the
 * mesh's configuration bucket (contracts' mesh-revision.ts) and hands its
 * node's part of the newest revision to its own Envoy, file by file, as
 * mesh-config's apply does on one machine (swapXdsFiles). It writes into
 * its own node's folder and nowhere else. A node that was down or cut off
 * takes the newest revision when it is back: the watcher starts from the
 * last value, and a look at the bucket every few seconds catches anything a
 * watcher lost on a reconnect.
 */
import { Kvm, type KV, type KvEntry } from '@nats-io/kv'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import {
  bootstrapText,
  CONFIG_BUCKET,
  CONFIG_KEY,
  adminAt,
  OWNER_ONLY_FILE,
  parseMeshRevision,
  readIfExists,
  swapXdsFiles,
  writeAtomic,
  type ConfigSyncStatus,
  type Log,
} from '@model-mesh/contracts'

export interface ConfigSyncOptions {
  node: string
  xdsDir: string
  bootstrapFile: string
  adminAddressFile: string
  natsUrl: string
  natsAuth?: { user: string; pass: string }
  log: Log
  /** How often the bucket is read besides the watcher (default 2 s). */
  checkEveryMs?: number
  /** How long Envoy may take each step of a revision (default 10 s). */
  stepTimeoutMs?: number
}

const RETRY_MS = 1000

export class ConfigSync {
  readonly status: ConfigSyncStatus = { revision: null, version: null, latest: null, error: null }
  #nc: NatsConnection | null = null
  #closed = false
  /** The newest bucket entry not yet handled, and the bucket revision of the last one taken up. */
  #pending: KvEntry | null = null
  #seen = 0
  #working: Promise<void> | null = null
  #loop: Promise<void> | null = null
  #unreadable = false

  constructor(readonly opts: ConfigSyncOptions) {}

  start(): void {
    this.#loop = this.#run()
  }

  async close(): Promise<void> {
    this.#closed = true
    await this.#nc?.close().catch(() => {})
    await this.#loop
    await this.#working
  }

  async #run(): Promise<void> {
    const { log } = this.opts
    while (!this.#closed) {
      let check: NodeJS.Timeout | undefined
      try {
        this.#nc ??= await connect({
          servers: this.opts.natsUrl.split(',').map((u) => u.trim()),
          ...this.opts.natsAuth,
          name: `telemetry-agent ${this.opts.node} config`,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          pingInterval: 5000,
          maxPingOut: 2,
          timeout: 2000,
        })
        const kv: KV = await new Kvm(this.#nc).open(CONFIG_BUCKET)
        check = setInterval(() => {
          kv.get(CONFIG_KEY).then(
            (e) => e && this.#offer(e),
            () => {},
          )
        }, this.opts.checkEveryMs ?? 2000)
        const watcher = await kv.watch({ key: CONFIG_KEY })
        this.#unreadable = false
        for await (const e of watcher) this.#offer(e)
      } catch (e) {
        // Once per streak: at a node's start the bucket may not exist for a few seconds yet.
        if (!this.#closed && !this.#unreadable)
          log('warn', 'cannot read the configuration bucket; trying every second', { err: e })
        this.#unreadable = true
      } finally {
        clearInterval(check)
      }
      if (!this.#closed) await new Promise((r) => setTimeout(r, RETRY_MS))
    }
  }

  /** Only the newest entry matters: one that arrives while another is applied replaces any still waiting. */
  #offer(e: KvEntry): void {
    if (e.operation !== 'PUT' || e.revision <= this.#seen) return
    this.#seen = e.revision
    this.#pending = e
    this.#working ??= this.#drain().finally(() => {
      this.#working = null
    })
  }

  async #drain(): Promise<void> {
    while (this.#pending && !this.#closed) {
      const entry = this.#pending
      this.#pending = null
      try {
        await this.#take(entry)
      } catch (e) {
        this.status.error = `bucket revision ${entry.revision}: ${(e as Error).message}`
        this.opts.log('error', 'could not take a configuration revision', { err: e })
      }
    }
  }

  async #take(entry: KvEntry): Promise<void> {
    const { node, log } = this.opts
    const parsed = parseMeshRevision(entry.value)
    if (!parsed.ok) {
      this.status.error = `bucket revision ${entry.revision} is not a mesh revision: ${parsed.reason}`
      log('error', 'ignored a value in the configuration bucket that is not a mesh revision', { reason: parsed.reason })
      return
    }
    const revision = parsed.revision
    this.status.latest = revision.id
    const part = revision.nodes[node]
    if (!part) {
      this.status.error = `revision ${revision.id} has no configuration for node ${node}`
      log('error', this.status.error)
      return
    }
    const swapped = await swapXdsFiles({
      dir: this.opts.xdsDir,
      files: part.files,
      admin: await adminAt(this.opts.adminAddressFile),
      timeoutMs: this.opts.stepTimeoutMs,
    })
    if (swapped.status === 'refused') {
      this.status.error = `revision ${revision.id} refused: ${swapped.reason}`
      log('error', 'Envoy refused a configuration revision; it runs the one before', {
        revision: revision.id,
        reason: swapped.reason,
      })
      return
    }
    // Envoy reads the bootstrap only when it starts: kept for that.
    const bootstrap = bootstrapText(part.bootstrap)
    if ((await readIfExists(this.opts.bootstrapFile)) !== bootstrap)
      await writeAtomic(this.opts.bootstrapFile, bootstrap, OWNER_ONLY_FILE)
    Object.assign(this.status, { revision: revision.id, version: part.version, error: null })
    log('info', 'took a configuration revision', {
      revision: revision.id,
      action: revision.action,
      by: revision.by,
      envoy: swapped.status === 'written' ? swapped.envoy : 'unchanged',
    })
  }
}
