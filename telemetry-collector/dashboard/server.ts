/**
 * @module
 * The SRE dashboard's server, on its own port: the page (bundled by
 * build.ts, served from dist/, nothing from the internet), the collector's
 * JSON API, the dashboard's views of it, and a server-sent event stream that
 * pushes them every `refreshMs`.
 */
import { getConnInfo } from '@hono/node-server/conninfo'
import { setMaxListeners } from 'node:events'
import { readFile } from 'node:fs/promises'
import { isIPv4, isIPv6 } from 'node:net'
import { extname, join } from 'node:path'
import { Hono, type Context } from 'hono'
import { etag } from 'hono/etag'
import { secureHeaders } from 'hono/secure-headers'
import { streamSSE } from 'hono/streaming'
import { loadMeshFile, redactIssues, redactMeshText } from '@model-mesh/mesh-config'
import { apiRoutes, type ApiContext } from '../serve/api.ts'
import { hostCheck } from '../serve/host-check.ts'
import { isOperator } from '../serve/operator.ts'
import { isForwarded } from '../serve/peers.ts'
import { DEFAULT_RANGE, isRange, RANGES, type RangeName } from './ranges.ts'
import { sharedOverview, sharedRouteView, type DashboardSources } from './snapshot.ts'
import { wholeMeshViews } from './whole-mesh.ts'

export interface DashboardOptions {
  address: string
  port: number
  /** Host names it answers to besides its address (the collector's `hostNames`). */
  hostNames?: string[]
  /** How often the live stream pushes (ms). */
  refreshMs: number
  /** The telemetry agents whose spool and drops the pipeline panel shows. */
  agents: string[]
  /** Where build.ts put the page (default: dist/ beside this file). */
  assetsDir?: string
  /** Live stream limits (default: MAX_STREAMS, OPERATOR_STREAMS, MAX_STREAMS_PER_CLIENT); tests make them small enough to fill. */
  streams?: StreamLimits
  /** The other collectors' dashboards, when several share the work: this one answers for the whole mesh with theirs (whole-mesh.ts). */
  peers?: string[]
}

export interface StreamLimits {
  /** Live streams at once, in all. */
  max: number
  /** Of them, those only a caller with the operator token takes. */
  operator: number
  /** Streams one client holds without the token. */
  perClient: number
}

export const DEFAULT_ASSETS_DIR = join(import.meta.dirname, 'dist')

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
}

/** At most this many live streams at once: each costs a view computed every refresh. */
export const MAX_STREAMS = 64
/** Of them, this many only for callers with the operator token: whoever fills the others does not lock the operator out. */
export const OPERATOR_STREAMS = 8
/**
 * And this many from one client without the token (a browser opens one per
 * tab), so one client cannot take them all. Every loopback address is one
 * client: a local process could bind 127.0.0.2, 127.0.0.3...
 */
export const MAX_STREAMS_PER_CLIENT = 8

const DEFAULT_STREAM_LIMITS: StreamLimits = {
  max: MAX_STREAMS,
  operator: OPERATOR_STREAMS,
  perClient: MAX_STREAMS_PER_CLIENT,
}

