/**
 * @module
 * Who may do what on the mesh's NATS: three identities, each a user with a
 * random password in a 0600 file under the state directory (created by
 * `mesh up`, never in mesh.yaml), rendered into nats-server's config file
 * (0600 too):
 *
 * - `mesh-agent`: publishes telemetry to the streams' subjects, and reads
 *   only what JetStream answers it (its `_INBOX.>`), whether the streams
 *   exist, and the mesh's configuration bucket (several nodes: it keeps
 *   its node's Envoy configuration); it can neither read telemetry, nor
 *   change a stream or the configuration;
 * - `mesh-collector`: creates and updates the mesh's own streams (it does at
 *   start, from mesh.yaml's limits), manages and reads its consumers on
 *   them and acknowledges, and holds its leases in the collectors' bucket
 *   (several collectors share the work); it cannot publish telemetry, nor
 *   delete or purge a stream;
 * - `mesh-operator`: everything (deleting or purging streams, publishing
 *   the configuration, tools).
 */
import { join } from 'node:path'
import {
  COLLECTOR_BUCKET,
  CONFIG_BUCKET,
  ensureToken,
  OWNER_ONLY_FILE,
  STREAMS,
  tokenFromFile,
} from '@model-mesh/contracts'
import { writeAtomic } from './state.ts'

export const NATS_ROLES = ['agent', 'collector', 'operator'] as const
export type NatsRole = (typeof NATS_ROLES)[number]

/** What nats.js `connect` takes besides the servers. */
export interface NatsCredential {
  user: string
  pass: string
}

interface NatsPermissions {
  publish: { allow: string[] }
  subscribe: { allow: string[] }
}

export const natsUser = (role: NatsRole) => `mesh-${role}`

/** Where each identity's password lives, and nats-server's config file. */
export const natsFiles = (stateDir: string) => ({
  password: (role: NatsRole) => join(stateDir, 'nats-credentials', role),
  config: join(stateDir, 'nats-credentials', 'nats-server.conf'),
})

/** Replies to requests (JetStream's API and publish acks) come to the requester's inbox. */
const INBOX = '_INBOX.>'

/** Sharing the work between collectors: the leases' bucket, made, read and written (compare-and-set) by collectors alone. */
const LEASE_STREAM = `KV_${COLLECTOR_BUCKET}`
const SHARE_WORK = [
  `$JS.API.STREAM.CREATE.${LEASE_STREAM}`,
  `$JS.API.STREAM.INFO.${LEASE_STREAM}`,
  `$JS.API.DIRECT.GET.${LEASE_STREAM}.>`,
  `$JS.API.STREAM.MSG.GET.${LEASE_STREAM}`,
  `$KV.${COLLECTOR_BUCKET}.>`,
]

/** Reading the configuration bucket: its info, its last value, and a watcher (an ordered consumer delivering to the reader's inbox). */
const CONFIG_STREAM = `KV_${CONFIG_BUCKET}`
const READ_CONFIG = [
  `$JS.API.STREAM.INFO.${CONFIG_STREAM}`,
  `$JS.API.DIRECT.GET.${CONFIG_STREAM}.>`,
  `$JS.API.STREAM.MSG.GET.${CONFIG_STREAM}`,
  `$JS.API.CONSUMER.CREATE.${CONFIG_STREAM}`,
  `$JS.API.CONSUMER.CREATE.${CONFIG_STREAM}.>`,
  `$JS.API.CONSUMER.INFO.${CONFIG_STREAM}.>`,
  `$JS.API.CONSUMER.DELETE.${CONFIG_STREAM}.>`,
  `$JS.FC.${CONFIG_STREAM}.>`,
]

/** The subjects each identity may publish to and subscribe to; the operator has no limits (undefined). */
function natsPermissions(role: NatsRole): NatsPermissions | undefined {
  const streams = Object.values(STREAMS)
  if (role === 'agent') {
    return {
      publish: {
        allow: [
          ...streams.map((s) => `${s.prefix}.*`),
          '$JS.API.INFO',
          ...streams.map((s) => `$JS.API.STREAM.INFO.${s.name}`),
          ...READ_CONFIG,
        ],
      },
      subscribe: { allow: [INBOX] },
    }
  }
  if (role === 'collector') {
    return {
      publish: {
        allow: [
          '$JS.API.INFO',
          ...streams.flatMap((s) => [
            `$JS.API.STREAM.INFO.${s.name}`,
            // It keeps the mesh's streams as mesh.yaml says (streams.ts); deleting or purging one is the operator's.
            `$JS.API.STREAM.CREATE.${s.name}`,
            `$JS.API.STREAM.UPDATE.${s.name}`,
            `$JS.API.CONSUMER.CREATE.${s.name}.>`,
            `$JS.API.CONSUMER.DURABLE.CREATE.${s.name}.>`,
            `$JS.API.CONSUMER.INFO.${s.name}.>`,
            // Sharing the work, a collector taking a model over takes its review queue from the last holder's consumer.
            `$JS.API.CONSUMER.LIST.${s.name}`,
            `$JS.API.CONSUMER.DELETE.${s.name}.>`,
            `$JS.API.CONSUMER.MSG.NEXT.${s.name}.>`,
            `$JS.ACK.${s.name}.>`,
          ]),
          ...SHARE_WORK,
        ],
      },
      subscribe: { allow: [INBOX] },
    }
  }
  return undefined
}

/** nats-server's config (JSON, which its parser reads): the users, their passwords and permissions. */
export function natsConfigText(credentials: Record<NatsRole, NatsCredential>): string {
  const users = NATS_ROLES.map((role) => {
    const permissions = natsPermissions(role)
    return { user: credentials[role].user, password: credentials[role].pass, ...(permissions ? { permissions } : {}) }
  })
  return `${JSON.stringify({ authorization: { users } }, null, 2)}\n`
}

/**
 * Every identity's credential, each password created (random, 0600) when
 * missing, and nats-server's config written from them (0600); returns the
 * config file for `nats-server --config`.
 */
export async function prepareNatsAuth(
  stateDir: string,
): Promise<{ configFile: string; credentials: Record<NatsRole, NatsCredential> }> {
  const files = natsFiles(stateDir)
  const credentials = {} as Record<NatsRole, NatsCredential>
  for (const role of NATS_ROLES)
    credentials[role] = { user: natsUser(role), pass: await ensureToken(files.password(role)) }
  await writeAtomic(files.config, natsConfigText(credentials), OWNER_ONLY_FILE)
  return { configFile: files.config, credentials }
}

/** The identity's credential when the local mesh created one; none: the NATS in use is not the local mesh's (connect without). */
export async function natsCredential(stateDir: string, role: NatsRole): Promise<NatsCredential | undefined> {
  const pass = await tokenFromFile(natsFiles(stateDir).password(role), false)
  return pass === undefined ? undefined : { user: natsUser(role), pass }
}
