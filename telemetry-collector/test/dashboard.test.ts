/**
 * The SRE dashboard in process, every part real but Envoy: nats-server, a
 * telemetry agent, and a collector serving the dashboard on its own port,
 * over a store seeded with 30 days of minute rollups; headless Chromium on
 * the page. First paint with 30 days, the page's figures against the API
 * and the seeded rows, live updates over server-sent events without a
 * reload, axe-core on every view at two sizes, the keyboard, and writes:
 * refused by the server without the token (or with none configured), made
 * with it through mesh-config's validated path and recorded in its history.
 * (test/dashboard.test.ts runs the page through the whole local mesh.)
 */
import { randomUUID } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_STREAM_LIMITS, type TelemetryEvent } from '@model-mesh/contracts'
import { readHistory } from '@model-mesh/mesh-config'
import { EXAMPLE_MODELS } from '@model-mesh/testkit/host-process'
import { accessibilityViolations, launchChromium, screenshot, watchPolicyViolations } from '@model-mesh/testkit/browser'
import { canaryRouteYaml, localMeshYaml, portsOf } from '@model-mesh/testkit/mesh-yaml'
import { startNats, type RunningNats } from '@model-mesh/testkit/nats'
import { freePorts } from '@model-mesh/testkit/ports'
import { startAgent, type RunningAgent } from '@model-mesh/telemetry-agent'
import { age, ms, percent, rate } from '../dashboard/app/format.ts'
import type { Overview, RouteView } from '../dashboard/snapshot.ts'
import { Aggregator, minuteOf } from '../state/aggregator.ts'
import { startCollector, type RunningCollector } from '../collector.ts'
import { errorBudget } from '../analysis/error-budget.ts'
import { Store } from '../store/store.ts'
import {
  AGENT_TEST_TOKEN,
  applicantRows,
  batchEvent,
  eventually,
  ndjson,
  post,
  requestEvent,
  sampleEvent,
} from '@model-mesh/testkit/events'
import { applyAndCommit } from './apply-and-commit.ts'

const TOKEN = 'dashboard-test-operator-token'
/** An API key in mesh.yaml: the config view shows the file, never the key. */
const API_KEY = 'dashboard-test-api-key-0123456789'
const MODELS = ['credit-risk', 'credit-risk-fallback']
const ROUTE = 'credit-risk'
const SLO = { p99_ms: 250, availability: 0.999, window_days: 30 }
const WIDE = { width: 1280, height: 800 }
const NARROW = { width: 390, height: 844 }

const MINUTE = 60_000
const DAY = 86_400_000
/** Days written through the aggregator and the store's commit, as a running collector writes them; the rest of the 30 are copies. */
const REAL_DAYS = 3
const BLOCK_MINUTES = REAL_DAYS * 1440
/**
 * The seeded rollups start this much later than 30 days before the test
 * began, so the budget's window (the last 30 days, from whenever the page
 * asks) holds every seeded row however long the file runs, up to this.
 */
const WINDOW_MARGIN_MS = 10 * MINUTE

/**
 * The seeded traffic of minute `i` of the repeating 3-day block: stable
 * 1 to 5 requests a minute over a daily cycle (the 30-day chart's shape),
 * canary 1; an incident on the block's second day (hour 14: a 503 every
 * sixth minute, slow), a canary request with no response at the block's
 * start, a canary 404 (not a failure) every 13th minute.
 */
function seededMinute(i: number): { stable: { status: number; ms: number }[]; canary: { status: number; ms: number } } {
  const ofDay = i % 1440
  const n = 1 + Math.round(2 + 2 * Math.sin((2 * Math.PI * ofDay) / 1440))
  const incident = i >= 1440 && i < 2880 && ofDay >= 840 && ofDay < 900 && (ofDay - 840) % 6 === 0
  const stable = Array.from({ length: n }, (_, k) => ({
    status: incident && k === 0 ? 503 : 200,
    ms: incident ? 400 : 2 + ((i + k) % 40),
  }))
  return { stable, canary: { status: i === 0 ? 0 : i % 13 === 0 ? 404 : 200, ms: 3 + (i % 30) } }
}

/** The seeded traffic of `minute`, for seeded rows ending at `end` (the block repeats back from the last 3 days). */
const seededAt = (minute: number, end: number) =>
  seededMinute(((((minute - (end - REAL_DAYS * DAY)) / MINUTE) % BLOCK_MINUTES) + BLOCK_MINUTES) % BLOCK_MINUTES)

/**
 * 30 days of credit-risk's minute rollups, ending at the minute before
 * `t0`: the last 3 days through the real aggregator and commit, then those
 * rows copied back in SQL (the commit path writes about 3,000 rows a
 * second: 30 days of it would take the file half a minute). Returns the
 * requests and failures (5xx and no response) the rows hold.
 */
