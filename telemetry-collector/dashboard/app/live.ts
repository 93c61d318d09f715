/**
 * The live feed: one EventSource on the dashboard's stream, reopened when
 * what the page shows changes. EventSource reconnects by itself; the page
 * shows how old its newest figures are so nobody reads stale ones as live.
 */
import { useEffect, useState } from 'preact/hooks'

export interface Live<T> {
  data: T | null
  /** When the newest message came (ms since the epoch); 0 before the first. */
  at: number
  connected: boolean
  error: string | null
}

export function useLive<T>(url: string, event: string): Live<T> {
  const [state, setState] = useState<Live<T>>({ data: null, at: 0, connected: false, error: null })
  useEffect(() => {
    setState((s) => ({ ...s, data: null, at: 0 }))
    const source = new EventSource(url)
    source.addEventListener(event, (m) => setState({ data: JSON.parse((m as MessageEvent).data) as T, at: Date.now(), connected: true, error: null }))
    source.addEventListener('failure', (m) => setState((s) => ({ ...s, error: (JSON.parse((m as MessageEvent).data) as { error: string }).error })))
    source.onopen = () => setState((s) => ({ ...s, connected: true }))
    source.onerror = () => setState((s) => ({ ...s, connected: false }))
    return () => source.close()
  }, [url, event])
  return state
}

/** Re-renders every `ms`, for "updated 3 s ago". */
export function useTick(ms: number): number {
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms)
    return () => clearInterval(t)
  }, [ms])
  return now
}
