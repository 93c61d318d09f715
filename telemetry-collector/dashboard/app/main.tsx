/**
 * The SRE dashboard page: a hash router over five views, a time range
 * picker, the operator token, and the live feed (server-sent events).
 */
import 'uplot/dist/uPlot.min.css'
import './styles.css'
import { render } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { DEFAULT_RANGE, isRange, RANGES, type RangeName } from '../ranges.ts'
import type { Overview, RouteView } from '../snapshot.ts'
import { get, token } from './api.ts'
import { age } from './format.ts'
import { useLive, useTick } from './live.ts'
import { ConfigView } from './views/config.tsx'
import { OverviewView } from './views/overview.tsx'
import { RequestView } from './views/request.tsx'
import { ReviewView } from './views/review.tsx'
import { RouteViewPage } from './views/route.tsx'

type Page =
  | { name: 'overview' }
  | { name: 'route'; route: string }
  | { name: 'request'; id: string }
  | { name: 'review' }
  | { name: 'config' }

function pageOf(hash: string): Page {
  const [, first, rest] = hash.replace(/^#\/?/, '').match(/^([^/]*)\/?(.*)$/) ?? []
  if (first === 'route' && rest) return { name: 'route', route: decodeURIComponent(rest) }
  if (first === 'request') return { name: 'request', id: decodeURIComponent(rest ?? '') }
  if (first === 'review') return { name: 'review' }
  if (first === 'config') return { name: 'config' }
  return { name: 'overview' }
}

function useHash(): Page {
  const [page, setPage] = useState(pageOf(location.hash))
  useEffect(() => {
    const on = () => setPage(pageOf(location.hash))
    addEventListener('hashchange', on)
    return () => removeEventListener('hashchange', on)
  }, [])
  return page
}

const RANGE_KEY = 'mesh-range'

function App() {
  const page = useHash()
  const stored = localStorage.getItem(RANGE_KEY)
  const [range, setRange] = useState<RangeName>(isRange(stored) ? stored : DEFAULT_RANGE)
  const [session, setSession] = useState({ writable: false, operator: false })
  const [tokenInput, setTokenInput] = useState('')
  const checkSession = () => get<typeof session>('/api/v1/session').then(setSession, () => {})
  useEffect(() => void checkSession(), [])
  // Move focus to the new view on navigation, as a page load would; not on the first render, which leaves it at the top (the skip link first).
  const navigated = useRef(false)
  useEffect(() => {
    if (navigated.current) document.getElementById('main')?.focus()
    navigated.current = true
  }, [page.name])
  return (
    <>
      {/* biome-ignore lint/a11y/useValidAnchor: a skip link: href says where it goes without script; the click moves focus, since the hash is the router's */}
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault()
          document.getElementById('main')?.focus()
        }}
      >
        Skip to content
      </a>
      <header class="top">
        <p class="brand">
          <a href="#/">Model mesh</a>
        </p>
        <nav aria-label="Views">
          <ul>
            {(
              [
                ['#/', 'Overview', 'overview'],
                ['#/review', 'Review queue', 'review'],
                ['#/request/', 'Request lookup', 'request'],
                ['#/config', 'Config', 'config'],
              ] as const
            ).map(([href, label, name]) => (
              <li>
                <a href={href} aria-current={page.name === name ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <fieldset class="ranges">
          <legend>Time range</legend>
          {Object.entries(RANGES).map(([name, r]) => (
            <label>
              <input
                type="radio"
                name="range"
                value={name}
                checked={range === name}
                onChange={() => {
                  setRange(name as RangeName)
                  localStorage.setItem(RANGE_KEY, name)
                }}
              />
              <span title={r.label}>{name}</span>
            </label>
          ))}
        </fieldset>
        <form
          class="token"
          onSubmit={(e) => {
            e.preventDefault()
            token.set(session.operator ? '' : tokenInput.trim())
            setTokenInput('')
            void checkSession()
          }}
        >
          {session.operator ? (
            <>
              <span class="badge ok">operator</span> <button type="submit">Sign out</button>
            </>
          ) : (
            <>
              <label for="token">Operator token</label>
              <input
                id="token"
                type="password"
                autocomplete="off"
                value={tokenInput}
                onInput={(e) => setTokenInput((e.target as HTMLInputElement).value)}
                disabled={!session.writable}
                placeholder={session.writable ? '' : 'read-only collector'}
              />
              <button type="submit" disabled={!session.writable}>
                Use
              </button>
            </>
          )}
        </form>
      </header>
      <main id="main" tabIndex={-1}>
        {page.name === 'overview' && <LiveOverview range={range} operator={session.operator} />}
        {page.name === 'route' && <LiveRoute route={page.route} range={range} operator={session.operator} />}
        {page.name === 'request' && <RequestView id={page.id} operator={session.operator} />}
        {page.name === 'review' && <ReviewView operator={session.operator} />}
        {page.name === 'config' && <ConfigView />}
      </main>
    </>
  )
}

function LiveStatus({ at, connected, error }: { at: number; connected: boolean; error: string | null }) {
  const now = useTick(1000)
  return (
    <p class="live small">
      <span class={`dot ${connected ? 'on' : 'off'}`} aria-hidden="true" />
      <span role="status">{connected ? 'Live' : 'Reconnecting…'}</span>
      {at > 0 && <span class="muted"> · updated {age((now - at) / 1000)}</span>}
      {error && <span class="error-text"> · {error}</span>}
    </p>
  )
}

function LiveOverview({ range, operator }: { range: RangeName; operator: boolean }) {
  const live = useLive<Overview>(`/api/v1/dashboard/events?range=${range}`, 'overview', operator)
  return (
    <>
      <h1 class="sr-only">Overview</h1>
      <LiveStatus {...live} />
      {live.data ? <OverviewView data={live.data} /> : <p class="muted">Loading the mesh's figures…</p>}
    </>
  )
}

function LiveRoute({ route, range, operator }: { route: string; range: RangeName; operator: boolean }) {
  const live = useLive<RouteView & { error?: string }>(
    `/api/v1/dashboard/events?range=${range}&route=${encodeURIComponent(route)}`,
    'route',
    operator,
  )
  return (
    <>
      <LiveStatus {...live} />
      {live.data?.error ? (
        <p class="error-text" role="alert">
          {live.data.error}
        </p>
      ) : live.data ? (
        <RouteViewPage data={live.data} operator={operator} />
      ) : (
        <p class="muted">Loading route {route}…</p>
      )}
    </>
  )
}

render(<App />, document.getElementById('app')!)
