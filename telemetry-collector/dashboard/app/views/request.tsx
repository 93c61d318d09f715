import { useEffect, useState } from 'preact/hooks'
import { get } from '../api.ts'
import { Card } from '../components/status.tsx'
import { ms, time } from '../format.ts'

type Row = Record<string, unknown>
interface Story {
  request_id: string
  request: Row[]
  batches: Row[]
  fallbacks: Row[]
  samples: Row[]
}

/**
 * One request's story from the collector's store: Envoy's view, the host
 * batch it ran in, a fallback, its sampled payload (whose bodies the
 * collector gives only with the operator token: read again once it is given).
 */
export function RequestView({ id, operator }: { id: string; operator: boolean }) {
  const [input, setInput] = useState(id)
  const [story, setStory] = useState<Story | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    setInput(id)
    setStory(null)
    setError(null)
    if (!id) return
    get<Story>(`/api/v1/requests/${encodeURIComponent(id)}`).then(setStory, (e: Error) => setError(e.message))
  }, [id, operator])
  return (
    <>
      <h1>One request</h1>
      {/* biome-ignore lint/a11y/useSemanticElements: it submits, so it stays a form; role=search names its landmark */}
      <form
        class="controls"
        role="search"
        onSubmit={(e) => {
          e.preventDefault()
          location.hash = `#/request/${encodeURIComponent(input.trim())}`
        }}
      >
        <label for="request-id">Request id (x-request-id)</label>
        <input
          id="request-id"
          value={input}
          size={40}
          onInput={(e) => setInput((e.target as HTMLInputElement).value)}
        />
        <button type="submit">Look up</button>
      </form>
      {error && (
        <p class="error-text" role="alert">
          {error}
        </p>
      )}
      {story && <StoryView story={story} />}
    </>
  )
}

function StoryView({ story }: { story: Story }) {
  return (
    <div class="story">
      <Card title="At the gateway (Envoy)">
        {story.request.length === 0 && (
          <p class="muted">No golden-signal event (it may not have reached the collector yet).</p>
        )}
        {story.request.map((r) => (
          <dl class="figures" data-part="request">
            <div>
              <dt>When</dt>
              <dd>{time(Number(r.ts))}</dd>
            </div>
            <div>
              <dt>Route</dt>
              <dd>{String(r.route)}</dd>
            </div>
            <div>
              <dt>Answered by</dt>
              <dd data-field="version">
                {String(r.model)} v{String(r.version)} ({String(r.variant)})
              </dd>
            </div>
            <div>
              <dt>Status</dt>
              <dd data-field="status">{String(r.status)}</dd>
            </div>
            <div>
              <dt>Duration</dt>
              <dd data-field="duration">{ms(Number(r.duration_us) / 1000)}</dd>
            </div>
            <div>
              <dt>Upstream</dt>
              <dd>
                {String(r.cluster)} {String(r.upstream ?? '')}
              </dd>
            </div>
            <div>
              <dt>Fallback</dt>
              <dd>{r.fallback ? 'yes' : 'no'}</dd>
            </div>
          </dl>
        ))}
      </Card>
      <Card title="On the model host">
        {story.batches.length === 0 && <p class="muted">No batch names this request.</p>}
        {story.batches.map((b) => (
          <dl class="figures" data-part="batch">
            <div>
              <dt>Host</dt>
              <dd>{String(b.host)}</dd>
            </div>
            <div>
              <dt>Model</dt>
              <dd>
                {String(b.model)} v{String(b.version)}
              </dd>
            </div>
            <div>
              <dt>Queue wait</dt>
              <dd data-field="queue_wait">{ms(Number(b.queue_wait_ms))}</dd>
            </div>
            <div>
              <dt>Execution</dt>
              <dd>{ms(Number(b.execution_ms))}</dd>
            </div>
            <div>
              <dt>Batch</dt>
              <dd>
                {String(b.rows)} rows of {String(b.max_batch_rows)}, {String(b.batch_mates)} other requests
              </dd>
            </div>
            <div>
              <dt>Device</dt>
              <dd>{String(b.device)}</dd>
            </div>
          </dl>
        ))}
        {story.fallbacks.map((f) => (
          <p data-part="fallback">
            Fallback on {String(f.host)}: {String(f.fallback_model ?? 'none')} answered ({String(f.reason)}).
          </p>
        ))}
      </Card>
      <Card title="Sampled payload (masked)">
        {story.samples.length === 0 && <p class="muted">Not sampled.</p>}
        {story.samples.map((s) => (
          <div data-part="sample">
            <p>
              Sampled for {String(s.reason)}, confidence {String(s.confidence ?? '–')}
            </p>
            {s.redacted ? (
              <Hidden />
            ) : (
              <>
                <h3>Request</h3>
                <pre tabIndex={0}>{pretty(s.request)}</pre>
                <h3>Response</h3>
                <pre tabIndex={0}>{pretty(s.response)}</pre>
              </>
            )}
          </div>
        ))}
      </Card>
    </div>
  )
}

/** Where the collector withheld a sample's bodies (no operator token). */
export function Hidden() {
  return (
    <p class="muted" data-field="redacted">
      The request and response bodies need the operator token: enter it at the top to see them.
    </p>
  )
}

export function pretty(text: unknown): string {
  if (typeof text !== 'string') return String(text ?? '')
  try {
    return JSON.stringify(JSON.parse(text), null, 2)
  } catch {
    return text
  }
}