async function seed(
  storeDir: string,
  t0: number,
): Promise<{ start: number; end: number; requests: number; failed: number }> {
  const end = minuteOf(t0)
  const blockStart = end - REAL_DAYS * DAY
  const start = end - 30 * DAY + WINDOW_MARGIN_MS
  const store = await Store.open(storeDir)
  try {
    const agg = new Aggregator(MODELS)
    // A collector running through those days: each day's events a delivery, committed as the day ends.
    await store.load(agg, blockStart)
    for (let day = blockStart; day < end; day += DAY) {
      const events: TelemetryEvent[] = []
      for (let minute = day; minute < day + DAY; minute += MINUTE) {
        const m = seededAt(minute, end)
        m.stable.forEach((s, k) =>
          events.push(requestEvent({ ts: minute + 1000 + k * 1000, status: s.status, duration_us: s.ms * 1000 })),
        )
        events.push(
          requestEvent({
            ts: minute + 30_000,
            variant: 'canary',
            version: '2',
            cluster: 'credit-risk-canary',
            status: m.canary.status,
            duration_us: m.canary.ms * 1000,
          }),
        )
      }
      await applyAndCommit(store, agg, events, Math.min(day + DAY, t0))
    }
    await store.database.writer.run(
      `INSERT INTO signal_minutes SELECT minute_ms - k * ${BLOCK_MINUTES * MINUTE}, route, model, version, variant, requests, codes, flags, fallbacks, duration_sum_ms, sketch
       FROM signal_minutes CROSS JOIN range(1, 10) AS r(k) WHERE minute_ms - k * ${BLOCK_MINUTES * MINUTE} >= ${start}`,
    )
  } finally {
    store.close()
  }
  let requests = 0
  let failed = 0
  for (let minute = start; minute < end; minute += MINUTE) {
    const m = seededAt(minute, end)
    for (const s of [...m.stable, m.canary]) {
      requests++
      if (s.status >= 500 || s.status === 0) failed++
    }
  }
  return { start, end, requests, failed }
}

type RouteRow = Overview['routes'][number]

/** The text an element shows itself, without its children's (a figure without its small print). */
const ownText = (page: Page, selector: string) =>
  page
    .locator(selector)
    .first()
    .evaluate((el) =>
      [...el.childNodes]
        .filter((n) => n.nodeType === 3)
        .map((n) => n.textContent)
        .join('')
        .trim(),
    )

/** Sparkline points (its path's M and L commands) and their y coordinates. */
const sparkPoints = (page: Page) =>
  page
    .locator('tr[data-route="credit-risk"] svg.spark path')
    .evaluate((p) => [...(p.getAttribute('d') ?? '').matchAll(/[ML][\d.]+,([\d.]+)/g)].map((m) => Number(m[1])))

