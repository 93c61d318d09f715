/**
 * The SRE dashboard end to end, every part real: the local mesh (Envoy with
 * the mesh filter, stable, canary and fallback hosts, the agent, nats-server,
 * the collector serving the dashboard), callers through the gateway, and the
 * page in headless Chromium. It shows what the collector's API reports,
 * updates live, tells one request's story, and changes the canary only for
 * someone with the operator token: a rollback from the page sends every
 * caller back to stable at the gateway.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { headers as H } from '@model-mesh/contracts'
import { readHistory, requireMesh, startLocalMesh, type LocalMesh } from '@model-mesh/mesh-config'
import { ms, type SeriesSummary } from '@model-mesh/telemetry-collector'
import { applicantRows, eventually } from '@model-mesh/testkit/events'
import { accessibilityViolations, launchChromium, screenshot, watchPolicyViolations } from '@model-mesh/testkit/browser'
import { canaryRouteYaml, localMeshYaml, portsOf } from '@model-mesh/testkit/mesh-yaml'
import { freePorts } from '@model-mesh/testkit/ports'

describe('the SRE dashboard over the local mesh', () => {
  let dir: string
  let file: string
  let mesh: LocalMesh
  let browser: Browser
  let token: string
  const rows = applicantRows(400, 1212)
  let sent = 0
  /** Callers by the version the gateway answered them with. */
  const versionOf = new Map<string, string>()
  let lastRequestId = ''

  /** `n` new callers, one request each (weight 5000: about half land on the canary, sticky by x-user-id). */
  const send = async (n: number, users?: string[]) => {
    const ids = users ?? Array.from({ length: n }, () => `caller-${sent++}`)
    let next = 0
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < ids.length) {
          const i = next++
          const user = ids[i]!
          const res = await fetch(`${mesh.gatewayUrl}/v2/models/credit-risk/infer`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-user-id': user },
            body: JSON.stringify({
              inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], data: rows[(sent + i) % rows.length] }],
            }),
          })
          expect(res.status).toBe(200)
          versionOf.set(user, res.headers.get(H.MODEL_VERSION)!)
          lastRequestId = res.headers.get(H.REQUEST_ID) ?? lastRequestId
          await res.arrayBuffer()
        }
      }),
    )
    return ids
  }
  /** The collector's own figures for the route over the last minute, per variant. */
  const windows = async () =>
    (
      (await (await fetch(`${mesh.collectorUrl}/api/v1/windows?window=1m`)).json()) as { series: SeriesSummary[] }
    ).series.filter((s) => s.labels.route === 'credit-risk')
  const total = (series: SeriesSummary[]) => series.reduce((n, s) => n + s.requests, 0)
  const text = (page: Page, selector: string) => page.locator(selector).first().innerText()
  /** What each page's content security policy blocked: nothing, or the page loads from somewhere else. */
  const blocked: string[][] = []
  const newPage = async (viewport = { width: 1280, height: 800 }) => {
    const page = await (await browser.newContext({ viewport })).newPage()
    blocked.push(watchPolicyViolations(page))
    return page
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dashboard-e2e-'))
    file = join(dir, 'mesh.yaml')
    const ports = await freePorts(8)
    const routes = `${canaryRouteYaml(5000, 'interval_s: 60, min_requests: 50, min_samples: 50')}    slo: { p99_ms: 250, availability: 0.99 }\n`
    // Every sampled prediction under 0.99 confidence goes to the review queue: most of them.
    await writeFile(
      file,
      localMeshYaml({ ...portsOf(ports), dashboard: ports[7]! }, routes, {
        extra: 'quality:\n  models:\n    credit-risk: { review_confidence: 0.99 }\n',
      }),
    )
    mesh = await startLocalMesh(await requireMesh(file), { by: 'dashboard-test' })
    expect(mesh.dashboardUrl).toBe(`http://127.0.0.1:${ports[7]}`)
    token = (await readFile(mesh.tokenFile, 'utf8')).trim()
    browser = await launchChromium()
  }, 180_000)
  afterAll(async () => {
    await browser?.close()
    await mesh?.stop()
    if (!process.env.KEEP) await rm(dir, { recursive: true, force: true })
  })

  it('shows, for the route and each variant, the requests, errors and p99 the collector API reports', async () => {
    await send(120)
    const api = await eventually(windows, (s) => total(s) === 120)
    const page = await newPage()
    await page.goto(mesh.dashboardUrl!)
    // The overview's count over the last minute is what the callers sent and the API counts.
    await eventually(
      () => text(page, 'tr[data-route="credit-risk"] [data-field="requests"]'),
      (t) => t === '120',
    )
    expect(await text(page, 'tr[data-route="credit-risk"] [data-field="error_ratio"]')).toBe('0.00%')
    await screenshot(page, 'dashboard-mesh-overview')

    await page.locator('tr[data-route="credit-risk"] a').click()
    await page.waitForSelector('h1.route-title')
    for (const variant of ['stable', 'canary'] as const) {
      const s = api.find((x) => x.labels.variant === variant)!
      expect(s.requests).toBeGreaterThan(20)
      const panel = `dl[data-variant="${variant}"]`
      await eventually(
        () => text(page, `${panel} [data-field="requests"]`),
        (t) => t === String(s.requests),
      )
      expect(await text(page, `${panel} [data-field="error_ratio"]`)).toBe('0.00%')
      expect(await text(page, `${panel} [data-field="p99"]`)).toBe(ms(s.latency_ms.p99))
      expect(await text(page, `${panel} [data-field="p50"]`)).toBe(ms(s.latency_ms.p50))
    }
    // Everything is sampled: the canary analysis and the drift panels have data to show.
    await page.waitForSelector('[data-field="verdict"] .badge')
    expect(await accessibilityViolations(page)).toEqual([])
    await screenshot(page, 'dashboard-mesh-route')
  }, 60_000)

  it('updates live, without a reload, within 2 s of the collector having the figures', async () => {
    const page = await newPage()
    await page.goto(`${mesh.dashboardUrl}/#/route/credit-risk`)
    await page.waitForSelector('dl[data-variant="stable"] [data-field="requests"]')
    await page.evaluate(() => ((globalThis as { sameDocument?: boolean }).sameDocument = true))
    const before = total(await windows())
    await send(60)
    await eventually(windows, (s) => total(s) >= before + 60)
    const seenAt = Date.now()
    // The page's figures against the API's, read together: the one-minute window slides, so both move.
    const byVariant = (s: SeriesSummary[], v: string) =>
      String(s.filter((x) => x.labels.variant === v).reduce((n, x) => n + x.requests, 0))
    const shown = await eventually(
      async () => ({
        api: await windows(),
        page: [
          await text(page, 'dl[data-variant="stable"] [data-field="requests"]'),
          await text(page, 'dl[data-variant="canary"] [data-field="requests"]'),
        ],
      }),
      ({ api, page }) =>
        total(api) >= before + 60 && page[0] === byVariant(api, 'stable') && page[1] === byVariant(api, 'canary'),
      5_000,
    )
    // The stream pushes every refresh_ms (500 here); the page had the collector's figures within 2 s.
    expect(Date.now() - seenAt, JSON.stringify(shown.page)).toBeLessThan(2_000)
    expect(await page.evaluate(() => (globalThis as { sameDocument?: boolean }).sameDocument)).toBe(true)
  }, 60_000)

  it("tells one request's story: Envoy's view and its sampled payload (with the token); a batch that went well is only counted", async () => {
    const id = lastRequestId
    expect(id).not.toBe('')
    const page = await newPage()
    await page.goto(`${mesh.dashboardUrl}/#/request/${encodeURIComponent(id)}`)
    await eventually(
      async () => {
        await page.reload()
        return (await page.locator('[data-part="request"], [data-part="sample"]').count()) === 2
      },
      (found) => found,
    )
    expect(await text(page, '[data-part="request"] [data-field="status"]')).toBe('200')
    expect(await text(page, '[data-part="request"] [data-field="version"]')).toMatch(
      /^credit-risk v[12] \((stable|canary)\)$/,
    )
    expect(await page.locator('[data-part="batch"]').count()).toBe(0)
    // The sampled bodies come only with the operator token: the page asks again once it is given.
    await page.waitForSelector('[data-part="sample"] [data-field="redacted"]')
    await page.getByLabel('Operator token').fill(token)
    await page.getByRole('button', { name: 'Use' }).click()
    await page.waitForSelector('[data-part="sample"] pre')
    expect(await page.locator('[data-part="sample"] pre').first().innerText()).toContain('"inputs"')
    expect(await accessibilityViolations(page)).toEqual([])
  }, 60_000)

  it('labels a low-confidence prediction from the review queue, with the token, and the API then lists it as labelled', async () => {
    const pending = async () =>
      (
        (await (await fetch(`${mesh.collectorUrl}/api/v1/review?status=pending&limit=1000`)).json()) as {
          items: { request_id: string }[]
        }
      ).items
    await eventually(pending, (items) => items.length > 0)
    const page = await newPage()
    await page.goto(`${mesh.dashboardUrl}/#/review`)
    const first = page
      .locator('section.card')
      .filter({ has: page.getByRole('button', { name: 'Save label' }) })
      .first()
    await first.waitFor()
    // Read-only until the token is given: the page says so, and the field is off.
    expect(await first.getByLabel('Label').isDisabled()).toBe(true)
    await page.getByLabel('Operator token').fill(token)
    await page.getByRole('button', { name: 'Use' }).click()
    await page.waitForSelector('.token .badge.ok')
    const id = (await first.locator('a[href^="#/request/"]').innerText()).trim()
    expect(await first.locator('pre').first().innerText()).toContain('"inputs"')
    await page.getByLabel('Your name').fill('sre-on-call')
    await first.getByLabel('Label').fill('repaid')
    await first.getByRole('button', { name: 'Save label' }).click()
    await expect.poll(() => page.locator(`a[href="#/request/${id}"]`).count()).toBe(0)
    const labelled = (await (await fetch(`${mesh.collectorUrl}/api/v1/review?status=labelled`)).json()) as {
      items: { request_id: string; label: unknown; labelled_by: string }[]
    }
    expect(labelled.items).toEqual([
      expect.objectContaining({ request_id: id, label: 'repaid', labelled_by: 'sre-on-call' }),
    ])
    expect(await accessibilityViolations(page)).toEqual([])
  }, 60_000)

  it('changes nothing for a viewer without the token: the controls are off and the server refuses', async () => {
    const yamlBefore = await readFile(file, 'utf8')
    const page = await newPage()
    await page.goto(`${mesh.dashboardUrl}/#/route/credit-risk`)
    await page.waitForSelector('text=Canary controls')
    for (const name of ['Set weight', 'Roll back'])
      expect(await page.getByRole('button', { name }).isDisabled()).toBe(true)
    // The server, not the page, is what refuses: the same calls made by hand.
    const statuses = await page.evaluate(async () => {
      const post = (path: string, headers: Record<string, string> = {}) =>
        fetch(path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: '{"weight": 0}',
        }).then((r) => r.status)
      return [
        await post('/api/v1/canary/credit-risk/rollback'),
        await post('/api/v1/canary/credit-risk/weight', { authorization: 'Bearer not-the-token-not-the-token' }),
        await post('/api/v1/canary/credit-risk/promote'),
      ]
    })
    expect(statuses).toEqual([401, 401, 401])
    expect(await readFile(file, 'utf8')).toBe(yamlBefore)
    const canaryCallers = [...versionOf].filter(([, v]) => v === '2').map(([u]) => u)
    expect(canaryCallers.length).toBeGreaterThan(10)
    await send(0, canaryCallers.slice(0, 10))
    expect(canaryCallers.slice(0, 10).map((u) => versionOf.get(u))).toEqual(Array(10).fill('2'))
  }, 60_000)

  it('rolls the canary back from the page, after a confirmation, and the gateway then serves stable to everyone', async () => {
    const canaryCallers = [...versionOf].filter(([, v]) => v === '2').map(([u]) => u)
    const page = await newPage()
    await page.goto(`${mesh.dashboardUrl}/#/route/credit-risk`)
    await page.getByLabel('Operator token').fill(token)
    await page.getByRole('button', { name: 'Use' }).click()
    await page.waitForSelector('.token .badge.ok')
    await page.getByRole('button', { name: 'Roll back' }).click()
    const dialog = page.getByRole('dialog')
    await expect.poll(() => dialog.isVisible()).toBe(true)
    expect(await dialog.innerText()).toContain('back to stable')
    await dialog.getByRole('button', { name: 'Yes, change it' }).click()
    await page.waitForSelector('text=Rolled back')
    expect(await page.locator('p[role="status"]').filter({ hasText: 'Rolled back' }).innerText()).toContain(
      'canary at 0%',
    )

    // mesh.yaml says so, the history says who, and Envoy took it live.
    expect(await readFile(file, 'utf8')).toMatch(/weight: 0\n/)
    const last = (await readHistory(join(dir, 'state'))).at(-1)!
    expect(last).toMatchObject({ by: 'dashboard', action: 'canary rollback credit-risk' })
    // ... and the route's page lists it among its changes.
    await eventually(
      () => text(page, `tr[data-change="${last.id}"]`).catch(() => ''),
      (t) => t.includes('canary rollback credit-risk') && t.includes('dashboard'),
    )
    await eventually(
      async () => {
        await send(0, canaryCallers)
        return canaryCallers.map((u) => versionOf.get(u))
      },
      (versions) => versions.every((v) => v === '1'),
    )
  }, 60_000)

  it("loaded every page under its content security policy with nothing blocked (all from the collector's port)", () => {
    expect(blocked.length).toBeGreaterThan(5)
    expect(blocked.flat()).toEqual([])
  })
})