/** `closing` ends every live stream (a server does not close while one is open). */
export function dashboardApp(api: ApiContext, opts: DashboardOptions, closing?: AbortSignal): Hono {
  const src: DashboardSources = { api, agents: opts.agents }
  const assetsDir = opts.assetsDir ?? DEFAULT_ASSETS_DIR
  // Without an operator token nobody could take the operator's streams: then all are open to all.
  const limits = api.operatorToken
    ? (opts.streams ?? DEFAULT_STREAM_LIMITS)
    : { ...(opts.streams ?? DEFAULT_STREAM_LIMITS), operator: 0 }
  const streams = new StreamSlots(limits)
  // Each live stream listens for the close: as many listeners as streams is expected, not a leak.
  if (closing) setMaxListeners(limits.max + 1, closing)
  // A view computed for one viewer serves the others until the next refresh.
  const ttlMs = Math.max(100, opts.refreshMs * 0.9)
  const views = wholeMeshViews(api, () => opts.peers ?? [], {
    overview: (range) => sharedOverview(src, range, ttlMs),
    routeView: (route, range) => sharedRouteView(src, route, range, ttlMs),
  })
  const { overview, routeView } = views
  /** A question another collector passed on is answered from this one's own models. */
  const viewsFor = (c: Context) => (isForwarded(c.req.raw.headers) ? views.own : views)
  const app = new Hono()
  app.use('*', hostCheck(opts.address, opts.hostNames))
  app.use(
    '*',
    secureHeaders({
      // Everything comes from this server: a page that tried to load from elsewhere is a bug.
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        styleSrc: ["'self'"],
        scriptSrc: ["'self'"],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
      },
    }),
  )
  app.use('/assets/*', etag())
  app.get('/', (c) => asset(c, assetsDir, 'index.html'))
  app.get('/assets/:file', (c) => asset(c, assetsDir, c.req.param('file')))

  app.get('/api/v1/dashboard/overview', async (c) => {
    const range = rangeOf(c)
    if (!range) return badRange(c)
    return c.json(await viewsFor(c).overview(range))
  })
  app.get('/api/v1/dashboard/routes/:route', async (c) => {
    const range = rangeOf(c)
    if (!range) return badRange(c)
    const view = await viewsFor(c).routeView(c.req.param('route'), range)
    return view ? c.json(view) : c.json({ error: `route: no route ${c.req.param('route')} in mesh.yaml` }, 404)
  })
  // The page's live feed: the overview, and the route's view when it shows one.
  app.get('/api/v1/dashboard/events', (c) => {
    const range = rangeOf(c)
    if (!range) return badRange(c)
    const route = c.req.query('route')
    const client = clientOf(getConnInfo(c).remote.address ?? 'unknown')
    const operator = isOperator(c.req.header('authorization'), api.operatorToken)
    const slot = streams.take(client, operator)
    if (slot === 'client')
      return c.json(
        {
          error: `too many live streams from ${client === LOOPBACK ? 'this machine (loopback)' : client} (${limits.perClient} per client); close another dashboard tab, or give the operator token`,
        },
        429,
      )
    if (slot === 'all')
      return c.json(
        {
          error: operator
            ? `too many live streams (${limits.max})`
            : `too many live streams (${limits.max - limits.operator} without the operator token); close another dashboard tab, or give the operator token`,
        },
        503,
      )
    let released = false
    // Given back as soon as the viewer leaves, not after the loop's next sleep: a page reloading takes its slot again at once.
    const release = () => {
      if (!released) streams.give(client, operator)
      released = true
    }
    return streamSSE(c, async (stream) => {
      let open = true
      const end = () => {
        open = false
        release()
      }
      stream.onAbort(end)
      closing?.addEventListener('abort', end)
      let id = 0
      try {
        while (open && !closing?.aborted) {
          const started = Date.now()
          try {
            const data = route ? await routeView(route, range) : await overview(range)
            await stream.writeSSE({
              id: String(++id),
              event: route ? 'route' : 'overview',
              data: JSON.stringify(data ?? { error: `route: no route ${route} in mesh.yaml` }),
            })
          } catch (e) {
            if (!open) break
            await stream.writeSSE({ event: 'failure', data: JSON.stringify({ error: (e as Error).message }) })
          }
          await stream.sleep(Math.max(50, opts.refreshMs - (Date.now() - started)))
        }
      } finally {
        release()
        closing?.removeEventListener('abort', end)
      }
    })
  })
  // mesh.yaml with its secrets redacted, for everyone, token or not (the file itself is where to read them).
  app.get('/api/v1/mesh', async (c) => {
    if (!api.meshFile) return c.json({ error: 'mesh: this collector was started without a mesh.yaml' }, 404)
    const loaded = await loadMeshFile(api.meshFile)
    if (!loaded.ok) {
      const text = await readFile(api.meshFile, 'utf8').catch(() => '')
      return c.json({
        file: api.meshFile,
        valid: false,
        issues: redactIssues(loaded.issues),
        text: redactMeshText(text, { valid: false }),
      })
    }
    return c.json({
      file: api.meshFile,
      valid: true,
      text: redactMeshText(loaded.mesh.text, { valid: true }),
      routes: loaded.mesh.config.routes,
    })
  })
  // Whether this caller may change things: the page shows its controls accordingly (the API checks every write anyway).
  app.get('/api/v1/session', (c) =>
    c.json({
      writable: api.operatorToken !== undefined,
      operator: isOperator(c.req.header('authorization'), api.operatorToken),
    }),
  )
  app.route('/', apiRoutes(api))
  return app
}

/** Live streams taken: in all, without the operator token, and per client without it. */
class StreamSlots {
  #all = 0
  #open = 0
  readonly #byClient = new Map<string, number>()
  constructor(readonly limits: StreamLimits) {}

  /** Takes one for `client` (an operator's counts only in all); otherwise says which limit is reached. */
  take(client: string, operator: boolean): 'ok' | 'client' | 'all' {
    const { max, operator: reserved, perClient } = this.limits
    if (operator) {
      if (this.#all >= max) return 'all'
      this.#all++
      return 'ok'
    }
    const mine = this.#byClient.get(client) ?? 0
    if (mine >= perClient) return 'client'
    if (this.#open >= max - reserved || this.#all >= max) return 'all'
    this.#all++
    this.#open++
    this.#byClient.set(client, mine + 1)
    return 'ok'
  }

  give(client: string, operator: boolean): void {
    this.#all--
    if (operator) return
    this.#open--
    const mine = (this.#byClient.get(client) ?? 1) - 1
    if (mine > 0) this.#byClient.set(client, mine)
    else this.#byClient.delete(client)
  }
}

const LOOPBACK = 'loopback'

/**
 * Who a stream counts against: its remote address, every loopback address
 * (127.0.0.0/8, ::1, and IPv4-mapped ::ffff:127.x) as one client.
 *
 * @example clientOf('::ffff:127.0.0.9') // 'loopback'
 */
export function clientOf(address: string): string {
  if (isIPv4(address)) return address.startsWith('127.') ? LOOPBACK : address
  if (!isIPv6(address)) return address
  // The URL parser writes an IPv6 address one way: ::1, and ::ffff:7f00:1 for ::ffff:127.0.0.1 (a zone, %eth0, it does not take).
  const canonical = new URL(`http://[${address.replace(/%.*$/s, '')}]/`).hostname
  return canonical === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:/.test(canonical) ? LOOPBACK : address
}

function rangeOf(c: Context): RangeName | null {
  const r = c.req.query('range') ?? DEFAULT_RANGE
  return isRange(r) ? r : null
}

const badRange = (c: Context) => c.json({ error: `range: must be one of ${Object.keys(RANGES).join(', ')}` }, 400)

/** One file of the built page; only plain names, so a path cannot leave the folder. */
async function asset(c: Context, dir: string, file: string) {
  if (!/^[\w.-]+$/.test(file) || file.startsWith('.')) return c.text('not found', 404)
  try {
    const body = await readFile(join(dir, file))
    return c.body(body, 200, {
      'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-cache',
    })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    if (file === 'index.html')
      return c.text(
        'The dashboard is not built: run `npm run setup` (or `npx tsx telemetry-collector/dashboard/build.ts`).',
        503,
      )
    return c.text('not found', 404)
  }
}
