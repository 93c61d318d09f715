/**
 * The live feed: one server-sent event stream on the dashboard's events,
 * reopened when what the page shows changes. It is read with fetch() rather
 * than EventSource, which cannot send headers: the operator token goes with
 * it once given (the collector keeps streams for the operator). Like
 * EventSource it reconnects by itself; the page shows how old its newest
 * figures are so nobody reads stale ones as live.
 */
import { useEffect, useState } from 'preact/hooks'
import { token } from './api.ts'

export interface Live<T> {
  data: T | null
  /** When the newest message came (ms since the epoch); 0 before the first. */
  at: number
  connected: boolean
  error: string | null
}

/** How long to wait before reconnecting, as browsers' EventSource does by default. */
const RETRY_MS = 3000

/** `operator`: whether the token was given; the stream is reopened with it when that changes. */
export function useLive<T>(url: string, event: string, operator = false): Live<T> {
  const [state, setState] = useState<Live<T>>({ data: null, at: 0, connected: false, error: null })
  useEffect(() => {
    setState((s) => ({ ...s, data: null, at: 0 }))
    const stop = new AbortController()
    let retry: ReturnType<typeof setTimeout> | undefined
    const on = (name: string, data: string) => {
      if (name === event) setState({ data: JSON.parse(data) as T, at: Date.now(), connected: true, error: null })
      else if (name === 'failure') setState((s) => ({ ...s, error: (JSON.parse(data) as { error: string }).error }))
    }
    const connect = async () => {
      try {
        const headers: Record<string, string> = { accept: 'text/event-stream' }
        const t = token.get()
        if (t) headers.authorization = `Bearer ${t}`
        const res = await fetch(url, { headers, cache: 'no-store', signal: stop.signal })
        if (!res.ok || !res.body) {
          // Refused (too many streams): say why, and try again later, as a closed tab frees one.
          const answer = (await res.json().catch(() => ({}))) as { error?: string }
          setState((s) => ({ ...s, connected: false, error: answer.error ?? `${res.status} ${res.statusText}` }))
        } else {
          setState((s) => ({ ...s, connected: true }))
          await readEvents(res.body, on)
          setState((s) => ({ ...s, connected: false }))
        }
      } catch {
        if (stop.signal.aborted) return
        setState((s) => ({ ...s, connected: false }))
      }
      if (!stop.signal.aborted) retry = setTimeout(() => void connect(), RETRY_MS)
    }
    void connect()
    return () => {
      stop.abort()
      clearTimeout(retry)
    }
  }, [url, event, operator])
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

/** Calls `on` with each event's name and data as `body` brings them; resolves when the stream ends. */
async function readEvents(body: ReadableStream<Uint8Array>, on: (event: string, data: string) => void): Promise<void> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return
    buffer += decoder.decode(value, { stream: true })
    const { events, rest } = parseEvents(buffer)
    buffer = rest
    for (const e of events) on(e.event, e.data)
  }
}

/**
 * The complete events in `buffer` (server-sent event format: `event:` and
 * `data:` lines, an empty line ends each) and what is left of an
 * incomplete one. Comments, `id:` and `retry:` are ignored.
 *
 * @example parseEvents('event: overview\ndata: {}\n\nevent: ov') // { events: [{ event: 'overview', data: '{}' }], rest: 'event: ov' }
 */
export function parseEvents(buffer: string): { events: { event: string; data: string }[]; rest: string } {
  const blocks = buffer.replace(/\r\n/g, '\n').split('\n\n')
  const rest = blocks.pop() ?? ''
  const events = blocks.flatMap((block) => {
    let event = 'message'
    const data: string[] = []
    for (const line of block.split('\n')) {
      const colon = line.indexOf(':')
      if (colon === 0) continue
      const field = colon < 0 ? line : line.slice(0, colon)
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'event') event = value
      else if (field === 'data') data.push(value)
    }
    return data.length > 0 ? [{ event, data: data.join('\n') }] : []
  })
  return { events, rest }
}
