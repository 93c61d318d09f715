import { useEffect, useState } from 'preact/hooks'
import { get, post } from '../api.ts'
import { Card } from '../components/status.tsx'
import { num, time } from '../format.ts'
import { Hidden, pretty } from './request.tsx'

interface Item {
  request_id: string
  ts: number
  model: string
  version: string
  variant: string
  confidence: number | null
  /** Absent when withheld (no operator token): then `redacted` is true. */
  request?: string
  response?: string
  redacted?: true
  label: unknown
}

const BY_KEY = 'mesh-reviewer'

/** The review queue: low-confidence predictions with their masked payloads, for a person to label. */
export function ReviewView({ operator }: { operator: boolean }) {
  const [items, setItems] = useState<Item[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [by, setBy] = useState(localStorage.getItem(BY_KEY) ?? '')
  const load = () =>
    get<{ items: Item[] }>('/api/v1/review?status=pending&limit=50').then(
      (a) => setItems(a.items),
      (e: Error) => setError(e.message),
    )
  // Read again once the token is given: the payloads come only with it.
  useEffect(() => void load(), [operator])
  return (
    <>
      <h1>Review queue</h1>
      <p class="muted">
        Predictions under their model's review confidence. A label goes with the masked payload into the next training
        set (npx mesh review export).
      </p>
      {!operator && <p class="muted">Read-only: enter the operator token at the top to label.</p>}
      <p class="controls">
        <label for="reviewer">Your name</label>
        <input
          id="reviewer"
          value={by}
          onInput={(e) => {
            const v = (e.target as HTMLInputElement).value
            setBy(v)
            localStorage.setItem(BY_KEY, v)
          }}
          disabled={!operator}
        />
      </p>
      {error && (
        <p class="error-text" role="alert">
          {error}
        </p>
      )}
      {items?.length === 0 && <p>Nothing waits for a label.</p>}
      {items?.map((item) => (
        <ReviewItem
          key={item.request_id}
          item={item}
          by={by}
          operator={operator}
          onDone={() => setItems((xs) => xs?.filter((x) => x.request_id !== item.request_id) ?? null)}
        />
      ))}
    </>
  )
}

function ReviewItem({ item, by, operator, onDone }: { item: Item; by: string; operator: boolean; onDone: () => void }) {
  const [label, setLabel] = useState('')
  const [error, setError] = useState<string | null>(null)
  const id = `label-${item.request_id}`
  async function submit(e: Event) {
    e.preventDefault()
    if (!label.trim()) return setError('Label: type a class or value first.')
    if (!by.trim()) return setError('Your name: say who labelled it.')
    // A number or other JSON is kept as such; anything else is a class name.
    let value: unknown = label.trim()
    try {
      value = JSON.parse(label.trim())
    } catch {}
    try {
      await post(`/api/v1/review/${encodeURIComponent(item.request_id)}/label`, { label: value, by: by.trim() })
      onDone()
    } catch (err) {
      setError((err as Error).message)
    }
  }
  return (
    <Card title={`${item.model} v${item.version}: confidence ${num(item.confidence)}`} id={`review-${item.request_id}`}>
      <p class="small">
        <a href={`#/request/${encodeURIComponent(item.request_id)}`}>{item.request_id}</a> · {item.variant} ·{' '}
        {time(item.ts)}
      </p>
      {item.redacted ? (
        <Hidden />
      ) : (
        <div class="payloads">
          <div>
            <h3>Request</h3>
            <pre tabIndex={0}>{pretty(item.request)}</pre>
          </div>
          <div>
            <h3>Response</h3>
            <pre tabIndex={0}>{pretty(item.response)}</pre>
          </div>
        </div>
      )}
      <form class="controls" onSubmit={submit}>
        <label for={id}>Label</label>
        <input
          id={id}
          value={label}
          onInput={(e) => setLabel((e.target as HTMLInputElement).value)}
          disabled={!operator}
        />
        <button type="submit" disabled={!operator}>
          Save label
        </button>
      </form>
      {error && (
        <p class="error-text" role="alert">
          {error}
        </p>
      )}
    </Card>
  )
}