describe('SRE dashboard: agent → NATS → collector (30 days of rollups) → page in Chromium', () => {
  let nats: RunningNats
  let agent: RunningAgent
  let collector: RunningCollector
  let browser: Browser
  let dir: string
  let meshFile: string
  let meshText: string
  let dash: string
  let seeded: Awaited<ReturnType<typeof seed>>
  const contexts: BrowserContext[] = []

  const api = async <T = unknown>(
    path: string,
    init?: RequestInit & { base?: string },
  ): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${init?.base ?? dash}${path}`, init)
    return { status: res.status, body: (await res.json().catch(() => null)) as T }
  }
  const overview = async (range = '1h'): Promise<Overview> =>
    (await api<Overview>(`/api/v1/dashboard/overview?range=${range}`)).body
  const routeRow = async (range = '1h'): Promise<RouteRow> =>
    (await overview(range)).routes.find((r) => r.name === ROUTE)!
  /** Requests of the route in the collector's last-minute window (its 10-second buckets). */
  const lastMinuteRequests = async () =>
    (await api<{ series: { labels: { route: string }; requests: number }[] }>('/api/v1/windows?window=1m')).body.series
      .filter((s) => s.labels.route === ROUTE)
      .reduce((n, s) => n + s.requests, 0)
  const operatorPost = (path: string, body: unknown) =>
    api<{
      error?: string
      stable?: string
      canary?: { version: string; weight: number } | null
      status?: string
      by?: string
    }>(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(body),
    })
  /** What the page's content security policy blocked, on every page of the test: nothing, ever (the page loads only from its server). */
  let blocked: string[][] = []
  /** A browser context of its own, its pages under their real content security policy (axe runs through the debugging protocol). */
  async function newContext(viewport: { width: number; height: number }): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport })
    // A page that never shows what is waited for fails the test where it waits, not at the test's timeout.
    context.setDefaultTimeout(15_000)
    context.on('page', (p) => blocked.push(watchPolicyViolations(p)))
    contexts.push(context)
    return context
  }
  /** Closes the test's pages (an open page keeps its live stream, and so the collector, busy); none may have had anything blocked. */
  const closeContexts = async () => {
    for (const c of contexts.splice(0)) await c.close()
    const seen = blocked.flat()
    blocked = []
    expect(seen).toEqual([])
  }
  async function open(viewport: { width: number; height: number }, hash = '#/'): Promise<Page> {
    const page = await (await newContext(viewport)).newPage()
    await page.goto(`${dash}/${hash}`)
    return page
  }

  beforeAll(async () => {
    const t0 = Date.now()
    dir = await mkdtemp(join(tmpdir(), 'dashboard-'))
    seeded = await seed(join(dir, 'store'), t0)
    console.log(`[dashboard] seeded 30 days of rollups in ${Date.now() - t0} ms`)
    const routes = `  # credit-risk: stable v1, canary v2 (this comment must survive the dashboard's edits)\n${canaryRouteYaml(1000, 'interval_s: 60, min_requests: 100').replace('weight: 1000', 'weight: 1000 # basis points')}    slo: { p99_ms: ${SLO.p99_ms}, availability: ${SLO.availability}, window_days: ${SLO.window_days} }\n`
    meshFile = join(dir, 'mesh.yaml')
    meshText = localMeshYaml(portsOf(await freePorts(7)), routes, {
      extra: `auth:\n  api_keys:\n    - { client: web-app, key: ${API_KEY} } # the web app\n`,
    })
    await writeFile(meshFile, meshText)
    nats = await startNats()
    agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: 'dashboard',
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: MODELS,
      reviewThresholds: { 'credit-risk': 0.6 },
      spool: { dir: join(dir, 'spool'), memoryBytes: 1 << 20, diskBytes: 8 << 20 },
      log: () => {},
    })
    collector = await startCollector({
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      storeDir: join(dir, 'store'),
      models: MODELS,
      streams: DEFAULT_STREAM_LIMITS,
      log: () => {},
      repository: EXAMPLE_MODELS,
      meshFile,
      operatorToken: TOKEN,
      dashboard: { address: '127.0.0.1', port: 0, refreshMs: 500, agents: [agent.url] },
    })
    await collector.ready
    dash = collector.dashboardUrl!
    browser = await launchChromium()
  })
  afterEach(closeContexts)
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {})
    await browser?.close()
    await agent?.close()
    await collector?.close()
    await nats?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('paints in under a second with 30 days of rollups, and the 30-day range draws them', async () => {
    const context = await newContext(WIDE)
    // When the routes row first shows: the frame after it is in the page and laid out, in ms since navigation start.
    await context.addInitScript(() => {
      const w = window as unknown as { rowShownAt?: number }
      const seen = new MutationObserver(() => {
        const row = document.querySelector('tr[data-route="credit-risk"]')
        if (!row?.checkVisibility()) return
        seen.disconnect()
        requestAnimationFrame(() => (w.rowShownAt = performance.now()))
      })
      seen.observe(document, { childList: true, subtree: true })
    })
    const url = `${dash}/#/`
    // The first navigation starts the browser's own machinery (its network and renderer processes): not the page's cost.
    const warm = await context.newPage()
    await warm.goto(url)
    await warm.locator('tr[data-route="credit-risk"]').waitFor()
    await warm.close()

    // Five fresh navigations: the median is the page's; one slow one is the shared machine's (the other
    // processes on its two cores), which a single measurement would report as the page's.
    const runs: { fcp: number; row: number }[] = []
    let page!: Page
    for (let i = 0; i < 5; i++) {
      if (i > 0) await page.close()
      page = await context.newPage()
      await page.goto(url)
      const row = (await (
        await page.waitForFunction(() => (window as unknown as { rowShownAt?: number }).rowShownAt)
      ).jsonValue()) as number
      const fcp = (await (
        await page.waitForFunction(
          () => performance.getEntriesByType('paint').find((e) => e.name === 'first-contentful-paint')?.startTime,
        )
      ).jsonValue()) as number
      runs.push({ fcp, row })
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    console.log(
      `[dashboard] first contentful paint ${runs.map((r) => r.fcp.toFixed(0)).join(', ')} ms; routes row shown at ${runs.map((r) => r.row.toFixed(0)).join(', ')} ms`,
    )
    // The bound is the first paint: under a second. The first figures follow once the live
    // stream's first message arrives: alone, medians of 340-560 ms; with the whole suite on the 2 cores
    // (Envoy and hosts in the other worker, this collector in the test's own process) the median once
    // reached 1.25 s, so they get 2 s. The overview itself takes 13-16 ms to compute, 115 ms cold.
    expect(median(runs.map((r) => r.fcp))).toBeLessThan(1000)
    expect(median(runs.map((r) => r.row))).toBeLessThan(2000)

    // The 30-day range, by keyboard: arrows move through the radio group (1h → 24h → 30d).
    await page.locator('input[name="range"][value="1h"]').focus()
    const pressedAt = await page.evaluate(() => performance.now())
    await page.keyboard.press('ArrowRight')
    await page.keyboard.press('ArrowRight')
    expect(await page.locator('input[name="range"]:checked').getAttribute('value')).toBe('30d')
    const drawnAt = (await (
      await page.waitForFunction(
        () => {
          const d = document.querySelector('tr[data-route="credit-risk"] svg.spark path')?.getAttribute('d') ?? ''
          return (d.match(/[ML]/g)?.length ?? 0) === 720 ? performance.now() : false
        },
        undefined,
        { timeout: 30_000 },
      )
    ).jsonValue()) as number
    console.log(`[dashboard] 30-day sparkline drawn ${(drawnAt - pressedAt).toFixed(0)} ms after the key press`)
    // The range's counts are summed by DuckDB (no sketch read): measured 150-160 ms. Before that, the
    // server decoded all 86,400 minute sketches first and took 6-13 s. 3 s leaves room for a loaded machine.
    expect(drawnAt - pressedAt).toBeLessThan(3_000)
    expect(await page.locator('tr[data-route="credit-risk"] svg.spark').getAttribute('aria-label')).toMatch(/over 30d/)

    // The seeded rows, as the API gives them: 720 hourly steps, traffic from the start of the 30 days on.
    const row = await routeRow('30d')
    expect(row.series.t).toHaveLength(720)
    const hour = row.series.t.findIndex((t) => t >= seeded.start)
    expect(row.series.t[hour]! - Date.now()).toBeLessThan(-29 * DAY)
    // An hour's rate is its seeded requests over 3,600 s.
    const expectedRate = (from: number) => {
      let n = 0
      for (let m = from; m < from + 3_600_000; m += MINUTE) n += seededAt(m, seeded.end).stable.length + 1
      return Math.round((n / 3600) * 1000) / 1000
    }
    for (const i of [hour, hour + 5, hour + 100, 400])
      expect(row.series.rate[i]).toBeCloseTo(expectedRate(row.series.t[i]!), 3)
    // And the page drew those rates: its points, mapped back through the sparkline's scale (28 px high,
    // 2 px margins, from 0 to the highest rate), are the API's.
    const ys = await sparkPoints(page)
    const max = Math.max(...row.series.rate, 0)
    const drawn = ys.map((y) => ((28 - 2 - y) / (28 - 4)) * max)
    expect(drawn).toHaveLength(720)
    for (let i = 0; i < 720; i++) expect(Math.abs(drawn[i]! - row.series.rate[i]!)).toBeLessThan(max * 0.01)
    // Not a flat line: the daily cycle spans more than half the drawing's 24 px.
    expect(Math.max(...ys) - Math.min(...ys)).toBeGreaterThan(12)
    await screenshot(page, 'dashboard-overview')

    // The route's 30-day p99 needs the sketches: decoded a page at a time, so the collector keeps
    // answering meanwhile (its longest silence stays far under the stream's 2 s), and kept per settled hour.
    const gaps: number[] = []
    let polling = true
    const poll = (async () => {
      let last = Date.now()
      while (polling) {
        await (await fetch(`${collector.url}/healthz`)).arrayBuffer()
        gaps.push(Date.now() - last)
        last = Date.now()
      }
    })()
    const started = Date.now()
    const view = await api<RouteView>(`/api/v1/dashboard/routes/${ROUTE}?range=30d`)
    const coldMs = Date.now() - started
    polling = false
    await poll
    console.log(
      `[dashboard] 30-day route view (p99 from every minute's sketch) in ${coldMs} ms; the collector's longest silence meanwhile ${Math.max(...gaps)} ms`,
    )
    expect(Math.max(...gaps)).toBeLessThan(1_000)
    const p99s = view.body.variants.find((v) => v.variant === 'stable')!.series.p99
    expect(p99s.filter((v) => v !== null).length).toBeGreaterThan(700)
  }, 60_000)

  it("shows the API's figures, and the error budget of the seeded rows", async () => {
    const page = await open(WIDE)
    await page.locator('tr[data-route="credit-risk"]').waitFor()
    // Before any live event the budget is the seeded rows' exactly.
    const before = await routeRow()
    expect(seeded.failed).toBeGreaterThan(50)
    expect(before.budget).toEqual({
      ...errorBudget(SLO, { requests: seeded.requests, failed: seeded.failed }),
      covered_days: 30,
    })
    expect(before.budget!.remaining!).toBeGreaterThan(0.25)
    expect(before.budget!.remaining!).toBeLessThan(0.75)
    expect(await ownText(page, 'tr[data-route="credit-risk"] [data-field="budget"]')).toBe(
      percent(before.budget!.remaining, 1),
    )

    // A minute of live traffic: the "now" figures are the API's, as the page formats them.
    const live = [
      ...Array.from({ length: 30 }, (_, k) => requestEvent({ duration_us: (5 + k) * 1000 })),
      ...Array.from({ length: 6 }, () => requestEvent({ status: 503, duration_us: 900_000 })),
      ...Array.from({ length: 4 }, () => requestEvent({ fallback: true, duration_us: 20_000 })),
    ]
    expect((await post(agent.url, ndjson(live))).status).toBe(202)
    await eventually(lastMinuteRequests, (n) => n === live.length)
    const figures = (r: RouteRow) => ({
      rate: rate(r.now.rate_per_s),
      errors: percent(r.now.error_ratio),
      p99: ms(r.now.latency_ms.p99),
      fallbacks: percent(r.now.fallback_ratio),
      status: r.status,
    })
    const onPage = async () => ({
      rate: await ownText(page, 'tr[data-route="credit-risk"] [data-field="rate"]'),
      errors: await ownText(page, 'tr[data-route="credit-risk"] [data-field="error_ratio"]'),
      p99: await ownText(page, 'tr[data-route="credit-risk"] [data-field="p99"]'),
      fallbacks: await ownText(page, 'tr[data-route="credit-risk"] [data-field="fallback_ratio"]'),
      status: await ownText(page, 'tr[data-route="credit-risk"] .badge'),
    })
    // Read together until the page has had its next push (the API is read at the same moment).
    // (The views are shared for a refresh, so the first reads may still be from before the events.)
    const both = await eventually(
      async () => {
        const r = await routeRow()
        return { requests: r.now.requests, api: figures(r), page: await onPage() }
      },
      (b) => b.requests === live.length && JSON.stringify(b.api) === JSON.stringify(b.page),
      5000,
    )
    expect(both.page).toMatchObject({ errors: percent(6 / 40), fallbacks: percent(4 / 40) })
    // The rate is over the span the last minute's buckets cover: 60 to 70 s.
    expect(both.page.rate).toMatch(/^0\.(5[7-9]|6[0-7])\/s$/)
    // 6 of 40 at 900 ms: the p99 is theirs (the sketch's 1%), over the 250 ms objective.
    expect(both.page.p99).toMatch(/^(89\d|90\d|91\d) ms$/)
    expect(await page.locator('tr[data-route="credit-risk"] [data-field="p99"]').getAttribute('class')).toBe('over')
  })

  it("lists a route's recent stories, failed first, then slow, each linked to its whole story", async () => {
    const now = Date.now()
    const stories = [
      requestEvent({ request_id: 'story-traced', ts: now - 3000, kept: ['traced'] }),
      requestEvent({ request_id: 'story-slow', ts: now - 2000, duration_us: 400_000, kept: ['slow'] }),
      requestEvent({ request_id: 'story-failed', ts: now - 1000, status: 503, kept: ['failed'] }),
    ]
    expect((await post(agent.url, ndjson(stories))).status).toBe(202)
    const { body: view } = await eventually(
      () => api<RouteView>(`/api/v1/dashboard/routes/${ROUTE}?range=1h`),
      (v) => v.body.stories.some((s) => s.request_id === 'story-traced'),
    )
    const ours = view.stories.filter((s) => s.request_id.startsWith('story-'))
    expect(ours.map((s) => [s.request_id, s.kept])).toEqual([
      ['story-failed', ['failed']],
      ['story-slow', ['slow']],
      ['story-traced', ['traced']],
    ])
    const page = await open(WIDE, `#/route/${ROUTE}`)
    const link = page.locator('tr[data-request="story-failed"] a')
    await link.waitFor()
    await link.click()
    expect(await page.evaluate(() => location.hash)).toBe('#/request/story-failed')
  })

  it('updates live, without a reload, within 2 s of the collector applying new events', async () => {
    const page = await open(WIDE)
    await page.locator('tr[data-route="credit-risk"]').waitFor()
    await page.evaluate(() => ((window as unknown as { sameDocument: string }).sameDocument = 'still here'))
    const rateField = 'tr[data-route="credit-risk"] [data-field="rate"]'
    const requestsField = 'tr[data-route="credit-risk"] [data-field="requests"]'
    // Settled first: the page shows the last minute's requests as the API counts them.
    const requestsBefore = await eventually(
      async () => [Number(await ownText(page, requestsField)), await lastMinuteRequests()],
      ([p, a]) => p === a,
      5000,
    ).then(([n]) => n!)

    expect((await post(agent.url, ndjson(Array.from({ length: 60 }, () => requestEvent())))).status).toBe(202)
    // The moment the collector has applied them (polled closely: this is where the 2 s start).
    let appliedAt = 0
    while (appliedAt === 0) {
      if ((await lastMinuteRequests()) >= requestsBefore + 60) appliedAt = Date.now()
      else await new Promise((r) => setTimeout(r, 20))
    }
    // The count, not the rate: a rate moves by itself as the minute's span grows.
    await page.waitForFunction(
      ([sel, n]) => Number(document.querySelector(sel as string)?.textContent) >= (n as number),
      [requestsField, requestsBefore + 60] as const,
      { timeout: 5000 },
    )
    const shownAfterMs = Date.now() - appliedAt
    console.log(`[dashboard] the page showed new events ${shownAfterMs} ms after the collector applied them`)
    // The bound ("updates at least every 2 s"); a push is every 500 ms here (measured 10-490 ms).
    expect(shownAfterMs).toBeLessThan(2000)
    // The same document: no navigation happened.
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: string }).sameDocument)).toBe('still here')
    // And it shows the API's figures: rate and the newest event's age.
    await eventually(
      async () => {
        const o = await overview()
        return [
          [await ownText(page, rateField), await ownText(page, '[data-field="newest_event_age"]')],
          [rate(o.routes[0]!.now.rate_per_s), age(o.pipeline.newest_event_age_s)],
        ]
      },
      ([p, a]) => JSON.stringify(p) === JSON.stringify(a),
      5000,
    )

    // The stream itself, read as the page's EventSource reads it: a message every refreshMs (500).
    const opened = Date.now()
    const res = await fetch(`${dash}/api/v1/dashboard/events?range=1h`, { signal: AbortSignal.timeout(10_000) })
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    const messages: { id: string; event: string; data: Overview; at: number }[] = []
    let buffer = ''
    while (messages.length < 3) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += value
      let cut: number
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const fields: Record<string, string> = Object.fromEntries(
          buffer
            .slice(0, cut)
            .split('\n')
            .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trimStart()]),
        )
        buffer = buffer.slice(cut + 2)
        messages.push({
          id: fields.id ?? '',
          event: fields.event ?? '',
          data: JSON.parse(fields.data ?? 'null'),
          at: Date.now() - opened,
        })
      }
    }
    await reader.cancel()
    console.log(`[dashboard] server-sent events at ${messages.map((m) => m.at).join(', ')} ms`)
    expect(messages.map((m) => [m.id, m.event])).toEqual(
      [
        ['1', 'overview'],
        ['2', 'overview'],
        ['3', 'overview'],
      ].slice(0, messages.length),
    )
    expect(messages).toHaveLength(3)
    // Three pushes are due at 0, 500 and 1,000 ms (measured within 12 ms of that); 2 s is the bound.
    expect(messages[2]!.at).toBeLessThan(2000)
    expect(messages.every((m) => m.data.routes[0]?.name === ROUTE)).toBe(true)
    expect(messages[2]!.data.generated_at).toBeGreaterThan(messages[0]!.data.generated_at)
  })

  it('passes axe on every view, wide and narrow, and works by keyboard', async () => {
    // One request with its whole story (batch, sample) and a low confidence, so it is in the review queue too.
    const id = randomUUID()
    const story = [
      requestEvent({ request_id: id, duration_us: 4200 }),
      batchEvent({ request_ids: [id], queue_depth: 2 }),
      sampleEvent(applicantRows(1, 77), { request_id: id, confidence: 0.3, reason: 'rate+low_confidence' }),
    ]
    expect((await post(agent.url, ndjson(story))).status).toBe(202)
    await eventually(
      () => api<{ batches: unknown[]; samples: unknown[] }>(`/api/v1/requests/${id}`),
      (r) => r.status === 200 && r.body.batches.length === 1 && r.body.samples.length === 1,
    )
    await eventually(
      () => api<{ items: { request_id: string }[] }>('/api/v1/review'),
      (r) => r.body.items.some((i) => i.request_id === id),
    )

    const views: [string, string][] = [
      ['#/', 'tr[data-route="credit-risk"]'],
      [`#/route/${ROUTE}`, '[data-field="verdict"]'],
      ['#/review', `[id="label-${id}"]`],
      [`#/request/${id}`, '[data-part="sample"]'],
      ['#/config', 'pre[aria-label="mesh.yaml"]'],
    ]
    const found: Record<string, string[]> = {}
    for (const [name, viewport] of [
      ['wide', WIDE],
      ['narrow', NARROW],
    ] as const) {
      const page = await open(viewport)
      for (const [hash, ready] of views) {
        await page.evaluate((h) => (location.hash = h), hash)
        await page.locator(ready).first().waitFor()
        const violations = await accessibilityViolations(page)
        // Reflow (WCAG 1.4.10, which axe cannot see): nothing makes the page itself scroll sideways; a wide table scrolls in its own box.
        const overflow = await page.evaluate(
          () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
        )
        if (overflow > 0)
          violations.push(`reflow: the page is ${overflow} px wider than the ${viewport.width} px viewport`)
        if (violations.length > 0) found[`${name} ${hash}`] = violations
        if (name === 'wide' && hash.startsWith('#/route/')) await screenshot(page, 'dashboard-route')
        if (name === 'narrow' && hash === '#/') await screenshot(page, 'dashboard-narrow')
      }
    }
    expect(found).toEqual({})

    // Keyboard: from the top, the skip link first, then the header's links; Enter on a route opens it.
    const page = await open(WIDE)
    await page.locator('tr[data-route="credit-risk"]').waitFor()
    const focused = () =>
      page.evaluate(
        () => `${document.activeElement?.tagName.toLowerCase()} ${document.activeElement?.textContent?.trim()}`,
      )
    const order: string[] = []
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press('Tab')
      order.push(await focused())
    }
    expect(order).toEqual([
      'a Skip to content',
      'a Model mesh',
      'a Overview',
      'a Review queue',
      'a Request lookup',
      'a Config',
    ])
    // The skip link skips: Enter on it puts focus on the content.
    await page.keyboard.press('Shift+Tab')
    for (let i = 0; i < 4; i++) await page.keyboard.press('Shift+Tab')
    expect(await focused()).toBe('a Skip to content')
    await page.keyboard.press('Enter')
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main')
    await page.keyboard.press('Tab')
    expect(await focused()).toBe(`a ${ROUTE}`)
    await page.keyboard.press('Enter')
    await page.locator('h1.route-title').waitFor()
    expect(await page.evaluate(() => location.hash)).toBe(`#/route/${ROUTE}`)
    expect(await page.locator('h1.route-title').innerText()).toMatch(/^Route credit-risk/)
    // Focus went to the new view, as a page load would put it.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main')
  }, 90_000)

  it('shows a sampled payload only once the token is given, and mesh.yaml with its API keys redacted', async () => {
    const id = randomUUID()
    const sample = sampleEvent(applicantRows(1, 79), { request_id: id })
    expect((await post(agent.url, ndjson([requestEvent({ request_id: id }), sample]))).status).toBe(202)
    await eventually(
      () => api<{ samples: unknown[] }>(`/api/v1/requests/${id}`),
      (r) => r.status === 200 && r.body.samples.length === 1,
    )
    const page = await open(WIDE, `#/request/${id}`)
    // Without the token the collector gives the story without the bodies, and the page says where they are.
    await page.locator('[data-part="sample"] [data-field="redacted"]').waitFor()
    expect(await page.locator('[data-part="sample"] pre').count()).toBe(0)
    expect(await page.content()).not.toContain('"inputs"')
    // With it, the page asks again, with the token, and shows them.
    await page.locator('#token').fill(TOKEN)
    await page.locator('#token').press('Enter')
    await page.locator('[data-part="sample"] pre').first().waitFor()
    expect(JSON.parse(await page.locator('[data-part="sample"] pre').first().innerText())).toEqual(
      JSON.parse(sample.request),
    )
    expect(await page.locator('[data-field="redacted"]').count()).toBe(0)

    // The config view: the file as written, the key replaced, token or not.
    await page.evaluate(() => (location.hash = '#/config'))
    const shown = await page.locator('pre[aria-label="mesh.yaml"]').innerText()
    expect(shown).toContain('- { client: web-app, key: "<redacted>" } # the web app')
    expect(await page.content()).not.toContain(API_KEY)
  })

  it("keeps the operator's page live when this machine holds every stream it may without the token: the page's stream carries the token", async () => {
    const held: AbortController[] = []
    try {
      // Streams from this machine (every loopback address is one client) until one is refused.
      for (;;) {
        const stop = new AbortController()
        const res = await fetch(`${dash}/api/v1/dashboard/events?range=5m`, { signal: stop.signal })
        if (res.status === 200) {
          held.push(stop)
          continue
        }
        expect([res.status, held.length > 0]).toEqual([429, true])
        await res.body?.cancel()
        break
      }
      // A page without the token is refused too, says why, and keeps trying.
      const page = await open(WIDE)
      const status = page.locator('p.live [role="status"]')
      await page
        .locator('p.live')
        .getByText(/too many live streams from this machine \(loopback\)/)
        .waitFor()
      expect(await status.innerText()).toBe('Reconnecting…')
      // With the token given, its stream takes one of the operator's.
      await page.locator('#token').fill(TOKEN)
      await page.locator('#token').press('Enter')
      await status.getByText('Live', { exact: true }).waitFor()
      await page.locator('tr[data-route="credit-risk"]').waitFor()
    } finally {
      for (const s of held) s.abort()
    }
  })

  it("without the token nothing changes: the page's controls are off and the server refuses", async () => {
    // A review item to try to label.
    const sample = sampleEvent(applicantRows(1, 78), { confidence: 0.2, reason: 'low_confidence' })
    expect((await post(agent.url, ndjson([sample]))).status).toBe(202)
    await eventually(
      () => api<{ items: { request_id: string }[] }>('/api/v1/review'),
      (r) => r.body.items.some((i) => i.request_id === sample.request_id),
    )
    const page = await open(WIDE, `#/route/${ROUTE}`)
    await page.locator('#canary-weight').waitFor()
    expect(await page.locator('#canary-weight').isDisabled()).toBe(true)
    for (const name of ['Set weight', /^Promote v2$/, 'Roll back'])
      expect(await page.getByRole('button', { name }).isDisabled()).toBe(true)
    await page.getByText('Read-only: enter the operator token').waitFor()
    // The server is what refuses: the same calls, from inside the page, without the token or with a wrong one.
    const statuses = await page.evaluate(async (requestId) => {
      const call = async (path: string, headers: Record<string, string> = {}, body = '{}') =>
        (await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }))
          .status
      return [
        await call('/api/v1/canary/credit-risk/rollback'),
        await call('/api/v1/canary/credit-risk/rollback', { authorization: 'Bearer not-the-operator-token-at-all' }),
        await call('/api/v1/canary/credit-risk/weight', {}, JSON.stringify({ weight: 5000 })),
        await call('/api/v1/canary/credit-risk/promote', { authorization: 'Bearer not-the-operator-token-at-all' }),
        await call(`/api/v1/review/${requestId}/label`, {}, JSON.stringify({ label: 'default', by: 'mallory' })),
      ]
    }, sample.request_id)
    expect(statuses).toEqual([401, 401, 401, 401, 401])
    expect(await readFile(meshFile, 'utf8')).toBe(meshText)
    expect(await readHistory(join(dir, 'state'))).toEqual([])
    expect((await api<{ items: unknown[] }>('/api/v1/review?status=labelled')).body.items).toEqual([])
    // With the token typed in, the page turns its controls on (a courtesy: the server checks each write).
    await page.locator('#token').fill(TOKEN)
    await page.locator('#token').press('Enter')
    await page.getByText('operator', { exact: true }).waitFor()
    expect(await page.locator('#canary-weight').isDisabled()).toBe(false)

    // A collector with no operator token at all: every write refused (403), on both its ports; reads work.
    const readOnly = await startCollector({
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      storeDir: join(dir, 'store-read-only'),
      models: MODELS,
      streams: DEFAULT_STREAM_LIMITS,
      log: () => {},
      // Another name and no models: it consumes nothing, so it takes no review item from the first.
      name: 'read-only',
      owns: [],
      meshFile,
      dashboard: { address: '127.0.0.1', port: 0, refreshMs: 500, agents: [agent.url] },
    })
    let closed = false
    try {
      await readOnly.ready
      for (const base of [readOnly.dashboardUrl!, readOnly.url]) {
        for (const [path, body] of [
          [`/api/v1/canary/${ROUTE}/weight`, { weight: 5000 }],
          [`/api/v1/canary/${ROUTE}/promote`, {}],
          [`/api/v1/canary/${ROUTE}/rollback`, {}],
          ['/api/v1/review/some-request/label', { label: 1, by: 'alice' }],
        ] as const) {
          const res = await api<{ error: string }>(path, {
            base,
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
            body: JSON.stringify(body),
          })
          expect([base === readOnly.url ? 'collector' : 'dashboard', path, res.status]).toEqual([
            base === readOnly.url ? 'collector' : 'dashboard',
            path,
            403,
          ])
          expect(res.body.error).toMatch(/^authorization: this collector has no operator token/)
        }
        for (const method of ['PUT', 'DELETE', 'PATCH'])
          expect((await fetch(`${base}/api/v1/canary/${ROUTE}/weight`, { method })).status).toBe(403)
      }
      expect(
        (await api('/api/v1/session', { base: readOnly.dashboardUrl!, headers: { authorization: `Bearer ${TOKEN}` } }))
          .body,
      ).toEqual({ writable: false, operator: false })
      const reads = await api<Overview>('/api/v1/dashboard/overview', { base: readOnly.dashboardUrl! })
      expect(reads.status).toBe(200)
      expect(reads.body.routes.map((r) => r.name)).toEqual([ROUTE])
      expect((await api(`/api/v1/canary/${ROUTE}`, { base: readOnly.dashboardUrl! })).status).toBe(200)
      expect((await api('/api/v1/mesh', { base: readOnly.dashboardUrl! })).status).toBe(200)
      expect((await fetch(`${readOnly.dashboardUrl}/`)).status).toBe(200)
      // Its page says so, and offers no token field to type into.
      const ro = await newContext(WIDE)
      const roPage = await ro.newPage()
      await roPage.goto(`${readOnly.dashboardUrl}/#/route/${ROUTE}`)
      await roPage.locator('#canary-weight').waitFor()
      expect(await roPage.locator('#token').isDisabled()).toBe(true)
      expect(await roPage.locator('#token').getAttribute('placeholder')).toBe('read-only collector')
      expect(await roPage.locator('#canary-weight').isDisabled()).toBe(true)
      // And it stops with its page still open: close() ends the live streams rather than wait for the viewers to leave.
      const closing = Date.now()
      await readOnly.close()
      closed = true
      const closeMs = Date.now() - closing
      console.log(`[dashboard] a collector with a dashboard page open closed in ${closeMs} ms`)
      // Measured 150-350 ms; before it ended the streams it waited for the page to leave. 5 s leaves a loaded machine room.
      expect(closeMs).toBeLessThan(5000)
    } finally {
      if (!closed) await readOnly.close()
    }
    expect(await readFile(meshFile, 'utf8')).toBe(meshText)
    expect(await readHistory(join(dir, 'state'))).toEqual([])
  }, 60_000)

  it("with the token, changes the canary through mesh-config's validated path, comments kept, in its history", async () => {
    const canary = `/api/v1/canary/${ROUTE}`
    const set = await operatorPost(`${canary}/weight`, { weight: 2500, by: 'alice' })
    expect(set.status).toBe(200)
    expect(set.body).toMatchObject({
      status: 'applied',
      by: 'dashboard: alice',
      stable: '1',
      canary: { version: '2', weight: 2500 },
    })
    // Only the value changed: every comment and space as it was.
    expect(await readFile(meshFile, 'utf8')).toBe(
      meshText.replace('weight: 1000 # basis points', 'weight: 2500 # basis points'),
    )
    expect((await operatorPost(`${canary}/weight`, { weight: '30%' })).body).toMatchObject({ canary: { weight: 3000 } })
    expect(await readFile(meshFile, 'utf8')).toBe(
      meshText.replace('weight: 1000 # basis points', 'weight: 3000 # basis points'),
    )

    const tooMuch = await operatorPost(`${canary}/weight`, { weight: 20000 })
    expect(tooMuch.status).toBe(400)
    expect(tooMuch.body.error).toMatch(/^weight: /)
    const none = await operatorPost(`${canary}/weight`, {})
    expect(none.status).toBe(400)
    expect(none.body.error).toMatch(/^weight: required/)
    expect((await operatorPost(`${canary}/weight`, { weight: 100, by: '' })).status).toBe(400)
    const noRoute = await operatorPost('/api/v1/canary/no-such-route/weight', { weight: 100 })
    expect(noRoute.status).toBe(404)
    expect(noRoute.body.error).toMatch(/^route: /)
    const noAction = await operatorPost(`${canary}/pause`, {})
    expect(noAction.status).toBe(404)
    expect(noAction.body.error).toMatch(/^action: /)
    // Refused changes left the file as the last good one.
    expect(await readFile(meshFile, 'utf8')).toBe(
      meshText.replace('weight: 1000 # basis points', 'weight: 3000 # basis points'),
    )

    const promoted = await operatorPost(`${canary}/promote`, { by: 'bob' })
    expect(promoted.status).toBe(200)
    expect(promoted.body).toMatchObject({ status: 'applied', stable: '2', canary: { version: '2', weight: 0 } })
    expect(await readFile(meshFile, 'utf8')).toBe(
      meshText
        .replace('stable: { version: 1, hosts: [stable] }', 'stable: { version: 2, hosts: [stable] }')
        .replace('weight: 1000 # basis points', 'weight: 0 # basis points'),
    )
    // The dashboard reads mesh.yaml again once it changed.
    await eventually(routeRow, (r) => r.stable.version === '2' && r.canary?.weight === 0)

    // mesh-config's history has every applied change, with who made it.
    expect((await readHistory(join(dir, 'state'))).map((e) => [e.action, e.by])).toEqual([
      ['canary set credit-risk 2500', 'dashboard: alice'],
      ['canary set credit-risk 3000', 'dashboard'],
      ['canary promote credit-risk', 'dashboard: bob'],
    ])
  })
})
