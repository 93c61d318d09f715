import type { Overview } from '../../snapshot.ts'
import { Sparkline } from '../components/sparkline.tsx'
import { Badge, Card } from '../components/status.tsx'
import { age, ms, percent, rate, weight } from '../format.ts'
import { Alerts, Pipeline } from './health.tsx'

export function OverviewView({ data }: { data: Overview }) {
  return (
    <>
      <Alerts alerts={data.alerts} />
      <Card title="Routes">
        <div class="table-scroll">
          <table class="routes">
            <caption class="sr-only">
              Every route: the last minute against its objectives, and the trend over the picked range
            </caption>
            <thead>
              <tr>
                <th scope="col">Route</th>
                <th scope="col">Status</th>
                <th scope="col">Rate</th>
                <th scope="col">Errors</th>
                <th scope="col">p50</th>
                <th scope="col">p95</th>
                <th scope="col">p99 (objective)</th>
                <th scope="col">Fallbacks</th>
                <th scope="col">Saturation</th>
                <th scope="col">Budget left</th>
                <th scope="col">Requests, {data.range}</th>
              </tr>
            </thead>
            <tbody>
              {data.routes.map((r) => (
                <tr data-route={r.name}>
                  <th scope="row">
                    <a href={`#/route/${encodeURIComponent(r.name)}`}>{r.name}</a>
                    <div class="muted small">
                      {r.model} v{r.stable.version}
                      {r.canary && r.canary.weight > 0
                        ? `, canary v${r.canary.version} at ${weight(r.canary.weight)}`
                        : ''}
                    </div>
                  </th>
                  <td data-label="Status">
                    <Badge kind={r.status}>{r.status}</Badge>
                    {r.reasons.length > 0 && <div class="small">{r.reasons[0]}</div>}
                  </td>
                  <td data-label="Rate" data-field="rate">
                    {rate(r.now.rate_per_s)}
                    <div class="muted small">
                      <span data-field="requests">{r.now.requests}</span> in 1 min
                    </div>
                  </td>
                  <td data-label="Errors" data-field="error_ratio">
                    {percent(r.now.error_ratio)}
                  </td>
                  <td data-label="p50">{ms(r.now.latency_ms.p50)}</td>
                  <td data-label="p95">{ms(r.now.latency_ms.p95)}</td>
                  <td
                    data-label="p99"
                    data-field="p99"
                    class={r.slo && r.now.latency_ms.p99 != null && r.now.latency_ms.p99 > r.slo.p99_ms ? 'over' : ''}
                  >
                    {ms(r.now.latency_ms.p99)} {r.slo ? <span class="muted">({r.slo.p99_ms} ms)</span> : null}
                  </td>
                  <td data-label="Fallbacks" data-field="fallback_ratio">
                    {percent(r.now.fallback_ratio)}
                  </td>
                  <td data-label="Saturation">
                    {r.saturation.instances > 0 ? `${r.saturation.busy_instances}/${r.saturation.instances} busy` : '–'}
                    <div class="muted small">queue {r.saturation.queue_depth}</div>
                  </td>
                  <td data-label="Budget left" data-field="budget">
                    {r.budget ? percent(r.budget.remaining, 1) : '–'}
                    {r.budget && (
                      <div class="muted small">
                        of {r.budget.covered_days} d at {percent(r.budget.objective, 2)}
                        {r.budget.covered_days < r.budget.window_days
                          ? ` (the objective's window is ${r.budget.window_days} d; the collector keeps ${r.budget.covered_days})`
                          : ''}
                      </div>
                    )}
                  </td>
                  <td data-label="Trend">
                    <Sparkline
                      values={r.series.rate}
                      label={`${r.name}: requests per second over ${data.range}, up to ${rate(Math.max(0, ...r.series.rate))}`}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {data.routes.length === 0 && <p>No routes: mesh.yaml names none, or it is not valid.</p>}
      </Card>
      <Pipeline pipeline={data.pipeline} />
      <p class="muted small">Figures from {age((Date.now() - data.generated_at) / 1000)}; "now" is the last minute.</p>
    </>
  )
}
