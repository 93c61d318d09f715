import { mkdirSync, writeFileSync } from 'node:fs'
import { requireMesh } from './mesh-config/src/load.ts'
import { renderMesh, discoveryResponse } from './mesh-config/src/render.ts'
const m = await requireMesh('mesh.yaml')
const r = renderMesh(m.config, { xdsDir: '/tmp/xds' })
mkdirSync('/tmp/xds', { recursive: true })
writeFileSync('/tmp/xds/bootstrap.json', JSON.stringify(r.bootstrap, null, 1))
writeFileSync('/tmp/xds/lds.json', JSON.stringify(discoveryResponse('listeners', r), null, 1))
writeFileSync('/tmp/xds/cds.json', JSON.stringify(discoveryResponse('clusters', r), null, 1))
writeFileSync('/tmp/xds/static.json', JSON.stringify({ ...r.bootstrap, dynamic_resources: undefined, static_resources: { listeners: r.listeners, clusters: r.clusters } }, null, 1))
