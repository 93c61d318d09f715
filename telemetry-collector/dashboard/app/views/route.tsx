import { useState } from 'preact/hooks'
import type { RouteView } from '../../snapshot.ts'
import { post } from '../api.ts'
import { Confirm } from '../components/confirm.tsx'
import { Histogram } from '../components/histogram.tsx'
import { Badge, Card, ScrollBox } from '../components/status.tsx'
import { TimeChart } from '../components/time-chart.tsx'
import { ms, num, percent, rate, time, weight } from '../format.ts'
import { Alerts } from './health.tsx'

/** Line colours with at least 4.5:1 contrast on white. */
const COLOURS = { stable: '#1f4e9c', canary: '#a3370f' } as const

export function RouteViewPage({ data, operator }: { data: RouteView; operator: boolean }) {
  const r = data.route
  return (
    <>
      <p>
        <a href="#/">← All routes</a>
      </p>
      <h1 class="route-title">
        Route {r.name} <Badge kind={r.status}>{r.status}</Badge>
      </h1>
      <p class="muted">
        model {r.model}, stable v{r.stable.version}
        {r.canary ? `, canary v${r.canary.version} at ${weight(r.canary.weight)} (${r.canary.mode})` : ', no canary'}
        {r.slo
          ? ` · objectives: p99 ${r.slo.p99_ms} ms, availability ${percent(r.slo.availability, 2)} over ${r.slo.window_days} d`
          : ''}
      </p>
      {data.alerts.length > 0 && <Alerts alerts={data.alerts} />}
      {r.canary && <CanaryControls route={r.name} canary={r.canary} operator={operator} />}
      <div class="variants">
        {data.variants.map((v) => (
          <Card title={`${v.variant === 'stable' ? 'Stable' : 'Canary'} v${v.version}`} id={`variant-${v.variant}`}>
            <dl class="figures" data-variant={v.variant}>
              <div>
                <dt>Weight</dt>
                <dd>{weight(v.weight)}</dd>
              </div>
              <div>
                <dt>Rate</dt>
                <dd data-field="rate">{rate(v.now.rate_per_s)}</dd>
              </div>
              <div>
                <dt>Requests, last minute</dt>
                <dd data-field="requests">{v.now.requests}</dd>
              </div>
              <div>
                <dt>Errors</dt>
                <dd data-field="error_ratio">{percent(v.now.error_ratio)}</dd>
              </div>
              <div>
                <dt>p50</dt>
                <dd data-field="p50">{ms(v.now.latency_ms.p50)}</dd>
              </div>
              <div>
                <dt>p99</dt>
                <dd data-field="p99">{ms(v.now.latency_ms.p99)}</dd>
              </div>
              <div>
                <dt>Fallbacks</dt>
                <dd>{percent(v.now.fallback_ratio)}</dd>
              </div>
              <div>
                <dt>Mean confidence</dt>
                <dd>{num(v.mean_confidence)}</dd>
              </div>
            </dl>
            {v.predictions ? (
              <Histogram {...v.predictions} label={`v${v.version} predicted scores`} />
            ) : (
              <p class="muted small">No sampled predictions in the drift window.</p>
            )}
          </Card>
        ))}
      </div>
      <Card title={`Over the last ${data.range}`}>
        <div class="charts">
          <TimeChart
            title="Requests per second"
            unit="req/s"
            t={data.variants[0]?.series.t ?? []}
            lines={data.variants.map((v) => ({
              label: `${v.variant} v${v.version}`,
              values: v.series.rate,
              stroke: COLOURS[v.variant],
            }))}
          />
          <TimeChart
            title="p99 latency"
            unit="ms"
            t={data.variants[0]?.series.t ?? []}
            lines={data.variants.map((v) => ({
              label: `${v.variant} v${v.version}`,
              values: v.series.p99,
              stroke: COLOURS[v.variant],
            }))}
          />
          <TimeChart
            title="Error ratio"
            unit="%"
            t={data.variants[0]?.series.t ?? []}
            lines={data.variants.map((v) => ({
              label: `${v.variant} v${v.version}`,
              values: v.series.error_ratio.map((x) => (x == null ? null : x * 100)),
              stroke: COLOURS[v.variant],
            }))}
          />
        </div>
      </Card>
      {data.analysis && <Analysis analysis={data.analysis} />}
      <Card title="Changes to this route">
        {data.changes.length === 0 ? (
          <p class="muted">None applied since the mesh's history began.</p>
        ) : (
          <table class="compact">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">What</th>
                <th scope="col">Who</th>
              </tr>
            </thead>
            <tbody>
              {data.changes.map((c) => (
                <tr data-change={c.id}>
                  <td>{time(Date.parse(c.time))}</td>
                  <td>{c.action}</td>
                  <td>{c.by}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <p class="muted small">
          npx mesh history lists every applied config; npx mesh revert &lt;id&gt; brings one back.
        </p>
      </Card>
      <Drift drift={data.drift} />
      <Card title="Hosts">
        <ScrollBox label="Hosts">
          <table class="compact">
            <thead>
              <tr>
                <th scope="col">Host</th>
                <th scope="col">Version</th>
                <th scope="col">Queue depth</th>
                <th scope="col">Busy</th>
                <th scope="col">Batch fill (5 min)</th>
                <th scope="col">Queue wait</th>
                <th scope="col">Batches</th>
              </tr>
            </thead>
            <tbody>
              {data.hosts.map((h) => (
                <tr data-host={h.host}>
                  <td>{h.host}</td>
                  <td>{h.version}</td>
                  <td>{h.queue_depth}</td>
                  <td>
                    {h.busy_instances}/{h.instances}
                  </td>
                  <td>{percent(h.batch_fill_ratio, 0)}</td>
                  <td>{ms(h.mean_queue_wait_ms)}</td>
                  <td>{h.batches}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </ScrollBox>
        {data.hosts.length === 0 && <p class="muted">No host has reported for this model yet.</p>}
      </Card>
      {data.autoscale.length > 0 && <Autoscaling pools={data.autoscale} />}
      <Stories stories={data.stories} />
    </>
  )
}

/** A level of a pool's signal as its unit reads: milliseconds of queue wait, or requests per replica. */
const signalLevel = (signal: RouteView['autoscale'][number]['signal'], v: number) =>
  signal === 'queue_wait' ? ms(v) : num(v, 1)

/** The route's autoscaled pools: their size, the signal against its target, and the last decision with its reason. */
function Autoscaling({ pools }: { pools: RouteView['autoscale'] }) {
  return (
    <Card title="Autoscaling">
      <ScrollBox label="Autoscaling">
        <table class="compact">
          <thead>
            <tr>
              <th scope="col">Pool</th>
              <th scope="col">Replicas</th>
              <th scope="col">Signal</th>
              <th scope="col">Target</th>
              <th scope="col">Last decision</th>
            </tr>
          </thead>
          <tbody>
            {pools.map((p) => (
              <tr data-pool={p.host}>
                <td>{p.host}</td>
                <td>
                  {p.replicas} ({p.min}-{p.max})
                </td>
                <td>
                  {p.signal === 'queue_wait' ? 'queue wait' : 'pending per replica'}{' '}
                  {p.value === null ? '–' : signalLevel(p.signal, p.value)}
                </td>
                <td>{signalLevel(p.signal, p.target)}</td>
                <td>
                  {p.last
                    ? `${p.last.from} → ${p.last.to} at ${time(p.last.at)}: ${p.last.reason}`
                    : 'no change since the mesh started'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </ScrollBox>
    </Card>
  )
}

/** The route's recent stories: failed requests first, then slow ones; each links to its whole story. */
function Stories({ stories }: { stories: RouteView['stories'] }) {
  return (
    <Card title="Recent stories">
      <ScrollBox label="Recent stories">
        <table class="compact">
          <thead>
            <tr>
              <th scope="col">Request</th>
              <th scope="col">Why kept</th>
              <th scope="col">Status</th>
              <th scope="col">Latency</th>
              <th scope="col">Version</th>
              <th scope="col">When</th>
            </tr>
          </thead>
          <tbody>
            {stories.map((s) => (
              <tr data-request={s.request_id}>
                <td>
                  <a href={`#/request/${encodeURIComponent(s.request_id)}`}>{s.request_id}</a>
                </td>
                <td>{s.kept.join(', ').replaceAll('_', ' ')}</td>
                <td>{s.status === 0 ? 'none' : s.status}</td>
                <td>{ms(s.duration_ms)}</td>
                <td>
                  {s.version || '—'}
                  {s.variant ? ` (${s.variant})` : ''}
                  {s.fallback ? ', fallback' : ''}
                </td>
                <td>{time(s.ts)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </ScrollBox>
      <p class="muted small">
        {stories.length === 0 ? 'No story in the last hour. ' : ''}A request is kept whole when it failed, was slower
        than the route's p99 objective, was sampled, answered with low confidence, or was traced (x-mesh-trace: 1, where
        the route allows it); every other request is counted only.
      </p>
    </Card>
  )
}

type Analysis = NonNullable<RouteView['analysis']>
interface WalkView {
  status: string
  step: number
  steps: number[]
  canary_version: string
  history: { ts: number; action: string; weight: number; verdict: string | null; reasons: string[] }[]
}

function Analysis({ analysis: a }: { analysis: Analysis }) {
  const walk = a.walk as WalkView | null
  return (
    <Card title="Canary analysis">
      <p data-field="verdict">
        Verdict over the last {a.interval_s} s:{' '}
        <Badge kind={a.verdict === 'promote' ? 'ok' : a.verdict === 'hold' ? 'idle' : 'critical'}>{a.verdict}</Badge>
      </p>
      <ul>
        {a.reasons.map((r) => (
          <li>{r}</li>
        ))}
      </ul>
      <table class="compact">
        <thead>
          <tr>
            <th scope="col">Check</th>
            <th scope="col">Result</th>
            <th scope="col">Stable</th>
            <th scope="col">Canary</th>
            <th scope="col">Limit</th>
          </tr>
        </thead>
        <tbody>
          {a.checks.map((c) => (
            <tr>
              <td>{c.name.replace(/_/g, ' ')}</td>
              <td>
                <Badge kind={c.result === 'pass' ? 'ok' : c.result === 'fail' ? 'critical' : 'idle'}>
                  {c.result.replace('_', ' ')}
                </Badge>
              </td>
              <td>{num(c.stable)}</td>
              <td>{num(c.canary)}</td>
              <td>{num(c.limit)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {walk && (
        <>
          <h3>
            Walk of canary v{walk.canary_version}: {walk.status}, step {walk.step + 1} of {walk.steps.length} (
            {walk.steps.map(weight).join(', ')})
          </h3>
          <table class="compact">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">What</th>
                <th scope="col">Weight</th>
                <th scope="col">Verdict</th>
                <th scope="col">Why</th>
              </tr>
            </thead>
            <tbody>
              {walk.history.map((h) => (
                <tr>
                  <td>{time(h.ts)}</td>
                  <td>{h.action}</td>
                  <td>{weight(h.weight)}</td>
                  <td>{h.verdict ?? '–'}</td>
                  <td>{h.reasons.join('; ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </Card>
  )
}

function Drift({ drift }: { drift: RouteView['drift'] }) {
  return (
    <Card title="Drift against the training baseline">
      {drift.length === 0 ? (
        <p class="muted">No sampled payloads for these versions in the drift window.</p>
      ) : (
        <p class="small">
          Share of rows per baseline decile: <span class="key baseline">baseline</span>{' '}
          <span class="key current">current window</span>
        </p>
      )}
      {drift.map((v) => (
        <section class="drift" aria-label={`drift of ${v.model} v${v.version}`}>
          <h3>
            v{v.version}:{' '}
            <Badge kind={v.status === 'ok' ? 'ok' : v.status === 'drift' ? 'critical' : 'idle'}>
              {v.status.replace('_', ' ')}
            </Badge>{' '}
            <span class="muted small">
              {v.rows} rows (at least {v.thresholds.minSamples})
            </span>
          </h3>
          <ScrollBox label={`drift of v${v.version} by feature`}>
            <table class="compact drift-table">
              <thead>
                <tr>
                  <th scope="col">Feature</th>
                  <th scope="col">Verdict</th>
                  <th scope="col">PSI (drift at {v.thresholds.psi})</th>
                  <th scope="col">KS (drift at {v.thresholds.ks})</th>
                  <th scope="col">Baseline against current, by decile</th>
                </tr>
              </thead>
              <tbody>
                {[...(v.prediction ? [{ ...v.prediction, feature: 'predicted score' }] : []), ...v.features].map(
                  (f) => (
                    <tr data-feature={f.feature}>
                      <th scope="row">{f.feature}</th>
                      <td>
                        <Badge kind={f.verdict === 'ok' ? 'ok' : f.verdict === 'drift' ? 'critical' : 'idle'}>
                          {f.verdict.replace('_', ' ')}
                        </Badge>
                      </td>
                      <td>{num(f.psi)}</td>
                      <td>{num(f.ksStatistic)}</td>
                      <td>{f.histogram ? <Histogram {...f.histogram} label={f.feature} compact /> : '–'}</td>
                    </tr>
                  ),
                )}
              </tbody>
            </table>
          </ScrollBox>
        </section>
      ))}
    </Card>
  )
}

type Pending = { action: 'weight' | 'promote' | 'rollback'; weight?: number } | null

function CanaryControls({
  route,
  canary,
  operator,
}: {
  route: string
  canary: NonNullable<RouteView['route']['canary']>
  operator: boolean
}) {
  const [percentInput, setPercent] = useState(String(canary.weight / 100))
  const [pending, setPending] = useState<Pending>(null)
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null)
  const describe = (p: NonNullable<Pending>) =>
    p.action === 'weight'
      ? `Send ${weight(p.weight!)} of ${route}'s callers to canary v${canary.version}?`
      : p.action === 'promote'
        ? `Make v${canary.version} the stable version of ${route}, for every caller?`
        : `Send every caller of ${route} back to stable (canary weight 0)?`
  async function run(p: NonNullable<Pending>) {
    setPending(null)
    try {
      const answer = await post<{ status: string; canary: { weight: number } | null; stable: string }>(
        `/api/v1/canary/${encodeURIComponent(route)}/${p.action}`,
        p.action === 'weight' ? { weight: p.weight } : {},
      )
      setMessage({
        ok: true,
        text: `${p.action === 'weight' ? 'Weight set' : p.action === 'promote' ? 'Promoted' : 'Rolled back'} (${answer.status}): stable v${answer.stable}${answer.canary ? `, canary at ${weight(answer.canary.weight)}` : ''}.`,
      })
    } catch (e) {
      setMessage({ ok: false, text: (e as Error).message })
    }
  }
  function askWeight(e: Event) {
    e.preventDefault()
    const pct = Number(percentInput)
    if (!Number.isFinite(pct) || pct < 0 || pct > 100)
      return setMessage({ ok: false, text: 'Weight: a percentage from 0 to 100.' })
    setPending({ action: 'weight', weight: Math.round(pct * 100) })
  }
  return (
    <Card title="Canary controls">
      {!operator && <p class="muted">Read-only: enter the operator token at the top to change the canary.</p>}
      <form class="controls" onSubmit={askWeight}>
        <label for="canary-weight">Canary weight (%)</label>
        <input
          id="canary-weight"
          type="number"
          min="0"
          max="100"
          step="0.01"
          value={percentInput}
          onInput={(e) => setPercent((e.target as HTMLInputElement).value)}
          disabled={!operator}
        />
        <button type="submit" disabled={!operator}>
          Set weight
        </button>
        <button type="button" disabled={!operator} onClick={() => setPending({ action: 'promote' })}>
          Promote v{canary.version}
        </button>
        <button type="button" class="danger" disabled={!operator} onClick={() => setPending({ action: 'rollback' })}>
          Roll back
        </button>
      </form>
      <p role="status" class={message ? (message.ok ? 'ok-text' : 'error-text') : ''}>
        {message?.text ?? ''}
      </p>
      <Confirm
        open={pending !== null}
        title="Change the canary"
        body={pending ? describe(pending) : ''}
        confirmLabel="Yes, change it"
        onConfirm={() => pending && run(pending)}
        onCancel={() => setPending(null)}
      />
    </Card>
  )
}
