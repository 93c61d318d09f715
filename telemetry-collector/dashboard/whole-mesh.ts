/**
 * @module
 * The dashboard of a collector that shares the work answers for the whole
 * mesh: a route whose model another collector consumes is that collector's
 * view; the overview is this collector's rows and alerts for its own
 * models, and the others' for theirs (each asked once, marked forwarded,
 * answering from its own). Nobody has to find the right collector.
 */
import type { ApiContext } from '../serve/api.ts'
import { fromPeer, fromPeers, unionBy } from '../serve/peers.ts'
import type { RangeName } from './ranges.ts'
import type { Overview, RouteView } from './snapshot.ts'

export interface Views {
  overview(range: RangeName): Promise<Overview>
  routeView(route: string, range: RangeName): Promise<RouteView | null>
}

/** This collector's part of overview `o`: its own models' rows and alerts, and the alerts that name no model. */
function ownPart(o: Overview, reports: (modelLabel: string) => boolean): Overview {
  const mine = new Set(o.routes.filter((r) => reports(r.model)).map((r) => r.name))
  return {
    ...o,
    routes: o.routes.filter((r) => mine.has(r.name)),
    alerts: o.alerts.filter((a) => (a.model ? reports(a.model) : a.route ? mine.has(a.route) : true)),
  }
}

/** `local` as it stands, or (sharing the work) merged with the other collectors' dashboards at `peers`. */
export function wholeMeshViews(api: ApiContext, peers: () => string[], local: Views): Views & { own: Views } {
  const shares = api.shares
  if (!shares) return { ...local, own: local }
  return {
    own: {
      overview: async (range) => ownPart(await local.overview(range), shares().reports),
      routeView: local.routeView,
    },
    async overview(range) {
      const whole = await local.overview(range)
      const parts = [
        ownPart(whole, shares().reports),
        ...(await fromPeers<Overview>(peers(), `/api/v1/dashboard/overview?range=${range}`)),
      ]
      // Each route's row from the collector that consumes its model; this one's (older) where none answered.
      const rows = new Map(whole.routes.map((r) => [r.name, r]))
      for (const part of parts) for (const r of part.routes) rows.set(r.name, r)
      const alerts = unionBy(
        parts.map((o) => o.alerts),
        (a) => JSON.stringify([a.name, a.route, a.model, a.version, a.feature]),
      )
      return { ...whole, routes: whole.routes.map((r) => rows.get(r.name)!), alerts }
    },
    async routeView(route, range) {
      const view = await local.routeView(route, range)
      if (!view || shares().reports(view.route.model)) return view
      for (const p of peers()) {
        const theirs = await fromPeer<RouteView>(
          p,
          `/api/v1/dashboard/routes/${encodeURIComponent(route)}?range=${range}`,
        )
        if (theirs) return theirs
      }
      return view
    },
  }
}
