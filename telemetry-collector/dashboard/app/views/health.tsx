import type { ActiveAlert } from '../../../analysis/alerts.ts'
import type { Overview } from '../../snapshot.ts'
import { Badge, Card, ScrollBox } from '../components/status.tsx'
import { age } from '../format.ts'

/** Older than this, the newest event says the figures are not live. */
const STALE_S = 60

export function Alerts({ alerts }: { alerts: ActiveAlert[] }) {
  return (
    <section class={`alerts ${alerts.length ? 'firing' : ''}`} aria-labelledby="alerts-h">
      <h2 id="alerts-h">Active alerts ({alerts.length})</h2>
      {alerts.length === 0 ? (
        <p>None firing.</p>
      ) : (
        <ul>
          {alerts.map((a) => (
            <li data-alert={a.name}>
              <Badge kind={a.severity === 'page' ? 'critical' : a.severity === 'ticket' ? 'warning' : 'idle'}>
                {a.severity}
              </Badge>{' '}
              <strong>{a.name}</strong> {a.summary}
            </li>
          ))}
        </ul>
      )}
    </section>
  )
}

export function Pipeline({ pipeline: p }: { pipeline: Overview['pipeline'] }) {
  const stale = p.newest_event_age_s == null || p.newest_event_age_s > STALE_S
  return (
    <Card title="Telemetry pipeline">
      {stale && (
        <p class="banner warning" role="status">
          The newest event is {p.newest_event_age_s == null ? 'missing' : `${Math.round(p.newest_event_age_s)} s old`}:
          the figures may not be current (no traffic, or the pipeline is behind).
        </p>
      )}
      <dl class="figures">
        <div>
          <dt>Newest event</dt>
          <dd data-field="newest_event_age">{age(p.newest_event_age_s)}</dd>
        </div>
        <div>
          <dt>Lag (messages)</dt>
          <dd data-field="lag">{p.lag_messages}</dd>
        </div>
        <div>
          <dt>Events applied</dt>
          <dd>{p.applied}</dd>
        </div>
        <div>
          <dt>Events refused</dt>
          <dd>{p.refused}</dd>
        </div>
        <div>
          <dt>Payloads waiting for the sink</dt>
          <dd>{p.payload_sink ? p.payload_sink.waiting : '–'}</dd>
        </div>
      </dl>
      <ScrollBox label="Telemetry agents">
        <table class="compact">
          <caption>Telemetry agents</caption>
          <thead>
            <tr>
              <th scope="col">Agent</th>
              <th scope="col">NATS</th>
              <th scope="col">Spooled now</th>
              <th scope="col">Dropped</th>
              <th scope="col">Oldest unpublished</th>
            </tr>
          </thead>
          <tbody>
            {p.agents.map((a) =>
              'error' in a ? (
                <tr>
                  <td>{a.url}</td>
                  <td colSpan={4}>
                    <Badge kind="critical">unreachable</Badge> {a.error}
                  </td>
                </tr>
              ) : (
                <tr data-agent={a.id}>
                  <td>{a.id}</td>
                  <td>
                    {a.nats_connected ? (
                      <Badge kind="ok">connected</Badge>
                    ) : (
                      <Badge kind="critical">disconnected</Badge>
                    )}
                  </td>
                  <td data-field="spool_events">{a.spool_events}</td>
                  <td data-field="dropped">{Object.values(a.dropped).reduce((x, y) => x + y, 0)}</td>
                  <td>{a.spool_events === 0 ? '–' : `${Math.round(a.oldest_unpublished_age_s)} s`}</td>
                </tr>
              ),
            )}
          </tbody>
        </table>
      </ScrollBox>
    </Card>
  )
}
